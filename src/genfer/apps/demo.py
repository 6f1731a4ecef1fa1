"""``genfer demo``: train a small TDGAN on SynthFace and write a report with what it learned.

Everything lands under one run directory: checkpoints, logs, the row-normalised confusion matrix
of the expression branch on held-out identities, a transfer grid (faces of the identities TDGAN
trained on, newly rendered, wearing expressions of held-out identities), the same transfer grid
from the shipped reference TDGAN and an AU edit grid from the shipped AU model (what each method
does when trained for hours rather than minutes), and ``report.md`` / ``report.html`` embedding
them, each grid labelled with the model it came from and that model's figures.
"""

from __future__ import annotations

import html
import json
import time
from typing import Any

import torch

from genfer.apps.evaluation import evaluate_checkpoint
from genfer.apps.inference import transfer_grid
from genfer.apps.reference import edit_grid
from genfer.core.config import make_config
from genfer.core.imaging import save_grid
from genfer.core.reference import ReferenceModel, reference_models
from genfer.data.labels import BASIC7
from genfer.engine.checkpoint import load_method
from genfer.engine.trainer import train


def demo_inputs(cfg, n_faces: int = 5) -> tuple[torch.Tensor, torch.Tensor]:
    """Neutral new renders of ``n_faces`` training face identities, and one held-out face per class."""
    from genfer.data.synthface import SynthFace, render, split_identities

    d, m = cfg.data, cfg.model
    train_ids, test_ids = split_identities(d.max_identities + d.synth_identities, d.synth_test_identities)
    ids = torch.tensor(train_ids[:n_faces])
    faces = render(ids, torch.zeros(n_faces, 17), size=m.image_size, channels=m.channels,
                   seed=d.synth_seed, nuisance_seed=12345)
    test = SynthFace(test_ids, d.synth_test_per_identity, size=m.image_size, channels=m.channels, seed=d.synth_seed)
    picks = [int((test.expressions == c).nonzero()[0]) for c in range(len(BASIC7))]
    return faces, test.images[picks]


def run_demo(out: str = "runs", name: str = "", overrides: list[str] | tuple[str, ...] = (),
             device: str = "auto") -> dict[str, Any]:
    """Train the demo preset and write the report; returns the paths and figures."""
    t0 = time.perf_counter()
    name = name or f"demo-{time.strftime('%Y%m%d-%H%M%S')}"
    cfg = make_config("tdgan", "demo", [f"train.out={out}", f"train.name={name}", f"train.device={device}",
                                         *overrides])
    run_dir = train(cfg)
    train_s = time.perf_counter() - t0
    report = evaluate_checkpoint(run_dir, out_dir=run_dir / "eval")
    method, cfg = load_method(run_dir)
    faces, exprs = demo_inputs(cfg)
    grid, ncol = transfer_grid(method, faces, exprs)
    grid_path = save_grid(grid, ncol, run_dir / "transfer_grid.png", scale=2)
    shipped = shipped_grids(run_dir)
    summary = json.loads((run_dir / "summary.json").read_text())
    figures = {
        "iterations": summary["steps"],
        "precision": summary["precision"],
        "expression_accuracy": report["accuracy"],
        "mean_class_accuracy": report["mean_class_accuracy"],
        "test_images": report["num_samples"],
        "train_seconds": round(train_s, 1),
        "total_seconds": round(time.perf_counter() - t0, 1),
    }
    (run_dir / "demo.json").write_text(json.dumps(figures, indent=2))
    md, page = _report(cfg, report, figures, shipped)
    (run_dir / "report.md").write_text(md)
    (run_dir / "report.html").write_text(page)
    return {"run_dir": run_dir, "report_md": run_dir / "report.md", "report_html": run_dir / "report.html",
            "transfer_grid": grid_path, "confusion": run_dir / "eval" / "confusion.png",
            "shipped_grids": {name: path for name, (path, _) in shipped.items()}, **figures}


def shipped_grids(run_dir) -> dict[str, tuple[Any, ReferenceModel]]:
    """Grids of the shipped reference models: TDGAN's transfer grid on the demo's inputs, the AU model's
    edit grid; ``{name: (png path, model)}``."""
    out = {}
    for name, model in reference_models().items():
        method, cfg = load_method(name)
        torch.manual_seed(0)  # the decoder's noise
        if model.method == "tdgan":
            grid, ncol = transfer_grid(method, *demo_inputs(cfg))
        elif model.method == "au_cyclegan":
            grid, ncol = edit_grid(method, cfg)
        else:
            continue
        out[name] = (save_grid(grid, ncol, run_dir / f"shipped_{name}.png", scale=2), model)
    return out


SHIPPED_CAPTIONS = {
    "tdgan": "the same transfer grid as above (same faces and expressions), drawn by the shipped TDGAN",
    "au_cyclegan": "a held-out face (first column) edited to single AUs (columns AU01, AU02, AU04, AU05, AU10, "
                   "AU12, AU15, AU25, AU45) at intensity 0, 1.7, 3.3 and 5 (rows 1-4), and to the seven basic "
                   "expressions' FACS prototypes, neutral to anger (row 5)",
}


