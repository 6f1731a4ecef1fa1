"""Write the SynthFace figures of docs/synthface.md into docs/img/.

    python benchmarks/synthface_figures.py [--out docs/img]

synthface_grid.png       6 identities x 7 expressions (prototype intensities), 128 RGB, nuisances on
synthface_grid_grey.png  the same in grey
synthface_aus.png        each AU alone at 0, 2.5 and 5 on one identity
synthface_samples64.png  dataset samples at 64 grey (sampled intensities), one row per expression
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from genfer.data.synthface.figures import au_grid, expression_grid, sample_sheet


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="docs/img", help="output folder")
    ap.add_argument("--seed", type=int, default=0, help="SynthFace seed")
    args = ap.parse_args()
    torch.set_num_threads(2)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t = time.time()
    ids = [0, 1, 2, 3, 4, 6]
    expression_grid(ids, 128, 3, args.seed).save(out / "synthface_grid.png", optimize=True)
    expression_grid(ids, 128, 1, args.seed).save(out / "synthface_grid_grey.png", optimize=True)
    au_grid(4, 112, 3, args.seed).save(out / "synthface_aus.png", optimize=True)
    sample_sheet(range(200, 208), 14, 64, 1, args.seed).save(out / "synthface_samples64.png", optimize=True)
    print(f"wrote 4 figures to {out} in {time.time() - t:.1f}s")


if __name__ == "__main__":
    main()
