"""Fuzz the image reader: 300 mutated PNG, JPEG, BMP, GIF and WebP files through ``read_image``.

Each file is truncated, bit-flipped, given another format's magic, or given huge dimensions in
its header. Every one must decode to an image or raise an ``ImageError`` (a genfer error) naming
the file: never another exception, never a hang (a per-file alarm turns a hang into a failure).
"""

from __future__ import annotations

import io
import random
import signal
import struct
import zlib

import numpy as np
import pytest
import torch
from PIL import Image

from genfer.core.errors import GenferError
from genfer.data.io import ImageError, read_image

FORMATS = ("PNG", "JPEG", "BMP", "GIF", "WEBP", "TIFF")
PER_FORMAT = 50  # 6 x 50 = 300 files
HANG_S = 20  # far above the few milliseconds a file takes; only a real hang reaches it
MAGICS = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff\xe0", b"BM", b"GIF89a", b"RIFF\x00\x00\x00\x00WEBP", b"\x00" * 8,
          b"%PDF-1.4", b"PK\x03\x04")


def _encode(fmt: str, seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    arr = rng.integers(0, 256, (24, 32, 3), dtype=np.uint8)
    img = Image.fromarray(arr)
    if fmt == "GIF":
        img = img.convert("P")
    buf = io.BytesIO()
    img.save(buf, fmt)
    return buf.getvalue()


def _huge(data: bytes, fmt: str, w: int, h: int) -> bytes:
    """``data`` with its header claiming ``w`` x ``h`` pixels."""
    b = bytearray(data)
    if fmt == "PNG":  # IHDR: width, height at 16..24; keep the CRC valid so the header parses
        b[16:24] = struct.pack(">II", w, h)
        b[29:33] = struct.pack(">I", zlib.crc32(bytes(b[12:29])) & 0xFFFFFFFF)
    elif fmt == "BMP":  # BITMAPINFOHEADER: int32 width, height at 18..26
        b[18:26] = struct.pack("<ii", w, h)
    elif fmt == "GIF":  # logical screen and first image descriptor (after the global palette)
        b[6:10] = struct.pack("<HH", min(w, 65535), min(h, 65535))
        i = b.find(b"\x2c", 13)
        if i > 0:
            b[i + 5 : i + 9] = struct.pack("<HH", min(w, 65535), min(h, 65535))
    elif fmt == "JPEG":  # SOF0/SOF2: height, width after the precision byte
        for marker in (b"\xff\xc0", b"\xff\xc2"):
            i = b.find(marker)
            if i > 0:
                b[i + 5 : i + 9] = struct.pack(">HH", min(h, 65535), min(w, 65535))
    elif fmt == "WEBP":  # VP8 key frame: 14-bit width, height after the start code
        i = b.find(b"\x9d\x01\x2a")
        if i > 0:
            b[i + 3 : i + 7] = struct.pack("<HH", min(w, 16383), min(h, 16383))
    return bytes(b)


def _mutations() -> list[tuple[str, str, bytes]]:
    # this seed's mutations include a TIFF whose flipped header bit once escaped as a TypeError
    rng = random.Random(326)
    cases = []
    for fmt in FORMATS:
        clean = _encode(fmt, FORMATS.index(fmt))
        for k in range(PER_FORMAT):
            kind = ("truncate", "bitflip", "bitflip", "magic", "huge")[k % 5]
            b = bytearray(clean)
            if kind == "truncate":
                b = b[: rng.randrange(1, len(b))]
            elif kind == "bitflip":
                head = k % 2 == 0  # half the flips land in the header, where they change the most
                for _ in range(rng.randint(1, 8)):
                    i = rng.randrange(0, min(64, len(b)) if head else len(b))
                    b[i] ^= 1 << rng.randrange(8)
            elif kind == "magic":
                m = rng.choice(MAGICS)
                b[: len(m)] = m
            else:
                w, h = rng.choice([(65535, 65535), (16383, 16383), (12000, 9000), (200000, 1), (1, 300000),
                                   (0, 24), (2**31 - 1, 2)])
                b = bytearray(_huge(bytes(b), fmt, w, h))
                if rng.random() < 0.5:
                    b = b[: len(b) // 2]
            cases.append((fmt, f"{fmt.lower()}-{k:02d}-{kind}", bytes(b)))
    return cases


def _alarm(signum, frame):
    raise TimeoutError("read_image hung")


def test_300_mutated_images_give_an_image_or_a_named_genfer_error(tmp_path):
    cases = _mutations()
    assert len(cases) == 300
    outcomes = {"image": 0, "error": 0}
    old = signal.signal(signal.SIGALRM, _alarm)
    try:
        for fmt, name, data in cases:
            path = tmp_path / f"{name}.{fmt.lower()}"
            path.write_bytes(data)
            signal.alarm(HANG_S)
            try:
                img = read_image(path)
            except ImageError as e:
                assert isinstance(e, GenferError)
                assert str(path) in str(e), (name, str(e))
                assert e.problem, name
                outcomes["error"] += 1
            except TimeoutError:
                pytest.fail(f"read_image hung on {name}")
            else:
                assert img.dtype == torch.uint8 and img.ndim == 3 and img.shape[0] == 3, name
                outcomes["image"] += 1
            finally:
                signal.alarm(0)
    finally:
        signal.signal(signal.SIGALRM, old)
    # the mutations reach both outcomes: some files still decode, most are refused by name
    assert outcomes["error"] > 100 and outcomes["image"] > 0, outcomes


@pytest.mark.parametrize("pil_limit", [None, 1_000])
def test_the_pixel_limit_holds_whatever_pillows_own_limit_is(tmp_path, monkeypatch, pil_limit):
    # a user may switch Pillow's guard off (None) or lower it; read_image still refuses bombs by name
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", pil_limit)
    path = tmp_path / "bomb.png"
    path.write_bytes(_huge(_encode("PNG", 0), "PNG", 60000, 60000))
    with pytest.raises(ImageError, match="bomb") as info:
        read_image(path)
    assert str(path) in str(info.value)
