"""What bf16 inference costs a trained CDAN: its held-out figures in fp32 and under bf16 autocast.

``genfer eval``'s SynthFace figures (reconstruction PSNR and SSIM, the AU error of A(M x), the
mask's parsing AUC) for one checkpoint, computed twice, once per precision, plus how far the bf16
reconstructions and masks lie from the fp32 ones. bf16 is what takes CDAN's reconstruction past
1.5x the release on a CPU with AVX512_BF16 or AMX (RESULTS, CDAN speed); this says what it costs.

    python benchmarks/cdan_precision.py --checkpoint RUN [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from genfer.apps.parsing import evaluate_cdan
from genfer.data.synthface import SynthFace, split_identities
from genfer.engine.checkpoint import load_method, resolve_checkpoint
from genfer.engine.precision import autocast
from genfer.metrics.quality import psnr

FIGURES = ("psnr", "ssim", "au_mae_masked", "au_mae", "mask_mean")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", required=True, help="a CDAN run or checkpoint directory")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", help="write the report here")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    method, cfg = load_method(resolve_checkpoint(a.checkpoint), "cpu")
    d = cfg.data
    _, test_ids = split_identities(0, d.synth_test_identities)
    x = SynthFace(test_ids, d.synth_test_per_identity, size=cfg.model.image_size, channels=cfg.model.channels,
                  seed=d.synth_seed).images
    report: dict = {"checkpoint": str(a.checkpoint)}
    outs = {}
    for prec in ("fp32", "bf16"):
        t0 = time.perf_counter()
        with autocast(prec, torch.device("cpu")):
            r = evaluate_cdan(method, cfg)
            parsed = method.parse_images(x)
            outs[prec] = {k: parsed[k].float().cpu() for k in ("xrec", "mask_map")}
        report[prec] = {**{k: r[k] for k in FIGURES}, "auc": r["auc"]["overall"],
                        "seconds": time.perf_counter() - t0}
    rec32, rec16 = (outs[p]["xrec"].clamp(0, 1) for p in ("fp32", "bf16"))
    m32, m16 = (outs[p]["mask_map"] for p in ("fp32", "bf16"))
    report["bf16_vs_fp32"] = {"reconstruction_psnr_db": float(psnr(rec16, rec32).clamp(max=100).mean()),
                              "reconstruction_max_abs": float((rec16 - rec32).abs().max()),
                              "mask_mean_abs": float((m16 - m32).abs().mean()),
                              "mask_max_abs": float((m16 - m32).abs().max())}
    print(json.dumps(report, indent=1))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(report, f, indent=1)


if __name__ == "__main__":
    main()
