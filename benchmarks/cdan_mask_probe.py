"""Which of CDAN's generator terms moves the mask M, and where: the pull of each term on M, measured.

For a CDAN checkpoint (and the same config at initialisation, ``--init``), on held-out SynthFace faces
rendered with one of CDAN's AUs at intensity 3 (``genfer.apps.parsing.au_pairs``), the gradient of each
weighted G term with respect to M is averaged over the AU-affected pixels (where the AU-on render
differs from the AU-off one) and over the other pixels. A positive mean means gradient descent lowers M
there. The paper's parsing needs the AU term to raise M on the affected pixels more than the others
lower it; ``auc_of_M`` is the mask's AUC as a detector of those pixels (``genfer eval``'s figure).

Usage: python benchmarks/cdan_mask_probe.py --run RUN [--init] [--faces 2] [--threads 1]
"""

from __future__ import annotations

import argparse
import json

import torch
import torch.nn.functional as F

from genfer.apps.parsing import au_pairs
from genfer.data.aus import au_index
from genfer.data.synthface import split_identities
from genfer.engine.checkpoint import load_method
from genfer.metrics.parsing import changed_pixels, mask_auc
from genfer.models.cdan.method import CDAN_AUS, cdan_tv


def term_pulls(method, on: torch.Tensor, off: torch.Tensor, au: torch.Tensor) -> dict:
    """Mean d(weighted term)/dM on AU-affected and other pixels, per G term; plus M's own statistics."""
    cfg = method.cfg
    x = method.to_input(on)
    aus17 = torch.zeros(len(on), 17)
    aus17[torch.arange(len(on)), torch.tensor([au_index(CDAN_AUS[k]) for k in au.tolist()])] = 3.0
    target_au = method.targets(aus17)
    with torch.no_grad():
        out = method.parse(x)
    mask = out["mask_map"].requires_grad_(True)  # the pulls on M itself, not on the decoders behind it
    xrec = mask * x + (1 - mask) * out["color_map"]
    mask_input = mask * x
    seen = method.au_input(x, {"mask_input": mask_input, "mask_map": mask})  # A's input (model.au_fill)
    terms = {
        "rec_l1": cfg.lambda_rec * F.l1_loss(xrec, x),
        "g_adv": cfg.lambda_g_adv * F.relu(1 - method.feature_dis(xrec)).mean(),
        "au": cfg.lambda_au * F.mse_loss(method.au_dis(seen), target_au),
        "tv": cfg.lambda_tv * cdan_tv(mask_input),
        "mask_mean": cfg.lambda_mask * mask_input.mean(),
    }
    affected = changed_pixels(on, off, 8 / 255)  # [N, 1, H, W] bool
    res = {}
    for name, t in terms.items():
        (g,) = torch.autograd.grad(t, mask, retain_graph=True)
        scale = g.numel()  # per-pixel pulls, comparable across terms
        res[name] = {"affected": float(g[affected].mean() * scale), "other": float(g[~affected].mean() * scale)}
    m = mask.detach()
    res["M_mean_affected"] = float(m[affected].mean())
    res["M_mean_other"] = float(m[~affected].mean())
    res["x_mean_affected"] = float(x.mean(1, keepdim=True)[affected].mean())
    res["x_mean_other"] = float(x.mean(1, keepdim=True)[~affected].mean())
    res["auc_of_M"] = mask_auc(m, affected)
    with torch.no_grad():  # A's reading of the AU that is on (0..5; the truth is 3), from M x and from x
        rows = torch.arange(len(on))
        res["A_on_au_from_its_input"] = float(method.au_dis(seen.detach())[rows, au].mean() * 5)
        res["A_on_au_from_x"] = float(method.au_dis(x)[rows, au].mean() * 5)
        res["A_on_au_from_x_with_M_zeroed_on_affected"] = float(
            method.au_dis(x * (~affected).float())[rows, au].mean() * 5)
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", required=True, help="CDAN run or checkpoint directory")
    ap.add_argument("--init", action="store_true", help="also probe the same config at initialisation")
    ap.add_argument("--faces", type=int, default=2, help="faces per held-out identity and AU")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    method, cfg = load_method(args.run)
    d = cfg.data
    _, test_ids = split_identities(0, d.synth_test_identities)
    on, off, au = au_pairs(test_ids, args.faces, cfg.model.image_size, cfg.model.channels, d.synth_seed)
    report = {"run": args.run, "faces": len(on), "trained": term_pulls(method, on, off, au)}
    if args.init:
        torch.manual_seed(cfg.train.seed)
        fresh = type(method)(method.cfg).eval()
        report["init"] = term_pulls(fresh, on, off, au)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
