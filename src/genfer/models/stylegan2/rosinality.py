"""rosinality-format StyleGAN2 checkpoints: read them safely, infer their architecture, load key for key.

rosinality's ``train.py`` saves ``{"g", "d", "g_ema", "g_optim", "d_optim", "args"}``; its
``convert_weight.py`` (the public FFHQ / car / cat models) saves ``{"g_ema", "latent_avg"}`` (plus
``"g"``/``"d"`` when asked); pSp, e4e and ReStyle ship such generators too. ``read_checkpoint``
loads the file with ``torch.load(weights_only=True)``, so no code in it runs; the one class those
files pickle, ``argparse.Namespace`` (the training ``args``), is allowed as plain data.

Every network is loaded key for key (genfer's ``Generator``/``Discriminator`` have rosinality's
names): missing or unexpected keys are named, and a size, width (style dim, mapping depth) or
channel multiplier that does not match the checkpoint says which, and what the checkpoint has.
A checkpoint without ``latent_avg`` gets the mean of ``mean_samples`` mapped z (seeded), and
``latent_avg_samples`` records how many (0 when the file had it).
"""

from __future__ import annotations

import argparse
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor, nn

from genfer.core.errors import GenferError
from genfer.models.stylegan2.networks import Discriminator, Generator, channel_table

NETWORKS = ("g_ema", "g", "d")
"""The network entries of a rosinality checkpoint."""


class StyleGAN2CheckpointError(GenferError, ValueError):
    """A rosinality checkpoint that cannot be read or does not fit the network asked for."""


@dataclass
class GeneratorSpec:
    """A generator's architecture as read from its state dict."""

    size: int
    style_dim: int
    n_mlp: int
    channel_multiplier: float
    channel_max: int
    img_channels: int

    def build(self) -> Generator:
        return Generator(self.size, self.style_dim, self.n_mlp, self.channel_multiplier,
                         channel_max=self.channel_max, img_channels=self.img_channels)


@dataclass
class DiscriminatorSpec:
    """A discriminator's architecture as read from its state dict."""

    size: int
    channel_multiplier: float
    channel_max: int
    img_channels: int

    def build(self) -> Discriminator:
        return Discriminator(self.size, self.channel_multiplier, channel_max=self.channel_max,
                             img_channels=self.img_channels)


@dataclass
class RosinalityCheckpoint:
    """The networks of one rosinality checkpoint, loaded into genfer's modules (eval mode, CPU).

    Attributes:
        path: the file.
        g_ema, g: generators (``None`` where the file has none).
        d: the discriminator, or ``None``.
        latent_avg: ``[style_dim]`` mean w (truncation centre; pSp's ``latent_avg``).
        latent_avg_samples: 0 when the file held ``latent_avg``, else how many mapped z were averaged.
        spec: the generator's architecture.
    """

    path: Path
    spec: GeneratorSpec
    g_ema: Generator | None = None
    g: Generator | None = None
    d: Discriminator | None = None
    latent_avg: Tensor | None = None
    latent_avg_samples: int = 0
    extra: list[str] = field(default_factory=list)

    @property
    def generator(self) -> Generator:
        """``g_ema`` if the file has it, else ``g``."""
        return self.g_ema if self.g_ema is not None else self.g


def read_checkpoint(path: str | Path) -> dict:
    """The file's top-level dict (``torch.load(weights_only=True)``, on CPU)."""
    path = Path(path)
    if not path.is_file():
        raise StyleGAN2CheckpointError("no such file", path=path)
    try:
        with torch.serialization.safe_globals([argparse.Namespace]):
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises several types for damaged or foreign files
        first = str(e).strip().splitlines()[0][:200] if str(e).strip() else type(e).__name__
        raise StyleGAN2CheckpointError(f"cannot be loaded with weights_only=True ({first})", path=path,
                                       fix="give a rosinality checkpoint (a .pt holding g_ema / g / d)") from None
    if not isinstance(obj, dict) or not any(k in obj for k in NETWORKS):
        keys = sorted(obj)[:8] if isinstance(obj, dict) else type(obj).__name__
        raise StyleGAN2CheckpointError(f"not a rosinality checkpoint: no g_ema, g or d (it holds {keys})", path=path)
    return obj


