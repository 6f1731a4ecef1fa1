"""TDGAN quality on SynthFace: recognition of held-out identities, and transfer judged by recognisers.

Figures (issue 2 acceptance):
- expression accuracy of the expression branch (M_ER) on held-out SynthFace identities;
- transfer: faces are *new renders* of the identities TDGAN trained on (random expressions,
  fresh pose/lighting draws), expressions come from held-out identities; a generated image
  "carries the target expression" when an expression judge says so, "keeps the source identity"
  when an identity judge says so. Both judges are CNNs trained on rendered (never generated)
  SynthFace images (genfer.judges). Reference rows show what the judges say of the raw inputs,
  so a generator that copies either input cannot score on both.

Usage:
    python benchmarks/tdgan_quality.py --run runs/demo-XXXX     # an existing run
    python benchmarks/tdgan_quality.py                          # runs `genfer demo` first
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from genfer.apps.evaluation import evaluate_checkpoint
from genfer.apps.inference import transfer_images
from genfer.data.labels import BASIC7
from genfer.data.synthface import SynthFace, render, sample_aus, split_identities
from genfer.engine.checkpoint import load_method
from genfer.judges import JudgeNet, cached_judges, judge_accuracy, train_judge


def judges(cfg, face_ids: list[int], steps: int, cache: str | None) -> tuple[JudgeNet, JudgeNet]:
    """(expression judge, identity judge), trained once per setting and kept in ``cache`` (a directory).

    The expression judge learns on identities disjoint from training and test; the identity judge on
    new renders of the face identities (random expressions, nuisance keys unused by training).
    """
    m, seed = cfg.model, cfg.data.synth_seed
    size, ch = m.image_size, m.channels

    def train() -> dict[str, JudgeNet]:
        ej_data = SynthFace(list(range(50_000, 50_000 + 60)), 70, size=size, channels=ch, seed=seed)
        ej = train_judge(ej_data.images, ej_data.expressions, len(BASIC7), steps=steps, seed=1)
        g = torch.Generator().manual_seed(7)
        n_id = 120 * len(face_ids)
        id_vec = torch.tensor(face_ids).repeat_interleave(120)
        id_imgs = render(id_vec, sample_aus(torch.randint(0, 7, (n_id,), generator=g), g), size, ch, seed,
                         nuisance_seed=900 + torch.arange(n_id))
        id_labels = torch.arange(len(face_ids)).repeat_interleave(120)
        return {"expression": ej, "identity": train_judge(id_imgs, id_labels, len(face_ids), steps=steps, seed=2)}

    key = f"tdgan_judges_{size}px_c{ch}_s{seed}_faces{len(face_ids)}-{face_ids[0]}_{steps}.pt"
    nets = cached_judges(Path(cache) / key if cache else None,
                         {"expression": (ch, len(BASIC7), 32), "identity": (ch, len(face_ids), 32)}, train)
    return nets["expression"], nets["identity"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", help="run directory (default: train the demo first)")
    ap.add_argument("--pairs", type=int, default=700, help="transfer pairs to judge")
    ap.add_argument("--judge-steps", type=int, default=800, help="training iterations per judge")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--judge-cache", default=str(Path.home() / ".cache" / "genfer"),
                    help="directory keeping trained judges between runs ('' to retrain every time)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    if args.run is None:
        from genfer.apps.demo import run_demo

        args.run = str(run_demo()["run_dir"])
    method, cfg = load_method(args.run)
    d, m = cfg.data, cfg.model
    size, ch, seed = m.image_size, m.channels, d.synth_seed
    train_ids, test_ids = split_identities(d.max_identities + d.synth_identities, d.synth_test_identities)
    face_ids = train_ids[: d.max_identities]
    t0 = time.perf_counter()

    rec = evaluate_checkpoint(args.run, out_dir=f"{args.run}/eval")
    ej, ij = judges(cfg, face_ids, args.judge_steps, args.judge_cache)
    g = torch.Generator().manual_seed(7)

    # sanity of the judges on fresh renders
    test_expr = SynthFace(test_ids, d.synth_test_per_identity, size=size, channels=ch, seed=seed)
    k = torch.randint(0, len(face_ids), (400,), generator=g)
    fresh_faces = render(torch.tensor(face_ids)[k], sample_aus(torch.randint(0, 7, (400,), generator=g), g),
                         size, ch, seed, nuisance_seed=5000 + torch.arange(400))
    judge_expr_acc = judge_accuracy(ej, test_expr.images, test_expr.expressions)
    judge_id_acc = judge_accuracy(ij, fresh_faces, k)

    # transfer pairs
    n = args.pairs
    fi = torch.randint(0, len(face_ids), (n,), generator=g)
    src_expr = torch.randint(0, 7, (n,), generator=g)
    faces = render(torch.tensor(face_ids)[fi], sample_aus(src_expr, g), size, ch, seed,
                   nuisance_seed=20000 + torch.arange(n))
    ei = torch.randint(0, len(test_expr), (n,), generator=g)
    exprs, y = test_expr.images[ei], test_expr.expressions[ei]
    torch.manual_seed(0)  # the decoder's noise: the same draws for every judgement of a run
    fake = transfer_images(method, faces, exprs)
    res = {
        "run": args.run,
        "image_size": size,
        "expression_accuracy_M_ER_heldout": rec["accuracy"],
        "judge_expression_acc_on_rendered_heldout": judge_expr_acc,
        "judge_identity_acc_on_new_renders": judge_id_acc,
        "transfer_expression_carried": judge_accuracy(ej, fake, y),
        "transfer_identity_kept": judge_accuracy(ij, fake, fi),
        "reference_face_input_expression_match": judge_accuracy(ej, faces, y),
        "reference_expression_input_identity_match": judge_accuracy(ij, exprs, fi),
        "pairs": n,
        "seconds": round(time.perf_counter() - t0, 1),
    }
    print(json.dumps(res, indent=2))
    with open(f"{args.run}/quality.json", "w") as f:
        json.dump(res, f, indent=2)


if __name__ == "__main__":
    main()
