"""ASIT and IFER speed at the released sizes: genfer vs a re-enactment of the released compute pattern.

Both sides use genfer's networks with random weights (LPIPS-Alex and IR-SE50 too, at the same
compute), so the ratio measures what each does per iteration, not different kernels, except where
the release's modules compute differently, which the re-enactment reproduces:

- the StyleGAN2 decoder as rosinality's native CPU path (``reference_stylegan2_rosinality.IFERGenerator``,
  with the decoder's weights: per-channel ``upfirdn2d``, Python ``fused_leaky_relu``, a grouped
  transposed conv per upsampling layer), as the release runs it without its CUDA kernels;
- attention as the release writes it (a contiguous copy of the bias per call), the encoder's three
  auxiliary maps computed in every forward, the interleaved global query (``faithful``);
- the coach's loop body: a D step (decode random z without gradient; ``x_hat`` by the encoder and
  decoder in eval mode without gradient; ``dis(x, x)`` and ``dis(x_hat, x)``, each updating the key
  net and running both trunks; LSGAN; Ranger), then an E step (encoder and decoder in training mode
  with the decoder's weights requiring gradients; ``dis(x_hat, x)`` under ``no_grad``, a third key
  update; IR-SE50 on x_hat, x and x again, all with weight gradients; LPIPS with weight gradients;
  MSE; the batch-2 distribution loss; Ranger);
- IFER: timm's step (forward with the auxiliary maps, soft-target CE, backward, clip 5, AdamW),
  augmentation excluded on both sides;
- inference: ``ASIT(x)`` (release ``inference.py``) and ``ifer_model(x)`` under ``no_grad`` vs genfer's
  ``reconstruct`` / ``classify`` under ``inference_mode``.

genfer's ASIT step is the engine's ``run_iteration`` over the method's ``D`` and ``E`` phases.
Implementations alternate within one process (``--reps`` rounds after one warm-up each); times are
medians. Peak RSS is sampled per measured block. A watchdog ends the process if its RSS passes
``--max-rss-gb`` (the machine is shared). The warm-up rounds run under ``torch.utils.flop_counter``,
so each figure also has its arithmetic (GFLOP per image: convolutions and matrix products, forward
and backward) and the rate each side reached; ``--what peak`` measures the rate a large matrix
product reaches on this CPU, the ceiling of both. ``--what fit`` runs genfer's ASIT step alone at
``--fit-batch`` (the release README's 8) with Ranger and reports its peak RSS.

    python benchmarks/asit_speed.py --what peak,asit,ifer,infer --batch 2 --reps 2 --json out.json
    python benchmarks/asit_speed.py --what fit --fit-batch 8 --recompute --max-rss-gb 23
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import statistics
import sys
import threading
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from reference_stylegan2_rosinality import IFERGenerator  # noqa: E402  (benchmarks/, the script's folder)

from genfer.core.config import make_config  # noqa: E402
from genfer.data.augment_batch import smooth_one_hot, soft_target_cross_entropy  # noqa: E402
from genfer.engine.allocator import keep_freed_memory  # noqa: E402
from genfer.engine.optim import Ranger  # noqa: E402
from genfer.engine.precision import autocast  # noqa: E402
from genfer.engine.step import run_iteration  # noqa: E402
from genfer.losses.distribution import distribution_alignment  # noqa: E402
from genfer.metrics.lpips import LPIPS  # noqa: E402
from genfer.models.asit import ASIT  # noqa: E402
from genfer.models.ifer import IFER  # noqa: E402
from genfer.models.layers import gcvit  # noqa: E402
from genfer.models.pretrained.ir_se50 import IRSE50, asit_crop  # noqa: E402


def rss_gb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 2**20
    return 0.0


class Watch:
    """Samples RSS every 50 ms: the peak of a block, and an exit when it passes the limit."""

    def __init__(self, limit_gb: float) -> None:
        self.limit, self.peak = limit_gb, 0.0
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        while True:
            r = rss_gb()
            self.peak = max(self.peak, r)
            if r > self.limit:
                print(f"RSS {r:.1f} GB > --max-rss-gb {self.limit}: stopping", file=sys.stderr, flush=True)
                os._exit(3)
            time.sleep(0.05)

    @contextlib.contextmanager
    def block(self, out: dict, key: str):
        self.peak = rss_gb()
        yield
        out[key] = max(out.get(key, 0.0), self.peak)


# --- the release's attention and encoder forward -------------------------------------------------
def _release_attention(self, x, q=None):
    b_, n, c = x.shape
    h = self.num_heads
    if self.global_query:
        kv = self.qkv(x).reshape(b_, n, 2, h, c // h).permute(2, 0, 3, 1, 4)
        k, v = kv[0], kv[1]
    else:
        qkv = self.qkv(x).reshape(b_, n, 3, h, c // h).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
    q = q * (c // h) ** -0.5
    attn = q @ k.transpose(-2, -1)
    bias = self.relative_position_bias_table[self.relative_position_index.view(-1)].view(n, n, -1)
    attn = torch.softmax(attn + bias.permute(2, 0, 1).contiguous().unsqueeze(0), dim=-1)
    return self.proj((attn @ v).transpose(1, 2).reshape(b_, n, c))


@contextlib.contextmanager
def release_kernels():
    """Swap in the release's explicit attention for the duration."""
    original = gcvit.WindowAttention.forward
    gcvit.WindowAttention.forward = _release_attention
    try:
        yield
    finally:
        gcvit.WindowAttention.forward = original


