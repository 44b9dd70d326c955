"""Evaluation: the papers' protocols, alignment of relative predictions, the nine metrics, and `evaluate` (a model)
and `evaluate_predictions` (saved predictions) over whole data sets; the published numbers to compare with.
`EvaluationResult.to_json` writes the evaluation JSON and `read_evaluation` (`EvaluationResult.from_json`) reads it."""

from .evaluate import DatasetRecord, EvaluationResult, evaluate, evaluate_predictions, read_evaluation

__all__ = ["DatasetRecord", "EvaluationResult", "evaluate", "evaluate_predictions", "read_evaluation"]
