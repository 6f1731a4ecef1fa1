"""Metrics: recognition, image quality (FID/KID/IS, LPIPS, PSNR/SSIM/L2), identity and expression distance.

Each metric has a functional core and an accumulating class (``genfer.metrics.base.Metric``) whose
sufficient statistics reduce across DDP ranks. Importing this package registers the metric
protocols in ``genfer._registry.METRICS``.
"""

from __future__ import annotations

from genfer.metrics.base import Metric
from genfer.metrics.protocols import MetricProtocol, register_protocol
from genfer.metrics.recognition import (
    RecognitionMetric,
    confusion_matrix,
    kfold_summary,
    plot_confusion,
    recognition_report,
    report_from_confusion,
)

register_protocol(
    MetricProtocol(
        "accuracy",
        "recognition",
        True,
        "top-1 accuracy, mean class accuracy, per-class P/R/F1, macro-F1, confusion matrix",
        RecognitionMetric,
    )
)

__all__ = [
    "Metric",
    "MetricProtocol",
    "RecognitionMetric",
    "confusion_matrix",
    "kfold_summary",
    "plot_confusion",
    "recognition_report",
    "report_from_confusion",
]