def _warmup_note(m, fig: dict) -> str:
    w = min(m.er_warmup_steps, fig["iterations"])
    if not w:
        return ""
    return (f"; the first {w} were the expression warm-up (expression branch only), "
            f"the other {fig['iterations'] - w} trained the whole GAN")


def _precision_note(cfg, fig: dict) -> str:
    """Which precision trained the demo, and why ``auto`` chose it."""
    p = fig["precision"]
    if cfg.train.precision != "auto":
        return f"{p} (set by train.precision)"
    if p == "bf16":
        return "bf16 (train.precision auto: this device computes bf16 fast)"
    return ("fp32 (train.precision auto: this CPU has no AMX; without it bf16 is emulated and slower, "
            "or with AVX512_BF16 no faster at the demo's size)")


def _shipped_md(shipped: dict) -> str:
    parts = []
    for name, (path, model) in shipped.items():
        rows = "\n".join(f"| {k} | {v} |" for k, v in model.figures.items() if k != "summary")
        parts.append(f"""### `{name}` (shipped with genfer, not trained by this demo)
{SHIPPED_CAPTIONS.get(model.method, '')}. {model.figures.get('summary', '')}; how it was trained:
`{model.path / 'PROVENANCE.md'}`.

![{name}]({path.name})

| figure | value |
|---|---|
{rows}
""")
    return "\n".join(parts)


def _shipped_html(shipped: dict) -> str:
    parts = []
    for name, (path, model) in shipped.items():
        rows = "".join(f"<tr><td>{html.escape(k)}</td><td>{html.escape(str(v))}</td></tr>"
                       for k, v in model.figures.items() if k != "summary")
        parts.append(f"""<h3><code>{html.escape(name)}</code> (shipped with genfer, not trained by this demo)</h3>
<p>{html.escape(SHIPPED_CAPTIONS.get(model.method, ''))}. {html.escape(model.figures.get('summary', ''))};
how it was trained: <code>{html.escape(str(model.path / 'PROVENANCE.md'))}</code>.</p>
<table><tr><td><img src="{html.escape(path.name)}" alt="{html.escape(name)}"></td><td>
<table border="1"><tr><th>figure</th><th>value</th></tr>{rows}</table></td></tr></table>""")
    return "\n".join(parts)


SHIPPED_INTRO = ("Reference models trained on SynthFace for hours on a CPU and shipped inside genfer show what the "
                 "methods draw when trained properly; the grid above comes from the few minutes of this demo.")


def _report(cfg, report: dict, fig: dict, shipped: dict | None = None) -> tuple[str, str]:
    shipped = shipped or {}
    m = cfg.model
    rows = "\n".join(f"| {n} | {c['recall']:.3f} | {c['support']} |" for n, c in report["per_class"].items())
    md = f"""# genfer demo: TDGAN on SynthFace

A reduced TDGAN ({m.image_size}x{m.image_size}, {m.channels} channel(s); preset `demo`) trained for
{fig['iterations']} iterations on SynthFace in {fig['train_seconds']:.0f} s (the preset trains for at most
{cfg.train.max_minutes:g} minutes and {cfg.train.max_steps} iterations, whichever comes first){_warmup_note(m, fig)}.
Precision: {_precision_note(cfg, fig)}.

## Expression recognition (expression branch M_ER, held-out identities)
Accuracy **{fig['expression_accuracy']:.3f}**, mean class accuracy {fig['mean_class_accuracy']:.3f},
on {fig['test_images']} images of {cfg.data.synth_test_identities} identities never seen in training.

| class | recall | images |
|---|---|---|
{rows}

![confusion matrix](eval/confusion.png)

## Expression transfer (the TDGAN trained by this demo)
First row: expression sources (held-out identities). First column: newly rendered faces of
identities TDGAN trained on. Cell (i, j): face i wearing expression j.

![transfer grid](transfer_grid.png)
"""
    if shipped:
        md += f"\n## Reference models\n{SHIPPED_INTRO}\n\n{_shipped_md(shipped)}"
    body = "".join(
        f"<tr><td>{html.escape(n)}</td><td>{c['recall']:.3f}</td><td>{c['support']}</td></tr>"
        for n, c in report["per_class"].items()
    )
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>genfer demo</title></head><body>
<h1>genfer demo: TDGAN on SynthFace</h1>
<p>Reduced TDGAN ({m.image_size}x{m.image_size}), trained in {fig['train_seconds']:.0f} s;
precision {html.escape(_precision_note(cfg, fig))}.</p>
<h2>Expression recognition (held-out identities)</h2>
<p>Accuracy <b>{fig['expression_accuracy']:.3f}</b>, mean class accuracy {fig['mean_class_accuracy']:.3f},
{fig['test_images']} images.</p>
<table border="1"><tr><th>class</th><th>recall</th><th>images</th></tr>{body}</table>
<p><img src="eval/confusion.png" alt="confusion matrix"></p>
<h2>Expression transfer (the TDGAN trained by this demo)</h2>
<p>First row: expression sources; first column: faces of training identities; cell (i, j): face i with
expression j.</p>
<p><img src="transfer_grid.png" alt="transfer grid"></p>
{f"<h2>Reference models</h2><p>{html.escape(SHIPPED_INTRO)}</p>{_shipped_html(shipped)}" if shipped else ""}
</body></html>
"""
    return md, page
