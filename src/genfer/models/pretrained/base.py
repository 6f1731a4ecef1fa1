"""What a pretrained expression recogniser offers to ``genfer recognize`` and the metrics.

A recogniser is built by a factory registered in :data:`genfer.core.registry.PRETRAINED`::

    @PRETRAINED.register("fer")
    def build(device: str = "cpu", cache: str | None = None) -> ExpressionRecognizer: ...

It states how a face is cut from a photo (``crop``: a :class:`CropPreset`, applied to the
detector's box or five landmarks by :func:`genfer.data.preprocess.align.crop_matrices`), and maps
uint8 crops of that size and channel count to probabilities over its own classes, named by the
canonical expression names of :data:`genfer.data.labels.BASIC7` / ``CONTEMPT``. Everything the
original does after the crop (resizing, scaling, mean subtraction) happens inside ``__call__``,
so the crop rule and the network's own preprocessing stay separate and testable.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from torch import Tensor

from genfer.data.preprocess.align import CropPreset


@runtime_checkable
class ExpressionRecognizer(Protocol):
    """A pretrained expression classifier.

    Attributes:
        name: registry name (``fer``, ``faceapi``, ...).
        classes: canonical expression name of each output column, in the network's own order.
        crop: how to cut its input from a photo given a detection.
    """

    name: str
    classes: tuple[str, ...]
    crop: CropPreset

    def __call__(self, faces: Tensor) -> Tensor:
        """``faces``: uint8 ``[N, crop.channels, crop.size, crop.size]`` -> float ``[N, len(classes)]``
        probabilities (rows sum to 1)."""
        ...
