"""Training and evaluation datasets of model inputs from `DataArguments` and the model's configuration.

Each dataset of `DepthSample`s is wrapped in `ModelInputDataset` with the model's image processor; the training set
also gets the augmentation preset, seeded by the run's seed. Items are dicts of `pixel_values` (3, h, w) and `labels`
(h, w) in metres at the model's input size, which transformers' default collator stacks.

Sources (`DataArguments.dataset`):

* synthetic: `SyntheticDepthDataset` frames, the held-out evaluation frames from another seed; pre-rendered once
  on `device` unless `synthetic_prerender` is off (and kept in `synthetic_cache_dir` for later runs when given).
* nyu: DenseDepth's `nyu_data.zip` (splits train/test), or with `train_file_list` the BTS/AdaBins sync folder
  (evaluation with `eval_file_list`, under `eval_dataset_path` if given).
* kitti: the BTS-style Eigen split (`train_file_list`, `eval_file_list`, `kitti_gt_path`), KB-cropped.
* folder: the data-set spec `dataset_path` (`mde_hub.data.specs`: PATH or LAYOUT:PATH) opened with `layout` and
  `train_split` (a split name or tail:F; train by default where the layout has named splits,
  with `train_file_list` as its split file, `kitti_gt_path` and `depth_field` where it takes them); evaluation
  only from `eval_dataset_path` (`eval_split`, test by default), so that a layout without splits is never scored
  on its training frames.
* hf: `HfDepthDataset` splits `train_split` and `eval_split` of a parquet file or folder.
* mix: the synthetic frames (as for synthetic) plus each of `mix_folders` (data-set specs, e.g. "LAYOUT:PATH").
  A folder named in `mix_splits` trains on its split `train` and is evaluated on its split `eval` (e.g. extra_real's
  `train_streets` / `heldout_streets`, whose held-out scenes `mde_hub.data.npz_frames` decides; the two must share
  no frame); any other folder's last `mix_held_out_fraction` of frames by index is held out
  (`mde_hub.data.splits.split_tail`: one contiguous block, so near-duplicate neighbouring video frames cannot leak).
  The held-out frames join the synthetic held-out frames for evaluation. The folders' frames are read once and fitted
  to the synthetic frame size (`fit_sample`: centre-cropped to its aspect ratio, so a 640x402 street frame is not
  squashed into KITTI's 3.3:1; then image bilinear, depth nearest, sparse LiDAR depth the nearest return inside each
  pixel), so all frames share one size and reading a 640x480 pair costs nothing per step; depth beyond the synthetic
  frames' range (10 m indoor, 80 m outdoor, as KITTI) is invalid, as it is in the synthetic frames.

Training images are resized to `train_image_size` when given (e.g. BTS's 416x544 crops, which the model then sees
unresized), else to the model's input size like the evaluation images.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..data.augmentation import fit_sample, get_augmentation
from ..data.files import atomic_output
from ..data.hf import HfDepthDataset
from ..data.kitti import KittiEigenSplit
from ..data.nyu import NyuDenseDepth, NyuSyncFolder
from ..data.sample import DepthSample, ModelInputDataset
from ..data.specs import open_spec
from ..data.splits import split_tail
from ..data.synthetic import SyntheticDepthDataset
from ..models.auto import image_processor_for
from ..models.configuration_utils import DepthConfig, scales_depth_by_focal
from ..processing.image_processing_depth import DepthImageProcessor
from .arguments import DataArguments

_RENDER_BATCH = 32


@dataclass
class TrainingData:
    train: ModelInputDataset
    eval: ModelInputDataset | None
    description: str


def prerender(frames: SyntheticDepthDataset, batch_size: int = _RENDER_BATCH) -> list[DepthSample]:
    """Every frame of `frames`, rendered once in batches (a list is a map-style dataset)."""
    samples: list[DepthSample] = []
    for start in range(0, len(frames), batch_size):
        samples.extend(frames.render_batch(range(start, min(start + batch_size, len(frames)))))
    return samples


def cached_prerender(frames: SyntheticDepthDataset, cache_dir: str | os.PathLike) -> list[DepthSample]:
    """`prerender(frames)`, stored in `cache_dir` as one .npz named after the frames' kind, count, size and seed,
    and read back from there when it exists (frames depend only on those, see `SyntheticDepthDataset`)."""
    sparse = "-sparse" if frames.sparse else ""
    path = Path(cache_dir) / f"{frames.kind}{sparse}_{len(frames)}x{frames.height}x{frames.width}_seed{frames.seed}.npz"
    if path.is_file():
        with np.load(path, allow_pickle=False) as stored:
            arrays = zip(stored["image"], stored["depth"], stored["valid"], stored["id"])
            return [DepthSample(image, depth, valid, frames.intrinsics, str(id)) for image, depth, valid, id in arrays]
    samples = prerender(frames)
    with atomic_output(path) as temporary, open(temporary, "wb") as handle:
        np.savez(
            handle,
            image=np.stack([sample.image for sample in samples]),
            depth=np.stack([sample.depth for sample in samples]),
            valid=np.stack([sample.valid for sample in samples]),
            id=np.array([sample.id for sample in samples]),
        )
    return samples


def _synthetic(args: DataArguments, size: int, seed: int, device: str | torch.device) -> tuple[Any, str]:
    frames = SyntheticDepthDataset(
        args.synthetic_kind, size, args.synthetic_height, args.synthetic_width, seed, args.synthetic_sparse, device
    )
    sparse = " sparse" if args.synthetic_sparse else ""
    description = f"synthetic {args.synthetic_kind}{sparse} {size} frames {args.synthetic_height}x{args.synthetic_width} seed {seed}"
    if not args.synthetic_prerender:
        return frames, description
    if args.synthetic_cache_dir is None or size == 0:
        return prerender(frames), description
    return cached_prerender(frames, args.synthetic_cache_dir), description


def _synthetic_splits(args: DataArguments, device: str | torch.device) -> tuple[Any, str, Any | None, str]:
    """The synthetic training frames, their description, the held-out frames (None if none) and theirs."""
    train_size = args.synthetic_size if args.max_train_samples is None else min(args.synthetic_size, args.max_train_samples)
    eval_size = args.synthetic_eval_size if args.max_eval_samples is None else min(args.synthetic_eval_size, args.max_eval_samples)
    train, description = _synthetic(args, train_size, args.synthetic_seed, device)
    evaluation, eval_description = _synthetic(args, eval_size, args.synthetic_eval_seed, device) if eval_size else (None, "")
    return train, description, evaluation, eval_description


def _fitted(samples: Any, height: int, width: int, max_depth: float) -> list[DepthSample]:
    """Every sample of `samples`, read once, fitted to `height` x `width` and with depth beyond `max_depth` invalid."""
    fitted = [fit_sample(samples[index], height, width) for index in range(len(samples))]
    return [sample.with_arrays(sample.image, sample.depth, sample.valid & (sample.depth <= max_depth), sample.intrinsics)
            for sample in fitted]


def _mix_folder(args: DataArguments, spec: str) -> tuple[Any, Any, str, str]:
    """`(train, held_out, train_note, eval_note)` of one of `mix_folders`: its named `mix_splits`, else its tail."""
    if spec not in args.mix_splits:
        head, tail = split_tail(open_spec(spec)[0], args.mix_held_out_fraction)
        tail_note = f"{spec} frames {len(head)}-{len(head) + len(tail) - 1} (last {args.mix_held_out_fraction:g})"
        return head, tail, f"{spec} frames 0-{len(head) - 1}", tail_note
    splits = args.mix_splits[spec]
    train, evaluation = open_spec(spec, split=splits["train"])[0], open_spec(spec, split=splits["eval"])[0]
    return (train, evaluation, f"{spec} split {splits['train']} ({len(train)} frames)",
            f"{spec} split {splits['eval']} ({len(evaluation)} frames)")


def _mixed_splits(args: DataArguments, device: str | torch.device) -> tuple[Any, str, Any | None, str]:
    """The synthetic splits joined by the training and held-out frames of each of `mix_folders`."""
    train, description, evaluation, eval_description = _synthetic_splits(args, device)
    train_parts, eval_parts = [train], [] if evaluation is None else [evaluation]
    train_notes, eval_notes = [description], [eval_description] if evaluation is not None else []
    height, width = args.synthetic_height, args.synthetic_width
    max_depth = SyntheticDepthDataset(args.synthetic_kind, 0, height, width).max_depth
    for spec in args.mix_folders:
        head, tail, train_note, eval_note = _mix_folder(args, spec)
        head, tail = _fitted(head, height, width, max_depth), _fitted(tail, height, width, max_depth)
        shared = sorted({sample.id for sample in head} & {sample.id for sample in tail})
        if shared:
            raise ValueError(f"mix folder {spec}: its training and held-out splits share frames {', '.join(shared[:3])}")
        train_parts.append(head)
        eval_parts.append(tail)
        train_notes.append(train_note)
        eval_notes.append(eval_note)
    train = _limited(torch.utils.data.ConcatDataset(train_parts), args.max_train_samples)
    evaluation = _limited(torch.utils.data.ConcatDataset(eval_parts), args.max_eval_samples)
    size = f"real frames fitted to {height}x{width}, depth up to {max_depth:g} m"
    return train, f"mix of {' + '.join(train_notes)} ({size})", evaluation, f"{' + '.join(eval_notes)} ({size})"


def _limited(samples: Any, limit: int | None) -> Any:
    return samples if limit is None or limit >= len(samples) else torch.utils.data.Subset(samples, range(limit))


def _real_samples(args: DataArguments, training: bool) -> tuple[Any | None, str | None]:
    """The training or evaluation samples of a dataset on disk (None when no evaluation source is given) and their
    split (None for all frames of a folder layout without splits)."""
    path = args.dataset_path if training else (args.eval_dataset_path or args.dataset_path)
    split = (args.train_split or "train") if training else (args.eval_split or "test")
    file_list = args.train_file_list if training else args.eval_file_list
    if args.dataset == "nyu":
        if args.train_file_list is None:
            return NyuDenseDepth(path, split), split
        return (NyuSyncFolder(path, file_list) if file_list is not None else None), split
    if args.dataset == "kitti":
        if args.train_file_list is None or args.kitti_gt_path is None:
            raise ValueError("dataset 'kitti' needs train_file_list (BTS's Eigen list) and kitti_gt_path")
        return (KittiEigenSplit(path, args.kitti_gt_path, file_list) if file_list is not None else None), split
    if args.dataset == "folder":
        if not training and args.eval_dataset_path is None:
            return None, None
        return open_spec(
            path, args.layout, args.train_split if training else args.eval_split, split,
            split_file=file_list, gt_root=args.kitti_gt_path, depth_field=args.depth_field,
        )
    return HfDepthDataset(path, split=split, depth_scale=args.hf_depth_scale), split


def _real_description(args: DataArguments, samples: Any, training: bool, split: str | None) -> str:
    path = args.dataset_path if training else (args.eval_dataset_path or args.dataset_path)
    source = (args.train_file_list if training else args.eval_file_list) or split or "all frames"
    return f"{args.dataset} {path} ({source}, {len(samples)} samples)"


def build_datasets(
    args: DataArguments, config: DepthConfig, seed: int = 0, device: str | torch.device = "cpu"
) -> TrainingData:
    """The training set (augmented) and evaluation set (None if there is none or it is empty) of model inputs."""
    if args.dataset == "synthetic":
        train, description, evaluation, eval_description = _synthetic_splits(args, device)
    elif args.dataset == "mix":
        train, description, evaluation, eval_description = _mixed_splits(args, device)
    else:
        train, split = _real_samples(args, training=True)
        train = _limited(train, args.max_train_samples)
        description = _real_description(args, train, training=True, split=split)
        evaluation, split = _real_samples(args, training=False)
        if evaluation is not None:
            evaluation = _limited(evaluation, args.max_eval_samples)
            eval_description = _real_description(args, evaluation, training=False, split=split)
    if len(train) == 0:
        raise ValueError(f"no training samples in {description}")
    if evaluation is not None and len(evaluation) == 0:
        evaluation = None
    if evaluation is not None:
        description += f"; evaluation: {eval_description}"
    processor = image_processor_for(config)
    train_processor = processor
    if args.train_image_size is not None:
        height, width = args.train_image_size
        train_processor = DepthImageProcessor(**{**config.image_processor_kwargs(), "size": {"height": height, "width": width}})
    augmentation = get_augmentation(args.augmentation)
    with_focal = scales_depth_by_focal(config)  # BTS KITTI: each image's focal goes to the model
    return TrainingData(
        train=ModelInputDataset(train, train_processor, augmentation, seed=seed, with_focal=with_focal),
        eval=ModelInputDataset(evaluation, processor, with_focal=with_focal) if evaluation is not None else None,
        description=description,
    )
