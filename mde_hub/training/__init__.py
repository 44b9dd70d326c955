"""Training mde-hub models with transformers' `Trainer` and the papers' recipes (train/train.py, train/recipes/).

* `arguments`: `ModelArguments`, `DataArguments`, `DepthTrainingArguments` (for `HfArgumentParser`);
* `recipes`: JSON recipes under command-line overrides (`parse_arguments`);
* `optimization`: the papers' parameter groups, optimisers and schedules;
* `data`: training and evaluation datasets of model inputs;
* `metrics`: streaming `compute_metrics` under a named protocol;
* `trainer`: `DepthTrainer` and the model/trainer builders;
* `record`: `training_record.json`;
* `run`: a whole run (`main`, the script's entry point);
* `shipping`: packaging the shipped checkpoints (fp16 export, README table, predictions figure; train/ship.py).
"""

from .arguments import DataArguments, DepthTrainingArguments, ModelArguments
from .data import TrainingData, build_datasets
from .metrics import StreamingDepthMetrics
from .recipes import ParsedArguments, load_recipe, parse_arguments
from .record import RECORD_NAME
from .run import main, run_training
from .trainer import DepthTrainer, build_model, build_trainer

__all__ = [
    "RECORD_NAME",
    "DataArguments",
    "DepthTrainer",
    "DepthTrainingArguments",
    "ModelArguments",
    "ParsedArguments",
    "StreamingDepthMetrics",
    "TrainingData",
    "build_datasets",
    "build_model",
    "build_trainer",
    "load_recipe",
    "main",
    "parse_arguments",
    "run_training",
]
