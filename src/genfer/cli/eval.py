"""``genfer eval --checkpoint RUN``."""

from __future__ import annotations

import argparse

from genfer.cli.common import add_checkpoint, add_device, resolve_device


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "eval", help="accuracy, per-class recall and confusion matrix of a recogniser",
        description="Evaluate a checkpoint's expression recogniser on a labelled split. Writes metrics.json, "
        "confusion.json and confusion.png (row-normalised) and prints the figures.",
    )
    add_checkpoint(p)
    p.add_argument("--data", metavar="READER:PATH",
                   help="labelled data, e.g. rafdb:/data/RAF-DB/basic (default: the run's own expression data)")
    p.add_argument("--split", default="test", help="split of --data to evaluate (default: %(default)s)")
    p.add_argument("--out", metavar="DIR", help="output directory (default: CHECKPOINT/eval)")
    add_device(p, "cpu")
    p.add_argument("--json", action="store_true", help="print the whole report as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import json

    from genfer.apps.evaluation import evaluate_checkpoint

    r = evaluate_checkpoint(args.checkpoint, args.data, args.split, args.out, resolve_device(args.device))
    if args.json:
        print(json.dumps(r, indent=2))
        return 0
    print(f"{r['data']} ({r['split']}), {r['num_samples']} images, checkpoint {r['checkpoint']}")
    print(f"accuracy {r['accuracy']:.4f}  mean class accuracy {r['mean_class_accuracy']:.4f}  "
          f"macro-F1 {r['macro_f1']:.4f}")
    print(f"{'class':<10} {'recall':>7} {'precision':>9} {'F1':>6} {'n':>6}")
    for name, c in r["per_class"].items():
        print(f"{name:<10} {c['recall']:>7.3f} {c['precision']:>9.3f} {c['f1']:>6.3f} {c['support']:>6d}")
    print(f"written: {r['out_dir']}/metrics.json, confusion.json, confusion.png")
    return 0
