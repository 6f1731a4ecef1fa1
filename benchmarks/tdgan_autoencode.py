"""Is pixel reconstruction a shortcut for the demo's generator? Autoencode faces within a budget.

The demo's transfers are blurry after its few hundred GAN iterations. One proposed shortcut is to
pre-train TDGAN's generator (E_f, E_e and the decoder, at the preset's configuration) as an
autoencoder, G(x, x) -> x with an L1 loss, which costs about a quarter of a GAN iteration. This
script trains exactly that for a wall-clock budget on the face images the demo trains on, and
asks the transfer benchmark's judges (tdgan_quality.py, trained on rendered SynthFace only) about
reconstructions of new renders of those identities: does a reconstruction still show its own
expression, and its identity? (It is not an upper bound on transfer: TDGAN's classification
losses can make its images easier for the judges than an L1 reconstruction is.)

Usage:
    python benchmarks/tdgan_autoencode.py --minutes 4.5 --threads 2
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from tdgan_quality import judges  # a sibling script: python puts benchmarks/ on the path

from genfer.apps.inference import transfer_images
from genfer.core.config import make_config
from genfer.data.synthface import SynthFace, render, sample_aus, split_identities
from genfer.judges import judge_accuracy
from genfer.models import build_method


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default="demo", help="TDGAN preset or YAML file (default: demo)")
    ap.add_argument("--minutes", type=float, default=4.5, help="training budget (the demo's is 4.5)")
    ap.add_argument("--report-every", type=float, default=1.5, help="minutes between judgements")
    ap.add_argument("--lr", type=float, default=None, help="Adam learning rate (default: the preset's)")
    ap.add_argument("--pairs", type=int, default=350, help="new renders to judge")
    ap.add_argument("--judge-steps", type=int, default=500)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--judge-cache", default=str(Path.home() / ".cache" / "genfer"))
    ap.add_argument("overrides", nargs="*", help="dotted config overrides, e.g. model.image_size=48")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    cfg = make_config("tdgan", args.config, args.overrides)
    d, m = cfg.data, cfg.model
    method = build_method(cfg)
    train_ids, _ = split_identities(d.max_identities + d.synth_identities, d.synth_test_identities)
    face_ids = train_ids[: d.max_identities]
    faces = SynthFace(face_ids, d.synth_per_identity, size=m.image_size, channels=m.channels, seed=d.synth_seed)
    ej, ij = judges(cfg, face_ids, args.judge_steps, args.judge_cache)

    g = torch.Generator().manual_seed(7)
    n = args.pairs
    fi = torch.randint(0, len(face_ids), (n,), generator=g)
    expr = torch.randint(0, 7, (n,), generator=g)
    new = render(torch.tensor(face_ids)[fi], sample_aus(expr, g), m.image_size, m.channels, d.synth_seed,
                 nuisance_seed=20000 + torch.arange(n))

    params = [p for mod in (method.enc_FR, method.enc_ER, method.dec) for p in mod.parameters()]
    opt = torch.optim.Adam(params, args.lr or cfg.optim.lr)
    images = faces.images
    step, judging, next_report = 0, 0.0, args.report_every * 60
    print(f"autoencoding {len(images)} face images ({len(face_ids)} identities) for {args.minutes} min")
    method.train()
    t0 = time.perf_counter()
    while True:
        elapsed = time.perf_counter() - t0 - judging  # judging does not count against the budget
        if elapsed >= next_report or elapsed >= args.minutes * 60:
            t_judge = time.perf_counter()
            rec = transfer_images(method, new, new)  # G(x, x); restores training mode
            row = {"minutes": round(elapsed / 60, 2), "steps": step,
                   "own_expression_kept": judge_accuracy(ej, rec, expr),
                   "identity_kept": judge_accuracy(ij, rec, fi)}
            print(json.dumps(row), flush=True)
            next_report += args.report_every * 60
            if elapsed >= args.minutes * 60:
                break
            judging += time.perf_counter() - t_judge
        x = method.to_input(images[torch.randint(0, len(images), (d.batch_size,))])
        loss = F.l1_loss(method.dec(method.enc_ER(x), method.enc_FR(x), method.noise(x.shape[0])), x)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
    print(json.dumps({"judges_on_the_unedited_renders": {
        "expression": judge_accuracy(ej, new, expr), "identity": judge_accuracy(ij, new, fi)}}))


if __name__ == "__main__":
    main()
