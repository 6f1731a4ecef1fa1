"""FID, KID and Inception Score: the statistics, independent of where features come from.

- FID (Heusel et al. 2017): ``|mu1 - mu2|^2 + tr S1 + tr S2 - 2 tr sqrt(S1 S2)`` over 2048-d pool
  features; covariances are unbiased (divide by N - 1) like pytorch-fid's ``np.cov``. The trace
  term is computed as ``tr sqrt(sqrt(S1) S2 sqrt(S1))``: that matrix is symmetric PSD, so its
  square root comes from an eigendecomposition with negative round-off clamped to 0, in float64
  (no complex parts, no ``sqrtm`` failures on singular covariances). With fewer images than
  dimensions, ``fid_from_features`` uses the equal, cheaper nuclear norm of the centred
  features' cross product.
- KID (Binkowski et al. 2018): unbiased MMD^2 with the cubic polynomial kernel
  ``k(x, y) = (x.y / d + 1)^3``, averaged over ``subsets`` random subsets of ``subset_size``
  features from each set (drawn without replacement); reported as mean and std (ddof 0).
- IS (Salimans et al. 2016): ``exp(E_x KL(p(y|x) || p(y)))`` from softmax over the 1008 bias-free
  logits, in ``splits`` equal splits; mean and std (ddof 0) over splits.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from genfer.metrics.base import Metric


# --- matrix square root -----------------------------------------------------------------------
def sqrtm_psd(a: Tensor) -> Tensor:
    """Principal square root of a symmetric PSD matrix by eigendecomposition (float64).

    Args:
        a: ``[D, D]`` symmetric positive semi-definite.

    Returns:
        ``[D, D]`` symmetric PSD ``s`` with ``s @ s ~= a``.
    """
    a = a.to(torch.float64)
    a = (a + a.T) / 2
    w, v = torch.linalg.eigh(a)
    return (v * w.clamp(min=0).sqrt()) @ v.T


def trace_sqrt_product(s1: Tensor, s2: Tensor) -> float:
    """``tr sqrt(S1 S2)`` for PSD ``S1, S2``, via the symmetric ``sqrt(S1) S2 sqrt(S1)``."""
    r1 = sqrtm_psd(s1)
    m = r1 @ s2.to(torch.float64) @ r1
    w = torch.linalg.eigvalsh((m + m.T) / 2)
    return float(w.clamp(min=0).sqrt().sum())


def frechet_distance(mu1: Tensor, sigma1: Tensor, mu2: Tensor, sigma2: Tensor) -> float:
    """Fréchet distance between Gaussians ``N(mu1, sigma1)`` and ``N(mu2, sigma2)``.

    Args:
        mu1, mu2: ``[D]`` means.
        sigma1, sigma2: ``[D, D]`` covariances.
    """
    mu1, mu2 = mu1.to(torch.float64), mu2.to(torch.float64)
    s1, s2 = sigma1.to(torch.float64), sigma2.to(torch.float64)
    diff = mu1 - mu2
    value = float(diff @ diff) + float(s1.trace() + s2.trace()) - 2 * trace_sqrt_product(s1, s2)
    return max(value, 0.0)


def mean_cov(features: Tensor) -> tuple[Tensor, Tensor]:
    """float64 mean ``[D]`` and unbiased covariance ``[D, D]`` of ``[N, D]`` features."""
    f = features.to(torch.float64)
    mu = f.mean(0)
    c = f - mu
    return mu, c.T @ c / max(f.shape[0] - 1, 1)


def stats_from_sums(total: Tensor, outer: Tensor, n: float) -> tuple[Tensor, Tensor]:
    """Mean and unbiased covariance from ``sum x`` ``[D]``, ``sum x x^T`` ``[D, D]`` and count."""
    if n < 2:
        raise ValueError(f"FID needs at least 2 images per set, got {int(n)}")
    mu = total / n
    cov = (outer - n * torch.outer(mu, mu)) / (n - 1)
    return mu, (cov + cov.T) / 2


def fid_from_features(real: Tensor, fake: Tensor) -> float:
    """FID between two ``[N, D]`` feature sets.

    With fewer images than feature dimensions the covariances have low rank, and the trace term
    is computed exactly and far faster from the ``[N1, N2]`` cross product of the centred
    features: with ``S1 = A A^T`` and ``S2 = B B^T``, ``tr sqrt(S1 S2)`` is the nuclear norm
    (sum of singular values) of ``A^T B``.
    """
    n1, n2, d = real.shape[0], fake.shape[0], real.shape[1]
    if min(n1, n2) >= d:
        return frechet_distance(*mean_cov(real), *mean_cov(fake))
    if min(n1, n2) < 2:
        raise ValueError(f"FID needs at least 2 images per set, got {n1} and {n2}")
    a = real.to(torch.float64)
    b = fake.to(torch.float64)
    mu1, mu2 = a.mean(0), b.mean(0)
    a = (a - mu1) / (n1 - 1) ** 0.5
    b = (b - mu2) / (n2 - 1) ** 0.5
    tr_sqrt = float(torch.linalg.svdvals(a @ b.T).sum())
    diff = mu1 - mu2
    value = float(diff @ diff) + float((a * a).sum() + (b * b).sum()) - 2 * tr_sqrt
    return max(value, 0.0)


# --- KID and IS -------------------------------------------------------------------------------
def _poly_mmd2_unbiased(x: Tensor, y: Tensor) -> Tensor:
    d = x.shape[1]
    kxx = (x @ x.T / d + 1) ** 3
    kyy = (y @ y.T / d + 1) ** 3
    kxy = (x @ y.T / d + 1) ** 3
    m, n = x.shape[0], y.shape[0]
    sxx = (kxx.sum() - kxx.diagonal().sum()) / (m * (m - 1))
    syy = (kyy.sum() - kyy.diagonal().sum()) / (n * (n - 1))
    return sxx + syy - 2 * kxy.mean()


def kid_from_features(
    real: Tensor, fake: Tensor, subsets: int = 100, subset_size: int = 1000, seed: int = 0
) -> dict[str, Any]:
    """Kernel Inception Distance between two ``[N, D]`` feature sets.

    Args:
        real, fake: features.
        subsets: number of random subset pairs.
        subset_size: features per subset (capped at the smaller set's size).
        seed: seeds the subset draws.

    Returns:
        ``{"kid_mean", "kid_std", "subsets", "subset_size", "seed"}``.
    """
    m = min(subset_size, real.shape[0], fake.shape[0])
    if m < 2:
        raise ValueError("KID needs at least 2 features per set")
    g = torch.Generator().manual_seed(seed)
    x, y = real.to(torch.float64), fake.to(torch.float64)
    vals = []
    for _ in range(subsets):
        ix = torch.randperm(x.shape[0], generator=g)[:m].to(x.device)
        iy = torch.randperm(y.shape[0], generator=g)[:m].to(y.device)
        vals.append(_poly_mmd2_unbiased(x[ix], y[iy]))
    v = torch.stack(vals)
    return {
        "kid_mean": float(v.mean()),
        "kid_std": float(v.std(unbiased=False)),
        "subsets": subsets,
        "subset_size": m,
        "seed": seed,
    }


def inception_score_from_logits(logits: Tensor, splits: int = 10, seed: int | None = 0) -> dict[str, Any]:
    """Inception Score of ``[N, K]`` logits (softmax taken here).

    Args:
        logits: bias-free Inception logits, one row per image.
        splits: number of splits; split i holds rows ``i*N//splits`` to ``(i+1)*N//splits``
            (the original IS code's boundaries).
        seed: shuffles the rows before splitting (None keeps the given order).

    Returns:
        ``{"is_mean", "is_std", "splits", "seed"}``.
    """
    logits = logits.to(torch.float64)
    if seed is not None:
        logits = logits[torch.randperm(logits.shape[0], generator=torch.Generator().manual_seed(seed))]
    if logits.shape[0] < splits:
        raise ValueError(f"IS with {splits} splits needs at least {splits} images, got {logits.shape[0]}")
    scores = []
    n = logits.shape[0]
    for i in range(splits):
        part = logits[i * n // splits : (i + 1) * n // splits]
        logp = part.log_softmax(1)
        p = logp.exp()
        logpy = torch.logsumexp(logp, 0) - torch.log(torch.tensor(float(part.shape[0]), dtype=torch.float64))
        kl = (p * (logp - logpy)).sum(1).mean()
        scores.append(kl.exp())
    s = torch.stack(scores)
    return {
        "is_mean": float(s.mean()),
        "is_std": float(s.std(unbiased=False)),
        "splits": splits,
        "seed": seed,
    }


# --- accumulating metrics ---------------------------------------------------------------------
class FeatureMetric(Metric):
    """Base of FID/KID/IS: features come from ``extractor`` (built lazily) or ``update_features``.

    Args:
        extractor: an ``InceptionExtractor`` (or any callable images -> dict with ``pool`` and
            ``logits_unbiased``); None builds the default one on first ``update``.
    """

    def __init__(self, extractor: Any = None) -> None:
        super().__init__()
        self.extractor = extractor

    def _extract(self, images: Tensor) -> dict[str, Tensor]:
        if self.extractor is None:
            from genfer.metrics.extractor import InceptionExtractor

            self.extractor = InceptionExtractor()
        return self.extractor(images)

    def settings(self) -> dict[str, Any]:
        s = getattr(self.extractor, "settings", None)
        return s() if callable(s) else {}


class FID(FeatureMetric):
    """Accumulates float64 feature sums of a real and a fake set; ``compute`` gives FID.

    State (summed over ranks): ``{real,fake}_sum`` ``[D]``, ``{real,fake}_outer`` ``[D, D]``,
    ``{real,fake}_n``. A cached reference set can be given with ``set_real_stats``.
    """

    name = "fid"

    def __init__(self, extractor: Any = None, dim: int = 2048) -> None:
        super().__init__(extractor)
        self.dim = dim
        for side in ("real", "fake"):
            self.add_state(f"{side}_sum", torch.zeros(dim, dtype=torch.float64))
            self.add_state(f"{side}_outer", torch.zeros(dim, dim, dtype=torch.float64))
            self.add_state(f"{side}_n", torch.zeros((), dtype=torch.float64))
        self._real_stats: tuple[Tensor, Tensor, int] | None = None

    def update_features(self, features: Tensor, real: bool) -> None:
        """Add ``[N, D]`` features to the real or the fake set."""
        side = "real" if real else "fake"
        f = features.detach().to(torch.float64)
        self._add(f"{side}_sum", f.sum(0))
        self._add(f"{side}_outer", f.T @ f)
        self._add(f"{side}_n", torch.tensor(float(f.shape[0])))

    def update(self, images: Tensor, real: bool) -> None:
        """Add a batch of images (uint8, or float in the extractor's value range)."""
        self.update_features(self._extract(images)["pool"], real)

    def set_real_stats(self, mu: Tensor, sigma: Tensor, n: int) -> None:
        """Use precomputed reference statistics instead of accumulated real images."""
        self._real_stats = (mu.to(torch.float64).cpu(), sigma.to(torch.float64).cpu(), int(n))

    def compute(self) -> dict[str, Any]:
        s = self.state()
        if self._real_stats is not None:
            mu_r, cov_r, n_r = self._real_stats
        else:
            n_r = int(s["real_n"])
            mu_r, cov_r = stats_from_sums(s["real_sum"].cpu(), s["real_outer"].cpu(), n_r)
        n_f = int(s["fake_n"])
        mu_f, cov_f = stats_from_sums(s["fake_sum"].cpu(), s["fake_outer"].cpu(), n_f)
        fid = frechet_distance(mu_r, cov_r, mu_f, cov_f)
        return {"fid": fid, "num_real": n_r, "num_fake": n_f, **self.settings()}


class KID(FeatureMetric):
    """Keeps all features of both sets (gathered over ranks); ``compute`` gives KID mean +- std."""

    name = "kid"

    def __init__(
        self,
        extractor: Any = None,
        subsets: int = 100,
        subset_size: int = 1000,
        seed: int = 0,
        dim: int = 2048,
    ) -> None:
        super().__init__(extractor)
        self.subsets, self.subset_size, self.seed = subsets, subset_size, seed
        self.add_state("real_features", torch.zeros(0, dim), "cat")
        self.add_state("fake_features", torch.zeros(0, dim), "cat")
        self._real_features: Tensor | None = None

    def update_features(self, features: Tensor, real: bool) -> None:
        self._append("real_features" if real else "fake_features", features)

    def update(self, images: Tensor, real: bool) -> None:
        self.update_features(self._extract(images)["pool"], real)

    def set_real_features(self, features: Tensor) -> None:
        """Use precomputed reference features instead of accumulated real images."""
        self._real_features = features.detach().cpu()

    def compute(self) -> dict[str, Any]:
        s = self.state()
        real = self._real_features if self._real_features is not None else s["real_features"].cpu()
        fake = s["fake_features"].cpu()
        out = kid_from_features(real, fake, self.subsets, self.subset_size, self.seed)
        return {**out, "num_real": real.shape[0], "num_fake": fake.shape[0], **self.settings()}


class InceptionScore(FeatureMetric):
    """Keeps the bias-free 1008 logits of every image; ``compute`` gives IS mean +- std."""

    name = "is"

    def __init__(self, extractor: Any = None, splits: int = 10, seed: int | None = 0, num_logits: int = 1008):
        super().__init__(extractor)
        self.splits, self.seed = splits, seed
        self.add_state("logits", torch.zeros(0, num_logits), "cat")

    def update_logits(self, logits: Tensor) -> None:
        self._append("logits", logits)

    def update(self, images: Tensor) -> None:
        self.update_logits(self._extract(images)["logits_unbiased"])

    def compute(self) -> dict[str, Any]:
        logits = self.state()["logits"].cpu()
        out = inception_score_from_logits(logits, self.splits, self.seed)
        return {**out, "num_images": logits.shape[0], **self.settings()}
