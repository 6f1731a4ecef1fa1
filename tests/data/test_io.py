"""read_image: every odd file real datasets contain, each with a message naming the file."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from genfer.data.io import ImageError, array_to_tensor, is_image_file, read_image


def _rgb(h=6, w=5, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def _expect_error(path, fragment, **kw):
    with pytest.raises(ImageError) as info:
        read_image(path, **kw)
    msg = str(info.value)
    assert str(path) in msg, msg
    assert fragment in msg, msg
    assert info.value.path == path
    return msg


def test_rgb_png_exact_and_layout(tmp_path):
    a = _rgb()
    Image.fromarray(a).save(tmp_path / "x.png")
    t = read_image(tmp_path / "x.png")
    assert t.dtype == torch.uint8 and t.shape == (3, 6, 5)
    assert np.array_equal(t.permute(1, 2, 0).numpy(), a)
    t.add_(1)  # the tensor owns writable memory


def test_grey_is_itu601_luma_and_grey_replicates(tmp_path):
    a = _rgb()
    Image.fromarray(a).save(tmp_path / "x.png")
    g = read_image(tmp_path / "x.png", channels=1)
    luma = a.astype(np.float64) @ np.array([0.299, 0.587, 0.114])
    assert g.shape == (1, 6, 5)
    assert np.abs(g[0].numpy().astype(np.float64) - luma).max() <= 1.0
    Image.fromarray(a[..., 0]).save(tmp_path / "l.png")
    t = read_image(tmp_path / "l.png", channels=3)
    assert torch.equal(t[0], t[1]) and torch.equal(t[1], t[2])
    assert np.array_equal(t[0].numpy(), a[..., 0])


def test_zero_byte_file(tmp_path):
    p = tmp_path / "empty.jpg"
    p.write_bytes(b"")
    _expect_error(p, "empty file (0 bytes)")


def test_missing_file_and_directory(tmp_path):
    _expect_error(tmp_path / "nope.png", "file not found")
    (tmp_path / "d.png").mkdir()
    _expect_error(tmp_path / "d.png", "is a directory")


def test_text_with_image_extension(tmp_path):
    p = tmp_path / "notes.jpg"
    p.write_text("this is not a jpeg\n")
    _expect_error(p, "not a recognised image")


def test_truncated_jpeg(tmp_path):
    p = tmp_path / "cut.jpg"
    Image.fromarray(_rgb(64, 64)).save(p, quality=95)
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 2])
    _expect_error(p, "truncated or corrupt")


def test_corrupt_png_data(tmp_path):
    p = tmp_path / "bad.png"
    Image.fromarray(_rgb(32, 32)).save(p)
    data = bytearray(p.read_bytes())
    start = data.index(b"IDAT") + 4
    data[start : start + 40] = bytes(40)  # wipe the zlib stream header and first blocks
    p.write_bytes(bytes(data))
    _expect_error(p, "truncated or corrupt")


def test_cmyk_jpeg(tmp_path):
    p = tmp_path / "cmyk.jpg"
    img = Image.fromarray(_rgb(16, 16)).convert("CMYK")
    img.save(p, quality=100)
    t = read_image(p)
    expect = np.asarray(Image.open(p).convert("RGB"))
    assert t.shape == (3, 16, 16)
    assert np.array_equal(t.permute(1, 2, 0).numpy(), expect)


def test_16bit_grey_png_scaled_with_rounding(tmp_path):
    a = np.array([[0, 257, 65535, 32768]], dtype=np.uint16)
    p = tmp_path / "deep.png"
    Image.fromarray(a).save(p)
    t = read_image(p, channels=1)
    assert t[0, 0].tolist() == [0, 1, 255, 128]


def test_16bit_rgb_png(tmp_path, png_writer):
    px = np.array([[[65535, 0, 32768], [257, 514, 771]]], dtype=">u2")  # 1 row, 2 pixels
    p = tmp_path / "rgb48.png"
    p.write_bytes(png_writer(2, 1, bit_depth=16, colour_type=2, data=b"\x00" + px.tobytes()))
    t = read_image(p)
    assert t.shape == (3, 1, 2)
    assert t[:, 0, 0].tolist() == [255, 0, 128] and t[:, 0, 1].tolist() == [1, 2, 3]
    assert read_image(p, channels=1).shape == (1, 1, 2)


def test_palette_with_and_without_transparency(tmp_path):
    a = _rgb(4, 4)
    pal = Image.fromarray(a).quantize(colors=8)
    pal.save(tmp_path / "p.png")
    t = read_image(tmp_path / "p.png")
    assert np.array_equal(t.permute(1, 2, 0).numpy(), np.asarray(pal.convert("RGB")))
    idx = np.asarray(pal)[0, 0]
    pal.save(tmp_path / "pt.png", transparency=int(idx))
    t = read_image(tmp_path / "pt.png")
    assert t[:, 0, 0].tolist() == [0, 0, 0]  # the transparent colour composites to black
    opaque = np.asarray(pal) != idx
    assert np.array_equal(t.permute(1, 2, 0).numpy()[opaque], np.asarray(pal.convert("RGB"))[opaque])


def test_alpha_composited_on_black(tmp_path):
    a = np.zeros((2, 2, 4), dtype=np.uint8)
    a[..., :3] = (200, 100, 50)
    a[..., 3] = [[255, 0], [128, 51]]
    Image.fromarray(a, "RGBA").save(tmp_path / "a.png")
    t = read_image(tmp_path / "a.png").permute(1, 2, 0).numpy()
    assert t[0, 0].tolist() == [200, 100, 50]
    assert t[0, 1].tolist() == [0, 0, 0]
    assert t[1, 0].tolist() == [100, 50, 25]
    assert t[1, 1].tolist() == [40, 20, 10]
    la = np.stack([np.full((2, 2), 200, np.uint8), a[..., 3]], -1)
    Image.fromarray(la, "LA").save(tmp_path / "la.png")
    assert read_image(tmp_path / "la.png", channels=1)[0].tolist() == [[200, 0], [100, 40]]


def test_bilevel_image(tmp_path):
    img = Image.fromarray(np.array([[0, 255], [255, 0]], dtype=np.uint8)).convert("1")
    img.save(tmp_path / "b.png")
    assert read_image(tmp_path / "b.png", channels=1)[0].tolist() == [[0, 255], [255, 0]]


def test_exif_orientation_applied(tmp_path):
    a = _rgb(2, 4)  # H=2, W=4 as stored
    exif = Image.Exif()
    exif[0x0112] = 6  # stored rotated: display needs a 90 degree clockwise turn
    p = tmp_path / "rot.jpg"
    Image.fromarray(a).save(p, exif=exif, quality=100)
    t = read_image(p)
    assert t.shape == (3, 4, 2)
    stored = np.asarray(Image.open(p))
    upright = np.rot90(stored, k=-1)  # clockwise
    assert np.array_equal(t.permute(1, 2, 0).numpy(), upright)


def test_pixel_limit_from_argument(tmp_path):
    p = tmp_path / "big.png"
    Image.fromarray(_rgb(40, 30)).save(p)
    msg = _expect_error(p, "decompression-bomb guard", max_pixels=1000)
    assert "30x40" in msg
    assert read_image(p, max_pixels=1200).shape == (3, 40, 30)


def test_decompression_bomb_header(tmp_path, png_writer):
    # Headers that claim huge sizes with almost no data: refused before any decoding.
    p = tmp_path / "bomb.png"
    p.write_bytes(png_writer(12_000, 12_000))  # 144 MP: above genfer's default limit
    _expect_error(p, "decompression-bomb guard")
    q = tmp_path / "bomb2.png"
    q.write_bytes(png_writer(20_000, 20_000))  # 400 MP: above Pillow's own hard limit
    _expect_error(q, "decompression bomb")


def test_spaces_and_non_ascii_names(tmp_path):
    a = _rgb()
    p = tmp_path / "my faces" / "visage é 表情 01.png"
    p.parent.mkdir()
    Image.fromarray(a).save(p)
    assert np.array_equal(read_image(p).permute(1, 2, 0).numpy(), a)
    q = tmp_path / "my faces" / "vide é.jpg"
    q.write_bytes(b"")
    _expect_error(q, "empty file")


def test_resize_and_channels_argument(tmp_path):
    Image.fromarray(_rgb(10, 20)).save(tmp_path / "x.png")
    assert read_image(tmp_path / "x.png", size=8).shape == (3, 8, 8)
    assert read_image(tmp_path / "x.png", channels=1, size=(4, 6)).shape == (1, 4, 6)
    with pytest.raises(ValueError, match="channels"):
        read_image(tmp_path / "x.png", channels=2)


def test_array_to_tensor_and_extension_check():
    a = np.arange(48 * 48, dtype=np.int64).reshape(48, 48).astype(np.uint8)
    t = array_to_tensor(a, 3)
    assert t.shape == (3, 48, 48) and np.array_equal(t[2].numpy(), a)
    with pytest.raises(ValueError):
        array_to_tensor(a.astype(np.float32))
    assert is_image_file("A.JPG") and is_image_file("b.png") and not is_image_file("c.txt")
