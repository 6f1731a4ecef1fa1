"""The released ``CDAN.pth``: its key layout, what genfer keeps of it, and its LPIPS copy.

The release saves ``CDAN.state_dict()`` (423 entries): ``encoder.*``, ``quant_conv.*``,
``post_quant_conv.*``, ``decoder1.*`` (colour), ``decoder2.*`` (mask), ``feature_dis.*``,
``AU_dis.*`` and ``perceptual_loss.*`` (the LPIPS-VGG it trained with). ``convert`` renames the
prefixes to genfer's (``decoder1`` -> ``colour_decoder``, ``decoder2`` -> ``mask_decoder``,
``AU_dis`` -> ``au_dis``) and

- drops the 11 entries of layers the release builds but never calls (15,208,323 parameters: the
  transposed ``conv1`` of every ``Upsample``, ``decoder2.l1_up``, ``decoder2.color_out``), listing
  them in ``Converted.unused``;
- sets the 33 ``perceptual_loss.*`` entries aside (``Converted.lpips``): VGG16 features
  (``net.sliceK.N`` = torchvision ``features.N``) and the five v0.1 heads. They are not part of the
  CDAN model; :func:`lpips_from_release` builds genfer's LPIPS-VGG from them, which
  ``model.lpips_from=CDAN.pth`` uses as the training loss.

The file is read with ``torch.load(weights_only=True)``: plain tensors, no code runs.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor

from genfer.core.errors import GenferError
from genfer.models.cdan.config import CDANConfig
from genfer.models.cdan.method import CDAN

PREFIXES: dict[str, str] = {
    "encoder.": "encoder.",
    "quant_conv.": "quant_conv.",
    "post_quant_conv.": "post_quant_conv.",
    "decoder1.": "colour_decoder.",
    "decoder2.": "mask_decoder.",
    "feature_dis.": "feature_dis.",
    "AU_dis.": "au_dis.",
}
"""Released top-level prefix -> genfer's."""

UNUSED_MODULES: tuple[str, ...] = (
    "decoder1.l1_up.conv1.", "decoder1.l2_up.conv1.", "decoder1.l3_up.conv1.",
    "decoder2.l1_up.", "decoder2.l2_up.conv1.", "decoder2.l3_up.conv1.", "decoder2.l4_up.conv1.",
    "decoder2.color_out.",
)
"""Released modules that its forward never calls (their keys are dropped)."""

LPIPS_PREFIX = "perceptual_loss."


@dataclass
class Converted:
    """A released state dict split by what genfer does with each entry.

    Attributes:
        state_dict: genfer's ``CDAN`` keys -> tensors.
        unused: released keys of layers the release never calls, dropped.
        lpips: the ``perceptual_loss.*`` entries, without the prefix.
    """

    state_dict: dict[str, Tensor]
    unused: list[str] = field(default_factory=list)
    lpips: dict[str, Tensor] = field(default_factory=dict)


def read_release(path: str | os.PathLike) -> dict[str, Tensor]:
    """The tensors of a released ``CDAN.pth`` (weights only; a ``{"state_dict": ...}`` wrapper is opened)."""
    p = Path(path).expanduser()
    if not p.is_file():
        raise GenferError("no such file", path=p, fix="give the path of the released CDAN.pth")
    try:
        sd = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as e:  # any unreadable file is the input's problem
        raise GenferError(f"not a readable weights-only PyTorch file ({type(e).__name__}: {e})", path=p,
                          fix="give the released CDAN.pth (a state dict saved by torch.save)") from None
    if isinstance(sd, dict) and isinstance(sd.get("state_dict"), dict):
        sd = sd["state_dict"]
    if not isinstance(sd, dict) or not all(isinstance(v, Tensor) for v in sd.values()):
        raise GenferError(f"expected a state dict of tensors, got {type(sd).__name__}", path=p)
    return {k.removeprefix("module."): v for k, v in sd.items()}


