"""MTCNN on face-api's six demo photos: faces found, scores, time per photo, and the docs image.

The photos come from ``npm pack @vladmandic/face-api@1.7.15`` (cached like the tests do; never
committed). Prints per photo the detections and seconds, with and without the mirrored pass, and
writes docs/img/mtcnn_sample5.jpg (boxes, landmarks, scores; 960 px wide).

Usage: python benchmarks/mtcnn_photos.py [--min-face-size 40] [--threads 1]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "data"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--min-face-size", type=float, default=40.0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--docs-image", default=str(REPO / "docs" / "img" / "mtcnn_sample5.jpg"))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    from preprocess_helpers import face_api_photos, mtcnn_weights_dir

    from genfer.data.io import read_image
    from genfer.data.preprocess.draw import draw_detections
    from genfer.data.preprocess.mtcnn import load_mtcnn

    photos = face_api_photos()
    m = load_mtcnn(mtcnn_weights_dir(), min_face_size=args.min_face_size)
    for flip in (False, True):
        total, n_faces, sure = 0.0, 0, 0
        print(f"\nmin face {args.min_face_size:g} px, flip={flip}, {args.threads} thread(s)")
        for p in photos:
            img = read_image(p)
            t = time.perf_counter()
            d = m.detect(img, flip=flip)
            dt = time.perf_counter() - t
            total += dt
            n_faces += len(d)
            sure += int((d.scores >= 0.95).sum())
            scores = " ".join(f"{s:.3f}" for s in d.scores.tolist())
            print(f"  {p.name} {img.shape[2]}x{img.shape[1]}: {len(d)} faces [{scores}] {dt:.2f} s")
            if flip and p.name == "sample5.jpg" and args.docs_image:
                out = draw_detections(img, d)
                out.thumbnail((960, 960))
                Path(args.docs_image).parent.mkdir(parents=True, exist_ok=True)
                out.save(args.docs_image, quality=85)
        print(f"  total {n_faces} detections ({sure} at p >= 0.95), {total:.1f} s, {total / len(photos):.2f} s/photo")


if __name__ == "__main__":
    main()
