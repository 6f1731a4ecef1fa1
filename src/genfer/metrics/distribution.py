"""FID, KID and IS of image folders, with cached reference features and the settings in every result.

Reference (real) features are cached under ``<genfer cache>/fid_stats/`` keyed by the folder's
absolute path and file listing (names, sizes, modification times), the resize mode, resolution,
precision and the Inception weights' SHA-256, so a changed folder or setting never reuses stale
statistics.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import Tensor

from genfer.metrics.extractor import InceptionExtractor, extract_paths
from genfer.metrics.fid import (
    fid_from_features,
    frechet_distance,
    inception_score_from_logits,
    kid_from_features,
    mean_cov,
)
from genfer.metrics.images import list_images
from genfer.metrics.weights import cache_dir


def _folder_fingerprint(paths: list[Path], root: Path) -> list[list[Any]]:
    out = []
    for p in paths:
        st = p.stat()
        out.append([p.relative_to(root).as_posix(), st.st_size, st.st_mtime_ns])
    return out


def reference_cache_path(folder: str | Path, extractor: InceptionExtractor, recursive: bool = False) -> Path:
    """Where the features of ``folder`` under ``extractor``'s settings are cached."""
    root = Path(folder).resolve()
    paths = list_images(root, recursive)
    key = {"folder": str(root), "files": _folder_fingerprint(paths, root), **extractor.settings()}
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    s = extractor.settings()
    tag = f"{s['resize_mode']}-{s['resolution']}-{s['precision']}-{s['weights_sha256'][:8]}"
    name = f"{root.name}-{tag}-{digest}"
    return cache_dir() / "fid_stats" / f"{name}.safetensors"


def folder_features(
    folder: str | Path,
    extractor: InceptionExtractor,
    cache: bool = False,
    num_workers: int = 0,
    progress: bool = True,
    recursive: bool = False,
) -> tuple[dict[str, Tensor], dict[str, Any]]:
    """Inception features of a folder, optionally read from / written to the reference cache.

    Returns:
        ``({"pool", "logits_unbiased"}, info)`` where info has ``num_images`` and ``cache``
        (the cache file, or None) and ``cache_hit``.
    """
    paths = list_images(folder, recursive)
    if not paths:
        raise ValueError(f"{folder}: no images found")
    info: dict[str, Any] = {"num_images": len(paths), "cache": None, "cache_hit": False}
    cpath = reference_cache_path(folder, extractor, recursive) if cache else None
    if cpath is not None:
        info["cache"] = str(cpath)
        if cpath.is_file():
            info["cache_hit"] = True
            return load_file(str(cpath)), info
    feats = extract_paths(paths, extractor, num_workers, progress, desc=Path(folder).name or str(folder))
    if cpath is not None:
        cpath.parent.mkdir(parents=True, exist_ok=True)
        tmp = cpath.with_suffix(".tmp")
        meta = {"folder": str(Path(folder).resolve()), "settings": json.dumps(extractor.settings())}
        save_file({k: v.contiguous() for k, v in feats.items()}, str(tmp), metadata=meta)
        tmp.replace(cpath)
    return feats, info


def _base(extractor: InceptionExtractor) -> dict[str, Any]:
    return {"device": str(extractor.device), **extractor.settings()}


def fid_folders(
    real_dir: str | Path,
    fake_dir: str | Path,
    extractor: InceptionExtractor | None = None,
    cache: bool = True,
    num_workers: int = 0,
    progress: bool = True,
    recursive: bool = False,
) -> dict[str, Any]:
    """FID between the images of two folders (the first is the cached reference).

    Args:
        real_dir: reference folder, or a statistics file (``.npz``/``.safetensors`` with ``mu``
            and ``sigma``, see ``load_reference_stats``) computed with the same settings.
        fake_dir: folder of generated images.

    Returns:
        ``{"metric": "fid", "fid", "num_real", "num_fake", "real_dir", "fake_dir",
        "reference_cache", ...extractor settings}``.
    """
    ex = extractor or InceptionExtractor()
    fake: dict[str, Tensor]
    if Path(real_dir).is_file():
        mu_r, cov_r, n_real = load_reference_stats(real_dir)
        rinfo: dict[str, Any] = {"cache": None}
        fake, _ = folder_features(fake_dir, ex, False, num_workers, progress, recursive)
        fid = frechet_distance(mu_r, cov_r, *mean_cov(fake["pool"]))
    else:
        real, rinfo = folder_features(real_dir, ex, cache, num_workers, progress, recursive)
        n_real = int(real["pool"].shape[0])
        fake, _ = folder_features(fake_dir, ex, False, num_workers, progress, recursive)
        fid = fid_from_features(real["pool"], fake["pool"])
    return {
        "metric": "fid",
        "fid": fid,
        "num_real": n_real,
        "num_fake": int(fake["pool"].shape[0]),
        "real_dir": str(real_dir),
        "fake_dir": str(fake_dir),
        "reference_cache": rinfo["cache"],
        "statistics": "float64 mean, unbiased covariance (N-1)",
        **_base(ex),
    }


