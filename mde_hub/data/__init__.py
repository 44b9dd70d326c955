"""Datasets: every loader yields `DepthSample`s (RGB uint8, depth in metres with 0 = invalid, valid mask, intrinsics, id).

* `nyu`: NYU Depth v2 as the labeled .mat (official split), DenseDepth's `nyu_data.zip` and `nyu_test.zip`, and the
  BTS/AdaBins sync layout;
* `kitti`: the BTS-style Eigen split with the KB crop (full frames through the registry);
* `folder`: generic RGB-D folders with declared depth encodings (mm, KITTI /256, TUM /5000, SUN3D, raw Kinect disparity);
* `encoding_check`: which of those encodings a depth PNG's values are likely in (a room or a street);
* `hf`: Hugging Face `datasets` with image and depth columns (the `hf` extra);
* `synthetic`: procedural indoor rooms and street scenes, ray cast in torch on the CPU or a GPU;
* `augmentation`: the papers' augmentations as named presets;
* `registry`: `open_dataset(path, split=...)` recognises the layouts above from their files and honours or
  refuses each split;
* `sample`: the sample type and `ModelInputDataset`, which turns any of them into `Trainer` inputs.
"""

from .sample import DepthSample, Intrinsics, ModelInputDataset, to_model_inputs

__all__ = ["DepthSample", "Intrinsics", "ModelInputDataset", "to_model_inputs"]
