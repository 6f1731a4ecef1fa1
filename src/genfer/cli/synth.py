"""``genfer synth OUT --identities N --per-identity K``: write SynthFace in real datasets' layouts."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "synth",
        help="render SynthFace faces to disk as RAF-DB, CASIA-WebFace and OpenFace/EmotioNet layouts",
        description="Render labelled procedural faces (known identity, expression and AU intensities) and "
        "write them under OUT as RAF-DB basic (rafdb/basic: train from the training identities, test from "
        "held-out ones), a CASIA-WebFace identity tree (casia/) and an OpenFace 2.x AU CSV with aligned "
        "BMPs (emotionet/processed), plus synthface_index.csv, synthface.json and README.txt.",
    )
    p.add_argument("out", metavar="OUT", help="output folder (created; must be empty unless --force)")
    p.add_argument("--identities", type=int, required=True, metavar="N",
                   help="training identities (ids 0..N-1)")
    p.add_argument("--per-identity", type=int, required=True, metavar="K",
                   help="images per identity; expressions cycle through the 7 basic classes")
    p.add_argument("--test-identities", type=int, default=0, metavar="M",
                   help="held-out identities for RAF-DB's test split (ids from 100000; default: %(default)s)")
    p.add_argument("--size", type=int, default=128, help="image side in pixels, >= 32 (default: %(default)s)")
    p.add_argument("--channels", type=int, choices=(1, 3), default=1,
                   help="1 = grey, 3 = RGB (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0,
                   help="SynthFace seed: identities and all draws (default: %(default)s)")
    p.add_argument("--nuisance", type=float, default=1.0,
                   help="pose/lighting/background/noise variation, 0 = none (default: %(default)s)")
    p.add_argument("--quality", type=int, default=95, help="JPEG quality (default: %(default)s)")
    p.add_argument("--force", action="store_true", help="write into OUT even if it is not empty")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import sys

    from genfer.core.paths import check_writable
    from genfer.data.synthface.export import export_synthface

    check_writable(args.out, folder=True, option="OUT")

    def progress(done: int, total: int) -> None:
        print(f"\rrendered {done}/{total} images", end="", file=sys.stderr, flush=True)

    s = export_synthface(
        args.out, args.identities, args.per_identity, args.test_identities, size=args.size,
        channels=args.channels, seed=args.seed, nuisance=args.nuisance, quality=args.quality,
        overwrite=args.force, progress=progress,
    )
    print(file=sys.stderr)
    print(f"wrote {s['images']['train']} train + {s['images']['test']} test images under {args.out}")
    for name, path in s["layouts"].items():
        print(f"  {name:<9} {args.out}/{path}")
    return 0
