"""``genfer eval --checkpoint RUN``."""

from __future__ import annotations

import argparse

from genfer.cli.common import add_checkpoint, add_device, resolve_device


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "eval", help="accuracy, per-class recall and confusion matrix of a recogniser (CDAN: parsing figures)",
        description="Evaluate a checkpoint's expression recogniser on a labelled split. Writes metrics.json, "
        "confusion.json and confusion.png (row-normalised) and prints the figures. For a CDAN run: PSNR/SSIM of "
        "the reconstructions, the AU error of A(M*x) and the mask's parsing AUC on held-out SynthFace identities, "
        "and the release's PR metric (metrics.json, masks.png).",
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
    from genfer.engine.checkpoint import load_config, resolve_checkpoint

    if load_config(resolve_checkpoint(args.checkpoint)).method == "cdan":
        return _run_cdan(args)
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


def _run_cdan(args: argparse.Namespace) -> int:
    import json

    from genfer.apps.parsing import evaluate_cdan_checkpoint
    from genfer.core.errors import UsageError

    if args.data:
        raise UsageError("CDAN runs are evaluated on held-out SynthFace identities (the parsing ground truth); "
                         "--data is not supported for them", fix="leave out --data")
    r = evaluate_cdan_checkpoint(args.checkpoint, args.out, resolve_device(args.device))
    if args.json:
        print(json.dumps(r, indent=2))
        return 0
    print(f"checkpoint {r['checkpoint']}: {r['settings']['data']}")
    print(f"PSNR {r['psnr']:.2f} dB  SSIM {r['ssim']:.4f}  AU MAE A(M x) {r['au_mae_masked']:.3f} "
          f"(A(x) {r['au_mae']:.3f})  mask mean {r['mask_mean']:.3f}")
    print("parsing AUC " + "  ".join(f"{k} {v:.3f}" for k, v in r["auc"].items()))
    print("PR " + "  ".join(f"{k} {v:.4f}" for k, v in r["pr"].items()))
    for k in ("fid", "is", "acd", "ed"):
        print(f"{k.upper()}: {r[k]}")
    print(f"written: {r['out_dir']}/metrics.json, masks.png")
    return 0
