"""Image decoding with Pillow into uint8 tensors, robust to what real datasets contain.

Every reader and command decodes images through :func:`read_image`, so one place decides how odd
files are handled:

- zero-byte files, missing files, non-images with image extensions, truncated or corrupt JPEG/PNG
  data and images over the pixel limit raise :class:`ImageError`, whose message names the file
  and the problem (``prepare`` catches it, counts it and moves on);
- EXIF orientation is applied, so a phone photo stored sideways comes out upright;
- palette images are expanded; alpha (RGBA, LA, palette transparency) is composited on black,
  i.e. colours are multiplied by alpha, so opaque pixels are unchanged and transparent ones
  become black;
- CMYK is converted to RGB by Pillow (Adobe-inverted JPEG CMYK included; ICC profiles ignored);
- 16-bit greyscale is scaled to 8 bits with rounding (``v * 255 / 65535``); 16-bit RGB comes
  from Pillow as 8-bit RGB (the high byte of each sample); 32-bit integer
  images are treated the same when a value exceeds 255; float images are rounded and clipped
  to 0..255;
- ``channels=1`` is ITU-R 601-2 luma (``L = 0.299 R + 0.587 G + 0.114 B``, Pillow's ``L``
  conversion); ``channels=3`` is RGB, with greyscale replicated.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from genfer.core.errors import GenferError

IMAGE_EXTENSIONS: tuple[str, ...] = (
    ".jpg", ".jpeg", ".png", ".bmp", ".ppm", ".pgm", ".tif", ".tiff", ".webp",
)
"""File name endings treated as images when a reader lists a folder (compared lower-case)."""

MAX_PIXELS = 100_000_000
"""Default decompression-bomb guard: images with more pixels than this are refused unopened.

