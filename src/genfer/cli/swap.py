"""``genfer swap --checkpoint RUN --input A.png --target B.png -o OUT.png [--swap-list I J]``."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    from genfer.cli.common import add_checkpoint, add_device, add_face_options

    p = sub.add_parser(
        "swap", help="swap the expressions of two faces (JESRL)",
        description="Exchange the expressions of --input and --target and write the row [input, target, D, C, "
        "R_D, R_C]: D is the target's face with the input's expression, C the input's face with the target's, "
        "R_D and R_C their residual images. The expressions come from the run's recogniser, or from --swap-list.",
    )
    add_checkpoint(p)
    p.add_argument("--input", required=True, metavar="A.png", help="the first face")
    p.add_argument("--target", required=True, metavar="B.png", help="the second face")
    p.add_argument("-o", "--output", required=True, metavar="OUT.png", help="output image file")
    p.add_argument("--swap-list", nargs=2, metavar=("I", "J"),
                   help="expressions of the input and the target: 0-based class ids of the run (the release's "
                   "--swap_list) or class names; default: what the recogniser reads")
    p.add_argument("--scale", type=int, default=1, help="upscale the output by this integer factor (nearest)")
    add_face_options(p)
    add_device(p, "cpu")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from genfer.apps.inference import parse_swap_list, swap_row
    from genfer.cli.common import load_faces_for, open_checkpoint
    from genfer.core.imaging import save_grid

    method, cfg, device = open_checkpoint(args, "genfer swap", "swap")
    pair = parse_swap_list(method, args.swap_list) if args.swap_list else None
    a, b = load_faces_for(args, cfg, device, [args.input], [args.target])
    row, (ei, ej) = swap_row(method, a, b, pair)
    path = save_grid(row, row.shape[0], args.output, scale=args.scale)
    print(f"input: {ei}, target: {ej}; written: {path} [input, target, D, C, R_D, R_C]")
    return 0
