"""``genfer invert --checkpoint RUN|ASIT.pt IMAGES... -o OUT/ [--couple-outputs] [--const]``."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    from genfer.cli.common import add_device

    p = sub.add_parser(
        "invert", help="invert face crops into a GAN's codes (ASIT) and write the reconstructions",
        description="Encode face crops with an ASIT run (or a released ASIT .pt) into W+ codes and a structure "
        "code, decode them with its StyleGAN2, and write OUT/inference_results/NAME.png, OUT/codes.npz and, "
        "with --couple-outputs, OUT/inference_coupled/NAME.png (input | reconstruction). Images are resized to "
        "the model's size. The structure code replaces the generator's constant input, as in training; "
        "--const decodes with the learnt constant instead, as the release's inference.py did. A released .pt "
        "runs its encoder as released (faithful) on one image at a time, so batch-mates cannot leak in.",
    )
    p.add_argument("--checkpoint", "-c", required=True, metavar="RUN|ASIT.pt",
                   help="a genfer asit run or checkpoint directory, or a released ASIT checkpoint (.pt)")
    p.add_argument("images", nargs="+", metavar="IMAGES", help="face crops, or folders of them")
    p.add_argument("-o", "--output", required=True, metavar="OUT", help="output folder")
    p.add_argument("--couple-outputs", action="store_true", help="also write input | reconstruction pairs")
    p.add_argument("--const", action="store_true", help="decode without the structure code (the release's inference)")
    p.add_argument("--batch-size", type=int, default=8, help="images per forward pass (default: %(default)s)")
    add_device(p, "cpu")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import json

    from genfer.apps.inversion import image_files, invert_files, load_inverter
    from genfer.cli.common import resolve_device
    from genfer.core.paths import check_writable

    check_writable(args.output, folder=True, option="--output")
    files = image_files(args.images)
    method, one_by_one = load_inverter(args.checkpoint, resolve_device(args.device))
    r = invert_files(method, files, args.output, use_struct=not args.const, couple=args.couple_outputs,
                     batch_size=args.batch_size, one_by_one=one_by_one)
    print(json.dumps(r))
    return 0
