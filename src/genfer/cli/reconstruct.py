"""``genfer reconstruct --checkpoint RUN|CDAN.pth IMAGES... -o OUT/``."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    from genfer.cli.common import add_device, add_face_options

    p = sub.add_parser(
        "reconstruct", help="reconstruct faces (and, for CDAN, parse them into mask, colour map and M*x)",
        description="Write, per input face, its reconstruction OUT/<name>_rec.png and, for a parsing model "
        "(CDAN), its mask <name>_mask.png, colour map <name>_color.png and masked face <name>_masked.png. "
        "Folders are searched recursively and their sub-folders (e.g. class folders) are kept under OUT. "
        "Images that are not face crops of about the model's size are searched for faces first (see --detect).",
    )
    p.add_argument("--checkpoint", "-c", required=True, metavar="RUN|CDAN.pth",
                   help="a run directory, a checkpoint directory, or the released CDAN.pth")
    p.add_argument("images", nargs="+", metavar="IMAGES", help="image files and/or folders")
    p.add_argument("-o", "--output", required=True, metavar="OUT/", help="output folder")
    p.add_argument("--by-part", action="store_true",
                   help="write OUT/rec/NAME.png, OUT/mask/NAME.png, ... (input names kept, so `genfer metrics` "
                   "pairs OUT/rec with the input folder)")
    p.add_argument("--batch-size", type=int, default=16, help="faces per forward (default: %(default)s)")
    p.add_argument("--precision", default="fp32", choices=("fp32", "bf16"),
                   help="network precision: bf16 autocast is about 2x faster on CPUs with AVX512_BF16 or AMX "
                   "and on GPUs (slower where the CPU emulates it); on a trained CDAN it moved the held-out "
                   "figures by under 0.01 (default: %(default)s)")
    add_face_options(p)
    add_device(p, "cpu")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import torch

    from genfer.apps import photos
    from genfer.apps.reconstruct import load_reconstructor, reconstruct_files
    from genfer.cli.common import resolve_device
    from genfer.core.errors import GenferError
    from genfer.core.paths import check_writable
    from genfer.engine.precision import autocast

    check_writable(args.output, folder=True, option="--output")
    device = resolve_device(args.device)
    method, cfg = load_reconstructor(args.checkpoint, device)
    with autocast(args.precision, torch.device(device)):
        report = reconstruct_files(method, cfg, args.images, args.output, args.aligned,
                                   lambda: photos.load_detector(args.detector, device), args.batch_size, args.by_part)
    for problem in report.problems:
        print(f"skipped: {problem}")
    if report.faces == 0:
        raise GenferError("no face was reconstructed", path=args.images[0],
                          fix="give face crops or photos with a visible face")
    print(f"{report.faces} face(s), {len(report.written)} file(s) written to {args.output}")
    return 0
