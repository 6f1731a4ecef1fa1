"""Expression-recognition figures: accuracy, per-class precision/recall/F1, confusion matrices.

Definitions (they match scikit-learn's with ``zero_division=0``):

- accuracy: correct / total.
- mean class accuracy: mean over classes *present in the targets* of per-class recall (RAF-DB's
  "average accuracy").
- precision_k = TP_k / predicted_k, recall_k = TP_k / true_k, F1_k = 2PR / (P + R); a ratio
  with a zero denominator is 0.
- macro-F1: mean F1 over classes that occur in the targets or the predictions (scikit-learn's
  default label set).
- confusion matrix: rows are true classes, columns predicted; the normalised matrix divides each
  row by its count (rows with no samples stay 0).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from genfer.metrics.base import Metric


def confusion_matrix(preds: Tensor, targets: Tensor, num_classes: int) -> Tensor:
    """Count (true, predicted) pairs.

    Args:
        preds: predicted class indices, ``[N]`` integer.
        targets: true class indices, ``[N]`` integer.
        num_classes: K.

    Returns:
        ``[K, K]`` int64, ``cm[t, p]`` = number of samples of true class t predicted as p.
    """
    preds = preds.reshape(-1).long()
    targets = targets.reshape(-1).long()
    if preds.shape != targets.shape:
        raise ValueError(f"preds and targets differ in length: {preds.numel()} vs {targets.numel()}")
    for what, t in (("preds", preds), ("targets", targets)):
        if t.numel() and (int(t.min()) < 0 or int(t.max()) >= num_classes):
            raise ValueError(f"{what} outside 0..{num_classes - 1}: min {int(t.min())}, max {int(t.max())}")
    flat = targets * num_classes + preds
    return torch.bincount(flat.cpu(), minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def report_from_confusion(cm: Tensor, class_names: Sequence[str]) -> dict[str, Any]:
    """All recognition figures from a ``[K, K]`` confusion matrix (rows = true).

    Returns:
        A JSON-serialisable dict: ``num_samples``, ``accuracy``, ``mean_class_accuracy``,
        ``macro_f1``, ``per_class`` (name -> precision, recall, f1, support), ``class_names``,
        ``confusion`` (counts) and ``confusion_normalised`` (row-normalised), all as plain lists.
    """
    cm = cm.detach().cpu().to(torch.float64)
    k = cm.shape[0]
    if cm.shape != (k, k) or len(class_names) != k:
        raise ValueError(f"confusion matrix {tuple(cm.shape)} does not match {len(class_names)} class names")
    total = float(cm.sum())
    tp = cm.diagonal()
    support = cm.sum(1)
    predicted = cm.sum(0)
    precision = torch.where(predicted > 0, tp / predicted.clamp(min=1), torch.zeros_like(tp))
    recall = torch.where(support > 0, tp / support.clamp(min=1), torch.zeros_like(tp))
    denom = precision + recall
    f1 = torch.where(denom > 0, 2 * precision * recall / denom.clamp(min=1e-300), torch.zeros_like(tp))
    present = support > 0
    seen = present | (predicted > 0)
    rows = cm / support.clamp(min=1).unsqueeze(1)
    return {
        "num_samples": int(total),
        "accuracy": float(tp.sum() / total) if total else 0.0,
        "mean_class_accuracy": float(recall[present].mean()) if present.any() else 0.0,
        "macro_f1": float(f1[seen].mean()) if seen.any() else 0.0,
        "per_class": {
            name: {
                "precision": float(precision[i]),
                "recall": float(recall[i]),
                "f1": float(f1[i]),
                "support": int(support[i]),
            }
            for i, name in enumerate(class_names)
        },
        "class_names": list(class_names),
        "confusion": [[int(v) for v in row] for row in cm.tolist()],
        "confusion_normalised": [[float(v) for v in row] for row in rows.tolist()],
    }


def recognition_report(preds: Tensor, targets: Tensor, class_names: Sequence[str]) -> dict[str, Any]:
    """Accuracy, mean class accuracy, per-class P/R/F1, macro-F1 and confusion matrices.

    Args:
        preds: predicted class indices, ``[N]``.
        targets: true class indices, ``[N]``.
        class_names: K names; index i names class i.

    Returns:
        See ``report_from_confusion``.
    """
    return report_from_confusion(confusion_matrix(preds, targets, len(class_names)), class_names)


def kfold_summary(values: Sequence[float]) -> dict[str, Any]:
    """Mean and sample standard deviation (ddof=1) of per-fold figures.

    Returns:
        ``{"mean", "std", "n", "ddof", "values"}``; std is 0 for a single fold.
    """
    vals = [float(v) for v in values]
    if not vals:
        raise ValueError("kfold_summary needs at least one value")
    n = len(vals)
    mean = sum(vals) / n
    std = math.sqrt(sum((v - mean) ** 2 for v in vals) / (n - 1)) if n > 1 else 0.0
    return {"mean": mean, "std": std, "n": n, "ddof": 1, "values": vals}


def plot_confusion(
    cm_normalised: Tensor | Sequence[Sequence[float]],
    class_names: Sequence[str],
    path: str | Path,
    title: str = "",
    cell: int = 64,
) -> None:
    """Write a PNG heatmap of a row-normalised confusion matrix (rows = true, columns = predicted).

    Args:
        cm_normalised: ``[K, K]`` values in [0, 1].
        class_names: K names, written along both axes.
        path: output PNG path (parent folders are created).
        title: optional line above the matrix.
        cell: cell size in pixels.
    """
    from PIL import Image, ImageDraw, ImageFont

    m = torch.as_tensor(cm_normalised, dtype=torch.float64).cpu()
    k = m.shape[0]
    if m.shape != (k, k) or len(class_names) != k:
        raise ValueError(f"matrix {tuple(m.shape)} does not match {len(class_names)} class names")
    font = ImageFont.load_default(size=max(10, cell // 4))
    small = ImageFont.load_default(size=max(9, cell // 5))
    probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))

    def text_size(s: str, f: Any) -> tuple[int, int]:
        x0, y0, x1, y1 = probe.textbbox((0, 0), s, font=f)
        return x1 - x0, y1 - y0

    label_w = max(text_size(n, font)[0] for n in class_names) + 12
    axis_h = text_size("Ag", font)[1] + 10
    title_h = axis_h if title else 0
    left = label_w + axis_h  # row labels plus the rotated "true" axis title
    top = title_h + label_w + axis_h  # rotated column labels plus the "predicted" axis title
    width, height = left + k * cell + 8, top + k * cell + 8
    img = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(img)
    if title:
        draw.text(((width - text_size(title, font)[0]) // 2, 4), title, fill="black", font=font)
    pred = "predicted"
    draw.text((left + (k * cell - text_size(pred, font)[0]) // 2, title_h + 2), pred, fill="black", font=font)
    true_lbl = Image.new("RGB", (text_size("true", font)[0] + 4, axis_h), "white")
    ImageDraw.Draw(true_lbl).text((2, 2), "true", fill="black", font=font)
    true_lbl = true_lbl.rotate(90, expand=True)
    img.paste(true_lbl, (2, top + (k * cell - true_lbl.height) // 2))
    for j, name in enumerate(class_names):
        w, h = text_size(name, font)
        lbl = Image.new("RGB", (w + 6, h + 8), "white")
        ImageDraw.Draw(lbl).text((3, 0), name, fill="black", font=font)
        lbl = lbl.rotate(90, expand=True)
        img.paste(lbl, (left + j * cell + (cell - lbl.width) // 2, top - lbl.height - 4))
    for i, name in enumerate(class_names):
        w, h = text_size(name, font)
        draw.text((left - w - 6, top + i * cell + (cell - h) // 2), name, fill="black", font=font)
        for j in range(k):
            v = float(m[i, j])
            c = max(0.0, min(1.0, v))
            # white -> dark blue ramp; values >= 0.5 are written in white for contrast
            rgb = (int(255 - 247 * c), int(255 - 207 * c), int(255 - 148 * c))
            x0, y0 = left + j * cell, top + i * cell
            draw.rectangle((x0, y0, x0 + cell - 1, y0 + cell - 1), fill=rgb, outline=(200, 200, 200))
            s = f"{v:.2f}"
            tw, th = text_size(s, small)
            draw.text(
                (x0 + (cell - tw) // 2, y0 + (cell - th) // 2 - 2),
                s,
                fill="white" if c >= 0.5 else "black",
                font=small,
            )
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path, format="PNG")


class RecognitionMetric(Metric):
    """Accumulates a confusion matrix over batches (and ranks) and reports recognition figures.

    Args:
        class_names: K class names (e.g. ``genfer.data.labels.BASIC7``).
        ignore_index: targets equal to this are skipped and counted in ``ignored``
            (``genfer.data.labels.UNKNOWN`` by default).

    Example::

        m = RecognitionMetric(BASIC7)
        for batch in loader:
            m.update(model(batch["image"]), batch["expression"])
        report = m.compute()  # recognition_report(...) fields plus "ignored"
    """

    name = "accuracy"

    def __init__(self, class_names: Sequence[str], ignore_index: int = -1) -> None:
        super().__init__()
        self.class_names = list(class_names)
        self.num_classes = len(self.class_names)
        self.ignore_index = ignore_index
        k = self.num_classes
        self.add_state("confusion", torch.zeros(k, k, dtype=torch.float64), "sum")
        self.add_state("ignored", torch.zeros((), dtype=torch.float64), "sum")

    def update(self, outputs: Tensor, targets: Tensor) -> None:
        """Add a batch.

        Args:
            outputs: logits or probabilities ``[N, K]`` (argmax is taken) or predicted indices ``[N]``.
            targets: true class indices ``[N]``.
        """
        if outputs.ndim == 2:
            if outputs.shape[1] != self.num_classes:
                raise ValueError(f"outputs have {outputs.shape[1]} classes, expected {self.num_classes}")
            preds = outputs.argmax(1)
        elif outputs.ndim == 1:
            preds = outputs
        else:
            raise ValueError(f"outputs must be [N, K] scores or [N] indices, got {tuple(outputs.shape)}")
        preds = preds.detach().reshape(-1).long().cpu()
        targets = targets.detach().reshape(-1).long().cpu()
        keep = targets != self.ignore_index
        self._add("ignored", (~keep).sum())
        self._add("confusion", confusion_matrix(preds[keep], targets[keep], self.num_classes))

    def compute(self) -> dict[str, Any]:
        s = self.state()
        out = report_from_confusion(s["confusion"].round().long(), self.class_names)
        out["ignored"] = int(s["ignored"])
        return out
