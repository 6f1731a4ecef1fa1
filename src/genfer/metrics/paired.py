"""Accumulating per-pair metrics (PSNR, SSIM, L2, LPIPS): mean and std of per-image values.

Every per-pair metric reduces to the same sufficient statistics, summed in float64 over batches
and ranks: the sum and sum of squares of finite values, their count, and how many values were
not finite (PSNR of identical images is ``inf``; they are counted and left out of the mean
instead of turning it into ``inf``). The std is the population std (ddof 0, as ``np.std``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from genfer.metrics.base import Metric
from genfer.metrics.quality import mse, psnr, ssim


class MeanMetric(Metric):
    """Mean +- std of per-item values.

    Args:
        name: metric name used in results.
        settings: everything that affects the values; copied into every result.
    """

    def __init__(self, name: str, settings: dict[str, Any] | None = None) -> None:
        super().__init__()
        self.name = name
        self.settings = dict(settings or {})
        for k in ("sum", "sumsq", "n", "nonfinite"):
            self.add_state(k, torch.zeros((), dtype=torch.float64))

    def update_values(self, values: Tensor) -> None:
        """Add ``[N]`` per-item values."""
        v = values.detach().reshape(-1).to(torch.float64).cpu()
        ok = torch.isfinite(v)
        f = v[ok]
        self._add("sum", f.sum())
        self._add("sumsq", (f * f).sum())
        self._add("n", torch.tensor(float(f.numel())))
        self._add("nonfinite", (~ok).sum())

    def compute(self) -> dict[str, Any]:
        s = self.state()
        n = float(s["n"])
        mean = float(s["sum"]) / n if n else math.nan
        var = max(float(s["sumsq"]) / n - mean * mean, 0.0) if n else math.nan
        return {
            "metric": self.name,
            "mean": mean,
            "std": math.sqrt(var) if n else math.nan,
            "std_ddof": 0,
            "num_pairs": int(n),
            "num_nonfinite": int(s["nonfinite"]),
            **self.settings,
        }


class PairedImageMetric(MeanMetric):
    """A per-image function of (prediction, target) accumulated as mean +- std.

    Args:
        name: metric name.
        fn: ``(pred [N, C, H, W], target [N, C, H, W]) -> [N]``.
        settings: recorded with the result.
    """

    def __init__(self, name: str, fn: Callable[[Tensor, Tensor], Tensor], settings: dict[str, Any]) -> None:
        super().__init__(name, settings)
        self.fn = fn

    def update(self, pred: Tensor, target: Tensor) -> None:
        """Add a batch of image pairs."""
        self.update_values(self.fn(pred, target))


def psnr_metric(
    value_range: tuple[float, float] = (0.0, 1.0), data_range: float | None = None, channel: str = "rgb"
) -> PairedImageMetric:
    """Accumulating PSNR (dB); see ``genfer.metrics.quality.psnr``."""
    dr = data_range if data_range is not None else value_range[1] - value_range[0]
    return PairedImageMetric(
        "psnr",
        lambda a, b: psnr(a, b, value_range, data_range, channel),
        {"value_range": list(value_range), "data_range": dr, "channel": channel, "aggregate": "image mean"},
    )


def ssim_metric(
    value_range: tuple[float, float] = (0.0, 1.0),
    data_range: float | None = None,
    channel: str = "rgb",
    window: int = 11,
    sigma: float = 1.5,
) -> PairedImageMetric:
    """Accumulating SSIM; see ``genfer.metrics.quality.ssim``."""
    dr = data_range if data_range is not None else value_range[1] - value_range[0]
    return PairedImageMetric(
        "ssim",
        lambda a, b: ssim(a, b, value_range, data_range, channel, window, sigma),
        {
            "value_range": list(value_range),
            "data_range": dr,
            "channel": channel,
            "window": f"gaussian {window}x{window}, sigma {sigma}",
            "k1": 0.01,
            "k2": 0.03,
            "covariance": "population",
            "border": "valid positions only",
        },
    )


def l2_metric(
    value_range: tuple[float, float] = (0.0, 1.0), compare_range: tuple[float, float] = (-1.0, 1.0)
) -> PairedImageMetric:
    """Accumulating per-image MSE after mapping images to ``compare_range`` ([-1, 1] as in IFER)."""
    lo, hi = value_range
    clo, chi = compare_range

    def fn(a: Tensor, b: Tensor) -> Tensor:
        def rescale(t: Tensor) -> Tensor:
            u = t.to(torch.float64)
            u = u / 255.0 if t.dtype == torch.uint8 else (u - lo) / (hi - lo)
            return u * (chi - clo) + clo

        return mse(rescale(a), rescale(b), compare_range)

    return PairedImageMetric(
        "l2",
        fn,
        {"value_range": list(value_range), "compare_range": list(compare_range), "definition": "image MSE"}
    )


def lpips_metric(
    net: str = "alex",
    value_range: tuple[float, float] = (0.0, 1.0),
    backbone: str | Path | None = None,
    heads: str | Path | None = None,
    model: Any = None,
    device: str | torch.device | None = None,
) -> PairedImageMetric:
    """Accumulating LPIPS v0.1 (``alex`` or ``vgg``); ``model`` overrides loading published weights."""
    from genfer.metrics.extractor import default_device
    from genfer.metrics.lpips import load_lpips

    dev = torch.device(device) if device is not None else default_device()
    m = (model if model is not None else load_lpips(net, backbone, heads)).to(dev).eval()

    @torch.no_grad()
    def fn(a: Tensor, b: Tensor) -> Tensor:
        if a.dtype == torch.uint8:
            return m(a.to(dev), b.to(dev), (0.0, 255.0)).cpu()
        return m(a.to(dev), b.to(dev), value_range).cpu()

    return PairedImageMetric(
        f"lpips_{net}",
        fn,
        {
            "net": net,
            "version": "0.1",
            "value_range": list(value_range),
            "weights": dict(getattr(m, "weights_id", {})),
            "device": str(dev),
        },
    )
