"""One call per metric over image folders: what ``genfer metrics NAME ...`` runs.

Every function returns a JSON-serialisable dict holding the figure and every setting that
affects it (mode, resolution, N, weights digests, ranges, channel, window, embedder ...), plus
``genfer_version``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from genfer import __version__
from genfer.core.registry import METRICS
from genfer.metrics.distribution import fid_folders, is_folder, kid_folders
from genfer.metrics.embedding import build_embedder
from genfer.metrics.extractor import InceptionExtractor
from genfer.metrics.folders import embedding_folders, paired_folders


def _stamp(r: dict[str, Any]) -> dict[str, Any]:
    return {**r, "genfer_version": __version__}


def _extractor(opts: dict[str, Any]) -> InceptionExtractor:
    from genfer.metrics.inception import load_fid_inception

    model, digest = load_fid_inception(opts.get("weights"), check_hash=opts.get("check_hash", True))
    return InceptionExtractor(
        mode=opts.get("mode", "clean"),
        device=opts.get("device"),
        batch_size=opts.get("batch_size", 50),
        precision=opts.get("precision", "fp32"),
        model=model,
        weights_id=digest,
    )


def fid(real: str | Path, fake: str | Path, **opts: Any) -> dict[str, Any]:
    """FID of ``fake`` against ``real`` (a folder, or ``.npz``/``.safetensors`` statistics).

    Options: ``weights``, ``check_hash``, ``mode``, ``device``, ``batch_size``, ``precision``,
    ``num_workers``, ``cache``, ``recursive``, ``progress``.
    """
    ex = _extractor(opts)
    return _stamp(
        fid_folders(real, fake, ex, opts.get("cache", True), opts.get("num_workers", 0),
                    opts.get("progress", True), opts.get("recursive", False))
    )


def kid(real: str | Path, fake: str | Path, **opts: Any) -> dict[str, Any]:
    """KID of ``fake`` against ``real``; options as ``fid`` plus ``subsets``, ``subset_size``, ``seed``."""
    ex = _extractor(opts)
    return _stamp(
        kid_folders(real, fake, ex, opts.get("subsets", 100), opts.get("subset_size", 1000), opts.get("seed", 0),
                    opts.get("cache", True), opts.get("num_workers", 0), opts.get("progress", True),
                    opts.get("recursive", False))
    )


def inception_score(folder: str | Path, **opts: Any) -> dict[str, Any]:
    """Inception Score of a folder; options as ``fid`` plus ``splits``, ``seed``."""
    ex = _extractor(opts)
    return _stamp(
        is_folder(folder, ex, opts.get("splits", 10), opts.get("seed", 0), opts.get("num_workers", 0),
                  opts.get("progress", True), opts.get("recursive", False))
    )


def paired(name: str, pred: str | Path, gt: str | Path, **opts: Any) -> dict[str, Any]:
    """A paired protocol of ``METRICS`` (``psnr``, ``ssim``, ``l2``, ``lpips_alex``, ``lpips_vgg``) over two
    folders paired by name.

    Options: ``channel``, ``data_range`` (psnr/ssim), ``window``, ``sigma`` (ssim),
    ``compare_range`` (l2), ``backbone``, ``heads``, ``device`` (lpips), ``size``,
    ``batch_size``, ``recursive``, ``progress``.
    """
    protocol = METRICS.get(name)
    if protocol.kind != "paired":
        raise KeyError(f"{name!r} is a {protocol.kind} metric, not a paired one")
    m = protocol.build(**{k: opts[k] for k in protocol.options if opts.get(k) is not None})
    return _stamp(
        paired_folders(m, pred, gt, opts.get("batch_size", 16), opts.get("size"), opts.get("recursive", False),
                       opts.get("progress", True))
    )


def embedding(name: str, pred: str | Path, gt: str | Path, embedder: str, **opts: Any) -> dict[str, Any]:
    """An embedding protocol of ``METRICS`` (``acd``, ``ed``) over two folders paired by name, through
    the embedder registered in ``EMBEDDERS`` as ``embedder``.

    Options: ``weights`` (identity nets), ``checkpoint`` and ``output`` (recogniser), ``scale``
    (openface_au), ``distance``, ``device``, ``size``, ``batch_size``, ``recursive``, ``progress``.
    """
    protocol = METRICS.get(name)
    if protocol.kind != "embedding":
        raise KeyError(f"{name!r} is a {protocol.kind} metric, not an embedding distance")
    kw = {k: opts[k] for k in ("weights", "checkpoint", "output", "scale", "device") if opts.get(k) is not None}
    emb = build_embedder(embedder, **kw)
    m = protocol.build(embedder=emb, **{k: opts[k] for k in protocol.options if opts.get(k) is not None})
    return _stamp(
        embedding_folders(m, pred, gt, opts.get("batch_size", 16), opts.get("size"), opts.get("recursive", False),
                          opts.get("progress", True))
    )
