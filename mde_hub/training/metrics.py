"""Depth metrics during training, streamed batch by batch (`TrainingArguments(batch_eval_metrics=True)`).

`Trainer` then hands `compute_metrics` each gathered batch of predictions and labels and keeps none of them; the
`StreamingDepthMetrics` callable folds them into a `DepthMetricAccumulator` (a few running sums) and returns the
nine metrics once the last batch is in. Memory stays constant in the size of the evaluation set.

Frames. Predictions and labels both come at the model's input size (the image processor resizes the labels with
nearest neighbour). A protocol whose crop is fixed in pixels of a reference frame (`nyu_eigen`, `nyu_densedepth`:
480x640) gets both resized to that frame first, the labels by nearest neighbour and the prediction with the
protocol's interpolation, so the crop covers the same part of the scene. This approximates the paper protocol, which
scores the prediction against the original ground truth: for reportable numbers evaluate the saved model with
`mde-hub evaluate` (`mde_hub.evaluation.evaluate`). Fractional crops (KITTI) apply at any size as they are: the
labels are the loader's KB crop (resized), so every KITTI protocol is scored here in that cropped frame, i.e. AdaBins'
convention; `evaluate` on full frames gives the BTS/DPT convention's paste into the full frame.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch
from transformers import EvalPrediction

from ..evaluation.metrics import DepthMetricAccumulator, resize_prediction
from ..evaluation.protocols import AbsoluteCrop, EvalProtocol, get_protocol
from ..processing.image_processing_depth import resize_maps


def predicted_depth_only(logits: Any, labels: Any) -> torch.Tensor:
    """`preprocess_logits_for_metrics`: `predicted_depth`, the first model output after the loss (AdaBins also
    returns its bins)."""
    return logits[0] if isinstance(logits, (tuple, list)) else logits


def to_protocol_frame(pred: torch.Tensor, labels: torch.Tensor, protocol: EvalProtocol) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, h, w) predictions and labels resized to the protocol's reference frame when its crop needs one."""
    crop = protocol.crop
    if not isinstance(crop, AbsoluteCrop) or tuple(labels.shape[-2:]) == tuple(crop.frame):
        return pred, labels
    frame = tuple(crop.frame)
    labels = resize_maps(labels.float()[:, None], frame, "nearest")[:, 0]
    return resize_prediction(pred.float(), frame, protocol.resize_mode, protocol.align_corners), labels


class StreamingDepthMetrics:
    """`compute_metrics` for `Trainer` with `batch_eval_metrics=True`: the protocol's nine metrics."""

    def __init__(self, protocol: str | EvalProtocol = "none") -> None:
        protocol = get_protocol(protocol) if isinstance(protocol, str) else protocol
        # the labels are already in the network's (KB-cropped) frame: no paste into, or crop of, a full frame
        self.accumulator = DepthMetricAccumulator(dataclasses.replace(protocol, kb_crop="none"))

    @property
    def protocol(self) -> EvalProtocol:
        return self.accumulator.protocol

    def __call__(self, prediction: EvalPrediction, compute_result: bool) -> dict[str, float]:
        pred = torch.as_tensor(prediction.predictions)
        labels = torch.as_tensor(prediction.label_ids)
        self.accumulator.update(*to_protocol_frame(pred, labels, self.protocol))
        if not compute_result:
            return {}
        try:
            if self.accumulator.num_images == 0:
                raise ValueError(
                    f"no evaluation image has valid ground truth under protocol {self.protocol.name!r} "
                    f"({self.protocol.gt_range_text()} m)"
                )
            return self.accumulator.compute()
        finally:
            self.accumulator.reset()
