"""Inception features of image batches and folders, with every setting that changes them recorded.

``InceptionExtractor`` resizes (``genfer.metrics.resize``), runs ``FIDInceptionV3`` on the best
device in sub-batches and returns float32 pool features and bias-free logits.
``extract_folder`` streams a folder through it with a progress bar.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor
from tqdm import tqdm

from genfer.metrics.images import iter_image_batches, list_images
from genfer.metrics.inception import INPUT_SIZE, FIDInceptionV3, fold_batchnorm, load_fid_inception
from genfer.metrics.resize import RESIZE_MODES, inception_input

NORMALISATION = {
    "clean": "(x255 - 128) / 128",
    "legacy_tensorflow": "(x255 - 128) / 128",
    "legacy_pytorch": "2 * x01 - 1",
}


def default_device() -> torch.device:
    """CUDA when available, else CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


class InceptionExtractor:
    """Images -> ``{"pool": [N, 2048], "logits_unbiased": [N, 1008]}`` (float32, on the CPU).

    Args:
        weights: path of the Inception weights (None: search the cache; see ``load_fid_inception``).
        mode: resize mode, one of ``RESIZE_MODES``.
        device: where the network runs (default: CUDA if available).
        batch_size: images per forward pass.
        precision: ``fp32`` (reference numbers) or ``bf16`` (weights and activations in bfloat16;
            faster on CPUs with AMX and on GPUs, changes FID slightly, so it is recorded).
        value_range: range of float inputs (uint8 inputs are always 0..255).
        model: use this network instead of loading weights (tests and benchmarks), named by
            ``weights_id``.
        weights_id: how results name the weights when ``model`` is given.
        resolution: network input side; FID, KID and IS are defined at 299 (smaller sizes only
            make tests fast, and are recorded).
    """

    def __init__(
        self,
        weights: str | Path | None = None,
        mode: str = "clean",
        device: str | torch.device | None = None,
        batch_size: int = 50,
        precision: str = "fp32",
        value_range: tuple[float, float] = (0.0, 1.0),
        model: FIDInceptionV3 | None = None,
        weights_id: str = "random-init",
        resolution: int = INPUT_SIZE,
    ) -> None:
        if mode not in RESIZE_MODES:
            raise ValueError(f"unknown resize mode {mode!r}; known: {', '.join(RESIZE_MODES)}")
        if precision not in ("fp32", "bf16"):
            raise ValueError(f"precision must be fp32 or bf16, got {precision!r}")
        self.device = torch.device(device) if device is not None else default_device()
        if model is None:
            model, self.weights_sha256 = load_fid_inception(weights)
        else:
            self.weights_sha256 = weights_id
        self.dtype = torch.bfloat16 if precision == "bf16" else torch.float32
        # BN folded into the convolutions, channels-last activations (the fast layout for oneDNN and
        # cuDNN), weights cast once; the 1008-way head stays float32
        self.model = fold_batchnorm(model).to(self.device, self.dtype).to(memory_format=torch.channels_last)
        self.fc_weight = model.fc.weight.detach().float().to(self.device)
        self.mode, self.batch_size, self.precision = mode, batch_size, precision
        self.value_range = (float(value_range[0]), float(value_range[1]))
        self.size = int(resolution)

    def settings(self) -> dict[str, Any]:
        """Everything about feature extraction that affects the numbers."""
        return {
            "feature_extractor": "inception-v3-tf-2015-12-05",
            "weights_sha256": self.weights_sha256,
            "resize_mode": self.mode,
            "resolution": self.size,
            "normalisation": NORMALISATION[self.mode],
            "precision": self.precision,
        }

    def prepare(self, images: Tensor | Sequence[Tensor]) -> Tensor:
        """Resize and scale ``[N, 3, H, W]`` (or a list of ``[3, H, W]``) to ``[N, 3, 299, 299]``."""
        if isinstance(images, Tensor) and images.ndim == 4:
            return inception_input(images, self.mode, self.size, self.value_range)
        return torch.cat([inception_input(t[None], self.mode, self.size, self.value_range) for t in images])

    @torch.no_grad()
    def __call__(self, images: Tensor | Sequence[Tensor]) -> dict[str, Tensor]:
        pools, logits = [], []
        n = images.shape[0] if isinstance(images, Tensor) else len(images)
        for i in range(0, n, self.batch_size):
            x = self.prepare(images[i : i + self.batch_size]).to(self.device, self.dtype)
            pool = self.model.pool_features(x.contiguous(memory_format=torch.channels_last)).float()
            pools.append(pool.cpu())
            logits.append((pool @ self.fc_weight.T).cpu())  # bias-free logits, as IS uses them
        if not pools:
            return {"pool": torch.zeros(0, 2048), "logits_unbiased": torch.zeros(0, 1008)}
        return {"pool": torch.cat(pools), "logits_unbiased": torch.cat(logits)}


def extract_paths(
    paths: Sequence[Path],
    extractor: InceptionExtractor,
    num_workers: int = 0,
    progress: bool = True,
    desc: str = "inception",
) -> dict[str, Tensor]:
    """Features of image files, streamed in batches with a progress bar."""
    pools, logits = [], []
    with tqdm(total=len(paths), unit="img", desc=desc, disable=not progress) as bar:
        for batch in iter_image_batches(paths, extractor.batch_size, num_workers):
            out = extractor(batch)
            pools.append(out["pool"])
            logits.append(out["logits_unbiased"])
            bar.update(len(batch))
    if not pools:
        raise ValueError(f"no images to extract features from ({desc})")
    return {"pool": torch.cat(pools), "logits_unbiased": torch.cat(logits)}


def extract_folder(
    folder: str | Path,
    extractor: InceptionExtractor,
    num_workers: int = 0,
    progress: bool = True,
    recursive: bool = False,
) -> dict[str, Tensor]:
    """Features of every image in ``folder`` (sorted by path)."""
    paths = list_images(folder, recursive)
    if not paths:
        raise ValueError(f"{folder}: no images found")
    return extract_paths(paths, extractor, num_workers, progress, desc=Path(folder).name or str(folder))
