"""`DepthTrainer`: transformers' `Trainer` with the papers' optimisers, and the model and trainer builders."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from transformers import AutoConfig, AutoModelForDepthEstimation, Trainer, TrainerCallback, set_seed

from ..models.auto import image_processor_for
from ..models.configuration_utils import BackboneDepthConfig
from ..models.modeling_utils import DepthEstimationPreTrainedModel
from ..models.registry import get_entry
from .arguments import DataArguments, DepthTrainingArguments, ModelArguments
from .data import TrainingData, build_datasets
from .metrics import StreamingDepthMetrics, predicted_depth_only
from .optimization import build_optimizer, one_cycle_schedule


class DepthTrainer(Trainer):
    """`Trainer` whose optimiser and schedule follow `DepthTrainingArguments` (see `optimization`), optionally with
    the encoder's BatchNorm statistics frozen (BTS)."""

    args: DepthTrainingArguments

    def create_optimizer(self, model: nn.Module | None = None) -> torch.optim.Optimizer:
        if self.optimizer is None:
            self.optimizer = build_optimizer(self.model if model is None else model, self.args)
        return self.optimizer

    def create_scheduler(
        self, num_training_steps: int, optimizer: torch.optim.Optimizer | None = None
    ) -> torch.optim.lr_scheduler.LRScheduler:
        if self.lr_scheduler is None and self.args.one_cycle:
            kwargs = dict(self.args.lr_scheduler_kwargs or {})
            self.lr_scheduler = one_cycle_schedule(optimizer or self.optimizer, num_training_steps, kwargs)
            self._created_lr_scheduler = True  # as Trainer does: a later train() call builds a fresh schedule
        return super().create_scheduler(num_training_steps, optimizer)

    def compute_loss(self, model: nn.Module, inputs: dict, *args, **kwargs):
        if self.args.freeze_encoder_batch_norm and model.training:
            for module in self.model.encoder.modules():
                if isinstance(module, nn.modules.batchnorm._BatchNorm):
                    module.eval()
        return super().compute_loss(model, inputs, *args, **kwargs)


class EpochSeedCallback(TrainerCallback):
    """Tells the training set which epoch starts (`ModelInputDataset.set_epoch`), so its augmentations depend only
    on (seed, epoch, index): the same in DataLoader workers and in a run resumed mid-epoch.

    At an epoch's start `state.epoch` is the number of epochs completed, or, when resuming, the fractional epoch of
    the checkpoint, whose integer part is the epoch being resumed."""

    def __init__(self, dataset: torch.utils.data.Dataset) -> None:
        self.dataset = dataset

    def on_epoch_begin(self, args, state, control, **kwargs) -> None:
        self.dataset.set_epoch(int(state.epoch or 0))


def build_model(args: ModelArguments) -> DepthEstimationPreTrainedModel:
    """A new model of `args.model_type` (preset + overrides + encoder weights) or the saved `model_name_or_path`."""
    overrides = dict(args.config_overrides)
    if args.model_name_or_path is not None:
        config = AutoConfig.from_pretrained(args.model_name_or_path, trust_remote_code=False, **overrides)
        if args.model_type is not None and config.model_type != args.model_type:
            raise ValueError(
                f"{args.model_name_or_path} holds a {config.model_type} model, not the requested {args.model_type}"
            )
        # safetensors only (a pickled checkpoint can run code), as `mde_hub.inference.load_depth_model`
        return AutoModelForDepthEstimation.from_pretrained(
            args.model_name_or_path, config=config, use_safetensors=True, trust_remote_code=False
        )
    entry = get_entry(args.model_type)
    if args.backbone_pretrained or args.backbone_weights:
        if not issubclass(entry.config_class, BackboneDepthConfig):
            raise ValueError(f"{args.model_type} has no pretrained encoder to load (no timm backbone)")
        overrides.update(backbone_pretrained=args.backbone_pretrained, backbone_weights=args.backbone_weights)
    return entry.model_class(entry.config(args.config_preset, **overrides))


def build_trainer(
    model_args: ModelArguments,
    data_args: DataArguments,
    training_args: DepthTrainingArguments,
    callbacks: Sequence[TrainerCallback] = (),
) -> tuple[DepthTrainer, TrainingData]:
    """The model (seeded with `training_args.seed`), its datasets and a ready `DepthTrainer`."""
    set_seed(training_args.seed)
    model = build_model(model_args)
    if training_args.freeze_encoder_layers:
        if not hasattr(model, "freeze_encoder_layers"):
            raise ValueError(f"freeze_encoder_layers: {type(model).__name__} has no freeze_encoder_layers()")
        model.freeze_encoder_layers()
    if training_args.freeze_encoder_batch_norm and not hasattr(model, "encoder"):
        raise ValueError(f"freeze_encoder_batch_norm: {type(model).__name__} has no encoder")
    data = build_datasets(data_args, model.config, training_args.seed, training_args.device)
    trainer = DepthTrainer(
        model=model,
        args=training_args,
        train_dataset=data.train,
        eval_dataset=data.eval,
        processing_class=image_processor_for(model.config),
        compute_metrics=StreamingDepthMetrics(data_args.eval_protocol),
        preprocess_logits_for_metrics=predicted_depth_only,
        callbacks=[EpochSeedCallback(data.train), *callbacks],
    )
    return trainer, data
