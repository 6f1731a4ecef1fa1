"""Figures of a StyleGAN2 trained on SynthFace: sample grid, judge-feature Fréchet distance, projections.

- Sample grid: 64 images (seed 0, truncation 1 and 0.7) -> ``--grid`` (PNG).
- Quality: the Fréchet distance between ``--n`` generated images and ``--n`` renders of fresh
  identities (60,000+), in the feature space of the SynthFace expression judge (its pooled 256-d
  features; ``genfer.apps.stylegan2.expression_judge``), beside the same distance between two
  disjoint rendered sets (identities 60,000+ and 70,000+) as the floor.
- Projection (the baseline for ASIT): the first ``--project`` held-out test renders
  (``SynthFace(range(100000, 100000 + P), 1, size, 3, seed=0)``), rosinality's projector with the
  judge-feature distance (no LPIPS weights offline), ``--steps`` steps, w and W+; PSNR and that
  distance per image.

    python benchmarks/stylegan2_synthface.py --run RUN --out DIR [--n 1000] [--project 8] [--steps 300]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from genfer.apps.stylegan2 import JudgeDistance, expression_judge, load_stylegan2, project_images
from genfer.core.imaging import save_grid
from genfer.data.synthface import SynthFace
from genfer.judges import judge_predict
from genfer.metrics.fid import fid_from_features
from genfer.models.stylegan2.projector import ProjectConfig


@torch.no_grad()
def judge_features(judge, images: torch.Tensor, batch: int = 250) -> torch.Tensor:
    """Pooled judge features ``[N, 256]`` of uint8 or [0, 1] images."""
    out = []
    for i in range(0, images.shape[0], batch):
        x = images[i:i + batch]
        x = x.float() / 255 if x.dtype == torch.uint8 else x.float()
        out.append(judge.features(x * 2 - 1).mean((2, 3)))
    return torch.cat(out).double()


def renders(start: int, n: int, size: int, per: int = 10) -> torch.Tensor:
    return SynthFace(list(range(start, start + n // per)), per, size=size, channels=3, seed=0).images


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--grid", default="docs/img/stylegan2_synthface64.png")
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--project", type=int, default=8)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--judge-cache", default=str(Path.home() / ".cache" / "genfer"))
    ap.add_argument("--judge-steps", type=int, default=600)
    ap.add_argument("--judge-batch", type=int, default=64)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t0, c0 = time.perf_counter(), time.process_time()
    method = load_stylegan2(args.run)
    size = method.G.size
    res: dict = {"run": args.run, "size": size}

    grid = torch.cat([method.sample(32, 1.0, seed=0), method.sample(32, 0.7, seed=0)])
    Path(args.grid).parent.mkdir(parents=True, exist_ok=True)
    save_grid(grid, 8, args.grid)
    res["grid"] = args.grid

    judge = expression_judge(size, 3, steps=args.judge_steps, cache=args.judge_cache, batch_size=args.judge_batch)
    held = SynthFace(list(range(50_100, 50_120)), 35, size=size, channels=3, seed=0)
    res["judge"] = {"steps": args.judge_steps, "batch": args.judge_batch,
                    "accuracy_on_fresh_renders": float((judge_predict(judge, held.images).argmax(1)
                                                        == held.expressions).float().mean())}
    fake = method.sample(args.n, 1.0, seed=100, noise="random")
    real_a, real_b = renders(60_000, args.n, size), renders(70_000, args.n, size)
    fa, fb, ff = judge_features(judge, real_a), judge_features(judge, real_b), judge_features(judge, fake)
    res["fd_generated_vs_rendered"] = fid_from_features(fa, ff)
    res["fd_rendered_vs_rendered_floor"] = fid_from_features(fa, fb)
    fake07 = method.sample(args.n, 0.7, seed=100, noise="random")
    res["fd_generated_trunc0.7_vs_rendered"] = fid_from_features(fa, judge_features(judge, fake07))
    print(json.dumps(res), flush=True)

    targets = SynthFace(list(range(100_000, 100_000 + args.project)), 1, size=size, channels=3, seed=0).images
    dist = JudgeDistance(judge)
    for name, w_plus in (("w", False), ("wplus", True)):
        cfg = ProjectConfig(steps=args.steps, w_plus=w_plus)
        r = project_images(method, [], out / f"project_{name}", dist, cfg, images=targets)
        res[f"project_{name}"] = {"mean_psnr": r["mean_psnr"], "mean_judge_distance": r["mean_distance"],
                                  "steps": args.steps}
        print(json.dumps({name: res[f"project_{name}"]}), flush=True)
    # the projection figure: targets, w projections, W+ projections
    from PIL import Image

    rows = [targets.float() / 255]
    for name in ("w", "wplus"):
        imgs = [torch.from_numpy(__import__("numpy").array(Image.open(out / f"project_{name}" / f"{i:06d}.png")))
                .permute(2, 0, 1).float() / 255 for i in range(args.project)]
        rows.append(torch.stack(imgs))
    fig = Path(args.grid).with_name(Path(args.grid).stem + "_projection.png")
    save_grid(torch.cat(rows), args.project, fig, scale=2)
    res["projection_figure"] = str(fig)
    res["judge_distance_check"] = float(dist(targets[:2].float() / 127.5 - 1, targets[:2].float() / 127.5 - 1).max())
    res["wall_s"], res["cpu_s"] = time.perf_counter() - t0, time.process_time() - c0
    (out / "figures.json").write_text(json.dumps(res, indent=1))
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
