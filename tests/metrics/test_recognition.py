import json

import pytest
import torch
from PIL import Image

from genfer.core.registry import METRICS
from genfer.metrics import (
    RecognitionMetric,
    confusion_matrix,
    kfold_summary,
    plot_confusion,
    recognition_report,
)

NAMES = ["a", "b", "c"]
PREDS = torch.tensor([0, 0, 1, 1, 2, 2, 0, 1])
TARGETS = torch.tensor([0, 0, 1, 2, 2, 2, 1, 1])


def test_confusion_rows_are_true_classes():
    cm = confusion_matrix(PREDS, TARGETS, 3)
    assert cm.dtype == torch.int64
    assert cm.tolist() == [[2, 0, 0], [1, 2, 0], [0, 1, 2]]


def test_confusion_rejects_out_of_range():
    with pytest.raises(ValueError, match="outside"):
        confusion_matrix(torch.tensor([3]), torch.tensor([0]), 3)


def test_report_hand_computed():
    r = recognition_report(PREDS, TARGETS, NAMES)
    json.dumps(r)
    assert r["accuracy"] == pytest.approx(6 / 8)
    assert r["mean_class_accuracy"] == pytest.approx((1 + 2 / 3 + 2 / 3) / 3)
    pa, ra = 2 / 3, 1.0
    pb, rb = 2 / 3, 2 / 3
    pc, rc = 1.0, 2 / 3
    f = [2 * p * r / (p + r) for p, r in ((pa, ra), (pb, rb), (pc, rc))]
    assert r["per_class"]["a"]["precision"] == pytest.approx(pa)
    assert r["per_class"]["c"]["recall"] == pytest.approx(rc)
    assert r["per_class"]["b"]["support"] == 3
    assert r["macro_f1"] == pytest.approx(sum(f) / 3)
    assert r["confusion_normalised"][1] == pytest.approx([1 / 3, 2 / 3, 0])


def test_report_zero_division_and_absent_class():
    # class c never occurs and is never predicted: excluded from macro-F1 and mean class accuracy
    r = recognition_report(torch.tensor([0, 0]), torch.tensor([0, 1]), NAMES)
    assert r["per_class"]["b"]["precision"] == 0.0
    assert r["macro_f1"] == pytest.approx((2 * 0.5 / 1.5 + 0) / 2)
    assert r["mean_class_accuracy"] == pytest.approx(0.5)
    assert r["confusion_normalised"][2] == [0.0, 0.0, 0.0]


def test_accumulating_metric_equals_functional():
    g = torch.Generator().manual_seed(1)
    logits = torch.randn(50, 3, generator=g)
    targets = torch.randint(0, 3, (50,), generator=g)
    m = RecognitionMetric(NAMES)
    for i in range(0, 50, 7):
        m.update(logits[i : i + 7], targets[i : i + 7])
    m.update(torch.tensor([1]), torch.tensor([-1]))  # unknown label is counted, not scored
    r = m.compute()
    ref = recognition_report(logits.argmax(1), targets, NAMES)
    assert r["ignored"] == 1
    assert {k: v for k, v in r.items() if k != "ignored"} == ref
    assert m.compute() == r  # compute does not consume state
    m.reset()
    assert m.compute()["num_samples"] == 0


def test_kfold_summary_uses_sample_std():
    s = kfold_summary([0.8, 0.9, 1.0])
    assert s["mean"] == pytest.approx(0.9)
    assert s["std"] == pytest.approx(0.1)
    assert kfold_summary([0.5])["std"] == 0.0


def test_plot_confusion_writes_png(tmp_path):
    r = recognition_report(PREDS, TARGETS, ["neutral", "happiness", "surprise"])
    p = tmp_path / "sub" / "cm.png"
    plot_confusion(torch.tensor(r["confusion_normalised"]), r["class_names"], p, title="demo")
    img = Image.open(p)
    assert img.format == "PNG" and img.width > 3 * 64 and img.height > 3 * 64
    # the darkest cell (value 1.0, row 0 col 0) is drawn blue, an empty cell white
    colours = {c for _, c in img.convert("RGB").getcolors(maxcolors=1 << 20)}
    assert (8, 48, 107) in colours and (255, 255, 255) in colours


def test_accuracy_registered():
    p = METRICS.get("accuracy")
    m = p.build(class_names=NAMES)
    m.update(PREDS, TARGETS)
    assert m.compute()["accuracy"] == pytest.approx(0.75)
