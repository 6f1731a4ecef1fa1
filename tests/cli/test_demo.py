"""`genfer demo` end to end on a shrunken preset: figures, report, images, and the step count it reports."""

from __future__ import annotations

import json

from genfer.apps.demo import run_demo

SMALL = ["model.image_size=32", "model.enc_widths=[4,8,8,8]", "model.inception_width=4", "model.n_inception=1",
         "model.fc_width=16", "model.noise_dim=4", "model.dec_width=8", "model.n_res_blocks=1",
         "model.dec_up_widths=[8,8,8,8]", "data.synth_identities=8", "data.synth_per_identity=4",
         "data.synth_test_identities=4", "data.synth_test_per_identity=14", "train.max_steps=3",
         "train.eval_every=2", "train.threads=1", "train.progress=false", "train.tensorboard=false"]


def test_demo_writes_report_with_the_iterations_it_trained(tmp_path):
    out = run_demo(out=str(tmp_path), name="d", overrides=SMALL, device="cpu")
    figures = json.loads((tmp_path / "d" / "demo.json").read_text())
    assert figures["iterations"] == 3 and figures["test_images"] == 56
    assert 0.0 <= figures["expression_accuracy"] <= 1.0
    md = out["report_md"].read_text()
    assert "3 iterations" in md and "at most\n4.5 minutes" in md
    # the preset asks for auto precision; the report says what it resolved to, and why
    from genfer.engine.precision import cpu_has_amx

    assert figures["precision"] == ("bf16" if cpu_has_amx() else "fp32")
    assert f"Precision: {figures['precision']} (train.precision auto" in md
    assert out["transfer_grid"].stat().st_size > 0 and out["confusion"].exists()
    # the shipped reference models' grids, each labelled with its model and figures
    from genfer.core.reference import reference_models

    page = out["report_html"].read_text()
    assert set(out["shipped_grids"]) == set(reference_models())
    for name, model in reference_models().items():
        assert out["shipped_grids"][name].stat().st_size > 0
        assert f"`{name}` (shipped with genfer" in md and model.figures["summary"] in md
        assert f'<img src="shipped_{name}.png"' in page
