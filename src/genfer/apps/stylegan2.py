"""The library half of ``genfer generate``, ``genfer project`` and ``genfer convert stylegan2``.

A StyleGAN2 *source* is a genfer run or checkpoint directory of the ``stylegan2`` method, or a
rosinality ``.pt`` file (read with ``weights_only``; ``g_ema`` is the generator used).
``convert_rosinality`` writes such a file as a genfer checkpoint directory: ``model.safetensors``
(``G`` = the file's ``g``, else ``g_ema``; ``D`` = its ``d``, else a fresh discriminator, said in
``conversion.json``), ``ema.safetensors`` (``g_ema``, which inference loads over ``G``), and
``config.yaml``; the truncation centre is the file's ``latent_avg`` or the mean of 10,000 mapped z.

Projection distances (``build_distance``):

- ``lpips``: LPIPS v0.1 (VGG, as rosinality's projector; or AlexNet) from user-supplied weights
  (``genfer.metrics.lpips``; ``MissingWeightsError`` says where to get them);
- ``judge``: a stand-in for offline use on SynthFace: the SynthFace expression judge's four stage
  activations, unit-normalised over channels, squared differences averaged over space and summed
  over stages (LPIPS's form with equal weights and a judge trained on renders). It is not LPIPS
  and is reported under its own name;
- ``mse``: pixels only.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from genfer.core.errors import UsageError
from genfer.core.imaging import save_grid, save_image
from genfer.models.stylegan2 import StyleGAN2
from genfer.models.stylegan2.projector import ProjectConfig, project, psnr
from genfer.models.stylegan2.rosinality import load_rosinality

DISTANCES = ("lpips", "judge", "mse")
ROSINALITY_SUFFIXES = (".pt", ".pth", ".ckpt")


# --- sources and conversion ------------------------------------------------------------------------
def from_rosinality(path: str | Path, mean_samples: int = 10_000) -> tuple[StyleGAN2, Any, dict[str, Tensor] | None,
                                                                             dict[str, Any]]:
    """A rosinality file as a ``stylegan2`` method: ``(method, run config, EMA tensors or None, notes)``.

    The method's ``G`` holds ``g`` (or ``g_ema`` when the file has no ``g``), its ``D`` the file's ``d``
    (or a fresh one); the EMA tensors are ``g_ema`` under ``G.`` keys.
    """
    from genfer.core.config import make_config

    ck = load_rosinality(path, mean_samples=mean_samples)
    s = ck.spec
    cfg = make_config("stylegan2", None, [
        f"model.image_size={s.size}", f"model.style_dim={s.style_dim}", f"model.n_mlp={s.n_mlp}",
        f"model.channel_multiplier={s.channel_multiplier!r}", f"model.channel_max={s.channel_max}",
        f"model.channels={s.img_channels}", "optim.lr=0.002", "optim.betas=[0.0,0.99]", "data.batch_size=16",
        "train.ema=0.997784",
    ])
    method = StyleGAN2(cfg.model)
    method.G.load_state_dict((ck.g if ck.g is not None else ck.g_ema).state_dict())
    if ck.d is not None:
        method.D.load_state_dict(ck.d.state_dict())
    method.latent_avg.copy_(ck.latent_avg)
    method.latent_avg_samples.fill_(ck.latent_avg_samples or -1)
    ema = {f"G.{k}": v for k, v in ck.g_ema.state_dict().items()} if ck.g_ema is not None else None
    notes = {"source": str(path), "g": "g" if ck.g is not None else "g_ema", "g_ema": ck.g_ema is not None,
             "d": "d" if ck.d is not None else "fresh (the file has no d)",
             "latent_avg": "file" if ck.latent_avg_samples == 0 else f"mean of {ck.latent_avg_samples} mapped z",
             "size": s.size, "channel_multiplier": s.channel_multiplier, "style_dim": s.style_dim,
             "n_mlp": s.n_mlp, "other_entries": ck.extra}
    return method.eval(), cfg, ema, notes


def convert_rosinality(src: str | Path, out_dir: str | Path, mean_samples: int = 10_000) -> dict[str, Any]:
    """Write a rosinality checkpoint as a genfer checkpoint directory; returns the notes (also ``conversion.json``)."""
    from genfer.engine.checkpoint import save_checkpoint

    method, cfg, ema, notes = from_rosinality(src, mean_samples)
    out = save_checkpoint(out_dir, method, cfg, None, ema)
    (out / "conversion.json").write_text(json.dumps(notes, indent=1))
    return notes | {"out": str(out)}


def load_stylegan2(source: str | Path, device: str = "cpu") -> StyleGAN2:
    """A ``stylegan2`` method (EMA generator) from a run/checkpoint directory or a rosinality file; eval mode."""
    p = Path(source)
    if p.is_file() and p.suffix in ROSINALITY_SUFFIXES:
        method, _, ema, _ = from_rosinality(p)
        if ema is not None:
            method.load_state_dict(ema, strict=False)
        return method.to(device).eval()
    from genfer.engine.checkpoint import load_method

    method, cfg = load_method(p, device)
    if not isinstance(method, StyleGAN2):
        raise UsageError(f"is a {cfg.method} checkpoint, not stylegan2", path=source,
                         fix="give a stylegan2 run, checkpoint directory or rosinality .pt file")
    return method


# --- generation ----------------------------------------------------------------------------------
def generate_images(method: StyleGAN2, n: int, truncation: float = 1.0, seed: int = 0,
                    noise: str = "const") -> Tensor:
    """``n`` images ``[n, C, H, W]`` in [0, 1] from seeded z (``truncation`` < 1 pulls w to ``latent_avg``)."""
    if n < 1 or not 0 < truncation <= 1:
        raise UsageError(f"--n {n} / --truncation {truncation}: need n >= 1 and truncation in (0, 1]")
    return method.sample(n, truncation, seed=seed, noise=noise)


def write_images(images: Tensor, out: str | Path, ncol: int | None = None) -> list[Path]:
    """A grid when ``out`` names an image file (``.png``/``.jpg``), else one PNG per image in folder ``out``."""
    out = Path(out)
    if out.suffix.lower() in (".png", ".jpg", ".jpeg"):
        return [save_grid(images, ncol or math.ceil(math.sqrt(images.shape[0])), out)]
    out.mkdir(parents=True, exist_ok=True)
    return [save_image(img, out / f"{i:06d}.png") for i, img in enumerate(images)]


# --- projection ----------------------------------------------------------------------------------
class JudgeDistance(nn.Module):
    """LPIPS-form distance on a ``genfer.judges.JudgeNet``'s four stage activations (equal weights)."""

    name = "judge"

    def __init__(self, judge: nn.Module) -> None:
        super().__init__()
        self.judge = judge.eval().requires_grad_(False)
        relus = [i for i, m in enumerate(judge.features) if isinstance(m, nn.ReLU)]
        self.taps = set(relus[1::2])  # the second ReLU of each stage

    def features(self, x: Tensor) -> list[Tensor]:
        """Images in [-1, 1] -> the unit-normalised stage activations."""
        out = []
        for i, m in enumerate(self.judge.features):
            x = m(x) if not isinstance(m, nn.ReLU) else torch.relu(x)  # no in-place ReLU on a graph we differentiate
            if i in self.taps:
                out.append(x / (x.square().sum(1, keepdim=True).sqrt() + 1e-10))
        return out

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        """Per-image distance ``[B]`` between images in [-1, 1]."""
        return sum((a - b).square().sum(1).mean((1, 2)) for a, b in zip(self.features(x), self.features(y)))


