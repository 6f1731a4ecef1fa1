"""Per-pair metrics over two folders, pairs matched by file name; unmatched files are listed.

Images are read as RGB and passed to the metrics as float in [0, 1] (float64 for the pixel
metrics, float32 for networks).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from torch import Tensor
from tqdm import tqdm

from genfer.core.errors import GenferError
from genfer.metrics.embedding import EmbeddingDistance, FileEmbedder, as_rows
from genfer.metrics.images import Pairing, load_image, pair_by_name
from genfer.metrics.paired import PairedImageMetric


def _pair_by_ext(dir_a: str | Path, dir_b: str | Path, exts: tuple[str, ...], recursive: bool) -> Pairing:
    def keyed(d: str | Path) -> dict[str, Path]:
        root = Path(d)
        if not root.is_dir():
            raise NotADirectoryError(f"{root} is not a folder")
        it = root.rglob("*") if recursive else root.iterdir()
        return {
            p.relative_to(root).with_suffix("").as_posix(): p
            for p in sorted(it)
            if p.is_file() and p.suffix.lower() in exts
        }

    a, b = keyed(dir_a), keyed(dir_b)
    common = sorted(a.keys() & b.keys())
    only_a, only_b = sorted(a.keys() - b.keys()), sorted(b.keys() - a.keys())
    return Pairing([(k, a[k], b[k]) for k in common], only_a, only_b)


def _pairing_info(p: Pairing, pred_dir: str | Path, gt_dir: str | Path) -> dict[str, Any]:
    return {
        "pred_dir": str(pred_dir),
        "gt_dir": str(gt_dir),
        "pairing": "by file name (path without extension)",
        "num_matched": len(p.pairs),
        "unmatched_pred": p.only_a,
        "unmatched_gt": p.only_b,
    }


def _load_pair_batch(
    batch: list[tuple[str, Path, Path]], size: int | None, dtype: torch.dtype
) -> list[tuple[Tensor, Tensor]]:
    out = []
    for key, pa, pb in batch:
        a, b = load_image(pa, size), load_image(pb, size)
        if a.shape != b.shape:
            raise GenferError(
                f"pair {key!r} differs in size: {pa} (PRED_DIR, first folder) is {_hw(a)}, {pb} (GT_DIR, second "
                f"folder) is {_hw(b)}",
                fix="pass --size N to resize both images of every pair to N x N (PIL bicubic) first",
            )
        out.append((a.to(dtype) / 255.0, b.to(dtype) / 255.0))
    return out


def _hw(image: Tensor) -> str:
    return f"{image.shape[-1]}x{image.shape[-2]} px"


def _batches(
    pairs: list[tuple[str, Path, Path]],
    batch_size: int,
    size: int | None,
    progress: bool,
    desc: str,
    dtype: torch.dtype = torch.float32,
) -> Iterator[tuple[Tensor, Tensor]]:
    with tqdm(total=len(pairs), unit="pair", desc=desc, disable=not progress) as bar:
        for i in range(0, len(pairs), batch_size):
            loaded = _load_pair_batch(pairs[i : i + batch_size], size, dtype)
            # group consecutive pairs of one size so each group stacks into one tensor
            groups: dict[tuple[int, ...], list[tuple[Tensor, Tensor]]] = {}
            for a, b in loaded:
                groups.setdefault(tuple(a.shape), []).append((a, b))
            for g in groups.values():
                yield torch.stack([a for a, _ in g]), torch.stack([b for _, b in g])
            bar.update(len(loaded))


def paired_folders(
    metric: PairedImageMetric,
    pred_dir: str | Path,
    gt_dir: str | Path,
    batch_size: int = 16,
    size: int | None = None,
    recursive: bool = False,
    progress: bool = True,
) -> dict[str, Any]:
    """Run a per-pair image metric (PSNR, SSIM, L2, LPIPS) over two folders matched by name.

    Args:
        metric: a fresh ``PairedImageMetric`` whose value range is (0, 1).
        pred_dir: generated / reconstructed images.
        gt_dir: ground-truth images.
        batch_size: pairs per batch.
        size: resize both images to ``size`` x ``size`` (PIL bicubic) first; None requires
            equal sizes.
        recursive: include sub-folders (keys keep the sub-path).

    Returns:
        The metric's result plus the pairing: ``num_matched``, ``unmatched_pred``,
        ``unmatched_gt`` and ``resize``.
    """
    p = pair_by_name(pred_dir, gt_dir, recursive)
    if not p.pairs:
        raise ValueError(f"no file names in common between {pred_dir} and {gt_dir}")
    # float64 so pixel metrics see the files' exact values
    for a, b in _batches(p.pairs, batch_size, size, progress, metric.name, torch.float64):
        metric.update(a, b)
    return {**metric.compute(), **_pairing_info(p, pred_dir, gt_dir), "resize": size}


def embedding_folders(
    metric: EmbeddingDistance,
    pred_dir: str | Path,
    gt_dir: str | Path,
    batch_size: int = 16,
    size: int | None = None,
    recursive: bool = False,
    progress: bool = True,
) -> dict[str, Any]:
    """ACD/ED over two folders: images through an ``Embedder``, or files (OpenFace CSVs) through a
    ``FileEmbedder``; pairs matched by file name, faces not found counted in the result."""
    emb = metric.embedder
    if isinstance(emb, FileEmbedder):
        p = _pair_by_ext(pred_dir, gt_dir, tuple(emb.file_exts), recursive)
        if not p.pairs:
            raise ValueError(f"no {'/'.join(emb.file_exts)} names in common between {pred_dir} and {gt_dir}")
        for i in range(0, len(p.pairs), batch_size):
            chunk = p.pairs[i : i + batch_size]
            ea = emb.embed_files([a for _, a, _ in chunk])
            eb = emb.embed_files([b for _, _, b in chunk])
            metric.update_embeddings(as_rows(ea, len(chunk)), as_rows(eb, len(chunk)))
    else:
        p = pair_by_name(pred_dir, gt_dir, recursive)
        if not p.pairs:
            raise ValueError(f"no file names in common between {pred_dir} and {gt_dir}")
        for a, b in _batches(p.pairs, batch_size, size, progress, metric.name):
            metric.update(a, b)
    return {**metric.compute(), **_pairing_info(p, pred_dir, gt_dir), "resize": size}
