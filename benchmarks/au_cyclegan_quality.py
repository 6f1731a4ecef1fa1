"""AU cycle GAN quality on SynthFace: do edited held-out faces show the target AUs, and stay the same person?

Figures (issue 5 acceptance):
- AU error: held-out SynthFace faces (identities never trained on, fresh pose/lighting draws) are
  edited to target AU vectors (FACS-prototype draws of random expressions, as training targets
  are); an AU regressor trained on *rendered* SynthFace images only (genfer.judges, identities
  disjoint from everything else, half prototype AU vectors, half random sparse ones so that it
  cannot infer one AU from another) reads the AUs of the edited images. Reported: mean absolute
  error over all 17 AUs (0..5 scale), over the AUs the target activates (>= 0.5), and per AU.
- single-AU response: per AU, how far the AU judge's reading moves when an edit sets that AU to 5
  instead of 0 (the face's other AUs kept), against the same move on SynthFace renders; the
  smallest ratio over the grid's AUs (``GRID_AUS``) says whether the edit grid shows each change.
- identity kept: an identity classifier over the held-out identities, trained on other renders
  of them, names the source identity of the edited image.
- references on the same faces and targets: the judge's error on faces *rendered* with the
  target AUs (its floor), and on the unedited inputs (what copying the input scores).

- critic NaN: iterations whose critic loss was non-finite (the engine skips those updates and
  logs them), counted from the run's log.

``--minutes M`` stops training at a wall-clock budget (data set-up included; the last chunk of
iterations is not started when it would overrun) and checkpoints the weights reached; ``--snapshot
STEP`` keeps a copy of the weights at those steps (``RUN/snapshots/step-NNNNNNN``) so that a long
run can be compared with shorter option runs at equal steps. Every figure is printed with the
wall-clock time, torch thread count and load average it was measured under.

Usage:
    python benchmarks/au_cyclegan_quality.py --run runs/au_cyclegan-XXXX     # an existing run (or checkpoint)
    python benchmarks/au_cyclegan_quality.py --train --threads 1 --minutes 30 # train configs/au_cyclegan/cpu.yaml
    python benchmarks/au_cyclegan_quality.py --train --threads 1 --set model.lambda_cycle=10 --set train.max_steps=1500
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from pathlib import Path

import torch

from genfer.data.aus import AU_NAMES, NUM_AUS
from genfer.data.synthface import render, sample_aus, split_identities
from genfer.data.synthface.params import sparse_aus
from genfer.engine.checkpoint import load_method
from genfer.judges import judge_accuracy, judge_predict, train_judge
from genfer.models.au_cyclegan.editing import GRID_AUS

JUDGE_POOL = 50_000
"""First identity id of the AU judge's training renders (disjoint from train and test ids)."""


def random_sparse_aus(n: int, g: torch.Generator) -> torch.Tensor:
    """[n, 17] intensities: each AU present with probability 0.3 at U(0.5, 5), else 0."""
    return sparse_aus(torch.rand(n, NUM_AUS, generator=g), torch.rand(n, NUM_AUS, generator=g))


def train_au_judge(size: int, channels: int, seed: int, steps: int, width: int, n_ids: int = 60, per_id: int = 80):
    """AU regressor on renders of judge-pool identities; it predicts intensities / 5 (x 5 = 0..5)."""
    g = torch.Generator().manual_seed(11)
    n = n_ids * per_id
    ids = torch.arange(JUDGE_POOL, JUDGE_POOL + n_ids).repeat_interleave(per_id)
    half = n // 2
    aus = torch.cat([sample_aus(torch.randint(0, 7, (half,), generator=g), g), random_sparse_aus(n - half, g)])
    imgs = render(ids, aus, size, channels, seed, nuisance_seed=torch.arange(n) % per_id)
    return train_judge(imgs, aus / 5, NUM_AUS, steps=steps, seed=3, regression=True, width=width)


