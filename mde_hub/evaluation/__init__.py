"""Evaluation: the papers' protocols, alignment of relative predictions, the nine metrics, and `evaluate` (a model)
and `evaluate_predictions` (saved predictions) over whole data sets; the published numbers to compare with."""

from .evaluate import DatasetRecord, EvaluationResult, evaluate, evaluate_predictions

__all__ = ["DatasetRecord", "EvaluationResult", "evaluate", "evaluate_predictions"]
