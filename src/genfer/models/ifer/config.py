"""IFER's configuration: the ASIT encoder's sizes plus the classifier and timm's training augmentations."""

from __future__ import annotations

from dataclasses import dataclass

from genfer.core.config import check_range
from genfer.models.asit.config import GCViTEncoderConfig


@dataclass
class IFERConfig(GCViTEncoderConfig):
    """IFER: the ASIT encoder fine-tuned into an expression classifier (``scripts/ifer.py`` + ``configs/ifer.yml``).

    Start from an ASIT run with ``model.init_from=RUN`` (its ``encoder.*`` keys load as they are)
    and the same encoder sizes. The recipe's optimiser, schedule, clipping and precision are run
    settings (``optim.*``, ``train.*``: see the ``released`` preset).

    Args:
        num_classes: expression classes (7 in the release: RAF-DB's basic set).
        rand_augment: timm's RandAugment ``rand-m{ra_magnitude}-mstd{ra_mstd}-inc1``, ``ra_ops`` ops per image.
        ra_magnitude: RandAugment magnitude (9 of 10).
        ra_mstd: standard deviation of the magnitude (0.5).
        ra_ops: ops per image (2).
        crop_scale: RandomResizedCrop's smallest area fraction (0.08; 1 = off).
        hflip: horizontal flip probability (0.5).
        color_jitter: brightness/contrast/saturation strength (0.4); as in timm, used only when
            ``rand_augment`` is off (timm disables colour jitter under Auto/RandAugment).
        reprob: random-erasing probability (0.25), on the normalised image.
        mixup: Mixup's Beta alpha (0.8; 0 = off).
        cutmix: CutMix's Beta alpha (1.0; 0 = off).
        mix_prob: probability of mixing a batch (1.0).
        switch_prob: probability of CutMix rather than Mixup when both are on (0.5).
        smoothing: label smoothing (0.1).
    """

    num_classes: int = 7
    rand_augment: bool = True
    ra_magnitude: float = 9.0
    ra_mstd: float = 0.5
    ra_ops: int = 2
    crop_scale: float = 0.08
    hflip: float = 0.5
    color_jitter: float = 0.4
    reprob: float = 0.25
    mixup: float = 0.8
    cutmix: float = 1.0
    mix_prob: float = 1.0
    switch_prob: float = 0.5
    smoothing: float = 0.1

    def __post_init__(self) -> None:
        super().__post_init__()
        check_range("model.num_classes", self.num_classes, self.num_classes >= 2, "an integer >= 2")
        for n in ("hflip", "reprob", "mix_prob", "switch_prob", "smoothing"):
            v = getattr(self, n)
            check_range(f"model.{n}", v, 0 <= v <= 1, "a probability in [0, 1]")
        check_range("model.crop_scale", self.crop_scale, 0 < self.crop_scale <= 1, "a number in (0, 1]")
