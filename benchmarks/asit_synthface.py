"""ASIT on SynthFace against ``genfer project``: distance and time per image on the same held-out renders.

The targets are the projection baseline's (``benchmarks/stylegan2_synthface.py``): the first ``--n``
renders of identities 100,000+ (``SynthFace(range(100000, 100000 + n), 1, size, 3, seed=0)``),
which no training set holds. For each ASIT run (``--run``, repeatable: the default and ``faithful``
runs side by side):

- its reconstructions with the structure code and with the decoder's learnt constant (the
  release's ``inference.py`` choice);
- PSNR, and the judge distance the projector minimises (``genfer.apps.stylegan2.JudgeDistance``, the
  LPIPS form on the SynthFace expression judge: no LPIPS weights offline);
- process CPU seconds per image (one thread), encoder + decode.

Then ``genfer project`` (rosinality's projector, ``--steps`` steps, W+) on the same images in the
same process, timed the same way. Writes ``figures.json`` and a figure (targets, ASIT with the
structure code, ASIT with the constant, projection; one row each) to ``--out``.

    python benchmarks/asit_synthface.py --run ASIT_RUN [--run FAITHFUL_RUN] --decoder STYLEGAN2_RUN \\
        --out DIR [--n 64] [--project 4] [--steps 100]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from genfer.apps.stylegan2 import JudgeDistance, expression_judge, load_stylegan2
from genfer.core.imaging import save_grid
from genfer.data.synthface import SynthFace
from genfer.engine.checkpoint import load_method
from genfer.models.stylegan2.projector import ProjectConfig, project, psnr


def scores(dist: JudgeDistance, out: torch.Tensor, target: torch.Tensor) -> dict[str, float]:
    """Mean PSNR and judge distance of images in [0, 1] against uint8 targets."""
    t = target.float() / 255
    with torch.no_grad():
        d = dist(out * 2 - 1, t * 2 - 1)
    return {"psnr": float(psnr(out, t).mean()), "judge_distance": float(d.mean())}


def cpu_timed(fn):
    c0 = time.process_time()
    out = fn()
    return out, time.process_time() - c0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", action="append", required=True, help="an ASIT run (repeatable)")
    ap.add_argument("--decoder", required=True, help="the SynthFace StyleGAN2 run the ASIT runs decode with")
    ap.add_argument("--out", required=True)
    ap.add_argument("--n", type=int, default=64, help="held-out renders for ASIT")
    ap.add_argument("--project", type=int, default=4, help="of those, the first P also projected")
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--judge-cache", default=str(Path.home() / ".cache" / "genfer"))
    ap.add_argument("--judge-steps", type=int, default=600)
    args = ap.parse_args()
    torch.set_num_threads(1)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    g = load_stylegan2(args.decoder)
    size = g.G.size
    judge = expression_judge(size, 3, steps=args.judge_steps, cache=args.judge_cache)
    dist = JudgeDistance(judge)
    targets = SynthFace(list(range(100_000, 100_000 + args.n)), 1, size=size, channels=3, seed=0).images
    p = args.project
    res: dict = {"n": args.n, "project_n": p, "decoder": args.decoder, "runs": {}}
    rows = [targets[:p].float() / 255]
    for run in args.run:
        method, cfg = load_method(run)
        latest = Path(run) / "checkpoints" / "latest"
        r: dict = {"faithful": bool(cfg.model.faithful),
                   "checkpoint": latest.read_text().strip() if latest.is_file() else str(run)}
        with torch.no_grad():
            method.reconstruct(targets[:2])  # warm-up
            for name, struct in (("structure", True), ("constant", False)):
                rec, cpu = cpu_timed(lambda s=struct, m=method: m.reconstruct(targets, use_struct=s))
                r[name] = {"all": scores(dist, rec, targets), f"first_{p}": scores(dist, rec[:p], targets[:p]),
                           "cpu_s_per_image": cpu / args.n}
                if run == args.run[0]:
                    rows.append(rec[:p])
        res["runs"][run] = r
        print(json.dumps({run: r}), flush=True)
    cfg = ProjectConfig(steps=args.steps, w_plus=True)
    tgt = targets[:p].float().div(127.5).sub(1)
    proj, cpu = cpu_timed(lambda: project(g.G, tgt, dist, cfg, seed=0))
    img = proj.images.float().add(1).div(2).clamp(0, 1)
    res["project_wplus"] = {**scores(dist, img, targets[:p]), "steps": args.steps, "cpu_s_per_image": cpu / p}
    rows.append(img)
    print(json.dumps({"project_wplus": res["project_wplus"]}), flush=True)
    first = res["runs"][args.run[0]]["structure"]
    res["asit_vs_project_time_ratio"] = res["project_wplus"]["cpu_s_per_image"] / first["cpu_s_per_image"]
    save_grid(torch.cat(rows), p, out / "asit_vs_project.png", scale=2)
    (out / "figures.json").write_text(json.dumps(res, indent=1))
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
