"""``genfer recognize PHOTO|FOLDER|VIDEO... [--model fer|faceapi|RUN]``."""

from __future__ import annotations

import argparse

from genfer.cli.common import add_device, resolve_device


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "recognize", help="expressions of every face in photos, folders and videos",
        description="Find every face in photos (folders are searched recursively; videos are read frame by "
        "frame when PyAV is installed), cut each the way the chosen model expects, and print one row per "
        "face: file, face index, box, detection score, predicted expression and the probability of each "
        "class. Images that are already face crops are classified whole (see --aligned). Unreadable "
        "files are reported on stderr and skipped (exit status 1 if there were any); a photo without a "
        "face gives a 'no face' row.",
    )
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="image files, video files or folders")
    p.add_argument("--model", "-m", "--checkpoint", "-c", dest="model", default="fer", metavar="NAME|RUN",
                   help="a pretrained recogniser (fer, faceapi; see 'genfer weights'), a shipped reference "
                   "model (synthface-tdgan; see 'genfer ls') or a trained run directory (--checkpoint RUN is an "
                   "alias) (default: %(default)s)")
    fmt = p.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true", help="print JSON (a list of objects) instead of a table")
    fmt.add_argument("--csv", action="store_true", help="print CSV instead of a table")
    p.add_argument("--annotate", metavar="OUT",
                   help="write copies with boxes, landmarks and 'expression p' drawn: a file for one "
                   "photo, else a folder (video frames as NAME_fFRAME.jpg)")
    crops = p.add_mutually_exclusive_group()
    crops.add_argument("--aligned", action="store_const", const="yes", dest="aligned",
                       help="inputs are face crops: classify whole images, no detection")
    crops.add_argument("--detect", action="store_const", const="no", dest="aligned",
                       help="always detect faces, even in small square images")
    p.set_defaults(aligned="auto")
    p.add_argument("--detector", default="mtcnn", help="face detector (default: %(default)s)")
    p.add_argument("--min-score", type=float, default=0.0, metavar="P",
                   help="drop faces the detector scores below P (default: 0, the detector's own threshold)")
    p.add_argument("--min-face-size", type=float, default=40.0, metavar="PX",
                   help="smallest face searched for, in pixels (default: %(default)s)")
    p.add_argument("--fast", action="store_true",
                   help="the original MTCNN cascade, one pass (about 3x faster; less sure of profile and "
                   "downturned faces)")
    p.add_argument("--every", type=int, default=1, metavar="N",
                   help="in videos, classify every N-th frame (default: 1)")
    add_device(p, "cpu")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import sys

    from genfer.apps.photos import (
        PhotoSettings,
        class_columns,
        load_detector,
        load_recognizer,
        recognize_photos,
    )
    from genfer.core.paths import check_writable

    if args.annotate:  # before any photo is read, so no result waits on a path that cannot be written
        check_writable(args.annotate, folder=_annotates_a_folder(args.inputs, args.annotate), option="--annotate")
    device = resolve_device(args.device)
    settings = PhotoSettings(aligned=args.aligned, min_score=args.min_score, flip=not args.fast,
                             every=args.every)
    recognizer = load_recognizer(args.model, device)
    if hasattr(recognizer, "warn_if_real_photos"):
        recognizer.warn_if_real_photos(args.inputs)

    def detector():
        return load_detector(args.detector, device, args.min_face_size, fast=args.fast)

    problems: list = []
    rows = list(recognize_photos(args.inputs, recognizer, detector, settings, annotate=args.annotate,
                                 problems=problems))
    classes = class_columns(recognizer.classes)
    video = any(r.frame is not None for r in rows)
    _print(rows, classes, video, "json" if args.json else "csv" if args.csv else "table")
    for pr in problems:
        print(f"genfer recognize: skipped {pr}", file=sys.stderr)
    return 1 if problems else 0


def _annotates_a_folder(inputs: list[str], annotate: str) -> bool:
    """Whether --annotate names a folder: anything but one image file annotated into an image-named path."""
    from pathlib import Path

    from genfer.apps.photos import is_video_file
    from genfer.data.io import IMAGE_EXTENSIONS

    one_image = len(inputs) == 1 and Path(inputs[0]).is_file() and not is_video_file(inputs[0])
    return not (one_image and annotate.lower().endswith(IMAGE_EXTENSIONS) and not Path(annotate).is_dir())


def _print(rows: list, classes: list[str], video: bool, fmt: str) -> None:
    import csv
    import json
    import sys

    records = [r.to_record(classes, video) for r in rows]
    if fmt == "json":
        print(json.dumps(records, indent=2, ensure_ascii=False))
        return
    if fmt == "csv":
        w = csv.writer(sys.stdout)
        head = ["image", *(["frame"] if video else []), "face", "x1", "y1", "x2", "y2", "score", "expression",
                *classes]
        w.writerow(head)
        for r in records:
            box = r["box"] or [None] * 4
            w.writerow([r["image"], *([r["frame"]] if video else []), r["face"], *box, r["score"],
                        r["expression"], *(r[c] for c in classes)])
        return
    width = max([len("image"), *(len(r["image"]) for r in records)])
    cols = [f"{c[:9]:>9}" for c in classes]
    fr = f"{'frame':>6} " if video else ""
    head = f"{'image':<{width}} {fr}{'face':>4} {'box':<21} {'score':>6}  {'expression':<10} "
    print(head + " ".join(cols))
    for r in records:
        fr = f"{r['frame']:>6} " if video else ""
        if r["face"] is None:
            print(f"{r['image']:<{width}} {fr}{'-':>4} no face found")
            continue
        box = " ".join(f"{round(v):d}" for v in r["box"]) if r["box"] else "(whole image)"
        score = f"{r['score']:.3f}" if r["score"] is not None else "-"
        probs = " ".join(f"{r[c]:>9.4f}" for c in classes)
        print(f"{r['image']:<{width}} {fr}{r['face']:>4} {box:<21} {score:>6}  {r['expression']:<10} {probs}")
