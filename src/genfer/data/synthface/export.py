"""Write SynthFace to disk in real datasets' layouts, so the real readers get exercised.

Under ``out``:

* ``rafdb/basic/``: RAF-DB basic: ``EmoLabel/list_patition_label.txt`` (sic) with lines
  ``train_00001.jpg 4`` (RAF labels 1..7 = surprise, fear, disgust, happiness, sadness, anger,
  neutral) and ``Image/aligned/train_00001_aligned.jpg``; train images come from the training
  identities, test images (``test_0001``) from the held-out ones.
* ``casia/<7-digit identity>/<3-digit>.jpg``: a CASIA-WebFace-style identity tree of the training
  identities (numbered from 001 as CASIA does).
* ``emotionet/processed/EmotioNet.csv`` + ``EmotioNet_aligned/frame_det_00_{frame:06d}.bmp``: the
  layout the AU-conditioned GAN seed made of EmotioNet with OpenFace FeatureExtraction (frames
  count from 1), holding the training images and their AU intensities.
* ``synthface_index.csv``: every written file with its split, identity, index, canonical
  expression and AU intensities (the ground truth the real formats cannot carry).
* ``synthface.json`` (parameters, counts) and ``README.txt`` (what is where).

JPEGs are written at quality 95 with 4:4:4 chroma so the expression survives compression.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from genfer.data.aus import AU_NAMES, write_openface_csv
from genfer.data.labels import BASIC7, RAFDB

from .dataset import SynthFace, split_identities

RAF_LABELS = Path("rafdb/basic/EmoLabel/list_patition_label.txt")
RAF_ALIGNED = Path("rafdb/basic/Image/aligned")
CASIA = Path("casia")
EMOTIONET_CSV = Path("emotionet/processed/EmotioNet.csv")
EMOTIONET_ALIGNED = Path("emotionet/processed/EmotioNet_aligned")
IDENTITIES_PER_CHUNK = 64


def _ids(spec: int | Sequence[int], test: bool) -> list[int]:
    if isinstance(spec, int):
        train, held_out = split_identities(0 if test else spec, spec if test else 0)
        return held_out if test else train
    return [int(i) for i in spec]


def _pil(img: np.ndarray) -> Image.Image:
    """uint8 [C, H, W] -> PIL image (L or RGB)."""
    return Image.fromarray(img[0]) if img.shape[0] == 1 else Image.fromarray(img.transpose(1, 2, 0))


def _digits(n: int, least: int) -> int:
    return max(least, len(str(n)))


def export_synthface(
    out: str | os.PathLike,
    identities: int | Sequence[int],
    per_identity: int,
    test_identities: int | Sequence[int] = 0,
    size: int = 128,
    channels: int = 1,
    seed: int = 0,
    nuisance: float = 1.0,
    quality: int = 95,
    overwrite: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> dict:
    """Render SynthFace and write it as RAF-DB, CASIA-WebFace and OpenFace/EmotioNet layouts.

    Args:
        out: output folder (created; must be empty unless ``overwrite``).
        identities: training identities: a count (ids ``0..n-1``) or the ids.
        per_identity: images per identity (train and test alike).
        test_identities: held-out identities for RAF-DB's test split: a count (ids from
            ``TEST_ID_START``) or the ids; 0 writes no test split.
        size: image side in pixels.
        channels: 1 (grey, written as L images) or 3 (RGB).
        seed: SynthFace seed.
        nuisance: SynthFace nuisance strength.
        quality: JPEG quality.
        overwrite: allow writing into a non-empty folder (files of the same name are replaced).
        progress: called as ``progress(images_done, images_total)`` after each chunk.

    Returns:
        The summary written to ``synthface.json``.
    """
    root = Path(out)
    if root.exists() and any(root.iterdir()) and not overwrite:
        raise FileExistsError(f"{root} is not empty (pass overwrite=True / --force to write into it)")
    train_ids, test_ids = _ids(identities, test=False), _ids(test_identities, test=True)
    if set(train_ids) & set(test_ids):
        raise ValueError("training and test identities overlap")
    for d in (RAF_LABELS.parent, RAF_ALIGNED, CASIA, EMOTIONET_ALIGNED):
        (root / d).mkdir(parents=True, exist_ok=True)
    jpeg = {"quality": quality, "subsampling": 0}
    total = (len(train_ids) + len(test_ids)) * per_identity
    n_train, n_test = len(train_ids) * per_identity, len(test_ids) * per_identity
    w_train, w_test = _digits(n_train, 5), _digits(n_test, 4)
    w_casia = _digits(per_identity, 3)
    raf_lines: list[str] = []
    index_rows: list[list] = []
    au_rows: list[np.ndarray] = []
    done = 0
    for split, ids in (("train", train_ids), ("test", test_ids)):
        k = 0
        for c in range(0, len(ids), IDENTITIES_PER_CHUNK):
            ds = SynthFace(ids[c : c + IDENTITIES_PER_CHUNK], per_identity, size, channels, seed, None, nuisance)
            images = ds.images.numpy()
            for i in range(len(ds)):
                k += 1
                ident, idx = int(ds.identities[i]), int(ds.indices[i])
                expr, aus = int(ds.expressions[i]), ds.aus[i].numpy()
                stem = f"{split}_{k:0{w_train if split == 'train' else w_test}d}"
                pil = _pil(images[i])
                pil.save(root / RAF_ALIGNED / f"{stem}_aligned.jpg", **jpeg)
                raf_lines.append(f"{stem}.jpg {RAFDB.from_canonical(expr)}")
                files = [str(RAF_ALIGNED / f"{stem}_aligned.jpg")]
                if split == "train":
                    casia = CASIA / f"{ident:07d}" / f"{idx + 1:0{w_casia}d}.jpg"
                    (root / casia.parent).mkdir(exist_ok=True)
                    pil.save(root / casia, **jpeg)
                    au_rows.append(aus)
                    bmp = EMOTIONET_ALIGNED / f"frame_det_00_{len(au_rows):06d}.bmp"
                    pil.save(root / bmp)
                    files += [str(casia), str(bmp)]
                for f in files:
                    index_rows.append([f, split, ident, idx, expr, BASIC7[expr], *(f"{a:.4f}" for a in aus)])
            done += len(ds)
            if progress is not None:
                progress(done, total)
    (root / RAF_LABELS).write_text("\n".join(raf_lines) + ("\n" if raf_lines else ""))
    frames = list(range(1, len(au_rows) + 1))
    write_openface_csv(root / EMOTIONET_CSV, np.stack(au_rows) if au_rows else np.zeros((0, 17)), frames)
    with open(root / "synthface_index.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["file", "split", "identity", "index", "expression", "expression_name", *AU_NAMES])
        w.writerows(index_rows)
    summary = {
        "generator": "genfer.data.synthface",
        "seed": seed,
        "size": size,
        "channels": channels,
        "nuisance": nuisance,
        "per_identity": per_identity,
        "train_identities": _range_or_list(train_ids),
        "test_identities": _range_or_list(test_ids),
        "images": {"train": n_train, "test": n_test},
        "expressions": "canonical 0..6 = " + ", ".join(BASIC7),
        "rafdb_labels": "1..7 = " + ", ".join(RAFDB.names),
        "jpeg_quality": quality,
        "layouts": {
            "rafdb": str(RAF_LABELS.parents[1]),
            "casia": str(CASIA),
            "emotionet": str(EMOTIONET_CSV.parents[1]),
            "index": "synthface_index.csv",
        },
    }
    (root / "synthface.json").write_text(json.dumps(summary, indent=2) + "\n")
    (root / "README.txt").write_text(_readme(summary))
    return summary


def _range_or_list(ids: list[int]) -> dict | list[int]:
    if ids and ids == list(range(ids[0], ids[0] + len(ids))):
        return {"first": ids[0], "count": len(ids)}
    return ids


def _readme(s: dict) -> str:
    return f"""SynthFace export (genfer.data.synthface), seed {s["seed"]}, {s["size"]}x{s["size"]}, \
{"grey" if s["channels"] == 1 else "RGB"}, nuisance {s["nuisance"]}.
{s["images"]["train"]} training images ({s["per_identity"]} per identity) and {s["images"]["test"]} test \
images of held-out identities. Parameters: synthface.json.

Train TDGAN on it: genfer train tdgan --data rafdb:<this folder>/rafdb --faces casia:<this folder>/casia

rafdb/basic/                  RAF-DB basic layout
  EmoLabel/list_patition_label.txt   "train_00001.jpg 4" / "test_0001.jpg 7" (RAF's own spelling)
                                     labels {s["rafdb_labels"]}
  Image/aligned/<name>_aligned.jpg   the faces (no Image/original: aligned only)
casia/<7-digit id>/<NNN>.jpg  CASIA-WebFace-style identity tree of the training identities
emotionet/processed/          OpenFace 2.x FeatureExtraction output as the AU-GAN seed laid out EmotioNet
  EmotioNet.csv                      frame, face_id, timestamp, confidence, success, AUxx_r (0..5), AUxx_c
  EmotioNet_aligned/frame_det_00_{{frame:06d}}.bmp   the training images, frames from 1
synthface_index.csv           every file: split, identity, index, expression ({s["expressions"]}), 17 AUs

The same training image appears in all three layouts. JPEG quality {s["jpeg_quality"]} (4:4:4).
"""