def expression_judge(size: int, channels: int = 3, seed: int = 0, steps: int = 600,
                     cache: str | Path | None = None, batch_size: int = 64) -> nn.Module:
    """The SynthFace expression judge at ``size`` px: trained on renders of identities 50,000-50,059
    (disjoint from every training set), kept in ``cache`` (a directory) between calls."""
    from genfer.data.labels import BASIC7
    from genfer.data.synthface import SynthFace
    from genfer.judges import cached_judges, train_judge

    def train() -> dict[str, nn.Module]:
        data = SynthFace(list(range(50_000, 50_060)), 70, size=size, channels=channels, seed=seed)
        return {"expression": train_judge(data.images, data.expressions, len(BASIC7), steps=steps,
                                          batch_size=batch_size, seed=1)}

    key = f"stylegan2_expression_judge_{size}px_c{channels}_s{seed}_{steps}x{batch_size}.pt"
    nets = cached_judges(Path(cache) / key if cache else None, {"expression": (channels, len(BASIC7), 32)}, train)
    return nets["expression"]


def build_distance(name: str, size: int, channels: int = 3, lpips_net: str = "vgg",
                   judge_cache: str | Path | None = None) -> Callable[[Tensor, Tensor], Tensor]:
    """The projection distance ``name`` (see the module notes) on images in [-1, 1], per image."""
    if name == "lpips":
        from genfer.metrics.lpips import load_lpips

        net = load_lpips(lpips_net)
        return lambda x, y: net(x, y).reshape(-1)
    if name == "judge":
        return JudgeDistance(expression_judge(size, channels, cache=judge_cache))
    if name == "mse":
        return lambda x, y: (x - y).square().flatten(1).mean(1)
    raise UsageError(f"unknown distance {name!r}; use one of {', '.join(DISTANCES)}")


