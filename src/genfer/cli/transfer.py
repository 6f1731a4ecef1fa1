"""``genfer transfer --checkpoint RUN --face A.png --expression B.png -o OUT.png``."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    from genfer.cli.common import add_checkpoint, add_device, add_face_options

    p = sub.add_parser(
        "transfer", help="put the expression of one face onto another",
        description="Generate the face of --face wearing the expression of --expression. With one face and "
        "one expression, OUT is the generated image. With several of either, OUT is a grid: the first row "
        "shows the expressions, the first column the faces, and cell (i, j) face i with expression j. "
        "Images that are not face crops of about the model's size are searched for faces, and the largest "
        "is aligned by the method's crop rule (see --aligned).",
    )
    add_checkpoint(p)
    p.add_argument("--face", nargs="+", required=True, metavar="IMG", help="face image(s): identity source")
    p.add_argument("--expression", nargs="+", required=True, metavar="IMG",
                   help="expression image(s): expression source")
    p.add_argument("-o", "--output", required=True, metavar="OUT.png", help="output image file")
    p.add_argument("--grid", action="store_true", help="write the grid even for one face and one expression")
    p.add_argument("--scale", type=int, default=1, help="upscale the output by this integer factor (nearest)")
    add_face_options(p)
    add_device(p, "cpu")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from genfer.apps.inference import transfer_grid, transfer_images
    from genfer.cli.common import load_faces_for, open_checkpoint
    from genfer.core.imaging import save_grid

    method, cfg, device = open_checkpoint(args, "genfer transfer", "transfer")
    faces, exprs = load_faces_for(args, cfg, device, args.face, args.expression)
    if len(args.face) == 1 and len(args.expression) == 1 and not args.grid:
        out, ncol = transfer_images(method, faces, exprs), 1
    else:
        out, ncol = transfer_grid(method, faces, exprs)
    path = save_grid(out, ncol, args.output, scale=args.scale) if out.shape[0] > 1 else None
    if path is None:
        from genfer.core.imaging import save_image

        img = out[0]
        if args.scale > 1:
            img = img.repeat_interleave(args.scale, 1).repeat_interleave(args.scale, 2)
        path = save_image(img, args.output)
    print(f"written: {path}")
    return 0