def convert(sd: dict[str, Tensor], cfg: CDANConfig | None = None, source: str = "CDAN.pth") -> Converted:
    """Map a released CDAN state dict onto genfer's ``CDAN`` of config ``cfg`` (default: released).

    Raises:
        GenferError: keys the genfer model needs are missing (all of them are listed), or a
            tensor's shape differs from the model's.
    """
    with torch.device("meta"):  # keys and shapes only, no memory
        model_keys = CDAN(cfg).state_dict()
    out = Converted({})
    unknown = []
    for key, value in sd.items():
        if key.startswith(LPIPS_PREFIX):
            out.lpips[key[len(LPIPS_PREFIX):]] = value
        elif key.startswith(UNUSED_MODULES):
            out.unused.append(key)
        else:
            prefix = next((p for p in PREFIXES if key.startswith(p)), None)
            if prefix is None:
                unknown.append(key)
                continue
            out.state_dict[PREFIXES[prefix] + key[len(prefix):]] = value
    back = {v: k for k, v in PREFIXES.items()}
    missing = [k for k in model_keys if k not in out.state_dict]
    if missing:
        def released(k: str) -> str:
            p = next(p for p in back if k.startswith(p))
            return back[p] + k[len(p):]

        shown = ", ".join(released(k) for k in missing[:40])
        more = f" and {len(missing) - 40} more" if len(missing) > 40 else ""
        raise GenferError(f"{len(missing)} key(s) of the CDAN model are missing: {shown}{more}",
                          path=source, fix="use the complete released CDAN.pth (423 entries)")
    unknown += [k for k in out.state_dict if k not in model_keys]
    if unknown:
        raise GenferError(f"unexpected key(s) {', '.join(unknown[:10])}", path=source,
                          fix="is this a CDAN checkpoint of the released architecture?")
    bad = [k for k, v in out.state_dict.items() if tuple(v.shape) != tuple(model_keys[k].shape)]
    if bad:
        k = bad[0]
        raise GenferError(f"{k} has shape {tuple(out.state_dict[k].shape)}, the model "
                          f"{tuple(model_keys[k].shape)} ({len(bad)} mismatches)", path=source,
                          fix="load it into the released configuration (112 px, ch 128, mult 1,2,2,4)")
    return out


def load_released(path: str | os.PathLike, cfg: CDANConfig | None = None, device: str = "cpu") -> CDAN:
    """A genfer ``CDAN`` (eval mode) with the weights of a released ``CDAN.pth``.

    Args:
        path: the released checkpoint.
        cfg: the model configuration (default: the released one, 112 px).
        device: where to put the model.
    """
    conv = convert(read_release(path), cfg, source=str(path))
    model = CDAN(cfg)
    model.load_state_dict(conv.state_dict)
    return model.to(device).eval()


def lpips_from_release(source: str | os.PathLike | dict[str, Tensor]):
    """genfer's LPIPS-VGG (:class:`genfer.metrics.lpips.LPIPS`) with the weights inside a released
    ``CDAN.pth`` (a path, or its state dict, or its ``perceptual_loss.*`` entries without the prefix).

    The release's ``net.sliceK.N.*`` are torchvision's VGG16 ``features.N.*``; ``linI.model.1.weight``
    are the lpips v0.1 heads; its ``scaling_layer`` holds the same constants genfer's LPIPS uses.
    """
    from genfer.metrics.lpips import LPIPS
    from genfer.metrics.weights import MissingWeightsError

    if isinstance(source, dict):
        sd = source
    else:
        p = Path(source).expanduser()
        if not p.is_file():
            raise MissingWeightsError(f"{p}: no such file (model.lpips_from names a released CDAN.pth)")
        sd = read_release(p)
    if any(k.startswith(LPIPS_PREFIX) for k in sd):
        sd = {k[len(LPIPS_PREFIX):]: v for k, v in sd.items() if k.startswith(LPIPS_PREFIX)}
    features = {}
    for k, v in sd.items():
        parts = k.split(".")
        if parts[0] == "net" and parts[1].startswith("slice"):
            features[f"features.{parts[2]}.{parts[3]}"] = v
    heads = {k: v for k, v in sd.items() if k.startswith("lin")}
    if not features or not heads:
        raise MissingWeightsError(f"{source}: holds no perceptual_loss.* LPIPS-VGG entries")
    net = LPIPS("vgg")
    net.load_backbone(features)
    net.load_heads(heads)
    net.weights_id = {"backbone": "CDAN.pth perceptual_loss.net", "heads": "CDAN.pth perceptual_loss.lin"}
    return net.eval().requires_grad_(False)