def project_images(method: StyleGAN2, paths: Sequence[str | Path], out_dir: str | Path,
                   distance: str | Callable[[Tensor, Tensor], Tensor] = "lpips",
                   cfg: ProjectConfig | None = None, seed: int = 0, lpips_net: str = "vgg",
                   judge_cache: str | Path | None = None, batch_size: int = 8,
                   images: Tensor | None = None) -> dict[str, Any]:
    """Project image files (or ``images`` uint8 ``[N, C, H, W]`` at the generator's size) into ``method.G``.

    ``distance`` is a name in ``DISTANCES`` or a callable (its ``name`` attribute is reported).

    Writes ``<name>.png`` (the projection) per image, ``projections.png`` (targets above projections),
    ``latents.npz`` (``names``, ``wplus [N, n_latent, style_dim]``, and ``noise_i`` per layer) and
    ``results.json`` (distance name, per-image distance and PSNR, their means, the options).
    """
    from dataclasses import asdict

    from genfer.apps.inference import load_images

    g = method.G
    size, ch = g.size, method.cfg.channels
    if images is None:
        images = load_images(paths, size, ch)
        names = [Path(p).stem for p in paths]
    else:
        names = [f"{i:06d}" for i in range(images.shape[0])]
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if callable(distance):
        dist_fn, dname = distance, getattr(distance, "name", "custom")
    else:
        dist_fn = build_distance(distance, size, ch, lpips_net, judge_cache)
        dname = distance if distance != "lpips" else f"lpips_{lpips_net}"
    if isinstance(dist_fn, nn.Module):
        dist_fn = dist_fn.to(method.device)
    cfg = cfg or ProjectConfig()
    projs, codes, dists, noises = [], [], [], []
    for i in range(0, images.shape[0], batch_size):
        target = images[i:i + batch_size].float().div(127.5).sub(1).to(method.device)
        res = project(g, target, dist_fn, cfg, seed=seed + i)
        projs.append(res.images.float().add(1).div(2).clamp(0, 1).cpu())
        codes.append(res.latents.cpu())
        dists.append(res.distance.cpu())
        noises.append([n.cpu() for n in res.noises])
    proj, wplus, dist = torch.cat(projs), torch.cat(codes), torch.cat(dists)
    unit = images.float() / 255
    p = psnr(proj, unit)
    for name, img in zip(names, proj):
        save_image(img, out / f"{name}.png")
    save_grid(torch.cat([unit[:16], proj[:16]]), min(16, unit.shape[0]), out / "projections.png")
    arrays = {"names": np.array(names), "wplus": wplus.numpy()}
    for j in range(len(noises[0])):
        arrays[f"noise_{j}"] = torch.cat([n[j] for n in noises]).numpy()
    np.savez(out / "latents.npz", **arrays)
    result = {"distance": dname,
              "per_image": {n: {"distance": float(d), "psnr": float(q)} for n, d, q in zip(names, dist, p)},
              "mean_distance": float(dist.mean()), "mean_psnr": float(p.mean()), "options": asdict(cfg),
              "seed": seed, "n": len(names)}
    (out / "results.json").write_text(json.dumps(result, indent=1))
    return result


__all__ = [
    "DISTANCES", "JudgeDistance", "build_distance", "convert_rosinality", "expression_judge", "from_rosinality",
    "generate_images", "load_stylegan2", "project_images", "write_images",
]
