"""JESRL swap quality on SynthFace, judged on held-out identities (issue 15 acceptance).

Pairs (A, B) are fresh renders of two different *held-out* identities (never seen in training)
with two different expressions i != j. The swap gives C = A's face with B's expression j and D =
B's face with A's expression i (the expressions are given, as ``--swap-list`` does). A swapped
image "carries the other face's expression" when an expression judge reads j on C (i on D), and
"keeps its own identity" when an identity judge reads A's identity on C (B's on D). The judges are
the CNNs of ``benchmarks/tdgan_quality.py`` (``genfer.judges``), trained on rendered, never
generated, SynthFace images: the expression judge on identities disjoint from training and test,
the identity judge on renders of the held-out identities. Reference rows say what the judges give
for copying an input (copying A keeps the identity but not the expression; copying B the reverse),
so a model that copies cannot pass both.

Usage:
    python benchmarks/jesrl_quality.py --run /work/runs/jesrl/synthface-a [--pairs 500]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

from genfer.core.imaging import save_grid
from genfer.data.labels import BASIC7
from genfer.data.synthface import render, sample_aus, split_identities
from genfer.engine.checkpoint import load_method
from genfer.judges import judge_accuracy, judge_predict

sys.path.insert(0, str(Path(__file__).parent))
from tdgan_quality import judges  # the same judges: expression on identities 50,000+, identity on given ids


def read_by_class(judge, swaps: torch.Tensor, wanted: torch.Tensor, own: torch.Tensor) -> dict:
    """What the expression judge reads on the swaps, by the expression each should wear: the share
    read as wanted (carried), as the face's own expression (left unchanged), and as another."""
    read = judge_predict(judge, swaps).argmax(1)
    by = {}
    for k, name in enumerate(BASIC7):
        sel = wanted == k
        n = max(int(sel.sum()), 1)
        by[name] = {"carried": round(float((read[sel] == k).sum()) / n, 3),
                    "own": round(float((read[sel] == own[sel]).sum()) / n, 3), "n": int(sel.sum())}
    return {"swap_read_as_own_expression": float((read == own).float().mean()), "by_wanted_expression": by}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", required=True, help="a JESRL run directory on SynthFace (canonical 7 classes)")
    ap.add_argument("--pairs", type=int, default=500, help="swap pairs to judge")
    ap.add_argument("--judge-steps", type=int, default=800, help="training iterations per judge")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--identities", choices=("test", "train"), default="test",
                    help="whose faces to swap: held-out identities (the acceptance figure) or the training "
                         "ones in new renders (how much of the gap is generalisation)")
    ap.add_argument("--judge-cache", default=str(Path.home() / ".cache" / "genfer"),
                    help="directory keeping trained judges between runs ('' to retrain every time)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    method, cfg = load_method(args.run)
    if tuple(method.classes) != BASIC7:
        raise SystemExit(f"{args.run}: trained on classes {method.classes}; this benchmark needs SynthFace's 7")
    d, m = cfg.data, cfg.model
    size, ch, seed = m.image_size, m.channels, d.synth_seed
    train_ids, test_ids = split_identities(d.max_identities + d.synth_identities, d.synth_test_identities)
    if args.identities == "train":
        test_ids = train_ids
    t0 = time.perf_counter()
    ej, ij = judges(cfg, test_ids, args.judge_steps, args.judge_cache)

    g = torch.Generator().manual_seed(11)
    n = args.pairs
    pa = torch.randint(0, len(test_ids), (n,), generator=g)
    pb = (pa + torch.randint(1, len(test_ids), (n,), generator=g)) % len(test_ids)  # another identity
    ya = torch.randint(0, 7, (n,), generator=g)
    yb = (ya + torch.randint(1, 7, (n,), generator=g)) % 7  # another expression
    ids = torch.tensor(test_ids)
    a = render(ids[pa], sample_aus(ya, g), size, ch, seed, nuisance_seed=30_000 + torch.arange(n))
    b = render(ids[pb], sample_aus(yb, g), size, ch, seed, nuisance_seed=60_000 + torch.arange(n))
    cs, ds = [], []
    for s in range(0, n, 50):
        out = method.swap_with(a[s : s + 50], b[s : s + 50], ya[s : s + 50], yb[s : s + 50])
        cs.append(out["C"].cpu())
        ds.append(out["D"].cpu())
    c, dd = torch.cat(cs), torch.cat(ds)
    unit = lambda x: x.float() / 255 if x.dtype == torch.uint8 else x  # noqa: E731
    res = {
        "run": args.run,
        "image_size": size,
        "pairs": n,
        "identities": args.identities,
        "judge_expression_acc_on_rendered_inputs": (judge_accuracy(ej, a, ya) + judge_accuracy(ej, b, yb)) / 2,
        "judge_identity_acc_on_rendered_inputs": (judge_accuracy(ij, a, pa) + judge_accuracy(ij, b, pb)) / 2,
        "swap_expression_carried": (judge_accuracy(ej, c, yb) + judge_accuracy(ej, dd, ya)) / 2,
        "swap_identity_kept": (judge_accuracy(ij, c, pa) + judge_accuracy(ij, dd, pb)) / 2,
        "C_expression_carried": judge_accuracy(ej, c, yb),
        "C_identity_kept": judge_accuracy(ij, c, pa),
        "D_expression_carried": judge_accuracy(ej, dd, ya),
        "D_identity_kept": judge_accuracy(ij, dd, pb),
        "reference_copy_own_face_expression_carried": (judge_accuracy(ej, a, yb) + judge_accuracy(ej, b, ya)) / 2,
        "reference_copy_own_face_identity_kept": (judge_accuracy(ij, a, pa) + judge_accuracy(ij, b, pb)) / 2,
        "reference_copy_other_face_expression_carried": (judge_accuracy(ej, b, yb) + judge_accuracy(ej, a, ya)) / 2,
        "reference_copy_other_face_identity_kept": (judge_accuracy(ij, b, pa) + judge_accuracy(ij, a, pb)) / 2,
        **read_by_class(ej, torch.cat((c, dd)), torch.cat((yb, ya)), torch.cat((ya, yb))),
        "seconds": round(time.perf_counter() - t0, 1),
    }
    k = min(8, n)
    grid = torch.stack((unit(a[:k]), unit(b[:k]), dd[:k], c[:k]), 1).flatten(0, 1)
    save_grid(grid, 4, f"{args.run}/swap_grid.png", scale=2)
    print(json.dumps(res, indent=2))
    name = "quality.json" if args.identities == "test" else "quality_train.json"
    Path(args.run, name).write_text(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
