"""``genfer metrics {fid,kid,is,lpips,psnr,ssim,l2,acd,id_sim,ed} ...``: figures over image folders as JSON."""

from __future__ import annotations

import argparse

from genfer.cli.common import add_device


def _inception_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--weights", metavar="PTH",
                   help="Inception weights (pt_inception-2015-12-05-6726825d.pth or torch-fidelity's file); "
                   "default: $GENFER_FID_INCEPTION, then the genfer cache (see docs/metrics.md)")
    p.add_argument("--no-check-hash", dest="check_hash", action="store_false",
                   help="skip the SHA-256 check of --weights (for your own conversions; results record the digest)")
    p.add_argument("--mode", default="clean", choices=("clean", "legacy_tensorflow", "legacy_pytorch"),
                   help="resize to 299: clean = PIL bicubic on float (clean-fid), legacy_tensorflow = TF1 "
                   "bilinear (torch-fidelity, original TF code), legacy_pytorch = torch bilinear (pytorch-fid) "
                   "(default: %(default)s)")
    p.add_argument("--precision", default="fp32", choices=("fp32", "bf16"),
                   help="network precision; bf16 is faster on AMX CPUs and GPUs but moves the figure slightly "
                   "(default: %(default)s)")
    p.add_argument("--batch-size", type=int, default=50, help="images per forward pass (default: %(default)s)")
    p.add_argument("--workers", type=int, default=0, dest="num_workers",
                   help="image-decoding worker processes (default: %(default)s)")
    p.add_argument("--recursive", action="store_true", help="include images in sub-folders")


