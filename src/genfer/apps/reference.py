"""Reference models: exporting a run as one, their golden outputs, and the grids the demo shows.

A reference model (:mod:`genfer.core.reference`) is written from a finished run by
:func:`export_reference`: the EMA weights where the run kept them, cast to fp16; the run config;
the measured figures; and a ``PROVENANCE.md`` saying how it was made. :func:`golden_outputs`
computes what a model produces on fixed SynthFace renders, so a test can hold a shipped model to
the outputs recorded when it was exported.
"""

from __future__ import annotations

import json
import platform
import shutil
import subprocess
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file
from torch import Tensor

from genfer.core.config import TrainConfig
from genfer.core.reference import ROOT, provenance_block
from genfer.engine.checkpoint import CONFIG_FILE, MODEL_FILE, load_method, resolve_checkpoint
from genfer.models.capabilities import provides

GOLDEN_FACES = 4
"""Renders per golden check (new draws of training identities, fixed seeds)."""


def export_reference(run: str | Path, name: str, facts: dict[str, str], figures: dict[str, Any], notes: str = "",
                     root: Path = ROOT) -> Path:
    """Write run ``run`` (its best checkpoint) as reference model ``root/name``; returns the directory.

    Args:
        run: a run or checkpoint directory.
        name: the model's name (``synthface-tdgan``).
        facts: provenance lines, e.g. ``command`` (the exact training command), ``commit`` (genfer's
            commit that trained it; default: the current one), ``training time``; the machine is added.
        figures: measured figures (a ``summary`` line is shown by ``genfer ls``).
        notes: extra provenance text (markdown): recipe choices, judging commands.
    """
    ckpt = resolve_checkpoint(run)
    method, cfg = load_method(ckpt)  # EMA weights in place where the run kept them
    state = {k: v.detach().to(torch.float16 if v.is_floating_point() else v.dtype).contiguous()
             for k, v in method.state_dict().items() if k not in method.frozen_keys()}
    out = root / name
    tmp = root / f".{name}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    save_file(state, str(tmp / MODEL_FILE), metadata={"genfer_reference": name})
    # where the run was written is not part of the model: a shipped config names no machine's folders
    cfg.train.out, cfg.train.name = TrainConfig.out, TrainConfig.name
    cfg.save(tmp / CONFIG_FILE)
    (tmp / "figures.json").write_text(json.dumps(figures, indent=2) + "\n")
    (tmp / "PROVENANCE.md").write_text(_provenance(name, cfg.method, facts, ckpt, figures, notes, tmp))
    for f in tmp.iterdir():
        f.chmod(0o644)
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    return out


def _provenance(name: str, method: str, facts: dict[str, str], ckpt: Path, figures: dict, notes: str,
                files: Path) -> str:
    facts = {"commit": _git("rev-parse", "HEAD"), **facts, "checkpoint exported": ckpt.name,
             "machine": f"{_cpu_model()}, {platform.system()} {platform.machine()}, torch {torch.__version__}",
             "weights": "the run's EMA weights where it kept them, stored in fp16"}
    lines = "\n".join(f"- {k}: {v}" for k, v in facts.items())
    rows = "\n".join(f"| {k} | {v} |" for k, v in figures.items() if k != "summary")
    return f"""# {name}

A `{method}` model trained by genfer on SynthFace renders only (it does not know real faces).

{lines}

## Figures

{figures.get('summary', '')}

| figure | value |
|---|---|
{rows}

{notes}

## Files

{provenance_block(files)}
"""


def _git(*args: str) -> str:
    try:
        return subprocess.run(["git", *args], capture_output=True, text=True, check=True,
                              cwd=Path(__file__).parent).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def golden_inputs(cfg) -> dict[str, Tensor]:
    """Fixed renders for a run config: ``faces`` and ``others`` uint8 ``[GOLDEN_FACES, C, S, S]`` of
    training identities with fixed expressions, and ``aus`` ``[GOLDEN_FACES, 17]`` target intensities."""
    from genfer.data.synthface import render, sample_aus, split_identities

    d, m = cfg.data, cfg.model
    train_ids, _ = split_identities(d.max_identities + d.synth_identities, d.synth_test_identities)
    g = torch.Generator().manual_seed(2026)
    ids = torch.tensor(train_ids[:GOLDEN_FACES])
    exprs = torch.arange(GOLDEN_FACES) % 7
    faces = render(ids, sample_aus(exprs, g), m.image_size, m.channels, d.synth_seed, nuisance_seed=31_000)
    others = render(ids.roll(1), sample_aus((exprs + 3) % 7, g), m.image_size, m.channels, d.synth_seed,
                    nuisance_seed=32_000)
    return {"faces": faces, "others": others, "aus": sample_aus((exprs + 1) % 7, g)}


@torch.no_grad()
def golden_outputs(method, cfg) -> dict[str, Tensor]:
    """What ``method`` computes on :func:`golden_inputs`, per capability it has (float32, CPU)."""
    x = golden_inputs(cfg)
    out: dict[str, Tensor] = {}
    torch.manual_seed(0)  # generators that draw noise (TDGAN's decoder) draw the same noise each time
    if provides(method, "classify"):
        out["classify"] = method.classify(x["faces"]).float()
    if provides(method, "transfer"):
        out["transfer"] = method.transfer(x["faces"], x["others"]).float()
    if provides(method, "edit"):
        out["edit"] = method.edit(x["faces"], x["aus"]).float()
    if provides(method, "estimate_aus"):
        out["estimate_aus"] = method.estimate_aus(x["faces"]).float()
    return out


def edit_grid(method, cfg) -> tuple[Tensor, int]:
    """An AU model's edit grid of one held-out face: ``([N, C, S, S] in [0, 1], columns)``.

    Rows 1..4: the input, then each single AU of the seed's figure (``GRID_AUS``) at rising intensity
    (0, 1.7, 3.3, 5), the other AUs kept at the critic's estimate. Row 5: the input, then the seven
    basic expressions' FACS prototypes (neutral .. anger), then two blank cells.
    """
    from genfer.data.labels import BASIC7
    from genfer.data.synthface import render, split_identities
    from genfer.models.au_cyclegan.editing import GRID_AUS, GRID_INTENSITIES, emotion_aus

    d, m = cfg.data, cfg.model
    _, test_ids = split_identities(d.max_identities + d.synth_identities, d.synth_test_identities)
    face = render(torch.tensor(test_ids[:1]), torch.zeros(1, 17), m.image_size, m.channels, d.synth_seed,
                  nuisance_seed=12345).float() / 255
    singles = method.au_grid(face).cpu()  # [rows * len(GRID_AUS)], row-major
    protos = method.edit(face.expand(len(BASIC7), -1, -1, -1),
                         torch.stack([emotion_aus(name) for name in BASIC7])).cpu()
    ncol = len(GRID_AUS) + 1
    rows = [torch.cat([face, singles[r * len(GRID_AUS):(r + 1) * len(GRID_AUS)]]) for r in range(len(GRID_INTENSITIES))]
    blank = torch.ones(ncol - 1 - len(BASIC7), *face.shape[1:])
    rows.append(torch.cat([face, protos, blank]))
    return torch.cat(rows), ncol
