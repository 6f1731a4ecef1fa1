"""``genfer edit --checkpoint RUN IMG --aus "AU12=3,AU06=2" -o OUT.png``: Action Unit editing."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    from genfer.cli.common import add_checkpoint, add_device, add_face_options

    p = sub.add_parser(
        "edit", help="edit faces to Action Unit intensities or an emotion (methods that can edit: see genfer ls)",
        description="Edit face crops with an AU-conditioned generator. The target is --aus (intensities "
        "0..5 of named AUs; the others keep the face's own, as estimated by the critic, unless --base "
        "neutral), or --emotion (a FACS prototype, optionally scaled with --intensity), or both (--aus "
        "then overrides AUs of the preset). --strip N writes an interpolation from the face's AUs to the "
        "target; --au-grid writes single-AU edits (AU1, 2, 4, 5, 10, 12, 15, 25, 45 at 0, 1.7, 3.3, 5) "
        "as in the seed's figure. With several images, OUT is a grid with one row (or block) per image. "
        "Images that are not face crops of about the model's size are searched for faces, and the largest "
        "is aligned by the method's crop rule (see --aligned).",
    )
    add_checkpoint(p)
    p.add_argument("images", nargs="+", metavar="IMG", help="face crop(s) or photo(s) to edit")
    p.add_argument("--aus", default=None, metavar="SPEC",
                   help='target AU intensities, e.g. "AU12=3,AU06=2" (0..5; names like AU12, 12 or au12_r)')
    p.add_argument("--emotion", default=None,
                   help="emotion preset: neutral, happiness, sadness, surprise, fear, disgust, anger, contempt")
    p.add_argument("--intensity", type=float, default=None,
                   help="strongest AU of the --emotion preset (0..5; default: the prototype's typical values)")
    p.add_argument("--base", choices=["source", "neutral"], default="source",
                   help="with --aus only: what the unnamed AUs keep (default: %(default)s = the face's own)")
    p.add_argument("--strip", type=int, default=0, metavar="N",
                   help="write an N-image interpolation strip from the face's AUs to the target")
    p.add_argument("--au-grid", action="store_true", help="write the single-AU editing grid (no target needed)")
    p.add_argument("-o", "--output", required=True, metavar="OUT.png", help="output image file")
    p.add_argument("--scale", type=int, default=1, help="upscale the output by this integer factor (nearest)")
    add_face_options(p)
    add_device(p, "cpu")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from genfer.cli.common import load_faces_for, open_checkpoint
    from genfer.core.errors import UsageError
    from genfer.core.imaging import save_grid, save_image
    from genfer.models.au_cyclegan.editing import edit_request, parse_aus

    if not args.au_grid and args.aus is None and args.emotion is None:
        raise UsageError("no edit target", fix="give --aus, --emotion or --au-grid")
    if args.strip == 1 or args.strip < 0:
        raise UsageError(f"--strip {args.strip}: a strip needs at least 2 images", fix="pass --strip 2 or more")
    # every request starts from the faces' own AUs (kept AUs, strip start, grid base): estimate_aus too
    method, cfg, device = open_checkpoint(args, "genfer edit", "edit", "estimate_aus")
    (images,) = load_faces_for(args, cfg, device, args.images)
    aus = parse_aus(args.aus) if args.aus else None
    out, ncol = edit_request(method, images, aus, args.emotion, args.intensity, args.base, args.strip, args.au_grid)
    if out.shape[0] == 1:  # one edited face: the image itself, no grid border
        img = out[0].repeat_interleave(args.scale, 1).repeat_interleave(args.scale, 2) if args.scale > 1 else out[0]
        path = save_image(img, args.output)
    else:
        path = save_grid(out, ncol, args.output, scale=args.scale)
    print(f"written: {path}")
    return 0
