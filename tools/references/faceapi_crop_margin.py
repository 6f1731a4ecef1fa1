"""Which ``box`` margin makes genfer's square crops closest to face-api's own crops, and how far apart
face-api puts different people. Prints the figures quoted in docs/pretrained.md (face-api.js).

face-api classifies (and describes) ``alignedRect``: the bounding box of its 68 landmarks, found
in the detector's box, widened by 20%, zero-padded to a square. genfer's ``box`` crop is the
detector's box made square (side ``max(w, h) * (1 + margin)``) filled with image content. On
every face MTCNN finds in face-api's demo photos (``package/demo/sample*.jpg`` of the npm
tarball) and skimage's astronaut this compares, per margin, the expression probabilities and
top class against those of face-api's own crop, and the descriptor distances between faces.

    python tools/references/faceapi_crop_margin.py --package TMP/package
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from genfer.data.preprocess.align import crop_matrices, warp
from genfer.data.preprocess.mtcnn import load_mtcnn
from genfer.models.pretrained.face_api import landmarks68, load_net

sys.path.insert(0, str(Path(__file__).parent))
from faceapi_fixtures import MARGIN


def photos(package: Path) -> list[torch.Tensor]:
    from skimage import data

    ims = [np.asarray(Image.open(p).convert("RGB")) for p in sorted((package / "demo").glob("sample*.jpg"))]
    return [torch.from_numpy(im.copy()).permute(2, 0, 1).contiguous() for im in [*ims, data.astronaut()]]


def aligned_rect_crop(image: torch.Tensor, box: list[float], model_dir: Path) -> torch.Tensor:
    x1, y1, x2, y2 = (max(round(v), 0) for v in box)
    pts = landmarks68([image[:, y1:y2, x1:x2]], weights=model_dir)[0].double() + torch.tensor([x1, y1])
    lo, hi = pts.min(0).values, pts.max(0).values
    lo, hi = lo - (hi - lo) * MARGIN / 2, hi + (hi - lo) * MARGIN / 2
    ax, ay = max(int(lo[0]), 0), max(int(lo[1]), 0)
    return image[:, ay:int(hi[1]), ax:int(hi[0])]


def pair_distances(d: torch.Tensor) -> torch.Tensor:
    iu = torch.triu_indices(len(d), len(d), 1)
    return torch.cdist(d, d)[iu[0], iu[1]]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--package", type=Path, required=True, help="unpacked face-api npm package folder")
    p.add_argument("--margins", type=float, nargs="+", default=[-0.2, -0.1, 0.0, 0.1, 0.2, 0.3, 0.4])
    args = p.parse_args()
    model_dir = args.package / "model"
    mtcnn = load_mtcnn()
    rec, expr = load_net("recognition", model_dir), load_net("expression", model_dir)
    ims = photos(args.package)
    dets = [mtcnn.detect(im) for im in ims]
    own = [aligned_rect_crop(im, b, model_dir) for im, d in zip(ims, dets) for b in d.boxes.tolist()]
    with torch.no_grad():
        ref_p = expr.run(own)[0].softmax(1)
        v = pair_distances(rec.describe(own))
        print(f"{len(own)} faces; face-api's own crops: distance between different people "
              f"min {v.min():.3f} mean {v.mean():.3f}, {int((v < 0.6).sum())}/{len(v)} pairs below 0.6")
        for m in args.margins:
            c112 = torch.cat([warp(im, crop_matrices(d, im.shape[1:], "box", 112, margin=m), 112)
                              for im, d in zip(ims, dets)])
            c150 = torch.cat([warp(im, crop_matrices(d, im.shape[1:], "box", 150, margin=m), 150)
                              for im, d in zip(ims, dets)])
            pr = expr.run(c112)[0].softmax(1)
            v = pair_distances(rec.describe(c150))
            agree = (pr.argmax(1) == ref_p.argmax(1)).float().mean()
            print(f"box margin {m:+.2f}: top class as face-api's crop {agree:.2f}, "
                  f"mean L1 of probabilities {(pr - ref_p).abs().sum(1).mean():.3f}; different people "
                  f"min {v.min():.3f} mean {v.mean():.3f}, {int((v < 0.6).sum())}/{len(v)} below 0.6")


if __name__ == "__main__":
    main()
