"""``genfer eval`` for a CDAN run: reconstruction, AU and parsing figures on held-out SynthFace identities.

Figures (all on identities the run never saw, rendered as the run's own held-out set):

- ``psnr`` / ``ssim`` of the reconstructions x_hat (clamped to [0, 1]) against x;
- ``au_mae_masked``: mean absolute error, on the 0..5 scale, of the AU discriminator's estimate
  A(M x) against SynthFace's true intensities of CDAN's six AUs (``au_mae``: A(x), for reference);
- ``auc``: the parsing ground truth no anchor has. SynthFace renders each held-out face twice, with
  one AU at ``intensity`` and without it (everything else, the nuisances included, identical);
  the pixels that differ by more than ``threshold`` are where that AU lives. The AUC of the mask M
  of the AU-on render as a detector of those pixels is reported per AU and over all six pooled.
- ``pr``: the release's HOG-KL parsing metric on M x over the held-out set (AU-active vs inactive
  by the true intensities), fixed; ``pr_released`` reproduces the release's bug (always 0).
- with ``out_dir``: the held-out faces and reconstructions are written to ``real/`` and ``rec/``
  (same names), and the README's FID, IS (``genfer.metrics``, Inception weights) and ACD
  (``face_api`` embedder) are computed where their weights are on the machine; otherwise the
  report says why not. ED needs OpenFace CSVs of both folders: ``genfer metrics ed rec/ real/
  --embedder openface_au`` (or a trained recogniser run as the embedder).

The settings are recorded in the report.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from genfer.core.imaging import save_grid
from genfer.core.paths import check_writable
from genfer.data.aus import au_index
from genfer.metrics.parsing import changed_pixels, mask_auc, parsing_pr
from genfer.metrics.quality import psnr, ssim
from genfer.models.cdan.config import CDAN_AUS


def au_pairs(ids: list[int], per_identity: int, size: int, channels: int, seed: int, intensity: float = 3.0,
             nuisance: float = 1.0) -> tuple[Tensor, Tensor, Tensor]:
    """SynthFace renders of each face with one of CDAN's AUs on and off.

    Returns:
        ``(on, off, au)``: uint8 ``[N, C, S, S]`` twice and long ``[N]`` (0..5, the index in
        ``CDAN_AUS``), ``N = len(ids) * per_identity * 6``; row i of ``on`` and ``off`` share the
        identity and the nuisance key (image j of the identity).
    """
    from genfer.data.synthface import render

    rows = [(i, j, k) for i in ids for j in range(per_identity) for k in range(len(CDAN_AUS))]
    ident = torch.tensor([r[0] for r in rows])
    keys = torch.tensor([r[1] for r in rows])
    au = torch.tensor([r[2] for r in rows])
    on_aus = torch.zeros(len(rows), 17)
    on_aus[torch.arange(len(rows)), torch.tensor([au_index(CDAN_AUS[k]) for k in au.tolist()])] = intensity
    on = render(ident, on_aus, size, channels, seed, nuisance, nuisance_seed=keys)
    off = render(ident, torch.zeros_like(on_aus), size, channels, seed, nuisance, nuisance_seed=keys)
    return on, off, au


def _batched(method: Any, images: Tensor, batch_size: int = 64) -> dict[str, Tensor]:
    parts: dict[str, list[Tensor]] = {}
    for s in range(0, len(images), batch_size):
        for k, v in method.parse_images(images[s:s + batch_size]).items():
            parts.setdefault(k, []).append(v.cpu())
    return {k: torch.cat(v) for k, v in parts.items()}


def evaluate_cdan(method: Any, cfg: Any, out_dir: str | Path | None = None, identities: int | None = None,
                  per_identity: int | None = None, pair_faces: int = 4, intensity: float = 3.0,
                  threshold: float = 8 / 255, grid_faces: int = 6) -> dict[str, Any]:
    """The figures of the module docstring for a CDAN model trained on SynthFace-like faces.

    Args:
        method: a ``CDAN``.
        cfg: its run config (``model.image_size``/``channels``, ``data.synth_*``).
        out_dir: where ``metrics.json`` and ``masks.png`` go (None: nothing is written).
        identities: held-out identities (default the run's ``data.synth_test_identities``).
        per_identity: images per held-out identity (default the run's ``synth_test_per_identity``).
        pair_faces: AU on/off pairs per identity and AU for the AUC.
        intensity: the AU intensity of the "on" render (0..5).
        threshold: colour change (in [0, 1] units) from which a pixel counts as AU-affected.
        grid_faces: faces in ``masks.png`` (rows: face, M, M x, AU-affected pixels).
    """
    from genfer.data.synthface import SynthFace, split_identities

    d = cfg.data
    size, channels = int(cfg.model.image_size), int(cfg.model.channels)
    n_ids = identities or d.synth_test_identities
    per = per_identity or d.synth_test_per_identity
    _, test_ids = split_identities(0, n_ids)
    ds = SynthFace(test_ids, per, size=size, channels=channels, seed=d.synth_seed)
    x = ds.images
    out = _batched(method, x)
    xf = x.float() / 255
    rec = out["xrec"].clamp(0, 1)
    six = [au_index(a) for a in CDAN_AUS]
    true = ds.aus[:, six].float()
    est_masked = torch.cat([method.estimate_cdan_aus(x[s:s + 64]).cpu() for s in range(0, len(x), 64)])
    est_plain = torch.cat([method.estimate_cdan_aus(x[s:s + 64], masked=False).cpu() for s in range(0, len(x), 64)])
    report: dict[str, Any] = {
        "psnr": float(psnr(rec, xf).clamp(max=100).mean()),
        "ssim": float(ssim(rec, xf).mean()),
        "au_mae_masked": float((est_masked - true).abs().mean()),
        "au_mae": float((est_plain - true).abs().mean()),
        "au_mae_masked_per_au": dict(zip(CDAN_AUS, (est_masked - true).abs().mean(0).tolist(), strict=True)),
        "mask_mean": float(out["mask_map"].mean()),
    }
    on, off, au = au_pairs(test_ids, pair_faces, size, channels, d.synth_seed, intensity)
    masks = _batched(method, on)["mask_map"]
    target = changed_pixels(on, off, threshold)
    per_au = {name: mask_auc(masks[au == k], target[au == k]) for k, name in enumerate(CDAN_AUS)}
    report["auc"] = {"overall": mask_auc(masks, target), **per_au}
    report["affected_fraction"] = float(target.float().mean())
    report["pr"] = dict(zip(CDAN_AUS, parsing_pr(out["mask_input"], true), strict=True))
    report["pr_released"] = dict(zip(CDAN_AUS, parsing_pr(out["mask_input"], true, released_bug=True), strict=True))
    report["settings"] = {
        "data": f"synthface held-out identities {test_ids[0]}..{test_ids[-1]} x {per} images, seed {d.synth_seed}, "
                f"{size} px, {channels} ch",
        "auc": f"{pair_faces} faces per identity x 6 AUs, AU on at intensity {intensity} vs off (all other AUs 0, "
               f"same identity and nuisances); affected = max channel change > {threshold:.4f}; M of the on render",
        "au_mae": "A(M x) and A(x) clamped to [0, 5] vs SynthFace's true intensities of AU01, 04, 06, 12, 15, 25",
        "pr": "HOG (8 orientations, 8x8 cells, 2x2 blocks, L1) of M x, summed per group, KL(active || inactive); "
              "active = true intensity != 0",
    }
    if out_dir is not None:
        o = check_writable(Path(out_dir), folder=True, option="--out")
        o.mkdir(parents=True, exist_ok=True)
        report.update(readme_metrics(xf, rec, o))
        (o / "metrics.json").write_text(json.dumps(report, indent=2))
        report["grid"] = str(mask_grid(method, on, target, au, o / "masks.png", grid_faces))
    return report


def readme_metrics(x: Tensor, rec: Tensor, out: Path) -> dict[str, Any]:
    """FID, IS and ACD of reconstructions ``rec`` against faces ``x`` (both [N, C, H, W] in [0, 1]),
    through folders ``out/real`` and ``out/rec``; each figure is a number, or a string saying why not."""
    from genfer.core.imaging import save_image
    from genfer.metrics import folder_metrics as fm

    real_dir, rec_dir = out / "real", out / "rec"
    for i in range(len(x)):
        save_image(x[i], real_dir / f"{i:05d}.png")
        save_image(rec[i], rec_dir / f"{i:05d}.png")
    calls = {
        "fid": lambda: fm.fid(real_dir, rec_dir, progress=False)["fid"],
        "is": lambda: fm.inception_score(rec_dir, progress=False),
        "acd": lambda: fm.embedding("acd", rec_dir, real_dir, "face_api", progress=False),
    }
    res: dict[str, Any] = {}
    for name, call in calls.items():
        try:
            res[name] = call()
        except (FileNotFoundError, RuntimeError, ValueError, KeyError) as e:  # missing or unusable weights
            res[name] = f"not computed: {type(e).__name__}: {str(e).splitlines()[0]}"
    res["ed"] = "not computed: needs OpenFace CSVs of real/ and rec/ (genfer metrics ed ... --embedder openface_au)"
    return res


def mask_grid(method: Any, on: Tensor, target: Tensor, au: Tensor, path: str | Path, faces: int = 6) -> Path:
    """A grid with one column per AU (the first of ``faces`` identities' renders) and rows: the face
    with the AU on, its mask M, M x, and the AU-affected pixels (white)."""
    cols = []
    for k in range(len(CDAN_AUS)):
        idx = torch.nonzero(au == k).flatten()[:faces]
        cols.append(idx)
    idx = torch.stack(cols, 1).flatten()  # row-major: faces x AUs
    out = _batched(method, on[idx])
    x = on[idx].float() / 255
    rows = [x, out["mask_map"].expand_as(x), out["mask_input"].clamp(0, 1), target[idx].float().expand_as(x)]
    n = len(CDAN_AUS)
    grid = torch.stack([r.reshape(-1, n, *x.shape[1:]) for r in rows], 1).flatten(0, 2)
    return save_grid(grid, n, path, scale=2)


def evaluate_cdan_checkpoint(checkpoint: str | Path, out_dir: str | Path | None = None, device: str = "cpu",
                             **kw: Any) -> dict[str, Any]:
    """:func:`evaluate_cdan` on a run or checkpoint directory; writes ``<checkpoint>/eval`` by default."""
    from genfer.engine.checkpoint import load_method, resolve_checkpoint

    ckpt = resolve_checkpoint(checkpoint)
    out = check_writable(Path(out_dir) if out_dir else ckpt / "eval", folder=True, option="--out")
    method, cfg = load_method(ckpt, device)
    report = evaluate_cdan(method, cfg, out, **kw)
    return {"checkpoint": str(ckpt), "out_dir": str(out), **report}


__all__ = ["au_pairs", "evaluate_cdan", "evaluate_cdan_checkpoint", "mask_grid"]
