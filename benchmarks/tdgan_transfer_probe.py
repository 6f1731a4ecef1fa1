"""Why a TDGAN does or does not transfer expressions: where the expression gets lost, measured.

For one checkpoint, on newly rendered faces of its training identities and expression images of
held-out identities (as ``tdgan_quality.py``), with the same cached judges:
- **information path**: of the variation of G(x_f, x_e) over a grid of faces x expressions, the share
  due to the expression input (``expr_share``) and to the face input; near 0 means the decoder
  ignores E_e's code;
- **code**: M_ER's accuracy on the expression images (the code E_e hands the decoder does hold the
  expression when this is high);
- **drawing**: the expression judge on G(x_e, x_e), the expression image redrawn from its own two
  codes (no transfer needed), against the judge on x_e itself (its floor for a perfect drawing);
- **transfer**: the judge on G(x_f, x_e) against x_e's label;
- **fooling D_ER**: D_ER and M_ER on the same transfers. G is trained to make D_ER read the target
  expression and M_ER never sees a generated image, so D_ER far above M_ER and the judge means G
  draws cues only D_ER reads.

Usage: python benchmarks/tdgan_transfer_probe.py --run RUN [--faces 8] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

from genfer.apps.inference import transfer_images
from genfer.data.labels import BASIC7
from genfer.data.synthface import SynthFace, render, sample_aus, split_identities
from genfer.engine.checkpoint import load_method
from genfer.judges import judge_accuracy

sys.path.insert(0, str(Path(__file__).parent))
from tdgan_quality import judges


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", required=True, help="run or checkpoint directory")
    ap.add_argument("--faces", type=int, default=8, help="faces in the sensitivity grid (x 7 expressions)")
    ap.add_argument("--images", type=int, default=350, help="expression images for the judge figures")
    ap.add_argument("--judge-steps", type=int, default=500)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--judge-cache", default=str(Path.home() / ".cache" / "genfer"))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    method, cfg = load_method(args.run)
    d, m = cfg.data, cfg.model
    size, ch, seed = m.image_size, m.channels, d.synth_seed
    train_ids, test_ids = split_identities(d.max_identities + d.synth_identities, d.synth_test_identities)
    face_ids = train_ids[: d.max_identities]
    ej, _ = judges(cfg, face_ids, args.judge_steps, args.judge_cache)
    g = torch.Generator().manual_seed(11)
    test = SynthFace(test_ids, d.synth_test_per_identity, size=size, channels=ch, seed=seed)

    # sensitivity grid: faces (rows) x one expression image per class (columns)
    n = args.faces
    fi = torch.randint(0, len(face_ids), (n,), generator=g)
    faces = render(torch.tensor(face_ids)[fi], sample_aus(torch.zeros(n, dtype=torch.long), g), size, ch, seed,
                   nuisance_seed=40_000 + torch.arange(n))
    picks = torch.tensor([int((test.expressions == c).nonzero()[0]) for c in range(len(BASIC7))])
    exprs = test.images[picks]
    torch.manual_seed(0)
    grid = transfer_images(method, faces.repeat_interleave(len(BASIC7), 0), exprs.repeat(n, 1, 1, 1))
    grid = grid.reshape(n, len(BASIC7), -1)
    total = grid.var(dim=(0, 1), unbiased=False).mean()
    by_expr = grid.var(dim=1, unbiased=False).mean()  # variation when only the expression input changes
    by_face = grid.var(dim=0, unbiased=False).mean()

    # judges: the expression images, their own redrawing, and the transfer
    k = torch.randint(0, len(test), (args.images,), generator=g)
    x_e, y = test.images[k], test.expressions[k]
    fj = torch.randint(0, len(face_ids), (args.images,), generator=g)
    x_f = render(torch.tensor(face_ids)[fj], sample_aus(torch.randint(0, 7, (args.images,), generator=g), g),
                 size, ch, seed, nuisance_seed=41_000 + torch.arange(args.images))
    torch.manual_seed(0)
    redrawn = transfer_images(method, x_e, x_e)
    transferred = transfer_images(method, x_f, x_e)
    with torch.no_grad():
        m_er = float((method.classify(x_e).argmax(1) == y).float().mean())
        d_er_transfers = float((method.classify_d_er(transferred).argmax(1) == y).float().mean())
        m_er_transfers = float((method.classify(transferred).argmax(1) == y).float().mean())
    res = {
        "run": args.run,
        "expr_share_of_output_variation": round(float(by_expr / total), 4),
        "face_share_of_output_variation": round(float(by_face / total), 4),
        "M_ER_acc_on_expression_images": round(m_er, 3),
        "judge_on_expression_images": round(judge_accuracy(ej, x_e, y), 3),
        "judge_on_redrawn_expression_images": round(judge_accuracy(ej, redrawn, y), 3),
        "judge_on_transfers": round(judge_accuracy(ej, transferred, y), 3),
        "judge_on_face_inputs_vs_target": round(judge_accuracy(ej, x_f, y), 3),
        "D_ER_on_transfers": round(d_er_transfers, 3),
        "M_ER_on_transfers": round(m_er_transfers, 3),
        "seconds": round(time.perf_counter() - t0, 1),
    }
    print(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
