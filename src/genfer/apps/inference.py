"""Inference on image files with a trained method: recognise expressions, transfer them, reconstruct.

Images are treated as face crops (already detected and aligned, as the training data was): each
is converted to the checkpoint's channels and resized to its resolution. Photos are detected and
aligned first by :func:`genfer.apps.photos.load_faces` (what ``genfer transfer``/``edit`` use) or
offline by ``genfer prepare``.

Each helper needs one capability (``genfer.models.capabilities``) and checks it first, so a method
without it gives a one-line :class:`~genfer.models.capabilities.CapabilityError` naming what it can do.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from torch import Tensor

from genfer.data.loaders import resize_uint8, to_channels
from genfer.models.capabilities import require


def load_images(paths: Sequence[str | Path], size: int, channels: int) -> Tensor:
    """Read image files into uint8 ``[N, channels, size, size]``.

    Raises:
        genfer.data.io.ImageError: a file is missing, unreadable or not an image (named).
    """
    from genfer.data.io import read_image

    out = torch.empty(len(paths), channels, size, size, dtype=torch.uint8)
    for i, p in enumerate(paths):
        img = read_image(p, channels=3)
        out[i] = resize_uint8(to_channels(img[None], channels), size)[0]
    return out


@torch.inference_mode()
def predict_expressions(method, images: Tensor, batch_size: int = 64) -> Tensor:
    """Class probabilities float ``[N, K]`` for uint8 images ``[N, C, H, W]`` from a ``Classifier``.

    Column k is ``method.classes[k]``.
    """
    require(method, "classify", "expression recognition")
    probs = []
    for i in range(0, images.shape[0], batch_size):
        x = method.to_input(images[i : i + batch_size].to(method.device))
        probs.append(method.classify(x).float().softmax(-1).cpu())
    return torch.cat(probs) if probs else torch.empty(0, len(method.classes))


@torch.inference_mode()
def transfer_images(method, faces: Tensor, expressions: Tensor, batch_size: int = 64) -> Tensor:
    """``G(face_i, expression_i)`` from a ``Transferer`` for uint8 inputs ``[N, C, H, W]``; float output in [0, 1]."""
    require(method, "transfer", "expression transfer")
    out = []
    for i in range(0, faces.shape[0], batch_size):
        x_f = method.to_input(faces[i : i + batch_size].to(method.device))
        x_e = method.to_input(expressions[i : i + batch_size].to(method.device))
        out.append(method.transfer(x_f, x_e).float().cpu())
    return torch.cat(out)


@torch.inference_mode()
def reconstruct_images(method, images: Tensor, batch_size: int = 64) -> Tensor:
    """A ``Reconstructor``'s re-rendering of uint8 images ``[N, C, H, W]``; float ``[N, C, H, W]`` in [0, 1]."""
    require(method, "reconstruct", "reconstruction")
    out = [method.reconstruct(images[i : i + batch_size].to(method.device)).float().cpu()
           for i in range(0, images.shape[0], batch_size)]
    return torch.cat(out) if out else torch.empty(0, *images.shape[1:])


def transfer_grid(method, faces: Tensor, expressions: Tensor) -> tuple[Tensor, int]:
    """Every face with every expression, with the inputs as headers.

    Args:
        faces: uint8 ``[N, C, H, W]``, one per row.
        expressions: uint8 ``[M, C, H, W]``, one per column.

    Returns:
        ``([(N+1)*(M+1), C, H, W] floats in [0, 1], M+1)``: row 0 is a blank cell then the
        expression images, column 0 the face images, cell (i, j) ``G(face_i, expression_j)``.
    """
    n, m = faces.shape[0], expressions.shape[0]
    f = faces.repeat_interleave(m, 0)
    e = expressions.repeat(n, 1, 1, 1)
    fake = transfer_images(method, f, e).view(n, m, *faces.shape[1:])
    blank = torch.ones(1, *faces.shape[1:])
    header = torch.cat([blank, expressions.float() / 255])
    rows = [header] + [torch.cat([faces[i : i + 1].float() / 255, fake[i]]) for i in range(n)]
    return torch.cat(rows), m + 1


def parse_swap_list(method, tokens: Sequence[str]) -> tuple[int, int]:
    """``--swap-list i j``: the expressions of the input and the target, as 0-based class indices of the
    run (the seed's meaning: ``2 5`` = smile, neutral for Multi-PIE) or class names."""
    from genfer.core.errors import UsageError

    if len(tokens) != 2:
        raise UsageError(f"--swap-list takes two expressions (input, target), got {len(tokens)}")
    classes = tuple(method.classes)
    out = []
    for t in tokens:
        if t.lstrip("-").isdigit():
            k = int(t)
            if not 0 <= k < len(classes):
                raise UsageError(f"--swap-list: expression id {k} outside 0..{len(classes) - 1} "
                                 f"({', '.join(f'{i} {c}' for i, c in enumerate(classes))})")
            out.append(k)
        else:
            out.append(method.class_index(t))
    return out[0], out[1]


@torch.inference_mode()
def swap_row(method, a: Tensor, b: Tensor, swap_list: tuple[int, int] | None = None) -> tuple[Tensor, tuple[str, str]]:
    """JESRL's swap figure for uint8 faces ``a``, ``b`` ``[1, C, S, S]``: the row [input, target, D, C,
    R_D, R_C] (float ``[6, C, S, S]`` in [0, 1]) and the two expressions used.

    The expressions are ``swap_list`` (class indices) or, when ``None``, what the method's
    recogniser reads from each face.
    """
    require(method, "swap", "expression swap")
    if swap_list is None:
        i, j = (int(method.classify(x).argmax(1)[0]) for x in (a, b))
    else:
        i, j = swap_list
    out = method.swap_with(a, b, torch.tensor([i]), torch.tensor([j]))
    unit = [x.float().cpu() / 255 for x in (a, b)]
    row = torch.cat([*unit, *(out[k].cpu() for k in ("D", "C", "R_D", "R_C"))])
    return row, (method.classes[i], method.classes[j])