def identity_judge(test_ids: list[int], size: int, channels: int, seed: int, steps: int, width: int):
    """Identity classifier over the held-out identities, on renders with random expressions."""
    g = torch.Generator().manual_seed(7)
    per_id = 100
    id_vec = torch.tensor(test_ids).repeat_interleave(per_id)
    imgs = render(id_vec, sample_aus(torch.randint(0, 7, (len(id_vec),), generator=g), g), size, channels, seed,
                  nuisance_seed=900 + torch.arange(len(id_vec)))
    labels = torch.arange(len(test_ids)).repeat_interleave(per_id)
    return train_judge(imgs, labels, len(test_ids), steps=steps, seed=2, width=width)


def judges(cfg, test_ids: list[int], steps: int, width: int, cache: str | None):
    """(AU judge, identity judge), trained once per setting and kept in ``cache`` (a directory)."""
    from genfer.judges import cached_judges

    m, seed = cfg.model, cfg.data.synth_seed
    key = f"au_cyclegan_judges_{m.image_size}px_c{m.channels}_s{seed}_ids{len(test_ids)}_{steps}x{width}.pt"
    nets = cached_judges(
        Path(cache) / key if cache else None,
        {"au": (m.channels, NUM_AUS, width), "id": (m.channels, len(test_ids), width)},
        lambda: {"au": train_au_judge(m.image_size, m.channels, seed, steps, width),
                 "id": identity_judge(test_ids, m.image_size, m.channels, seed, steps, width)},
    )
    return nets["au"], nets["id"]


def judge_report(cfg, test_ids: list[int], au_judge, id_judge, n: int = 400) -> dict:
    """The judges on fresh renders of held-out identities (their floor / ceiling)."""
    m, seed = cfg.model, cfg.data.synth_seed
    g = torch.Generator().manual_seed(9)
    who = torch.randint(0, len(test_ids), (n,), generator=g)
    aus = sample_aus(torch.randint(0, 7, (n,), generator=g), g)
    imgs = render(torch.tensor(test_ids)[who], aus, m.image_size, m.channels, seed,
                  nuisance_seed=40_000 + torch.arange(n))
    err = (judge_predict(au_judge, imgs).clamp(0, 1) * 5 - aus).abs()
    return {"au_judge_mae_all": float(err.mean()), "au_judge_mae_active": float(err[aus >= 0.5].mean()),
            "id_judge_acc": judge_accuracy(id_judge, imgs, who)}


def single_au_response(method, au_judge, faces: torch.Tensor, aus: torch.Tensor, rerender) -> dict:
    """Per AU: how far the judge's reading of that AU moves when the edit sets it to 5 instead of 0
    (the face's other AUs kept), on G's edits and on SynthFace's renders of the same targets.

    ``ratio`` = edit / render: the share of the renderer's own change that the edit shows (the
    grid's "each single-AU change shows clearly" as a number). ``critic_render``: the same move in
    the critic's AU head on the renders (G can draw an AU no better than its critic reads it).
    ``rerender(aus)`` renders the faces wearing ``aus`` [n, 17].
    """
    out = {}
    for k, name in enumerate(AU_NAMES):
        reads: dict[str, list[torch.Tensor]] = {"edit": [], "render": [], "critic_render": []}
        for v in (0.0, 5.0):
            a = aus.clone()
            a[:, k] = v
            edited, rendered = method.edit(faces, a), rerender(a)
            reads["edit"].append(judge_predict(au_judge, edited)[:, k].clamp(0, 1).mean() * 5)
            reads["render"].append(judge_predict(au_judge, rendered)[:, k].clamp(0, 1).mean() * 5)
            # what G is trained against: the critic's own AU head on the renders
            reads["critic_render"].append(method.estimate_aus(rendered)[:, k].mean())
        moved = {kind: float(r[1] - r[0]) for kind, r in reads.items()}
        out[name] = {**{kind: round(v, 3) for kind, v in moved.items()},
                     "ratio": round(moved["edit"] / max(moved["render"], 1e-6), 3)}
    return out


