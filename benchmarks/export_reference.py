"""Export a judged SynthFace run as a reference model shipped in the package, and record its golden outputs.

    python benchmarks/export_reference.py --run RUN_OR_CKPT --name synthface-tdgan \
        --command "genfer train tdgan ..." --training-time "..." --quality RUN/quality.json [--notes notes.md]

Writes ``src/genfer/reference_models/NAME/`` (fp16 ``model.safetensors``, ``config.yaml``,
``figures.json``, ``PROVENANCE.md`` with the files' sha256) and ``tests/fixtures/reference/NAME.safetensors``
(what the shipped weights compute on fixed renders; ``tests/apps/test_reference_models.py`` holds
every shipped model to it).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
from safetensors.torch import save_file

from genfer.apps.reference import export_reference, golden_outputs
from genfer.engine.checkpoint import load_method

GOLDEN = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "reference"


def figures_from(quality: dict) -> dict:
    """The figures a model's page and ``genfer ls`` show, from a quality benchmark's JSON."""
    if "transfer_expression_carried" in quality:  # benchmarks/tdgan_quality.py
        fig = {
            "expression_carried": round(quality["transfer_expression_carried"], 3),
            "identity_kept": round(quality["transfer_identity_kept"], 3),
            "M_ER_accuracy_heldout": round(quality["expression_accuracy_M_ER_heldout"], 3),
            "judge_expression_acc_on_renders": round(quality["judge_expression_acc_on_rendered_heldout"], 3),
            "judge_identity_acc_on_renders": round(quality["judge_identity_acc_on_new_renders"], 3),
            "copy_face_input_carries_expression": round(quality["reference_face_input_expression_match"], 3),
            "pairs": quality["pairs"],
        }
        fig["summary"] = (f"transfer: expression carried {fig['expression_carried']:.2f}, identity kept "
                          f"{fig['identity_kept']:.2f}; recognition {fig['M_ER_accuracy_heldout']:.3f} on held-out "
                          "identities (targets 0.80, 0.80, 0.95)")
        return fig
    e = quality["edited"]  # benchmarks/au_cyclegan_quality.py
    fig = {
        "au_mae_all": round(e["mae_all"], 3),
        "au_mae_active": round(e["mae_active"], 3),
        "identity_kept": round(quality["identity_kept"], 3),
        "judge_floor_au_mae_on_rendered_targets": round(quality["reference_rendered_target"]["mae_all"], 3),
        "copy_input_au_mae": round(quality["reference_unedited_input"]["mae_all"], 3),
        "reconstruction_l1": round(quality["reconstruction_l1"], 3),
        "faces": quality["faces"],
    }
    if "single_au_min_ratio_grid_aus" in quality:  # the edit grid's weakest AU, against the renderer's change
        fig["single_au_weakest_grid_ratio"] = round(quality["single_au_min_ratio_grid_aus"], 3)
    fig["summary"] = (f"AU edits: MAE {fig['au_mae_all']:.2f} (0..5 scale), identity kept {fig['identity_kept']:.2f} "
                      "on held-out identities")
    return fig


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", required=True, help="run or checkpoint directory")
    ap.add_argument("--name", required=True, help="reference model name (synthface-tdgan, synthface-au)")
    ap.add_argument("--command", required=True, help="the exact training command, for the provenance")
    ap.add_argument("--quality", required=True, help="the quality benchmark's JSON for this checkpoint")
    ap.add_argument("--commit", help="genfer's commit that trained the run (default: the current one)")
    ap.add_argument("--training-time", required=True, help="e.g. '120 min wall, 1 thread, 7,000 iterations'")
    ap.add_argument("--notes", help="a markdown file appended to the provenance (recipe, judging commands)")
    args = ap.parse_args()
    figures = figures_from(json.loads(Path(args.quality).read_text()))
    notes = Path(args.notes).read_text() if args.notes else ""
    facts = {"command": f"`{args.command}`", "training time": args.training_time}
    if args.commit:
        facts["commit"] = args.commit
    out = export_reference(args.run, args.name, facts, figures, notes)
    method, cfg = load_method(out)
    GOLDEN.mkdir(parents=True, exist_ok=True)
    golden = {k: v.contiguous() for k, v in golden_outputs(method, cfg).items()}
    save_file(golden, str(GOLDEN / f"{args.name}.safetensors"))
    size = (out / "model.safetensors").stat().st_size / 2**20
    print(f"written: {out} ({size:.2f} MiB) and {GOLDEN / args.name}.safetensors ({', '.join(golden)}); "
          f"threads {torch.get_num_threads()}")


if __name__ == "__main__":
    main()
