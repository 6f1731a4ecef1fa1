"""MTCNN on face-api's six demo photos: per-face scores, false positives and time for each option.

The photos come from ``npm pack @vladmandic/face-api@1.7.15`` (cached like the tests do; never
committed). Faces are matched to the 22 hand-checked face centres of ``tests/data/test_preprocess.py``.
Prints a table with one row per face and one column per detector setting (the best score of a
detection on that face, ``-`` if none), then per setting the faces at p >= 0.95, the detections
matching no face (at the cascade's own threshold and at p >= 0.95) and seconds per photo. Writes
docs/img/mtcnn_sample5.jpg (original cascade with the mirrored pass: boxes, landmarks, scores)
and, with ``--model``, docs/img/recognize_sample2.jpg (``genfer recognize --annotate`` on
sample2.jpg with that recogniser). Timings depend on the load of the machine: rerun to compare.

Usage: python benchmarks/mtcnn_photos.py [--min-face-size 40] [--threads 1] [--model fer]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "data"))

SETTINGS: dict[str, tuple[dict, bool]] = {  # name -> (MTCNN options, mirrored second pass)
    "original": ({}, False),
    "+mirror pass": ({}, True),
    "+refine 1": ({"refine": 1}, True),
    "+refine 2": ({"refine": 2}, True),
    "+flip O-Net": ({"flip_onet": True}, True),
    "+thr .5/.6": ({"thresholds": (0.5, 0.6, 0.7)}, True),
    "PHOTO_SETTINGS": (None, True),  # filled in main (thresholds .5/.6 + refine 1)
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--min-face-size", type=float, default=40.0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--docs-image", default=str(REPO / "docs" / "img" / "mtcnn_sample5.jpg"))
    ap.add_argument("--model", help="also write the recognize docs image with this recogniser (e.g. fer)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    from preprocess_helpers import face_api_photos, mtcnn_weights_dir
    from test_preprocess import FACE_API_FACES, match_faces

    from genfer.data.io import read_image
    from genfer.data.preprocess.draw import draw_detections
    from genfer.data.preprocess.mtcnn import PHOTO_SETTINGS, load_mtcnn

    photos = face_api_photos()
    images = {p.name: read_image(p) for p in photos}
    faces = [(name, k) for name in images for k in range(len(FACE_API_FACES[name]))]
    table: dict[str, dict] = {}
    for label, (opts, flip) in SETTINGS.items():
        opts = dict(PHOTO_SETTINGS) if opts is None else opts
        m = load_mtcnn(mtcnn_weights_dir(), min_face_size=args.min_face_size, **opts)
        scores: dict[tuple[str, int], float] = {}
        fp = fp95 = 0
        seconds = 0.0
        for name, img in images.items():
            t = time.perf_counter()
            d = m.detect(img, flip=flip)
            seconds += time.perf_counter() - t
            found, _ = match_faces(d, FACE_API_FACES[name])
            scores.update({(name, k): s for k, s in found.items()})
            unmatched = [s for i, s in enumerate(d.scores.tolist())
                         if not match_faces(d[i], FACE_API_FACES[name])[0]]
            fp += len(unmatched)
            fp95 += sum(s >= 0.95 for s in unmatched)
            if label == "+mirror pass" and name == "sample5.jpg" and args.docs_image:
                out = draw_detections(img, d)
                out.thumbnail((960, 960))
                Path(args.docs_image).parent.mkdir(parents=True, exist_ok=True)
                out.save(args.docs_image, quality=85)
        table[label] = {"scores": scores, "fp": fp, "fp95": fp95, "s": seconds / len(images)}
        print(f"{label}: done", file=sys.stderr, flush=True)

    names = list(table)
    print(f"\nmin face {args.min_face_size:g} px, {args.threads} thread(s); "
          "best score per face (- = not found)")
    print(f"{'face':<14}" + "".join(f"{n:>15}" for n in names))
    for name, k in faces:
        cells = [table[n]["scores"].get((name, k)) for n in names]
        print(f"{name[:-4]} #{k:<5}" + "".join(f"{c:>15.3f}" if c is not None else f"{'-':>15}"
                                                for c in cells))
    rows = [
        ("faces p>=0.95", lambda t: f"{sum(s >= 0.95 for s in t['scores'].values())}/{len(faces)}"),
        ("faces found", lambda t: f"{len(t['scores'])}/{len(faces)}"),
        ("false pos.", lambda t: str(t["fp"])),
        ("false p>=.95", lambda t: str(t["fp95"])),
        ("s/photo", lambda t: f"{t['s']:.2f}"),
    ]
    for label, f in rows:
        print(f"{label:<14}" + "".join(f"{f(table[n]):>15}" for n in names))

    if args.model:
        from genfer.apps.photos import load_detector, load_recognizer, recognize_photos

        out = REPO / "docs" / "img" / "recognize_sample2.jpg"
        full = Path("/tmp") / "genfer_recognize_sample2.jpg"
        photo = next(p for p in photos if p.name == "sample2.jpg")
        rows_ = list(recognize_photos([photo], load_recognizer(args.model), load_detector(min_face_size=40),
                                      annotate=full))
        from PIL import Image

        with Image.open(full) as im:
            im.thumbnail((960, 960))
            im.save(out, quality=85)
        print(f"\n{out}: " + ", ".join(f"{r.expression} {r.probabilities[r.expression]:.2f}" for r in rows_))


if __name__ == "__main__":
    main()
