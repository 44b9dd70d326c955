"""The three argument dataclasses of `train/train.py` (for `transformers.HfArgumentParser`).

`ModelArguments` says which model to build, `DataArguments` what to train and evaluate it on, and
`DepthTrainingArguments` extends transformers' `TrainingArguments` (learning rate, batch size, epochs, `max_steps`,
`max_grad_norm`, `bf16`, checkpoints, `eval_strategy`, `push_to_hub`, ...) with the papers' optimiser settings, which
`DepthTrainer` builds instead of transformers' default AdamW (`optim` is therefore ignored).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from transformers import TrainingArguments

from ..data.augmentation import get_augmentation
from ..data.specs import TAIL_PREFIX, DatasetSpec
from ..evaluation.protocols import get_protocol
from ..models.auto import MODEL_CLASSES
from ..models.registry import entries, get_entry

MODEL_PRESETS = tuple(dict.fromkeys(name for entry in entries() for name in entry.presets))
"""Every preset name of the registered models (`mde_hub.models.registry`); each model has its own subset."""
DATASETS = ("synthetic", "nyu", "kitti", "folder", "hf", "mix")
OPTIMIZERS = ("adam", "adamw")


def parse_json_object(value: dict | str | None, name: str) -> dict[str, Any]:
    """A dict given as a dict (recipe) or as a JSON object string (command line); {} for None."""
    if value is None:
        return {}
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as error:
            raise ValueError(f"{name} must be a JSON object; could not parse {value!r}: {error}") from None
    if not isinstance(value, dict):
        raise ValueError(f"{name} must be a JSON object (a dict); got {value!r}")
    return value


def check_mix_splits(mix_splits: dict[str, Any], mix_folders: list[str]) -> None:
    """Each key of `mix_splits` is one of `mix_folders`, each value `{"train": SPLIT, "eval": SPLIT}` of two
    different split names (a tail split is `mix_held_out_fraction`'s)."""
    for spec, splits in mix_splits.items():
        if spec not in mix_folders:
            raise ValueError(f"mix_splits names {spec!r}, which is not one of mix_folders ({', '.join(mix_folders)})")
        if not isinstance(splits, dict) or set(splits) != {"train", "eval"}:
            raise ValueError(f'mix_splits[{spec!r}] must be {{"train": SPLIT, "eval": SPLIT}}; got {splits!r}')
        for role, split in splits.items():
            if not isinstance(split, str) or not split or split.startswith(TAIL_PREFIX):
                raise ValueError(f"mix_splits[{spec!r}][{role!r}] must name a split of the data set (a tail split is "
                                 f"set by mix_held_out_fraction); got {split!r}")
        if splits["train"] == splits["eval"]:
            raise ValueError(f"mix_splits[{spec!r}] trains and evaluates on the same split {splits['train']!r}")


@dataclass
class ModelArguments:
    """The model: a new one of `model_type` (a `config_preset` plus `config_overrides`) or a saved checkpoint."""

    model_type: str | None = field(
        default=None, metadata={"help": f"model to build: one of {', '.join(sorted(MODEL_CLASSES))}"}
    )
    config_preset: str = field(
        default="default",
        metadata={
            "help": "configuration preset of the model's registry entry: 'default' (the paper's NYU model), or "
            f"{', '.join(MODEL_PRESETS[1:])} where the model has it (e.g. 'kitti'; 'tiny' for tests)"
        },
    )
    config_overrides: dict | str | None = field(
        default=None, metadata={"help": 'config fields to override, as a JSON object, e.g. \'{"max_depth": 80}\''}
    )
    model_name_or_path: str | None = field(
        default=None, metadata={"help": "start from this saved mde-hub checkpoint (directory) instead of a new model"}
    )
    backbone_pretrained: bool = field(
        default=False, metadata={"help": "start the encoder from timm's ImageNet weights (downloads them)"}
    )
    backbone_weights: str | None = field(
        default=None, metadata={"help": "start the encoder from this local weights file (safetensors or state dict)"}
    )

    def __post_init__(self) -> None:
        self.config_overrides = parse_json_object(self.config_overrides, "config_overrides")
        if self.model_type is None and self.model_name_or_path is None:
            raise ValueError("give model_type (a new model) or model_name_or_path (a saved checkpoint)")
        if self.model_type is not None and self.model_type not in MODEL_CLASSES:
            raise ValueError(f"unknown model_type {self.model_type!r}; choose one of {', '.join(sorted(MODEL_CLASSES))}")
        if self.config_preset not in MODEL_PRESETS:
            raise ValueError(f"unknown config_preset {self.config_preset!r}; choose one of {', '.join(MODEL_PRESETS)}")
        if self.model_type is not None and self.config_preset not in get_entry(self.model_type).presets:
            presets = ", ".join(get_entry(self.model_type).presets)
            raise ValueError(f"{self.model_type} has no config_preset {self.config_preset!r}; its presets: {presets}")
        if self.model_name_or_path is not None and (
            self.config_preset != "default" or self.backbone_pretrained or self.backbone_weights
        ):
            raise ValueError(
                "config_preset, backbone_pretrained and backbone_weights build a new model; a checkpoint given as "
                "model_name_or_path brings its own configuration and weights (use config_overrides to change it)"
            )


@dataclass
class DataArguments:
    """Training and evaluation data, their augmentation and the evaluation protocol."""

    dataset: str = field(default="synthetic", metadata={"help": f"one of {', '.join(DATASETS)}"})
    dataset_path: str | None = field(
        default=None,
        metadata={
            "help": "nyu: DenseDepth's nyu_data.zip (or its folder), or with train_file_list the BTS/AdaBins sync "
            "folder; kitti: the raw KITTI drives; folder: a data set in any layout `mde-hub data inspect` knows (PATH "
            "or LAYOUT:PATH); hf: parquet file or folder"
        },
    )
    eval_dataset_path: str | None = field(
        default=None, metadata={"help": "evaluation data if not in dataset_path (folder: required for evaluation)"}
    )
    layout: str | None = field(default=None, metadata={"help": "folder: the layout name (default: detected)"})
    mix_folders: list[str] | None = field(
        default=None,
        metadata={
            "help": "mix: folders of real frames as data-set specs, LAYOUT:PATH (e.g. "
            "icl:../shared/data/rgbd/icl_livingroom1) or PATH, mixed with the synthetic frames; each held out by its "
            "tail (mix_held_out_fraction) unless mix_splits names its splits"
        },
    )
    mix_held_out_fraction: float = field(
        default=0.2,
        metadata={"help": "mix: the last fraction of each folder's frames (by index) is held out for evaluation"},
    )
    mix_splits: dict | str | None = field(
        default=None,
        metadata={
            "help": "mix: named splits of some mix_folders instead of their tail, as a JSON object mapping a spec of "
            'mix_folders to {"train": SPLIT, "eval": SPLIT}, e.g. \'{"extra_real:../shared/data/rgbd/extra_real": '
            '{"train": "train_streets", "eval": "heldout_streets"}}\''
        },
    )
    train_split: str | None = field(
        default=None,
        metadata={
            "help": "split to train on (nyu zip, folder, hf; default: train, or all frames of a folder layout "
            "without splits; folder: also tail:F, the last fraction F of the frames)"
        },
    )
    eval_split: str | None = field(
        default=None,
        metadata={
            "help": "split to evaluate on (nyu zip, folder, hf; default: test, or all frames of a folder layout "
            "without splits; folder: also tail:F, the last fraction F of the frames)"
        },
    )
    train_file_list: str | None = field(
        default=None,
        metadata={
            "help": "nyu (sync layout) and kitti: BTS-style list of training pairs; folder: the layout's split file "
            "(nyu_labeled: splits.mat, default beside the .mat; kitti_eigen: a BTS-style list)"
        },
    )
    eval_file_list: str | None = field(
        default=None,
        metadata={"help": "nyu (sync layout) and kitti: BTS-style list of evaluation pairs; folder: as train_file_list"},
    )
    kitti_gt_path: str | None = field(
        default=None,
        metadata={"help": "kitti, folder (kitti_eigen): folder of the annotated depth maps (data_depth_annotated)"},
    )
    depth_field: str | None = field(
        default=None,
        metadata={
            "help": "folder (nyu_labeled): rawDepths (raw Kinect depth, 0 = invalid; the default) or depths "
            "(in-painted)"
        },
    )
    hf_depth_scale: float | None = field(
        default=None, metadata={"help": "hf: stored depth units per metre for integer depth maps (1000 = mm)"}
    )
    synthetic_kind: str = field(default="indoor", metadata={"help": "synthetic: 'indoor' (NYU camera) or 'outdoor'"})
    synthetic_size: int = field(default=1000, metadata={"help": "synthetic: number of training frames"})
    synthetic_eval_size: int = field(default=100, metadata={"help": "synthetic: number of held-out frames"})
    synthetic_height: int = field(default=240, metadata={"help": "synthetic: frame height"})
    synthetic_width: int = field(default=320, metadata={"help": "synthetic: frame width"})
    synthetic_seed: int = field(default=0, metadata={"help": "synthetic: seed of the training frames"})
    synthetic_eval_seed: int = field(
        default=1, metadata={"help": "synthetic: seed of the held-out frames (must differ from synthetic_seed)"}
    )
    synthetic_sparse: bool = field(default=False, metadata={"help": "synthetic outdoor: LiDAR-like sparse depth"})
    synthetic_prerender: bool = field(
        default=True, metadata={"help": "synthetic: render every frame once up front (else on every read)"}
    )
    synthetic_cache_dir: str | None = field(
        default=None,
        metadata={
            "help": "synthetic, mix: keep the pre-rendered frames in this folder (one .npz per kind, count, frame "
            "size and seed) and read them from there in later runs instead of rendering them again"
        },
    )
    augmentation: str = field(default="none", metadata={"help": "training augmentation preset (mde_hub.data.augmentation)"})
    train_image_size: list[int] | None = field(
        default=None,
        metadata={
            "help": "height width the training images are resized to (default: the model's input size); set it to "
            "the augmentation's crop (e.g. 416 544 for bts_nyu) to train on the crops unresized"
        },
    )
    eval_protocol: str = field(default="none", metadata={"help": "evaluation protocol (mde_hub.evaluation.protocols)"})
    max_train_samples: int | None = field(default=None, metadata={"help": "train on the first N samples only"})
    max_eval_samples: int | None = field(default=None, metadata={"help": "evaluate on the first N samples only"})

    def __post_init__(self) -> None:
        if self.dataset not in DATASETS:
            raise ValueError(f"unknown dataset {self.dataset!r}; choose one of {', '.join(DATASETS)}")
        if self.dataset not in ("synthetic", "mix") and self.dataset_path is None:
            raise ValueError(f"dataset {self.dataset!r} needs dataset_path")
        if self.dataset == "mix" and not self.mix_folders:
            raise ValueError("dataset 'mix' needs mix_folders (LAYOUT:PATH of each folder of real frames)")
        for spec in self.mix_folders or ():
            DatasetSpec.parse(spec)
        self.mix_splits = parse_json_object(self.mix_splits, "mix_splits")
        check_mix_splits(self.mix_splits, self.mix_folders or [])
        if not 0 < self.mix_held_out_fraction < 1:
            raise ValueError(f"mix_held_out_fraction must be in (0, 1); got {self.mix_held_out_fraction}")
        get_augmentation(self.augmentation)
        if self.train_image_size is not None and (len(self.train_image_size) != 2 or min(self.train_image_size) < 1):
            raise ValueError(f"train_image_size must be two positive numbers, height and width; got {self.train_image_size}")
        get_protocol(self.eval_protocol)
        if self.synthetic_seed == self.synthetic_eval_seed:
            raise ValueError(
                f"synthetic_seed and synthetic_eval_seed are both {self.synthetic_seed}; they must differ so that the "
                "evaluation frames are held out"
            )
        for name in ("synthetic_size", "synthetic_eval_size", "max_train_samples", "max_eval_samples"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise ValueError(f"{name} must be >= 0; got {value}")


@dataclass
class DepthTrainingArguments(TrainingArguments):
    """transformers' `TrainingArguments` plus the optimiser of each paper (see `mde_hub.training.optimization`).

    The parameters fall into two groups: the encoder (`model.encoder`) at `learning_rate * encoder_lr_factor` with
    `weight_decay`, and everything else (the decoder) at `learning_rate` with `decoder_weight_decay` (default: the
    same `weight_decay`). Unlike transformers' default, biases and norms are not exempt from weight decay, as in
    the papers' code. `lr_scheduler_type` and `lr_scheduler_kwargs` pick the schedule, unless `one_cycle` is set:
    then `lr_scheduler_kwargs` are the arguments of `torch.optim.lr_scheduler.OneCycleLR`.
    """

    optimizer: str = field(default="adamw", metadata={"help": f"one of {', '.join(OPTIMIZERS)} (torch.optim)"})
    amsgrad: bool = field(default=False, metadata={"help": "the AMSGrad variant of Adam/AdamW"})
    encoder_lr_factor: float = field(default=1.0, metadata={"help": "encoder learning rate / learning_rate"})
    decoder_weight_decay: float | None = field(
        default=None, metadata={"help": "weight decay of the non-encoder parameters (default: weight_decay)"}
    )
    one_cycle: bool = field(
        default=False, metadata={"help": "OneCycleLR (kwargs from lr_scheduler_kwargs) instead of lr_scheduler_type"}
    )
    freeze_encoder_layers: bool = field(
        default=False, metadata={"help": "call model.freeze_encoder_layers() (BTS: conv0 and BatchNorm parameters)"}
    )
    freeze_encoder_batch_norm: bool = field(
        default=False, metadata={"help": "keep the encoder's BatchNorm running statistics fixed while training"}
    )
    batch_eval_metrics: bool = field(
        default=True, metadata={"help": "stream the evaluation metrics batch by batch (constant memory)"}
    )
    allow_fresh_optimizer: bool = field(
        default=False,
        metadata={
            "help": "--resume_from_checkpoint: resume from a checkpoint without optimizer.pt or scheduler.pt (e.g. "
            "saved with --save_only_model), with a fresh optimizer and learning-rate schedule; otherwise an error"
        },
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer {self.optimizer!r}; choose one of {', '.join(OPTIMIZERS)}")
        if self.encoder_lr_factor <= 0:
            raise ValueError(f"encoder_lr_factor must be positive; got {self.encoder_lr_factor}")