def kid_folders(
    real_dir: str | Path,
    fake_dir: str | Path,
    extractor: InceptionExtractor | None = None,
    subsets: int = 100,
    subset_size: int = 1000,
    seed: int = 0,
    cache: bool = True,
    num_workers: int = 0,
    progress: bool = True,
    recursive: bool = False,
) -> dict[str, Any]:
    """KID (mean +- std over subsets) between the images of two folders."""
    ex = extractor or InceptionExtractor()
    real, rinfo = folder_features(real_dir, ex, cache, num_workers, progress, recursive)
    fake, _ = folder_features(fake_dir, ex, False, num_workers, progress, recursive)
    return {
        "metric": "kid",
        **kid_from_features(real["pool"], fake["pool"], subsets, subset_size, seed),
        "kernel": "(x.y/d + 1)^3",
        "num_real": int(real["pool"].shape[0]),
        "num_fake": int(fake["pool"].shape[0]),
        "real_dir": str(real_dir),
        "fake_dir": str(fake_dir),
        "reference_cache": rinfo["cache"],
        **_base(ex),
    }


def is_folder(
    folder: str | Path,
    extractor: InceptionExtractor | None = None,
    splits: int = 10,
    seed: int | None = 0,
    num_workers: int = 0,
    progress: bool = True,
    recursive: bool = False,
) -> dict[str, Any]:
    """Inception Score (mean +- std over splits) of the images of a folder."""
    ex = extractor or InceptionExtractor()
    feats, _ = folder_features(folder, ex, False, num_workers, progress, recursive)
    return {
        "metric": "is",
        **inception_score_from_logits(feats["logits_unbiased"], splits, seed),
        "logits": "1008 bias-free (pool @ fc.weight.T)",
        "num_images": int(feats["pool"].shape[0]),
        "dir": str(folder),
        **_base(ex),
    }


def load_reference_stats(path: str | Path) -> tuple[Tensor, Tensor, int | None]:
    """Precomputed reference statistics: ``.npz`` with ``mu`` and ``sigma`` (pytorch-fid's and
    clean-fid's format) or ``.safetensors`` with ``mu``, ``sigma`` and optionally ``n``.

    Returns:
        float64 ``mu`` ``[D]``, ``sigma`` ``[D, D]`` and the image count when stored (else None).
    """
    p = Path(path)
    if p.suffix == ".npz":
        import numpy as np

        with np.load(p, allow_pickle=False) as f:
            mu, sigma = torch.from_numpy(f["mu"]), torch.from_numpy(f["sigma"])
            n = int(f["n"]) if "n" in f.files else None
    else:
        d = load_file(str(p))
        mu, sigma = d["mu"], d["sigma"]
        n = int(d["n"]) if "n" in d else None
    if mu.ndim != 1 or sigma.shape != (mu.shape[0], mu.shape[0]):
        raise ValueError(f"{p}: mu {tuple(mu.shape)} and sigma {tuple(sigma.shape)} do not fit together")
    return mu.to(torch.float64), sigma.to(torch.float64), n


def save_reference_stats(features: Tensor, path: str | Path) -> None:
    """Write float64 ``mu``, ``sigma`` and ``n`` of ``[N, D]`` features as safetensors."""
    mu, sigma = mean_cov(features)
    save_file({"mu": mu, "sigma": sigma, "n": torch.tensor(features.shape[0])}, str(path))