def generator_spec(sd: dict[str, Tensor], where: str = "g_ema") -> GeneratorSpec:
    """Read size, style dim, mapping depth, channel multiplier and width cap from a generator state dict."""
    try:
        style_dim = sd["style.1.weight"].shape[1]
        n_mlp = sum(1 for k in sd if re.fullmatch(r"style\.\d+\.weight", k))
        n_rgb = sum(1 for k in sd if re.fullmatch(r"to_rgbs\.\d+\.conv\.weight", k))
        c4 = sd["input.input"].shape[1]
        img_channels = sd["to_rgb1.conv.weight"].shape[1]
        last = sd[f"to_rgbs.{n_rgb - 1}.conv.weight"].shape[2] if n_rgb else c4
    except (KeyError, IndexError) as e:
        raise StyleGAN2CheckpointError(f"{where} is not a StyleGAN2 generator state dict (no {e})") from None
    size = 2 ** (n_rgb + 2)
    # widths are min(channel_max, 16384 * cm / r): the last layer gives cm unless it is capped too
    cm = last * size / 16384 if last < c4 else c4 * size / 16384
    return GeneratorSpec(size, style_dim, n_mlp, cm, c4, img_channels)


def discriminator_spec(sd: dict[str, Tensor], where: str = "d") -> DiscriminatorSpec:
    """Read size, channel multiplier and width cap from a discriminator state dict."""
    try:
        blocks = [int(m.group(1)) for k in sd if (m := re.fullmatch(r"convs\.(\d+)\.conv1\.0\.weight", k))]
        first = sd["convs.0.0.weight"].shape
        c4 = sd["final_conv.0.weight"].shape[0]
    except KeyError as e:
        raise StyleGAN2CheckpointError(f"{where} is not a StyleGAN2 discriminator state dict (no {e})") from None
    size = 2 ** (max(blocks, default=0) + 2)
    cm = first[0] * size / 16384 if first[0] < c4 else c4 * size / 16384
    return DiscriminatorSpec(size, cm, c4, first[1])


def _widths(cm: float, channel_max: int, size: int) -> list[int]:
    table = channel_table(cm, channel_max)
    return [table[2**i] for i in range(2, int(math.log2(size)) + 1)]


def check_fits(spec: GeneratorSpec | DiscriminatorSpec, where: str, path: Path, size: int | None = None,
               channel_multiplier: float | None = None, style_dim: int | None = None, n_mlp: int | None = None) -> None:
    """Raise, naming what differs, when an asked architecture does not match the checkpoint's."""
    wrong = []
    if size is not None and size != spec.size:
        wrong.append(f"size {size} was asked, the checkpoint is {spec.size} px")
    if channel_multiplier is not None and (
            _widths(channel_multiplier, spec.channel_max, spec.size)
            != _widths(spec.channel_multiplier, spec.channel_max, spec.size)):
        wrong.append(f"channel multiplier {channel_multiplier:g} was asked, the checkpoint's is "
                     f"{spec.channel_multiplier:g}")
    if isinstance(spec, GeneratorSpec):
        if style_dim is not None and style_dim != spec.style_dim:
            wrong.append(f"style dim {style_dim} was asked, the checkpoint's is {spec.style_dim}")
        if n_mlp is not None and n_mlp != spec.n_mlp:
            wrong.append(f"{n_mlp} mapping layers were asked, the checkpoint has {spec.n_mlp}")
    if wrong:
        raise StyleGAN2CheckpointError(f"{where}: " + "; ".join(wrong), path=path,
                                       fix="build the network with the checkpoint's settings (or leave them unset)")


