"""``genfer project --checkpoint CKPT|RUN|FILE.pt IMAGES... -o OUT/``: optimisation-based StyleGAN2 inversion."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    from genfer.cli.common import add_device

    p = sub.add_parser(
        "project", help="project images into a StyleGAN2 generator (rosinality's projector)",
        description="Find, for each image, the latent code and noise maps whose generated image is closest "
        "to it: Adam on w (or W+ with --w-plus) and the noise maps, minimising a perceptual distance plus a "
        "noise regulariser (rosinality's projector.py; defaults as there). Images are resized to the "
        "generator's size. OUT gets one PNG per image, projections.png, latents.npz (W+ codes and noise maps) "
        "and results.json (distance and PSNR per image). --distance lpips needs the LPIPS weights "
        "(genfer weights); judge is a SynthFace-judge feature distance for offline use (not LPIPS).",
    )
    p.add_argument("images", nargs="+", metavar="IMG", help="aligned face images")
    p.add_argument("--checkpoint", "-c", required=True, metavar="CKPT|RUN|FILE.pt",
                   help="a stylegan2 run or checkpoint directory, or a rosinality checkpoint file")
    p.add_argument("-o", "--output", required=True, metavar="DIR", help="output folder")
    p.add_argument("--distance", choices=("lpips", "judge", "mse"), default="lpips",
                   help="perceptual distance (default: %(default)s)")
    p.add_argument("--lpips-net", choices=("vgg", "alex"), default="vgg", help="LPIPS backbone (default: vgg)")
    p.add_argument("--steps", type=int, default=1000, help="optimisation steps (default: %(default)s)")
    p.add_argument("--lr", type=float, default=0.1, help="peak learning rate (default: %(default)s)")
    p.add_argument("--noise-regularize", type=float, default=1e5, help="noise penalty weight (default: 1e5)")
    p.add_argument("--mse", type=float, default=0.0, help="pixel MSE weight (default: %(default)s)")
    p.add_argument("--w-plus", action="store_true", help="optimise one w per layer (W+) instead of one w")
    p.add_argument("--seed", type=int, default=0, help="seed of the noise maps and w perturbations")
    p.add_argument("--batch-size", type=int, default=8, help="images projected together (default: %(default)s)")
    p.add_argument("--judge-cache", metavar="DIR", help="folder keeping the trained SynthFace judge (--distance judge)")
    add_device(p, "cpu")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from genfer.apps.stylegan2 import load_stylegan2, project_images
    from genfer.cli.common import resolve_device
    from genfer.core.errors import UsageError
    from genfer.core.paths import check_writable
    from genfer.models.stylegan2.projector import ProjectConfig

    if args.steps < 1:
        raise UsageError(f"--steps {args.steps}: must be >= 1")
    check_writable(args.output, folder=True, option="--output")
    method = load_stylegan2(args.checkpoint, resolve_device(args.device))
    cfg = ProjectConfig(steps=args.steps, lr=args.lr, noise_regularize=args.noise_regularize, mse=args.mse,
                        w_plus=args.w_plus)
    res = project_images(method, args.images, args.output, args.distance, cfg, seed=args.seed,
                         lpips_net=args.lpips_net, judge_cache=args.judge_cache, batch_size=args.batch_size)
    print(f"written: {args.output} ({res['n']} images; mean {res['distance']} {res['mean_distance']:.4f}, "
          f"mean PSNR {res['mean_psnr']:.2f} dB)")
    return 0