Pillow itself refuses images above ``2 * PIL.Image.MAX_IMAGE_PIXELS`` (about 179 MP) at open
time; a larger ``max_pixels`` also needs that raised.
"""


class ImageError(GenferError, ValueError):
    """An image file that cannot be decoded; the message is ``"<path>: <problem>"``.

    Attributes:
        path: the offending file.
        problem: what is wrong with it, in words.
    """

    def __init__(self, path: str | os.PathLike, problem: str) -> None:
        super().__init__(problem, path=path)
        self.path = Path(path)
        self.problem = problem


def is_image_file(path: str | os.PathLike) -> bool:
    """True when the file name ends in one of :data:`IMAGE_EXTENSIONS` (case-insensitive)."""
    return str(path).lower().endswith(IMAGE_EXTENSIONS)


def read_image(
    path: str | os.PathLike,
    channels: int = 3,
    *,
    size: int | tuple[int, int] | None = None,
    max_pixels: int = MAX_PIXELS,
) -> torch.Tensor:
    """Decode an image file to a uint8 tensor.

    Args:
        path: image file (any format Pillow reads; spaces and non-ASCII names are fine).
        channels: 1 for greyscale (ITU-R 601-2 luma) or 3 for RGB.
        size: resize to ``size`` x ``size`` (or ``(height, width)``) with Pillow's antialiased
            bilinear filter, without cropping; ``None`` keeps the stored size.
        max_pixels: refuse images with more pixels than this (decompression-bomb guard).

    Returns:
        uint8 tensor ``[channels, H, W]``.

    Raises:
        ImageError: missing, empty, unrecognised, truncated/corrupt or oversized files.
    """
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, got {channels}")
    p = Path(path)
    try:
        nbytes = p.stat().st_size
    except FileNotFoundError:
        raise ImageError(p, "file not found") from None
    except OSError as e:
        raise ImageError(p, f"cannot access file ({e.strerror or e})") from None
    if p.is_dir():
        raise ImageError(p, "is a directory, not an image file")
    if nbytes == 0:
        raise ImageError(p, "empty file (0 bytes)")
    try:
        with warnings.catch_warnings():
            # Pillow warns from 89 MP; the explicit max_pixels check below decides instead.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(p) as img:
                w, h = img.size
                if w * h > max_pixels:
                    raise ImageError(p, _bomb_message(w, h, max_pixels))
                img.load()
                return pil_to_tensor(img, channels, size=size)
    except ImageError:
        raise
    except Exception as e:  # Pillow's format plug-ins raise many types on malformed data
        raise decode_error(p, e, nbytes) from None


def decode_error(path: str | os.PathLike, e: Exception, nbytes: int | None = None) -> ImageError:
    """The :class:`ImageError` for an exception raised while Pillow opened or decoded ``path``.

    Pillow reports truncation as ``OSError("image file is truncated")``, bad PNG chunks as
    ``SyntaxError`` or ``OSError``, broken headers as ``struct.error``, ``IndexError``,
    ``TypeError``... so every type becomes one message naming the file.
    """
    if isinstance(e, FileNotFoundError):
        return ImageError(path, "file not found")
    if isinstance(e, Image.DecompressionBombError):
        return ImageError(path, f"too many pixels, refused as a possible decompression bomb ({e}); if the "
                          "image is genuine, raise PIL.Image.MAX_IMAGE_PIXELS and max_pixels")
    if isinstance(e, UnidentifiedImageError):
        size = f"{nbytes} bytes; " if nbytes is not None else ""
        return ImageError(path, f"not a recognised image file ({size}wrong extension or not an image)")
    if isinstance(e, MemoryError):
        return ImageError(path, "not enough memory to decode it (corrupt size in the header, or too large)")
    return ImageError(path, f"truncated or corrupt image data ({type(e).__name__}: {e})")


def pil_to_tensor(
    img: Image.Image, channels: int = 3, *, size: int | tuple[int, int] | None = None
) -> torch.Tensor:
    """Convert a decoded Pillow image to uint8 ``[channels, H, W]`` by the rules of this module.

    Applies EXIF orientation, expands palettes, composites alpha on black, scales 16-bit data,
    converts to grey or RGB and optionally resizes (see :func:`read_image`).
    """
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, got {channels}")
    img = ImageOps.exif_transpose(img) if _has_orientation(img) else img
    img = _to_l_or_rgb(img)
    if channels == 1 and img.mode == "RGB":
        img = img.convert("L")
    if size is not None:
        hw = (size, size) if isinstance(size, int) else tuple(size)
        if (img.height, img.width) != hw:
            img = img.resize((hw[1], hw[0]), Image.Resampling.BILINEAR)
    arr = np.asarray(img, dtype=np.uint8)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if channels == 3 and arr.shape[2] == 1:
        arr = np.repeat(arr, 3, axis=2)
    # one copy: Pillow's buffer is read-only and HWC; the tensor owns a writable CHW array
    return torch.from_numpy(np.array(arr.transpose(2, 0, 1), order="C"))


def array_to_tensor(
    arr: np.ndarray, channels: int = 3, *, size: int | tuple[int, int] | None = None
) -> torch.Tensor:
    """uint8 ``[H, W]`` or ``[H, W, 3]`` array (e.g. FER2013 pixels) to ``[channels, H', W']``."""
    if arr.dtype != np.uint8 or arr.ndim not in (2, 3):
        raise ValueError(f"expected a uint8 [H,W] or [H,W,3] array, got {arr.dtype} {arr.shape}")
    return pil_to_tensor(Image.fromarray(arr), channels, size=size)


def _has_orientation(img: Image.Image) -> bool:
    try:
        return img.getexif().get(0x0112, 1) not in (0, 1)
    except Exception:  # a broken EXIF block is not worth refusing the pixels for
        return False


def _to_l_or_rgb(img: Image.Image) -> Image.Image:
    """Any Pillow mode to ``L`` or ``RGB`` (alpha composited on black)."""
    mode = img.mode
    if mode in ("L", "RGB"):
        return img
    if mode == "1":
        return img.convert("L")
    if mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
        mode = img.mode
    elif mode == "PA":
        img = img.convert("RGBA")
        mode = "RGBA"
    if mode in ("RGBA", "LA", "RGBa", "La"):
        arr = np.asarray(img, dtype=np.uint8)
        out = arr[..., :-1]
        if mode in ("RGBA", "LA"):  # "RGBa"/"La" are already premultiplied
            out = ((out.astype(np.uint16) * arr[..., -1:] + 127) // 255).astype(np.uint8)
        if out.shape[-1] == 1:
            return Image.fromarray(out[..., 0], "L")
        return Image.fromarray(out, "RGB")
    if mode.startswith("I;16") or mode == "I":
        arr = np.asarray(img).astype(np.int64)
        if mode.startswith("I;16") or arr.max(initial=0) > 255:
            arr = (np.clip(arr, 0, 65535) * 255 + 32767) // 65535
        return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), "L")
    if mode == "F":
        arr = np.asarray(img, dtype=np.float64)
        return Image.fromarray(np.clip(np.rint(arr), 0, 255).astype(np.uint8), "L")
    # CMYK, YCbCr, LAB, HSV, RGBX...: Pillow's own conversion.
    return img.convert("RGB")


def _bomb_message(w: int, h: int, limit: int) -> str:
    return (
        f"{w}x{h} = {w * h:,} pixels exceeds the limit of {limit:,} (decompression-bomb guard); "
        "pass a larger max_pixels if the image is genuine"
    )