def load_state_strict(module: nn.Module, sd: dict[str, Tensor], where: str, path: Path | None = None) -> None:
    """``module.load_state_dict`` key for key; missing, unexpected and misshapen keys are named."""
    own = module.state_dict()
    missing = [k for k in own if k not in sd]
    unexpected = [k for k in sd if k not in own]
    shapes = [f"{k} {tuple(sd[k].shape)} (network: {tuple(own[k].shape)})" for k in own
              if k in sd and sd[k].shape != own[k].shape]
    problems = []
    for what, keys in (("missing keys", missing), ("unexpected keys", unexpected), ("wrong shapes", shapes)):
        if keys:
            more = f" and {len(keys) - 8} more" if len(keys) > 8 else ""
            problems.append(f"{what}: {', '.join(keys[:8])}{more}")
    if problems:
        raise StyleGAN2CheckpointError(f"{where} does not fit {type(module).__name__} ({'; '.join(problems)})",
                                       path=path)
    module.load_state_dict(sd, strict=True)


@torch.no_grad()
def mean_w(g: Generator, samples: int = 10_000, seed: int = 0, batch: int = 1000) -> Tensor:
    """Mean of ``samples`` mapped z ~ N(0, I) drawn from ``seed``: ``[style_dim]``."""
    gen = torch.Generator().manual_seed(seed)
    total = torch.zeros(g.style_dim, dtype=torch.float64)
    done = 0
    while done < samples:
        n = min(batch, samples - done)
        z = torch.randn(n, g.style_dim, generator=gen).to(g.input.input.device)
        total += g.style(z).double().sum(0).cpu()
        done += n
    return (total / samples).float()


def load_rosinality(path: str | Path, *, size: int | None = None, channel_multiplier: float | None = None,
                    style_dim: int | None = None, n_mlp: int | None = None, networks: tuple[str, ...] = NETWORKS,
                    mean_samples: int = 10_000) -> RosinalityCheckpoint:
    """Load a rosinality checkpoint's ``g_ema``, ``g``, ``d`` and ``latent_avg`` into genfer networks.

    Args:
        path: the ``.pt`` file.
        size, channel_multiplier, style_dim, n_mlp: what the caller expects (``None``: take the
            checkpoint's); a mismatch raises, naming it.
        networks: which of ``g_ema``, ``g``, ``d`` to build (those the file lacks are skipped).
        mean_samples: mapped z averaged for ``latent_avg`` when the file has none.

    Returns:
        The networks in eval mode on the CPU, the truncation centre and the generator's spec.
    """
    path = Path(path)
    obj = read_checkpoint(path)
    gens = [k for k in ("g_ema", "g") if k in obj and k in networks]
    spec = None
    out_nets: dict[str, nn.Module] = {}
    for key in gens:
        sd = obj[key]
        s = generator_spec(sd, key)
        check_fits(s, key, path, size, channel_multiplier, style_dim, n_mlp)
        g = s.build()
        load_state_strict(g, sd, key, path)
        out_nets[key] = g.eval()
        spec = spec or s
    if "d" in obj and "d" in networks:
        ds = discriminator_spec(obj["d"])
        check_fits(ds, "d", path, size, channel_multiplier)
        d = ds.build()
        load_state_strict(d, obj["d"], "d", path)
        out_nets["d"] = d.eval()
    if spec is None:
        raise StyleGAN2CheckpointError(f"holds no generator among {', '.join(networks)} (it has "
                                       f"{', '.join(k for k in obj if k in NETWORKS)})", path=path)
    ck = RosinalityCheckpoint(path, spec, out_nets.get("g_ema"), out_nets.get("g"), out_nets.get("d"),
                              extra=[k for k in obj if k not in (*NETWORKS, "latent_avg")])
    if "latent_avg" in obj:
        avg = torch.as_tensor(obj["latent_avg"]).float().reshape(-1)
        if avg.numel() != spec.style_dim:  # some files store it per style: [n_latent, style_dim]
            avg = avg.view(-1, spec.style_dim)[0]
        ck.latent_avg = avg
    else:
        ck.latent_avg, ck.latent_avg_samples = mean_w(ck.generator, mean_samples), mean_samples
    return ck


__all__ = [
    "NETWORKS", "DiscriminatorSpec", "GeneratorSpec", "RosinalityCheckpoint", "StyleGAN2CheckpointError",
    "check_fits", "discriminator_spec", "generator_spec", "load_rosinality", "load_state_strict", "mean_w",
    "read_checkpoint",
]