def train_run(cfg, minutes: float, snapshots: list[int]) -> tuple[Path, dict]:
    """Train ``cfg`` until ``train.max_steps`` or the wall-clock budget; returns (run dir, timing facts).

    The budget counts from before the data are rendered. Iterations run in chunks of 10; a chunk
    is not started when, at the last chunk's pace (x 1.5), it would end past the budget. Weights
    reached early are checkpointed as the run's latest.
    """
    from genfer.engine.checkpoint import save_checkpoint
    from genfer.engine.trainer import Trainer

    t0 = time.perf_counter()
    load0 = os.getloadavg()
    tr = Trainer(cfg, progress=False)
    budget = minutes * 60 if minutes > 0 else math.inf
    todo = sorted(s for s in snapshots if s > 0)
    per_it = 0.0
    while tr.step < tr.total:
        n = min(10, tr.total - tr.step, *(s - tr.step for s in todo if s > tr.step))
        if time.perf_counter() - t0 + 1.5 * n * per_it > budget:
            break
        t = time.perf_counter()
        tr.fit(stop_after=n)
        per_it = (time.perf_counter() - t) / n
        if tr.step in todo:
            save_checkpoint(tr.run_dir / "snapshots" / f"step-{tr.step:07d}", tr.method, tr.cfg)
    if tr.step < tr.total:
        tr.save()
    facts = {"steps": tr.step, "train_wall_s": round(time.perf_counter() - t0, 1),
             "budget_minutes": minutes or None, "threads": torch.get_num_threads(),
             "load_avg_1min_start_end": [round(load0[0], 2), round(os.getloadavg()[0], 2)]}
    Path(tr.run_dir, "train_facts.json").write_text(json.dumps(facts, indent=2))
    return tr.run_dir, facts


