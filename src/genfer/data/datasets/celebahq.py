"""CelebA-HQ: 30,000 high-quality CelebA faces, in its two common layouts.

CelebAMask-HQ layout::

    CelebA-HQ-img/0.jpg ... 29999.jpg
    CelebA-HQ-to-CelebA-mapping.txt   "idx orig_idx orig_file" (header line, then e.g. "0 119613 119614.jpg")
    list_eval_partition.txt           optional, CelebA's "000001.jpg 0" (0 train, 1 val, 2 test)
    identity_CelebA.txt               optional, CelebA's "000001.jpg 2880"

With the mapping and the partition file, ``train``/``val``/``test`` follow CelebA's partition
of each image's source (the split inversion papers use); without them only ``train``/``all``
(every image) exist. With the mapping and ``identity_CelebA.txt``, CelebA identities become
identity labels (numbered in sorted order of the CelebA id).

StarGAN v2 layout (``root`` holds ``celeba_hq/`` or is it)::

    celeba_hq/train/female/*.jpg, celeba_hq/train/male/*.jpg, celeba_hq/val/...

with splits ``train``/``val`` (``test`` is an alias of ``val``) and ``extra["gender"]``.
No expression labels.
"""

from __future__ import annotations

from pathlib import Path

from genfer.core.registry import DATASETS
from genfer.data.base import FaceDataset, FaceItem, index_lines
from genfer.data.datasets._layout import frame_number, list_images

PARTITION = {"0": "train", "1": "val", "2": "test"}
MAPPING = "CelebA-HQ-to-CelebA-mapping.txt"


@DATASETS.register("celebahq")
class CelebAHQ(FaceDataset):
    """CelebA-HQ (CelebAMask-HQ or StarGAN v2 layout)."""

    name = "celebahq"
    splits = ("train", "val", "test", "all")
    labelled = False

    def _load_items(self) -> list[FaceItem]:
        stargan = self.root / "celeba_hq" if (self.root / "celeba_hq").is_dir() else self.root
        if (stargan / "train").is_dir() or (stargan / "val").is_dir():
            return self._load_stargan(stargan)
        return self._load_mask_hq()

    def _load_stargan(self, base: Path) -> list[FaceItem]:
        split = "val" if self.split == "test" else self.split
        parts = ("train", "val") if split == "all" else (split,)
        items: list[FaceItem] = []
        for part in parts:
            for gender in ("female", "male"):
                for f in list_images(base / part / gender):
                    items.append(FaceItem(f, extra={"gender": gender, "part": part}))
        return items

    def _load_mask_hq(self) -> list[FaceItem]:
        img_dir = self.root / "CelebA-HQ-img"
        if not img_dir.is_dir():
            raise FileNotFoundError(f"celebahq: no CelebA-HQ-img/ or celeba_hq/train,val/ in {self.root}")
        files = sorted(list_images(img_dir), key=lambda p: (frame_number(p), p.name))
        mapping = self._mapping()
        partition = self._side_file("list_eval_partition.txt")
        identity = self._side_file("identity_CelebA.txt")
        if self.split in ("val", "test") and (mapping is None or partition is None):
            raise FileNotFoundError(
                f"celebahq: split {self.split!r} needs CelebA-HQ-to-CelebA-mapping.txt and "
                f"list_eval_partition.txt in {self.root}"
            )
        items: list[FaceItem] = []
        for f in files:
            idx = frame_number(f)
            extra: dict = {"number": idx}
            if mapping is not None:
                orig = mapping.get(idx)
                if orig is None:
                    self.report(self.root / MAPPING, None, f"no entry for image {idx}")
                    continue
                extra["celeba_file"] = orig
                if identity is not None and orig in identity:
                    extra["subject"] = identity[orig]
                part = None if partition is None else PARTITION.get(partition.get(orig, ""))
                if partition is not None and self.split != "all" and part != self.split:
                    continue
            items.append(FaceItem(f, extra=extra))
        return items

    def _mapping(self) -> dict[int, str] | None:
        file = self.root / MAPPING
        if not file.is_file():
            return None
        out: dict[int, str] = {}
        for n, line in index_lines(file)[1:]:  # header: idx orig_idx orig_file
            parts = line.split()
            if len(parts) != 3 or not parts[0].isdigit():
                self.report(file, n, f"expected '<idx> <orig_idx> <orig_file>', got {line!r}")
                continue
            out[int(parts[0])] = parts[2]
        return out

    def _side_file(self, name: str) -> dict[str, str] | None:
        """CelebA's "<file> <value>" lists (partition, identity), found in root or root/Anno."""
        for file in (self.root / name, self.root / "Anno" / name, self.root / "Eval" / name):
            if file.is_file():
                pairs = (line.split() for _, line in index_lines(file))
                return {p[0]: p[1] for p in pairs if len(p) >= 2}
        return None
