"""Metrics: recognition, image quality (FID/KID/IS, LPIPS, PSNR/SSIM/L2), identity and expression distance.

Each metric has a functional core and an accumulating class (``genfer.metrics.base.Metric``) whose
sufficient statistics reduce across DDP ranks. Importing this package registers the metric
protocols in ``genfer.core.registry.METRICS``; ``METRICS.get("ssim").build(...)`` builds one and
``METRICS.get("ssim").folders(pred=..., gt=...)`` computes it over two folders.
Nothing here downloads weights: see docs/metrics.md for where each file comes from.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from genfer.metrics import folder_metrics as fm
from genfer.metrics.base import Metric
from genfer.metrics.embedding import (
    Embedder,
    EmbedderUnavailableError,
    EmbeddingDistance,
    FileEmbedder,
    IdentitySimilarity,
    OpenFaceAUEmbedder,
    RecogniserEmbedder,
    build_embedder,
)
from genfer.metrics.fid import (
    FID,
    KID,
    InceptionScore,
    fid_from_features,
    frechet_distance,
    inception_score_from_logits,
    kid_from_features,
    sqrtm_psd,
)
from genfer.metrics.paired import (
    MeanMetric,
    PairedImageMetric,
    l2_metric,
    lpips_metric,
    psnr_metric,
    ssim_metric,
)
from genfer.metrics.protocols import MetricProtocol, register_protocol
from genfer.metrics.quality import mse, psnr, ssim
from genfer.metrics.recognition import (
    RecognitionMetric,
    confusion_matrix,
    kfold_summary,
    plot_confusion,
    recognition_report,
    report_from_confusion,
)
from genfer.metrics.weights import MissingWeightsError, WeightsHashError, cache_dir


def _acd(embedder: Any = None, **kw: Any) -> EmbeddingDistance:
    return EmbeddingDistance("acd", embedder, **kw)


def _ed(embedder: Any = None, **kw: Any) -> EmbeddingDistance:
    return EmbeddingDistance("ed", embedder, **kw)


for _p in (
    MetricProtocol(
        "accuracy", "recognition", True,
        "top-1 accuracy, mean class accuracy, per-class P/R/F1, macro-F1, confusion matrix",
        RecognitionMetric,
    ),
    MetricProtocol("fid", "distribution", False, "Fréchet Inception Distance, TF pool3 2048-d", FID,
                   folders=fm.fid),
    MetricProtocol("kid", "distribution", False, "Kernel Inception Distance, cubic kernel, mean +- std", KID,
                   folders=fm.kid),
    MetricProtocol("is", "distribution", True, "Inception Score, 1008 bias-free logits", InceptionScore,
                   folders=fm.inception_score),
    MetricProtocol("lpips_alex", "paired", False, "LPIPS v0.1 AlexNet", partial(lpips_metric, "alex"),
                   ("backbone", "heads", "device"), partial(fm.paired, "lpips_alex")),
    MetricProtocol("lpips_vgg", "paired", False, "LPIPS v0.1 VGG16", partial(lpips_metric, "vgg"),
                   ("backbone", "heads", "device"), partial(fm.paired, "lpips_vgg")),
    MetricProtocol("psnr", "paired", True, "PSNR (dB), mean of per-image values", psnr_metric,
                   ("data_range", "channel"), partial(fm.paired, "psnr")),
    MetricProtocol("ssim", "paired", True, "SSIM, Gaussian 11x11 sigma 1.5, per-image mean", ssim_metric,
                   ("data_range", "channel", "window", "sigma"), partial(fm.paired, "ssim")),
    MetricProtocol("l2", "paired", False, "per-image MSE on [-1, 1]", l2_metric,
                   ("compare_range",), partial(fm.paired, "l2")),
    MetricProtocol("acd", "embedding", False, "Average Content Distance: identity embedding L2", _acd,
                   ("distance",), partial(fm.embedding, "acd")),
    MetricProtocol("id_sim", "embedding", True, "ID similarity: cosine of identity embeddings (IR-SE50, face_api)",
                   IdentitySimilarity, (), partial(fm.embedding, "id_sim")),
    MetricProtocol("ed", "embedding", False, "expression distance: AU-vector / recogniser-output L2", _ed,
                   ("distance",), partial(fm.embedding, "ed")),
):
    register_protocol(_p)

__all__ = [
    "FID",
    "KID",
    "Embedder",
    "EmbedderUnavailableError",
    "EmbeddingDistance",
    "FileEmbedder",
    "IdentitySimilarity",
    "InceptionScore",
    "MeanMetric",
    "Metric",
    "MetricProtocol",
    "MissingWeightsError",
    "OpenFaceAUEmbedder",
    "PairedImageMetric",
    "RecogniserEmbedder",
    "RecognitionMetric",
    "WeightsHashError",
    "build_embedder",
    "cache_dir",
    "confusion_matrix",
    "fid_from_features",
    "frechet_distance",
    "inception_score_from_logits",
    "kfold_summary",
    "kid_from_features",
    "l2_metric",
    "lpips_metric",
    "mse",
    "plot_confusion",
    "psnr",
    "psnr_metric",
    "recognition_report",
    "report_from_confusion",
    "sqrtm_psd",
    "ssim",
    "ssim_metric",
]