def release_decoder(m: ASIT) -> IFERGenerator:
    """rosinality's generator on its native CPU path (as IFER calls it), with ``m.decoder``'s weights."""
    d = m.decoder
    r = IFERGenerator(d.size, d.style_dim, n_mlp=len(d.style) - 1, channel_multiplier=d.channels[64] // 256)
    r.load_state_dict(d.state_dict())
    return r.train(d.training).requires_grad_(False)


def release_encode(enc, x):
    """The release's ``GCViT.forward``: codes, structure and the three auxiliary maps, always."""
    return enc(x, feats=True)


# --- builders ---------------------------------------------------------------------------------------
def build_asit(faithful: bool, recompute: bool = False) -> ASIT:
    """The released sizes; ``recompute`` off unless asked (the release keeps its activations)."""
    cfg = make_config("asit", "released", ["model.lpips_lambda=0", "model.id_lambda=0", "model.latent_avg_samples=512",
                                           f"model.faithful={str(faithful).lower()}",
                                           f"model.recompute={str(recompute).lower()}"]).model
    m = ASIT(cfg)
    m.load_pretrained()
    m.cfg.lpips_lambda, m.cfg.id_lambda = 0.8, 0.1  # random-weight LPIPS and IR-SE50, the release's compute
    m.lpips = LPIPS("alex").eval().requires_grad_(False)
    m.idnet = IRSE50().eval().requires_grad_(False)
    return m.train()


def genfer_asit_step(m: ASIT, opts, groups, x, step, precision):
    run_iteration(m, {"image": x}, opts, groups, step, precision=precision)


def release_asit_step(m: ASIT, dec: IFERGenerator, opt_e, opt_d, x, precision):
    """The coach's loop body (see the module docstring), with genfer's networks and the release's decoder ``dec``."""
    enc, critic = m.encoder, m.critic
    dec.requires_grad_(True)  # the release never freezes the decoder, LPIPS or IR-SE50
    m.lpips.requires_grad_(True)
    m.idnet.requires_grad_(True)
    xin = x.float() / 127.5 - 1
    avg = m.latent_avg

    def dis(a, b):
        out1 = critic.model_q(a)
        with torch.no_grad():
            critic.update_key()
            out2 = critic.model_k(b)
        return F.cosine_similarity(F.normalize(out1, dim=1), F.normalize(out2, dim=1)).unsqueeze(1)

    with release_kernels(), autocast(precision, x.device):
        enc.eval()
        opt_d.zero_grad()
        noise = torch.randn(x.shape[0], m.cfg.style_dim)
        with torch.no_grad():
            _, _, s_fea = dec([noise], return_latents=True, return_features=True)
            codes, s, _ = release_encode(enc, xin)
            fake, _ = dec([codes + avg], constant=s, input_is_latent=True, randomize_noise=True)
        real_out, fake_out = dis(xin, xin), dis(fake, xin)
        loss = F.mse_loss(real_out, torch.ones_like(real_out)) + F.mse_loss(fake_out, -torch.ones_like(fake_out))
        loss.backward()
        opt_d.step()

        enc.train()
        opt_e.zero_grad()
        codes, s, t_fea = release_encode(enc, xin)
        y_hat, _ = dec([codes + avg], constant=s, input_is_latent=True, randomize_noise=True)
        with torch.no_grad():
            fake_out = dis(y_hat, xin)
        x_feats = m.idnet(asit_crop(xin))
        y_feats = m.idnet(asit_crop(xin)).detach()
        yh_feats = m.idnet(asit_crop(y_hat))
        loss = 0.1 * (1 - (yh_feats * y_feats).sum(1)).mean() + 0 * (yh_feats * x_feats).sum()
        loss = loss + F.mse_loss(y_hat, xin) + 0.8 * m.lpips(y_hat, xin).mean()
        loss = loss + 1e-4 * F.mse_loss(fake_out, torch.ones_like(fake_out))
        if x.shape[0] == 1:  # the release indexes samples 0 and 1 (it fails at batch 1): same work, twice the one
            s_fea, t_fea = [torch.cat([f, f]) for f in s_fea], [torch.cat([f, f]) for f in t_fea]
        loss = loss + 0.01 * distribution_alignment(s_fea, t_fea, faithful=True)
        loss.backward()
        opt_e.step()
    dec.requires_grad_(False)
    m.lpips.requires_grad_(False)
    m.idnet.requires_grad_(False)


def build_ifer(faithful: bool) -> IFER:
    cfg = make_config("ifer", "released", [f"model.faithful={str(faithful).lower()}"]).model
    return IFER(cfg).train()


def genfer_ifer_step(m: IFER, opt, x01, t, precision):
    opt.zero_grad()
    with autocast(precision, x01.device):
        loss = soft_target_cross_entropy(m.logits(x01 * 2 - 1), t)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(m.parameters(), 5.0)
    opt.step()


def release_ifer_step(m: IFER, opt, x01, t, precision):
    opt.zero_grad()
    with release_kernels(), autocast(precision, x01.device):
        codes, s, _ = release_encode(m.encoder, x01 * 2 - 1)
        out = m.head(m.style_conv(m.conv(s), codes.mean(1)).mean((2, 3)))
        loss = soft_target_cross_entropy(out, t)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(m.parameters(), 5.0)
    opt.step()


def timed(fn, reps: int) -> list[float]:
    out = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def make_opt(a, params, release_name: str) -> torch.optim.Optimizer:
    """The release's optimizer, or stateless SGD (``--optimizer sgd``: the same on both sides, no 2-3 GB of moments)."""
    params = list(params)
    if a.optimizer == "sgd":
        return torch.optim.SGD(params, lr=1e-6)
    return Ranger(params, lr=1e-4) if release_name == "ranger" else torch.optim.AdamW(params, 1e-4)


def counted(fn) -> float:
    """Run ``fn`` once under the FLOP counter; its GFLOP (matrix products and convolutions)."""
    with FlopCounterMode(display=False) as fc:
        fn()
    return fc.get_total_flops() / 1e9


def alternate(watch: Watch, rss: dict, key: str, genfer, release, reps: int, n: int) -> dict:
    """``genfer()`` and ``release()`` run alternately ``reps`` times after a warm-up round whose FLOPs are
    counted: median seconds, GFLOP per image (``n`` images a call), GFLOP/s and the ratio."""
    tg, tr, flops = [], [], {}
    for i in range(reps + 1):
        for side, fn, times in (("genfer", genfer, tg), ("release", release, tr)):
            with watch.block(rss, f"{key}_{side}"):
                t0 = time.perf_counter()
                if i:
                    fn(i)
                else:
                    flops[side] = counted(lambda f=fn: f(0)) / n
                t = time.perf_counter() - t0
            print(f"{key} round {i}{' (warm-up, FLOPs counted)' if not i else ''}: {side} {t:.2f} s", flush=True)
            if i:
                times.append(t)
    g, r = statistics.median(tg), statistics.median(tr)
    return {"genfer_s": g, "release_s": r, "ratio": r / g, "genfer_gflop_per_image": flops["genfer"],
            "release_gflop_per_image": flops["release"], "genfer_gflop_per_s": flops["genfer"] * n / g,
            "release_gflop_per_s": flops["release"] * n / r}


def bench_peak(a) -> dict:
    """GFLOP/s of a 4096^3 matrix product (fp32, and bf16 under autocast): what the cores can reach."""
    x, y = torch.randn(4096, 4096), torch.randn(4096, 4096)
    out = {}
    for prec in a.precision.split(","):
        with autocast(prec, x.device):
            torch.mm(x, y)
            t = min(timed(lambda: torch.mm(x, y), 3))
        out[prec] = 2 * 4096**3 / t / 1e9
        print(f"peak {prec}: {out[prec]:.0f} GFLOP/s", flush=True)
    return out


def bench_fit(a, prec: str, g: torch.Generator, watch: Watch, rss: dict) -> dict:
    """genfer's ASIT step alone at ``--fit-batch`` with the release's Ranger: does it fit, and its time."""
    x = torch.randint(0, 256, (a.fit_batch, 3, 256, 256), dtype=torch.uint8, generator=g)
    m = build_asit(faithful=False, recompute=a.recompute)
    groups = {n: [p for mod in mods for p in mod.parameters()] for n, mods in m.groups().items()}
    opts = {n: Ranger(ps, lr=1e-4) for n, ps in groups.items()}
    times = []
    with watch.block(rss, f"fit_{prec}"):
        for i in range(2):
            t0 = time.perf_counter()
            genfer_asit_step(m, opts, groups, x, i, prec)
            times.append(time.perf_counter() - t0)
            print(f"fit batch {a.fit_batch} {prec} step {i}: {times[-1]:.1f} s, RSS {rss_gb():.1f} GB", flush=True)
    return {"batch": a.fit_batch, "recompute": a.recompute, "step_s": times, "peak_rss_gb": rss[f"fit_{prec}"]}


def bench_asit(a, prec: str, g: torch.Generator, watch: Watch, rss: dict) -> dict:
    """One method and one pair of optimizers serve both sides (memory: the machine is shared)."""
    x = torch.randint(0, 256, (a.batch, 3, 256, 256), dtype=torch.uint8, generator=g)
    m = build_asit(faithful=False)
    groups = {n: [p for mod in mods for p in mod.parameters()] for n, mods in m.groups().items()}
    opts = {n: make_opt(a, ps, "ranger") for n, ps in groups.items()}
    rdec = release_decoder(m)

    def genfer(i: int) -> None:
        m.encoder.faithful = False
        genfer_asit_step(m, opts, groups, x, i, prec)

    def release(i: int) -> None:
        m.encoder.faithful = True
        release_asit_step(m, rdec, opts["E"], opts["D"], x, prec)

    return alternate(watch, rss, f"asit_{prec}", genfer, release, a.reps, a.batch)


def bench_ifer(a, prec: str, g: torch.Generator, watch: Watch, rss: dict) -> dict:
    x01 = torch.rand(a.ifer_batch, 3, 256, 256, generator=g)
    t = smooth_one_hot(torch.randint(0, 7, (a.ifer_batch,), generator=g), 7, 0.1)
    m = build_ifer(False)
    opt = make_opt(a, m.parameters(), "adamw")

    def genfer(i: int) -> None:
        m.encoder.faithful = False
        genfer_ifer_step(m, opt, x01, t, prec)

    def release(i: int) -> None:
        m.encoder.faithful = True
        release_ifer_step(m, opt, x01, t, prec)

    return alternate(watch, rss, f"ifer_{prec}", genfer, release, a.reps, a.ifer_batch)


def bench_inference(a, prec: str, g: torch.Generator, watch: Watch, rss: dict) -> dict:
    xi = torch.randint(0, 256, (a.infer_batch, 3, 256, 256), dtype=torch.uint8, generator=g)
    am, cm = build_asit(False).eval(), build_ifer(False).eval()
    rdec = release_decoder(am)

    def rel_invert(i: int) -> None:
        am.encoder.faithful = True
        with release_kernels(), torch.no_grad(), autocast(prec, xi.device):
            codes, _, _ = release_encode(am.encoder, xi.float() / 127.5 - 1)
            rdec([codes + am.latent_avg], input_is_latent=True, randomize_noise=False)

    def rel_classify(i: int) -> None:
        cm.encoder.faithful = True
        with release_kernels(), torch.no_grad(), autocast(prec, xi.device):
            codes, s, _ = release_encode(cm.encoder, xi.float() / 127.5 - 1)
            cm.head(cm.style_conv(cm.conv(s), codes.mean(1)).mean((2, 3)))

    def gen_invert(i: int) -> None:
        am.encoder.faithful = False
        with autocast(prec, xi.device):
            am.reconstruct(xi, use_struct=False)

    def gen_classify(i: int) -> None:
        cm.encoder.faithful = False
        with autocast(prec, xi.device):
            cm.classify(xi)

    n = a.infer_batch
    out = {}
    for name, gf, rf in (("invert", gen_invert, rel_invert), ("classify", gen_classify, rel_classify)):
        r = alternate(watch, rss, f"{name}_{prec}", gf, rf, a.reps, n)
        out[name] = {**r, "genfer_ms_per_image": 1000 * r["genfer_s"] / n,
                     "release_ms_per_image": 1000 * r["release_s"] / n}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--what", default="asit,ifer,infer")
    ap.add_argument("--batch", type=int, default=2, help="ASIT training batch (release README: 8; figures at 2)")
    ap.add_argument("--ifer-batch", type=int, default=8)
    ap.add_argument("--infer-batch", type=int, default=8)
    ap.add_argument("--fit-batch", type=int, default=8, help="--what fit: genfer's ASIT step alone at this batch")
    ap.add_argument("--recompute", action="store_true", help="--what fit: with model.recompute (the released preset's)")
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--precision", default="fp32", help="comma list: fp32,bf16")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--max-rss-gb", type=float, default=12.0)
    ap.add_argument("--optimizer", default="release", choices=("release", "sgd"),
                    help="release: Ranger (ASIT) and AdamW (IFER); sgd: stateless, when memory is short")
    ap.add_argument("--keep-freed-memory", action="store_true",
                    help="genfer's CPU training allocator setting, for both sides (they share the process)")
    ap.add_argument("--json", type=Path)
    a = ap.parse_args()
    if a.keep_freed_memory:
        keep_freed_memory()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    watch = Watch(a.max_rss_gb)
    with open("/proc/cpuinfo") as f:
        cpu = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), "?")
    res: dict = {"cpu": cpu, "threads": a.threads, "torch": torch.__version__, "python": platform.python_version(),
                 "load_before": os.getloadavg(), "time_utc": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()),
                 "what": a.what, "precision": a.precision, "batch": a.batch, "fit_batch": a.fit_batch,
                 "ifer_batch": a.ifer_batch, "infer_batch": a.infer_batch, "reps": a.reps,
                 "optimizer": a.optimizer, "keep_freed_memory": a.keep_freed_memory}
    rss: dict = {}
    g = torch.Generator().manual_seed(0)
    if "peak" in a.what:
        res["peak_gflop_per_s"] = bench_peak(a)
    for prec in a.precision.split(","):
        if "fit" in a.what:
            res[f"fit_{prec}"] = bench_fit(a, prec, g, watch, rss)
        if "asit" in a.what:
            res[f"asit_step_{prec}"] = bench_asit(a, prec, g, watch, rss)
        if "ifer" in a.what:
            res[f"ifer_step_{prec}"] = bench_ifer(a, prec, g, watch, rss)
        if "infer" in a.what:
            res[f"inference_{prec}"] = bench_inference(a, prec, g, watch, rss)
    res["peak_rss_gb"] = rss
    res["load_after"] = os.getloadavg()
    res["cpu_seconds"] = time.process_time()
    print(json.dumps(res, indent=1))
    if a.json:
        a.json.write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
