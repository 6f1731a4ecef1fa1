"""``genfer demo``."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    from genfer.cli.common import add_device

    p = sub.add_parser(
        "demo", help="train a small TDGAN on SynthFace and write a report (a few minutes on a CPU)",
        description="Train a reduced TDGAN (preset 'demo') on SynthFace, no download needed, then write "
        "under one run directory the confusion matrix of its expression recogniser on held-out identities, "
        "an expression-transfer grid and a report (Markdown and HTML), and print where they are.",
    )
    p.add_argument("--out", default="runs", metavar="DIR", help="parent directory of the run (default: %(default)s)")
    p.add_argument("--name", default="", help="run directory name (default: demo-TIMESTAMP)")
    p.add_argument("overrides", nargs="*", metavar="KEY=VALUE",
                   help="config overrides on top of the demo preset, e.g. train.max_steps=200")
    add_device(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from genfer.apps.demo import run_demo
    from genfer.core.paths import check_writable

    check_writable(args.out, folder=True, option="--out")
    r = run_demo(args.out, args.name, args.overrides, args.device)
    print(f"expression accuracy on held-out identities: {r['expression_accuracy']:.3f} "
          f"(trained in {r['train_seconds']:.0f} s, {r['precision']})")
    print(f"run directory:   {r['run_dir']}")
    print(f"report:          {r['report_md']}  (and {r['report_html'].name})")
    print(f"transfer grid:   {r['transfer_grid']}")
    print(f"confusion matrix: {r['confusion']}")
    return 0
