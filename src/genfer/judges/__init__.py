"""Judges: small CNNs trained on rendered SynthFace images that score generated ones."""

from genfer.judges.synthface import JudgeNet, cached_judges, judge_accuracy, judge_predict, train_judge

__all__ = ["JudgeNet", "cached_judges", "judge_accuracy", "judge_predict", "train_judge"]
