"""Image folders for metrics: listing, loading, and pairing files by name (never by listing order).

Two folders are paired by the file's path relative to its folder without the extension (its
"key"), so ``pred/0001.png`` pairs with ``gt/0001.jpg``. Files present on one side only are
returned, so a result can list them instead of silently measuring fewer pairs.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from genfer.data.io import ImageError, decode_error

IMAGE_EXTS: tuple[str, ...] = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff", ".ppm", ".pgm")


def list_images(folder: str | Path, recursive: bool = False) -> list[Path]:
    """Image files in ``folder`` (by extension, case-insensitive), sorted by path."""
    root = Path(folder)
    if not root.is_dir():
        raise NotADirectoryError(f"{root} is not a folder")
    it = root.rglob("*") if recursive else root.iterdir()
    return sorted(p for p in it if p.is_file() and p.suffix.lower() in IMAGE_EXTS)


def image_key(path: Path, root: Path) -> str:
    """Pairing key of ``path`` under ``root``: relative posix path without its extension."""
    return path.relative_to(root).with_suffix("").as_posix()


def keyed_images(folder: str | Path, recursive: bool = False) -> dict[str, Path]:
    """``{key: path}`` for the images of ``folder``; two files with one key is an error."""
    root = Path(folder)
    out: dict[str, Path] = {}
    for p in list_images(root, recursive):
        k = image_key(p, root)
        if k in out:
            raise ValueError(f"{root}: {out[k].name} and {p.name} have the same name; cannot pair by name")
        out[k] = p
    return out


@dataclass
class Pairing:
    """Files of two folders matched by key.

    Attributes:
        pairs: ``(key, path_a, path_b)`` sorted by key.
        only_a: keys found only in the first folder.
        only_b: keys found only in the second folder.
    """

    pairs: list[tuple[str, Path, Path]] = field(default_factory=list)
    only_a: list[str] = field(default_factory=list)
    only_b: list[str] = field(default_factory=list)


def pair_by_name(dir_a: str | Path, dir_b: str | Path, recursive: bool = False) -> Pairing:
    """Match the images of two folders by file name (stem and sub-path), not by listing order."""
    a, b = keyed_images(dir_a, recursive), keyed_images(dir_b, recursive)
    common = sorted(a.keys() & b.keys())
    return Pairing(
        pairs=[(k, a[k], b[k]) for k in common],
        only_a=sorted(a.keys() - b.keys()),
        only_b=sorted(b.keys() - a.keys()),
    )


def load_image(path: str | Path, size: int | None = None) -> Tensor:
    """Read an image as RGB uint8 ``[3, H, W]``; optionally resize (PIL bicubic) to ``size`` x ``size``.

    Raises:
        genfer.data.io.ImageError: the file is missing, empty, truncated or not an image (named).
    """
    try:
        with Image.open(path) as im:
            im = im.convert("RGB")
            if size is not None and im.size != (size, size):
                im = im.resize((size, size), resample=Image.Resampling.BICUBIC)
            arr = np.asarray(im, dtype=np.uint8).copy()
    except Exception as e:  # Pillow raises many types on bad files; one message names the file
        if Path(path).is_file() and Path(path).stat().st_size == 0:
            raise ImageError(path, "empty file (0 bytes)") from None
        raise decode_error(path, e) from None
    return torch.from_numpy(arr).permute(2, 0, 1).contiguous()


class ImageFiles(torch.utils.data.Dataset):
    """A list of image files as a dataset of uint8 ``[3, H, W]`` tensors."""

    def __init__(self, paths: Sequence[Path], size: int | None = None) -> None:
        self.paths = list(paths)
        self.size = size

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> Tensor:
        return load_image(self.paths[i], self.size)


def _as_list(batch: list[Tensor]) -> list[Tensor]:
    return batch


def iter_image_batches(
    paths: Sequence[Path], batch_size: int = 50, num_workers: int = 0, size: int | None = None
) -> Iterator[list[Tensor]]:
    """Stream images in batches (lists, since sizes may differ), decoding in ``num_workers`` processes."""
    loader = torch.utils.data.DataLoader(
        ImageFiles(paths, size), batch_size=batch_size, num_workers=num_workers, collate_fn=_as_list
    )
    yield from loader


def stack_same_size(images: Sequence[Tensor]) -> Tensor:
    """Stack ``[3, H, W]`` images that share one size into ``[N, 3, H, W]``."""
    sizes = {tuple(t.shape) for t in images}
    if len(sizes) != 1:
        raise ValueError(f"images differ in size: {sorted(sizes)[:3]}; pass --size to resize them")
    return torch.stack(list(images))