def _paired_options(p: argparse.ArgumentParser, batch: int = 16) -> None:
    p.add_argument("pred", metavar="PRED_DIR", help="generated / reconstructed images")
    p.add_argument("gt", metavar="GT_DIR", help="ground-truth images; pairs are matched by file name")
    p.add_argument("--size", type=int, metavar="PX",
                   help="resize both images of a pair to PX x PX (PIL bicubic) first; default: sizes must match")
    p.add_argument("--batch-size", type=int, default=batch, help="pairs per batch (default: %(default)s)")
    p.add_argument("--recursive", action="store_true", help="include sub-folders (pairing keys keep the sub-path)")


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", metavar="JSON", help="also write the result to this file")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "metrics", help="FID/KID/IS, LPIPS, PSNR/SSIM/L2, ACD, ID similarity and ED over image folders",
        description="Compute an image metric over folders and print it as JSON together with every setting "
        "that affects the number. Pairs of files are matched by name; unmatched files are listed. "
        "genfer never downloads weights: see docs/metrics.md for where each file comes from.",
    )
    ms = p.add_subparsers(dest="metric", metavar="METRIC", required=True)

    q = ms.add_parser("fid", help="Fréchet Inception Distance between two folders",
                      description="FID of FAKE_DIR against REAL_DIR. REAL_DIR may also be an .npz/.safetensors "
                      "file with mu and sigma. Reference features are cached per folder and settings.")
    q.add_argument("real", metavar="REAL_DIR", help="reference images (cached), or a statistics file")
    q.add_argument("fake", metavar="FAKE_DIR", help="generated images")
    _inception_options(q)
    q.add_argument("--no-cache", dest="cache", action="store_false", help="do not read or write the reference cache")

    q = ms.add_parser("kid", help="Kernel Inception Distance (mean +- std over subsets)")
    q.add_argument("real", metavar="REAL_DIR", help="reference images (cached)")
    q.add_argument("fake", metavar="FAKE_DIR", help="generated images")
    _inception_options(q)
    q.add_argument("--no-cache", dest="cache", action="store_false", help="do not read or write the reference cache")
    q.add_argument("--subsets", type=int, default=100, help="number of subsets (default: %(default)s)")
    q.add_argument("--subset-size", type=int, default=1000, help="features per subset (default: %(default)s)")
    q.add_argument("--seed", type=int, default=0, help="seed of the subset draws (default: %(default)s)")

    q = ms.add_parser("is", help="Inception Score of one folder (mean +- std over splits)")
    q.add_argument("folder", metavar="DIR", help="images")
    _inception_options(q)
    q.add_argument("--splits", type=int, default=10, help="number of splits (default: %(default)s)")
    q.add_argument("--seed", type=int, default=0, help="seed of the shuffle before splitting (default: %(default)s)")
    q.add_argument("--no-shuffle", dest="seed", action="store_const", const=None,
                   help="split in file-name order, as the original IS code split its input order")

    q = ms.add_parser("lpips", help="LPIPS v0.1 between pairs of images")
    _paired_options(q)
    q.add_argument("--net", default="alex", choices=("alex", "vgg"), help="backbone (default: %(default)s)")
    q.add_argument("--backbone", metavar="PTH",
                   help="torchvision weights (alexnet-owt-7be5be79.pth / vgg16-397923af.pth); default: search "
                   "$GENFER_LPIPS_ALEX/_VGG, the genfer cache and $TORCH_HOME/hub/checkpoints")
    q.add_argument("--heads", metavar="PTH_OR_WHL",
                   help="v0.1 heads: the lpips wheel or its weights/v0.1/NET.pth; default: GENFER_CACHE/lpips")

    for name, helptext in (("psnr", "PSNR in dB between pairs of images"), ("ssim", "SSIM between pairs")):
        q = ms.add_parser(name, help=helptext)
        _paired_options(q)
        q.add_argument("--channel", default="rgb", choices=("rgb", "y", "y_studio"),
                       help="rgb, y (full-range BT.601 luma, OpenCV YCrCb) or y_studio (MATLAB/skimage rgb2ycbcr) "
                       "(default: %(default)s)")
        q.add_argument("--data-range", type=float, metavar="R",
                       help="signal range for images read as [0, 1] (default: 1.0)")
        if name == "ssim":
            q.add_argument("--window", type=int, default=11, help="Gaussian window side (default: %(default)s)")
            q.add_argument("--sigma", type=float, default=1.5, help="Gaussian sigma (default: %(default)s)")

    q = ms.add_parser("l2", help="per-image MSE between pairs, on [-1, 1] by default")
    _paired_options(q)
    q.add_argument("--compare-range", type=float, nargs=2, default=(-1.0, 1.0), metavar=("LO", "HI"),
                   help="map images to this range before the MSE (default: -1 1, as IFER reports L2)")

    for name, helptext, default in (
        ("acd", "identity distance: embedding distance of paired faces", "face_api"),
        ("id_sim", "ID similarity: cosine similarity of paired faces' identity embeddings", "face_api"),
        ("ed", "expression distance: AU vectors (OpenFace CSVs) or recogniser outputs of pairs", "openface_au"),
    ):
        q = ms.add_parser(name, help=helptext,
                          description=f"{helptext}. Pairs matched by file name; pairs where a side has no face "
                          "are counted in the result, not measured. With --embedder openface_au the folders "
                          "hold OpenFace 2.x CSVs named like the images.")
        _paired_options(q)
        q.add_argument("--embedder", default=default,
                       help="identity: face_api, dlib or ir_se50 (user-supplied weights); expression: openface_au, "
                       "recogniser (a genfer run), fer or "
                       "faceapi_expression (pretrained expression nets) (default: %(default)s)")
        q.add_argument("--weights", metavar="FILE", help="weights of an identity embedder (face_api, dlib, ir_se50)")
        q.add_argument("--checkpoint", metavar="RUN", help="genfer recogniser run/checkpoint (--embedder recogniser)")
        q.add_argument("--output", choices=("probs", "logits"), help="recogniser output used (default: probs)")
        q.add_argument("--scale", type=float, help="divide OpenFace AU intensities by this (default: 1, as CDAN)")
        if name != "id_sim":  # ID similarity is a cosine by definition
            q.add_argument("--distance", choices=("l2", "cosine"), help="override the embedder's distance")

    for q in ms.choices.values():
        _common(q)
        if q.prog.split()[-1] in ("fid", "kid", "is", "lpips", "acd", "id_sim", "ed"):
            add_device(q)
    p.set_defaults(func=run)

    for action in ms._choices_actions:  # the one-line help doubles as each page's description
        page = ms.choices[action.dest]
        page.description = page.description or f"{action.help}."


def run(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from genfer.cli.common import resolve_device
    from genfer.core.paths import check_writable
    from genfer.core.registry import METRICS

    if args.out:
        check_writable(args.out, option="--out")
    opts = {k: v for k, v in vars(args).items() if k not in ("func", "command", "metric", "out", "quiet")}
    opts["progress"] = not args.quiet
    if "device" in opts:
        opts["device"] = resolve_device(opts["device"])
    # every page computes one METRICS protocol; lpips picks its protocol with --net
    name = f"lpips_{opts.pop('net')}" if args.metric == "lpips" else args.metric
    r = METRICS.get(name).folders(**opts)
    text = json.dumps(r, indent=2)
    print(text)  # first, so the figure survives a failure to write --out
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text + "\n")
    return 0
