"""``genfer eval``: recognition figures of a checkpoint on a labelled test set, written to disk."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from genfer.apps.inference import predict_expressions
from genfer.core.errors import OutputError
from genfer.core.paths import check_writable
from genfer.data.loaders import load_source
from genfer.engine.checkpoint import load_method, resolve_checkpoint
from genfer.metrics.recognition import confusion_matrix, plot_confusion, report_from_confusion
from genfer.models.capabilities import require


def evaluate_checkpoint(
    checkpoint: str | Path,
    data: str | None = None,
    split: str = "test",
    out_dir: str | Path | None = None,
    device: str = "cpu",
) -> dict[str, Any]:
    """Accuracy, per-class recall and the confusion matrix of a recogniser checkpoint.

    The classes are the method's own (``Classifier.classes``); test labels index them.

    Args:
        checkpoint: run or checkpoint directory.
        data: ``synthface`` or ``READER:PATH``; default: the run's own expression data.
        split: which split of ``data``.
        out_dir: where ``metrics.json``, ``confusion.json`` and ``confusion.png`` go (default:
            ``<checkpoint>/eval``).
        device: torch device for inference.

    Returns:
        The report (also written as ``metrics.json``), with the checkpoint, data and split, and
        ``skipped_items``: the test items left out under ``?on_error=skip``.

    Raises:
        genfer.models.capabilities.CapabilityError: the checkpoint's method is not a ``Classifier``.
        genfer.core.errors.OutputError: ``out_dir`` cannot be written (checked before inference; if
            writing still fails, the error's ``partial`` holds the report).
    """
    ckpt = resolve_checkpoint(checkpoint)
    # checked before any inference, so a long evaluation never ends in an unwritable folder
    out = check_writable(Path(out_dir) if out_dir else ckpt / "eval", folder=True, option="--out")
    method, cfg = load_method(ckpt, device)
    require(method, "classify", "genfer eval", source=checkpoint)
    classes = tuple(method.classes)
    spec = data or cfg.data.expressions
    test = load_source(spec, split, cfg.model.image_size, cfg.model.channels, cfg, "expressions")
    probs = predict_expressions(method, test.images)
    cm = confusion_matrix(probs.argmax(1), test.expressions, len(classes))
    report = report_from_confusion(cm, classes)
    # items left out under ?on_error=skip are part of the result: the figures do not cover them
    report = {"checkpoint": str(ckpt), "data": spec, "split": split, **report, "skipped_items": test.skipped}
    try:
        out.mkdir(parents=True, exist_ok=True)
        (out / "metrics.json").write_text(json.dumps(report, indent=2))
        (out / "confusion.json").write_text(
            json.dumps({"class_names": list(classes), "confusion": report["confusion"],
                        "confusion_normalised": report["confusion_normalised"]}, indent=2)
        )
        plot_confusion(torch.tensor(report["confusion_normalised"]), classes, out / "confusion.png")
    except OSError as e:  # the folder changed since the check: hand the figures back with the error
        err = OutputError(f"cannot write the evaluation ({e.strerror or e})", path=e.filename or out,
                          fix="the figures are printed above as JSON; choose another --out to keep the files")
        err.partial = report
        raise err from e
    report["out_dir"] = str(out)
    return report
