"""``genfer generate --checkpoint CKPT|RUN|FILE.pt --n 16 --truncation 0.7 --seed S -o grid.png``."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    from genfer.cli.common import add_device

    p = sub.add_parser(
        "generate", help="sample images from a StyleGAN2 generator",
        description="Draw --n latent codes z from --seed, map them (truncated towards the mean w with "
        "--truncation < 1) and write the images: a grid when -o names an image file, one PNG per image when "
        "it names a folder. The generator is a stylegan2 run or checkpoint directory (its EMA weights), or a "
        "rosinality .pt file (its g_ema).",
    )
    p.add_argument("--checkpoint", "-c", required=True, metavar="CKPT|RUN|FILE.pt",
                   help="a stylegan2 run or checkpoint directory, or a rosinality checkpoint file")
    p.add_argument("--n", type=int, default=16, help="number of images (default: %(default)s)")
    p.add_argument("--truncation", type=float, default=1.0, help="truncation psi in (0, 1] (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="seed of the z draw (default: %(default)s)")
    p.add_argument("--noise", choices=("const", "random"), default="const",
                   help="per-layer noise: the stored maps (reproducible) or fresh (default: %(default)s)")
    p.add_argument("--ncol", type=int, help="grid columns (default: about the square root of --n)")
    p.add_argument("-o", "--output", required=True, metavar="GRID.png|DIR", help="grid image file or folder")
    add_device(p, "cpu")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from genfer.apps.stylegan2 import generate_images, load_stylegan2, write_images
    from genfer.cli.common import resolve_device
    from genfer.core.paths import check_writable

    folder = Path(args.output).suffix.lower() not in (".png", ".jpg", ".jpeg")
    check_writable(args.output, folder=folder, option="--output")
    method = load_stylegan2(args.checkpoint, resolve_device(args.device))
    images = generate_images(method, args.n, args.truncation, args.seed, args.noise)
    paths = write_images(images, args.output, args.ncol)
    print(f"written: {paths[0] if len(paths) == 1 else args.output} ({images.shape[0]} images)")
    return 0
