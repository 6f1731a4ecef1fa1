"""``genfer ls [methods|presets|models|datasets|metrics]``."""

from __future__ import annotations

import argparse

KINDS = ("methods", "presets", "models", "datasets", "metrics")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("ls", help="list registered methods (with what they can do), presets, shipped reference models, "
                       "datasets and metrics",
                       description="List what this genfer installation provides. Each method is shown with "
                       "its capabilities: classify (genfer eval, recognize), transfer (genfer transfer), edit "
                       "and estimate_aus (genfer edit), swap, reconstruct, invert. Reference models are trained "
                       "checkpoints shipped inside genfer: pass their name as --checkpoint.")
    p.add_argument("what", nargs="?", choices=KINDS, help="only this kind (default: all)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import genfer.metrics  # noqa: F401  (registers the metrics)
    from genfer.core.config import presets
    from genfer.core.reference import reference_models
    from genfer.core.registry import DATASETS, METHODS, METRICS
    from genfer.data import datasets  # noqa: F401  (registers the readers)
    from genfer.models import load_all
    from genfer.models.capabilities import capabilities

    load_all()
    show = {
        "methods": [f"{m}: {', '.join(capabilities(METHODS.get(m))) or '-'}" for m in METHODS.names()],
        "presets": [f"{m}: {', '.join(presets(m)) or '-'}" for m in METHODS.names()],
        "models": [f"{r.name}: {r.method}, {r.figures.get('summary', '')}".rstrip(", ")
                   for r in reference_models().values()],
        "datasets": DATASETS.names(),
        "metrics": METRICS.names(),
    }
    for kind in [args.what] if args.what else KINDS:
        print(f"{kind}:")
        for name in show[kind]:
            print(f"  {name}")
    return 0
