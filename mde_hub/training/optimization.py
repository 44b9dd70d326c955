"""The papers' optimisers and schedules (docs/MODELS.md §1, §2.3, §3.3, §4.3, §5.2), from `DepthTrainingArguments`.

* Parameter groups: the encoder (`model.encoder`) at `learning_rate * encoder_lr_factor` with `weight_decay`, the
  rest at `learning_rate` with `decoder_weight_decay` (default `weight_decay`); frozen parameters are left out.
  Every parameter of a group decays, biases and norms included, as in the papers' code (transformers' default
  exempts them).
* Optimiser: `torch.optim.Adam` (weight decay as an L2 term) or `AdamW` (decoupled), with `adam_beta1/2`,
  `adam_epsilon` and `amsgrad`.
* Schedule: transformers' `lr_scheduler_type` with `lr_scheduler_kwargs` (constant, polynomial, reduce_lr_on_plateau,
  ...), or with `one_cycle` PyTorch's `OneCycleLR` whose keyword arguments are `lr_scheduler_kwargs`. OneCycleLR is
  given one maximum learning rate per group (each group's own lr), so an encoder factor stays in effect; AdaBins'
  code passes a scalar, which overrides its encoder lr/10 (see train/recipes/README.md).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from .arguments import DepthTrainingArguments


def parameter_groups(model: nn.Module, args: DepthTrainingArguments) -> list[dict[str, Any]]:
    """The encoder and decoder groups (empty ones dropped) with their lr and weight decay."""
    encoder = getattr(model, "encoder", None)
    if encoder is None and args.encoder_lr_factor != 1.0:
        raise ValueError(f"encoder_lr_factor needs a model with an `encoder`; {type(model).__name__} has none")
    encoder_ids = {id(p) for p in encoder.parameters()} if encoder is not None else set()
    trainable = [p for p in model.parameters() if p.requires_grad]
    decoder_decay = args.weight_decay if args.decoder_weight_decay is None else args.decoder_weight_decay
    groups = [
        {
            "params": [p for p in trainable if id(p) in encoder_ids],
            "lr": args.learning_rate * args.encoder_lr_factor,
            "weight_decay": args.weight_decay,
        },
        {"params": [p for p in trainable if id(p) not in encoder_ids], "lr": args.learning_rate, "weight_decay": decoder_decay},
    ]
    return [group for group in groups if group["params"]]


def build_optimizer(model: nn.Module, args: DepthTrainingArguments) -> torch.optim.Optimizer:
    optimizer_class = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW}[args.optimizer]
    return optimizer_class(
        parameter_groups(model, args),
        lr=args.learning_rate,
        betas=(args.adam_beta1, args.adam_beta2),
        eps=args.adam_epsilon,
        amsgrad=args.amsgrad,
    )


def one_cycle_schedule(
    optimizer: torch.optim.Optimizer, num_training_steps: int, kwargs: dict[str, Any]
) -> torch.optim.lr_scheduler.OneCycleLR:
    """`OneCycleLR` over `num_training_steps` peaking at each group's lr; `kwargs` are OneCycleLR's other arguments."""
    max_lrs = [group.get("max_lr", group["lr"]) for group in optimizer.param_groups]  # "max_lr": set by a previous one
    try:
        return torch.optim.lr_scheduler.OneCycleLR(
            optimizer, max_lr=max_lrs, total_steps=num_training_steps, **kwargs
        )
    except TypeError as error:
        raise ValueError(f"lr_scheduler_kwargs {kwargs} are not arguments of OneCycleLR: {error}") from None