def critic_nonfinite(run: Path, up_to: int | None = None) -> int | None:
    """Iterations whose critic (``D``) loss was non-finite, from the run's ``log.jsonl`` (None: no log)."""
    for d in (run, *run.parents[:2]):
        log = d / "log.jsonl"
        if log.exists():
            break
    else:
        return None
    count = 0
    for line in log.read_text().splitlines():
        rec = json.loads(line)
        if up_to is not None and rec["step"] > up_to:
            continue
        # the engine skips a non-finite phase and logs it; the skipped loss never reaches a train line
        if rec["kind"] == "nonfinite" and "D" in rec["phases"]:
            count += 1
    return count


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", help="run directory of a trained au_cyclegan")
    ap.add_argument("--train", action="store_true", help="train a run first (preset --preset, overrides --set)")
    ap.add_argument("--preset", default="cpu", help="preset for --train (default: %(default)s)")
    ap.add_argument("--set", action="append", default=[], metavar="SECTION.FIELD=VALUE",
                    help="config override for --train (repeatable)")
    ap.add_argument("--faces", type=int, default=500, help="held-out faces to edit")
    ap.add_argument("--judge-steps", type=int, default=2000, help="training iterations per judge")
    ap.add_argument("--judge-width", type=int, default=16, help="first-stage channels of the judges")
    ap.add_argument("--judge-cache", default=str(Path.home() / ".cache" / "genfer"),
                    help="directory keeping trained judges between runs ('' = none)")
    ap.add_argument("--judges-only", action="store_true", help="train (and cache) the judges for --preset, then stop")
    ap.add_argument("--grid-out", help="also write the single-AU editing grid of held-out faces here")
    ap.add_argument("--grid-faces", type=int, default=1, help="faces in the --grid-out figure")
    ap.add_argument("--minutes", type=float, default=0,
                    help="with --train: wall-clock training budget in minutes (0 = train.max_steps only)")
    ap.add_argument("--snapshot", type=int, action="append", default=[], metavar="STEP",
                    help="with --train: also keep the weights at this step in RUN/snapshots (repeatable)")
    ap.add_argument("--threads", type=int, default=1,
                    help="torch threads for training and evaluation (default %(default)s: on shared cores "
                         "one thread per process is faster than two)")
    ap.add_argument("--table", nargs="+", metavar="QUALITY_JSON",
                    help="print a markdown table row per quality.json (run, steps, wall, figures) and stop")
    args = ap.parse_args()
    if args.table:
        print_table(args.table)
        return
    torch.set_num_threads(args.threads)

    t0 = time.perf_counter()
    if args.judges_only:
        from genfer.core.config import make_config

        cfg = make_config("au_cyclegan", args.preset, args.set)
        d = cfg.data
        _, test_ids = split_identities(d.max_identities + d.synth_identities, d.synth_test_identities)
        au_judge, id_judge = judges(cfg, test_ids, args.judge_steps, args.judge_width, args.judge_cache)
        print(json.dumps(judge_report(cfg, test_ids, au_judge, id_judge), indent=2))
        return
    facts: dict = {}
    if args.train:
        from genfer.core.config import make_config

        cfg = make_config("au_cyclegan", args.preset, [f"train.threads={args.threads}", *args.set])
        run_dir, facts = train_run(cfg, args.minutes, args.snapshot)
        args.run = str(run_dir)
    if args.run is None:
        ap.error("give --run RUN or --train")
    train_s = time.perf_counter() - t0
    method, cfg = load_method(args.run)
    if not facts:
        facts_file = Path(args.run, "train_facts.json")
        facts = json.loads(facts_file.read_text()) if facts_file.exists() else {}
    d, m = cfg.data, cfg.model
    size, ch, seed = m.image_size, m.channels, d.synth_seed
    _, test_ids = split_identities(d.max_identities + d.synth_identities, d.synth_test_identities)
    t1 = time.perf_counter()

    au_judge, id_judge = judges(cfg, test_ids, args.judge_steps, args.judge_width, args.judge_cache)
    g = torch.Generator().manual_seed(8)

    n = args.faces
    who = torch.randint(0, len(test_ids), (n,), generator=g)
    src_aus = sample_aus(torch.randint(0, 7, (n,), generator=g), g)
    keys = 20_000 + torch.arange(n)
    faces = render(torch.tensor(test_ids)[who], src_aus, size, ch, seed, nuisance_seed=keys)
    target = sample_aus(torch.randint(0, 7, (n,), generator=g), g)
    ideal = render(torch.tensor(test_ids)[who], target, size, ch, seed, nuisance_seed=keys)
    edited = torch.cat([method.edit(faces[i : i + 64], target[i : i + 64]) for i in range(0, n, 64)])
    rec = torch.cat([method.edit(faces[i : i + 64], src_aus[i : i + 64]) for i in range(0, n, 64)])

    def au_errors(images: torch.Tensor, want: torch.Tensor = target) -> dict:
        err = (judge_predict(au_judge, images).clamp(0, 1) * 5 - want).abs()
        active = want >= 0.5
        return {
            "mae_all": float(err.mean()),
            "mae_active": float(err[active].mean()),
            "per_au": {name: round(float(err[:, k].mean()), 3) for k, name in enumerate(AU_NAMES)},
        }

    res = {
        "run": args.run,
        "image_size": size,
        "config": {k: getattr(m, k) for k in ("au_loss", "adversarial", "lambda_cl", "lambda_cyc", "lambda_cycle",
                                                "g_attention", "d_attention", "mask_output", "d_g_ratio")},
        "edited": au_errors(edited),
        "identity_kept": judge_accuracy(id_judge, edited, who),
        "reference_rendered_target": au_errors(ideal),
        "reference_unedited_input": au_errors(faces),
        # G(x, own AUs) against the source AUs: how well the judge reads G's output at all
        "reference_reconstruction_own_aus": au_errors(rec, src_aus),
        "judge_identity_acc_on_rendered_faces": judge_accuracy(id_judge, faces, who),
        "reconstruction_l1": float((rec - faces.float() / 255).abs().mean()),
        # the critic's own AU head: on the real held-out faces, and on the edits against their targets
        # (far lower on the edits than the judge's error = G satisfies the critic without a visible edit)
        "critic_au_mae_real": float((method.estimate_aus(faces) - src_aus).abs().mean()),
        "critic_au_mae_edited": float((method.estimate_aus(edited) - target).abs().mean()),
        "single_au": single_au_response(
            method, au_judge, faces[:100], src_aus[:100],
            lambda a: render(torch.tensor(test_ids)[who[:100]], a, size, ch, seed, nuisance_seed=keys[:100])),
        "steps": _snapshot_step(args.run) or facts.get("steps"),
        "critic_nonfinite": critic_nonfinite(Path(args.run), _snapshot_step(args.run)),
        "faces": n,
        "train": facts,
        "train_seconds": round(train_s, 1),
        "eval_seconds": round(time.perf_counter() - t1, 1),
        "eval_threads": torch.get_num_threads(),
        "eval_load_avg_1min": round(os.getloadavg()[0], 2),
    }
    for key in ("edited", "reference_rendered_target", "reference_unedited_input", "reference_reconstruction_own_aus"):
        if key != "edited":
            res[key].pop("per_au")
    res["single_au_min_ratio_grid_aus"] = min(res["single_au"][a]["ratio"] for a in GRID_AUS)
    print(json.dumps(res, indent=2))
    Path(args.run, "quality.json").write_text(json.dumps(res, indent=2))
    if args.grid_out:
        from genfer.core.imaging import save_grid
        from genfer.models.au_cyclegan.editing import single_au_grid

        # top: G's single-AU edits of held-out faces (other AUs kept at the face's own); below each,
        # the same targets rendered by SynthFace (what the edit should look like)
        blocks = []
        for i in range(args.grid_faces):
            targets = single_au_grid(src_aus[i], GRID_AUS)
            ident = torch.tensor(test_ids)[who[i]].repeat(targets.shape[0])
            ideal_i = render(ident, targets, size, ch, seed, nuisance_seed=keys[i].repeat(targets.shape[0]))
            blocks += [method.au_grid(faces[i : i + 1], base=src_aus[i]), ideal_i.float() / 255]
        save_grid(torch.cat(blocks), len(GRID_AUS), args.grid_out, scale=2)
        print(f"written: {args.grid_out} ({args.grid_faces} face(s): edits, then SynthFace renders of the "
              f"same targets; columns {', '.join(GRID_AUS)}; rows at intensity 0, 1.7, 3.3, 5)")


def print_table(paths: list[str]) -> None:
    """Markdown rows: run | steps | training wall s | AU MAE all / active | identity kept | critic NaN."""
    print("| run | steps | training wall (s) | AU MAE all / active AUs | identity kept | reconstruction L1 "
          "| critic NaN |")
    print("|---|---|---|---|---|---|---|")
    for p in paths:
        d = json.loads(Path(p).read_text())
        wall = d.get("train", {}).get("train_wall_s", "-")
        e = d["edited"]
        print(f"| {Path(d['run']).name} | {d.get('steps')} | {wall} | {e['mae_all']:.3f} / {e['mae_active']:.3f} "
              f"| {d['identity_kept']:.3f} | {d['reconstruction_l1']:.3f} | {d['critic_nonfinite']} |")


def _snapshot_step(path: str) -> int | None:
    """The step of a ``snapshots/step-NNNNNNN`` checkpoint path, else None."""
    p = Path(path)
    return int(p.name[5:]) if p.parent.name == "snapshots" and p.name.startswith("step-") else None


if __name__ == "__main__":
    main()
