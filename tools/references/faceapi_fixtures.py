"""Make the face-api.js reference fixtures (tests/fixtures/pretrained/faceapi/) with the original runtime.

Steps (see tools/references/README.md):

1. ``python faceapi_fixtures.py inputs --package DIR --out WORK``: face crops from face-api's own
   demo photos ``DIR/demo/sample*.jpg`` (DIR = the unpacked ``npm pack @vladmandic/face-api@1.7.15``)
   and ``skimage.data.astronaut()``, cut as face-api cuts faces for its descriptor and expression
   nets (``alignedRect``: the bounding box of the 68 landmarks, found in the detector's box,
   widened by 20%), with genfer's MTCNN as the detector and genfer's port of the landmark net
   (weights from DIR/model). Each crop is resized (PIL, Lanczos) to a fixed, deliberately varied
   size so the fixtures exercise face-api's padding (odd and even), up- and down-sampling and
   its no-resize paths. Writes ``WORK/crops.json`` (for Node) and ``WORK/crops.npz``.
2. ``node faceapi_node_reference.js WORK/crops.json WORK/out.json`` (in the npm folder).
3. ``python faceapi_fixtures.py pack --work WORK --dest tests/fixtures/pretrained/faceapi``.
"""

from __future__ import annotations

import argparse
import base64
import json
from pathlib import Path

import numpy as np
import torch
from PIL import Image

# (photo, face index by descending MTCNN score, crop height, crop width)
CROPS = (
    ("sample1", 0, 150, 121),  # recognition input side: pad only, no resize; odd padding
    ("sample1", 2, 112, 97),  # expression/landmark input side: pad only; odd padding
    ("sample2", 0, 96, 80),  # upsampling everywhere
    ("sample3", 1, 170, 140),  # downsampling everywhere
    ("sample6", 0, 104, 120),  # wider than tall: padding above and below
    ("astronaut", 0, 128, 128),  # square: resize without padding
)
MARGIN = 0.2


def _photo(name: str, package: Path) -> np.ndarray:
    if name == "astronaut":
        from skimage import data

        return data.astronaut()
    return np.asarray(Image.open(package / "demo" / f"{name}.jpg").convert("RGB"))


def aligned_rect(image: torch.Tensor, box: list[float], model_dir: Path) -> tuple[float, ...]:
    """face-api's ``alignedRect``: 68-landmark bounding box widened by ``MARGIN``, clipped."""
    from genfer.models.pretrained.face_api import landmarks68

    x1, y1, x2, y2 = (max(round(v), 0) for v in box)
    pts = landmarks68([image[:, y1:y2, x1:x2]], weights=model_dir)[0].double() + torch.tensor([x1, y1])
    lo, hi = pts.min(0).values, pts.max(0).values
    pad = (hi - lo) * MARGIN / 2
    lo, hi = (lo - pad).clamp(min=0), torch.minimum(hi + pad, torch.tensor(image.shape[:0:-1]))
    return (*lo.tolist(), *hi.tolist())


def make_inputs(package: Path, out: Path) -> None:
    from genfer.data.preprocess.mtcnn import load_mtcnn

    mtcnn = load_mtcnn()
    out.mkdir(parents=True, exist_ok=True)
    crops, arrays = [], {}
    for i, (photo, face, h, w) in enumerate(CROPS):
        im = _photo(photo, package)
        t = torch.from_numpy(im.copy()).permute(2, 0, 1).contiguous()
        box = aligned_rect(t, mtcnn.detect(t).boxes[face].tolist(), package / "model")
        crop = np.asarray(Image.fromarray(im).resize((w, h), Image.LANCZOS, box=box))
        name = f"{photo}_face{face}"
        arrays[f"crop{i}"] = crop
        rgb = base64.b64encode(crop.tobytes()).decode()
        crops.append({"name": name, "height": h, "width": w, "rgb": rgb})
    (out / "crops.json").write_text(json.dumps({"crops": crops}))
    np.savez(out / "crops.npz", names=np.array([c["name"] for c in crops]), **arrays)
    print(f"{len(crops)} crops -> {out}")


def pack(work: Path, dest: Path) -> None:
    ref = json.loads((work / "out.json").read_text())
    crops = np.load(work / "crops.npz")
    res = ref["results"]
    dest.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        dest / "reference.npz",
        names=np.array([r["name"] for r in res]),
        descriptors=np.array([r["descriptor"] for r in res], dtype=np.float32),
        expressions=np.array([r["expressions"] for r in res], dtype=np.float32),
        landmarks=np.array([r["landmarks"] for r in res], dtype=np.float64),
        landmarks_relative=np.array([r["landmarks_relative"] for r in res], dtype=np.float64),
        **{f"crop{i}": crops[f"crop{i}"] for i in range(len(res))},
    )
    meta = {
        "made_by": "tools/references/faceapi_node_reference.js via tools/references/faceapi_fixtures.py",
        "versions": ref["versions"],
        "backend": ref["backend"],
        "expression_labels": ref["expression_labels"],
        "crops": [{"name": r["name"], "source": list(CROPS[i][:2]), "size_hw": list(CROPS[i][2:])}
                  for i, r in enumerate(res)],
        "crop_rule": f"face-api alignedRect (68-landmark box + {MARGIN:.0%}) of the MTCNN face, "
        "PIL Lanczos resize",
    }
    (dest / "reference.json").write_text(json.dumps(meta, indent=2) + "\n")
    print(f"fixtures -> {dest}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("inputs", help="cut the face crops for the Node reference")
    a.add_argument("--package", type=Path, required=True, help="unpacked face-api npm package folder")
    a.add_argument("--out", type=Path, required=True, help="work folder for crops.json / crops.npz")
    b = sub.add_parser("pack", help="store crops and Node outputs as test fixtures")
    b.add_argument("--work", type=Path, required=True, help="folder with crops.npz and out.json")
    b.add_argument("--dest", type=Path, required=True, help="fixture folder")
    args = p.parse_args()
    if args.cmd == "inputs":
        make_inputs(args.package, args.out)
    else:
        pack(args.work, args.dest)


if __name__ == "__main__":
    main()
