"""``genfer convert stylegan2 IN.pt OUT/``: a published checkpoint as a genfer checkpoint directory."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "convert", help="convert a published checkpoint into a genfer checkpoint directory",
        description="stylegan2: read a rosinality-format file (g_ema / g / d / latent_avg, as the public "
        "StyleGAN2, pSp, e4e and ReStyle generators ship) with weights_only=True and write OUT/ with "
        "model.safetensors, ema.safetensors (g_ema), config.yaml and conversion.json. OUT then works with "
        "genfer generate / project / eval and as model.init_from.",
    )
    p.add_argument("kind", choices=("stylegan2",), help="checkpoint format")
    p.add_argument("src", metavar="IN", help="the checkpoint file")
    p.add_argument("out", metavar="OUT", help="the checkpoint directory to write")
    p.add_argument("--mean-samples", type=int, default=10_000,
                   help="mapped z averaged for latent_avg when the file has none (default: %(default)s)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from genfer.apps.stylegan2 import convert_rosinality
    from genfer.core.paths import check_writable

    check_writable(args.out, folder=True, option="OUT")
    notes = convert_rosinality(args.src, args.out, args.mean_samples)
    print(f"written: {notes['out']} ({notes['size']} px, channel multiplier {notes['channel_multiplier']:g}; "
          f"G from {notes['g']}, D {notes['d']}, latent_avg from {notes['latent_avg']})")
    return 0
