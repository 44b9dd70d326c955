"""Any dataset of DepthSamples, augmented and pre-processed, feeds a model's Trainer."""

from __future__ import annotations

import torch

from mde_hub import BaselineConfig, image_processor_for
from mde_hub.data import ModelInputDataset
from mde_hub.data.augmentation import get_augmentation
from mde_hub.data.synthetic import SyntheticDepthDataset


def test_synthetic_frames_become_model_inputs_with_reproducible_augmentation() -> None:
    samples = SyntheticDepthDataset("indoor", size=2, height=48, width=64, seed=3)
    processor = image_processor_for(BaselineConfig(image_size=32))
    inputs = ModelInputDataset(samples, processor, get_augmentation("densedepth"), seed=7)
    first = inputs[0]
    assert first["pixel_values"].shape == (3, 32, 32) and first["labels"].shape == (32, 32)
    assert 0.5 <= first["labels"][first["labels"] > 0].min() and first["labels"].max() <= 10.0
    again = ModelInputDataset(samples, processor, get_augmentation("densedepth"), seed=7)[0]
    assert torch.equal(first["pixel_values"], again["pixel_values"])  # same seed, same first read
    reads = [inputs[0]["pixel_values"] for _ in range(6)]  # later reads draw new augmentations
    assert any(not torch.equal(first["pixel_values"], later) for later in reads)
    unaugmented = ModelInputDataset(samples, processor)[1]
    expected = processor(samples[1].image, depth_maps=samples[1].depth)
    assert torch.equal(unaugmented["labels"], expected["labels"][0])
