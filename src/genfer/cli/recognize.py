"""``genfer recognize --checkpoint RUN IMG...``."""

from __future__ import annotations

import argparse

from genfer.cli.common import add_checkpoint, add_device, resolve_device


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "recognize", help="expression probabilities of face images",
        description="Classify the expression of face crops (aligned faces, as the model was trained on) "
        "with a trained recogniser. Each image is converted to the model's channels and resized to its "
        "resolution. Prints one row per image: the predicted class and the probability of each class.",
    )
    add_checkpoint(p)
    p.add_argument("images", nargs="+", metavar="IMG", help="image files")
    fmt = p.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true", help="print JSON (a list of objects) instead of a table")
    fmt.add_argument("--csv", action="store_true", help="print CSV instead of a table")
    add_device(p, "cpu")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import csv
    import json
    import sys

    from genfer.data.labels import BASIC7
    from genfer.engine.checkpoint import load_method
    from genfer.inference import load_images, predict_expressions

    method, cfg = load_method(args.checkpoint, resolve_device(args.device))
    images = load_images(args.images, cfg.model.image_size, cfg.model.channels)
    probs = predict_expressions(method, images)
    rows = [
        {"image": path, "expression": BASIC7[int(p.argmax())], **{c: round(float(v), 6) for c, v in zip(BASIC7, p)}}
        for path, p in zip(args.images, probs)
    ]
    if args.json:
        print(json.dumps(rows, indent=2))
    elif args.csv:
        w = csv.DictWriter(sys.stdout, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    else:
        width = max(len("image"), *(len(r["image"]) for r in rows))
        print(f"{'image':<{width}}  {'expression':<10} " + " ".join(f"{c[:9]:>9}" for c in BASIC7))
        for r in rows:
            print(f"{r['image']:<{width}}  {r['expression']:<10} " + " ".join(f"{r[c]:>9.4f}" for c in BASIC7))
    return 0
