"""``genfer prepare SRC DST --dataset NAME``: detect, align and crop faces once into a store."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    from genfer.data.preprocess.align import ALIGN_MODES, PRESETS, TEMPLATES

    p = sub.add_parser(
        "prepare", help="detect, align and crop the faces of a dataset into a fast store",
        description="Run once over a dataset as shipped (or a folder of photos): decode every image, find "
        "faces with MTCNN, align each (five-point similarity to a template, the FFHQ rule, the square "
        "detector box, or no alignment), and write uint8 crops into memory-mapped shards plus a manifest "
        "(source path, box, landmarks, score, labels, subject) under DST. Unreadable files and images "
        "without a face are skipped, recorded and counted. Rerunning into the same DST resumes: finished "
        "items are skipped. Read the store with --data store:DST.",
        epilog="presets: " + "; ".join(f"{n} = {p.align} {p.size}px {'grey' if p.channels == 1 else 'RGB'}"
                                       for n, p in PRESETS.items()),
    )
    p.add_argument("src", metavar="SRC",
                   help="dataset root as shipped; reader options may follow as SRC?key=value&key=value "
                   "(e.g. 'RAF-DB/basic?images=original'); with --dataset photos, a folder of images or one image")
    p.add_argument("dst", metavar="DST", help="store folder (created; an existing store with the same settings "
                   "is resumed)")
    p.add_argument("--dataset", "-d", default="photos",
                   help="reader name (rafdb, affectnet, ckplus, folder, ... see `genfer ls datasets`) or 'photos' "
                   "for unlabelled images (default: %(default)s)")
    p.add_argument("--split", action="append", dest="splits", metavar="SPLIT",
                   help="split to prepare; repeat for several (default: every split the reader has; 'all' for "
                   "subject-protocol datasets such as CK+)")
    p.add_argument("--preset", choices=sorted(PRESETS),
                   help="crop rule of a reproduced method; explicit options below override it")
    p.add_argument("--detector", default=None, help="face detector (default: mtcnn)")
    p.add_argument("--align", choices=ALIGN_MODES, default=None,
                   help="five-point (similarity to --template), ffhq (FFHQ/StyleGAN rule), box (square detector "
                   "box), none (resize the whole image; for datasets shipped aligned) (default: five-point)")
    p.add_argument("--template", choices=sorted(TEMPLATES), default=None,
                   help="five-point template (default: arcface)")
    p.add_argument("--size", type=int, default=None, help="crop side in pixels (default: 128)")
    p.add_argument("--channels", type=int, choices=(1, 3), default=None,
                   help="1 = grey (ITU-R 601 luma), 3 = RGB (default: 3)")
    p.add_argument("--margin", type=float, default=None,
                   help="extra margin around the box for --align box, as a fraction of its side (default: 0)")
    p.add_argument("--padding", choices=("zeros", "border", "reflection"), default=None,
                   help="fill for crop pixels outside the photo (default: zeros)")
    p.add_argument("--faces", choices=("largest", "best", "all"), default=None,
                   help="faces kept per image: the largest, the highest-scoring, or all (default: largest)")
    p.add_argument("--min-score", type=float, default=None,
                   help="drop detections scoring below this (default: 0, i.e. MTCNN's own thresholds)")
    p.add_argument("--min-face-size", type=float, default=None,
                   help="smallest face side searched for, in pixels (default: 20)")
    p.add_argument("--flip", action="store_true", default=None,
                   help="also detect on the mirrored image and merge (finds some more faces; twice as slow)")
    p.add_argument("--shard-size", type=int, default=1024, help="faces per shard file (default: %(default)s)")
    p.add_argument("--batch-size", type=int, default=8, help="images per detector call (default: %(default)s)")
    p.add_argument("--limit", type=int, default=None, help="stop after N items (to try settings out)")
    p.add_argument("--device", default="cpu", help="torch device of the detector (default: %(default)s)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import json
    import sys

    from genfer.core.paths import check_writable
    from genfer.data.preprocess.pipeline import PrepareSettings, prepare

    check_writable(args.dst, folder=True, option="DST")
    settings = PrepareSettings.from_preset(
        args.preset, detector=args.detector, align=args.align, template=args.template, size=args.size,
        channels=args.channels, margin=args.margin, padding=args.padding, faces=args.faces,
        min_score=args.min_score, min_face_size=args.min_face_size, flip=args.flip,
    )
    summary = prepare(
        args.src, args.dst, args.dataset, settings, splits=args.splits, shard_size=args.shard_size,
        batch_size=args.batch_size, device=args.device, progress=not args.no_progress, limit=args.limit,
        log=lambda m: print(m, file=sys.stderr),
    )
    print(json.dumps(summary.to_dict(), indent=2) if args.json else summary.format())
    return 0
