"""Labelled image grids of SynthFace: identities x expressions, and each AU at several intensities."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from PIL import Image, ImageDraw, ImageFont

from genfer.data.aus import AU_DESCRIPTIONS, AU_NAMES, NUM_AUS
from genfer.data.labels import BASIC7

from .dataset import SynthFace
from .params import PROTOTYPES, aus_vector
from .raster import render

_BG = 255


def _to_pil(tiles: torch.Tensor) -> list[Image.Image]:
    """uint8 [N, C, S, S] -> RGB PIL images."""
    out = []
    for t in tiles:
        a = t.permute(1, 2, 0).numpy()
        out.append(Image.fromarray(a if a.shape[2] == 3 else a[:, :, 0]).convert("RGB"))
    return out


def _sheet(
    tiles: list[Image.Image], rows: int, cols: int, col_labels: Sequence[str], row_labels: Sequence[str]
) -> Image.Image:
    s = tiles[0].width
    font = ImageFont.load_default()
    left = max((int(font.getlength(t)) for t in row_labels), default=0) + 8 if row_labels else 0
    top = 16 if col_labels else 0
    pad = 2
    sheet = Image.new("RGB", (left + cols * (s + pad), top + rows * (s + pad)), (_BG,) * 3)
    draw = ImageDraw.Draw(sheet)
    for i, label in enumerate(col_labels):
        w = font.getlength(label)
        draw.text((left + i * (s + pad) + (s - w) / 2, 2), label, fill=(0, 0, 0), font=font)
    for j, label in enumerate(row_labels):
        draw.text((4, top + j * (s + pad) + s / 2 - 6), label, fill=(0, 0, 0), font=font)
    for k, tile in enumerate(tiles):
        r, c = divmod(k, cols)
        sheet.paste(tile, (left + c * (s + pad), top + r * (s + pad)))
    return sheet


def expression_grid(
    identities: Sequence[int], size: int = 128, channels: int = 3, seed: int = 0, nuisance: float = 1.0
) -> Image.Image:
    """Rows = identities, columns = the 7 basic expressions at their prototype intensities."""
    ids = torch.tensor(list(identities)).repeat_interleave(7)
    aus = torch.stack([aus_vector(PROTOTYPES[e]) for e in range(7)]).repeat(len(identities), 1)
    keys = torch.arange(len(ids)) // 7  # one pose/lighting per row, so only the expression changes
    tiles = render(ids, aus, size, channels, seed, nuisance, nuisance_seed=keys)
    return _sheet(_to_pil(tiles), len(identities), 7, BASIC7, [f"id {i}" for i in identities])


def au_grid(
    identity: int = 0,
    size: int = 96,
    channels: int = 3,
    seed: int = 0,
    intensities: Sequence[float] = (0.0, 2.5, 5.0),
    blocks: int = 2,
) -> Image.Image:
    """Each of the 17 AUs alone at the given intensities on one identity (no nuisances)."""
    n_int = len(intensities)
    aus = torch.zeros(NUM_AUS * n_int, NUM_AUS)
    for k, name in enumerate(AU_NAMES):
        for j, v in enumerate(intensities):
            aus[k * n_int + j] = aus_vector({name: v})
    tiles = _to_pil(render(torch.full((len(aus),), identity), aus, size, channels, seed, nuisance=0.0))
    per_block = -(-NUM_AUS // blocks)
    sheets = []
    for b in range(blocks):
        names = AU_NAMES[b * per_block : (b + 1) * per_block]
        sub = tiles[b * per_block * n_int : (b * per_block + len(names)) * n_int]
        labels = [f"{n} {AU_DESCRIPTIONS[n]}" for n in names]
        sheets.append(_sheet(sub, len(names), n_int, [f"{v:g}" for v in intensities], labels))
    width = sum(s.width for s in sheets) + 12 * (blocks - 1)
    out = Image.new("RGB", (width, max(s.height for s in sheets)), (_BG,) * 3)
    x = 0
    for s in sheets:
        out.paste(s, (x, 0))
        x += s.width + 12
    return out


def sample_sheet(
    identities: Sequence[int], per_identity: int = 14, size: int = 64, channels: int = 1, seed: int = 0
) -> Image.Image:
    """Dataset samples (sampled intensities, nuisances on): rows = expressions, as a recogniser sees them."""
    ds = SynthFace(list(identities), per_identity, size, channels, seed)
    order = torch.argsort(ds.expressions * len(ds) + torch.arange(len(ds)))
    counts = torch.bincount(ds.expressions, minlength=7)
    cols = int(counts.min())
    rows = []
    for e in range(7):
        idx = order[counts[:e].sum() : counts[:e].sum() + cols]
        rows.append(ds.images[idx])
    tiles = _to_pil(torch.cat(rows))
    return _sheet(tiles, 7, cols, [], list(BASIC7))
