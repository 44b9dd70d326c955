"""The runtimes `DepthPredictor` can run a checkpoint on; free of torch, so the command line lists them at once."""

BACKENDS = ("pytorch", "onnxruntime")
"""`pytorch`: the checkpoint's weights; `onnxruntime`: its `model.onnx` (`mde-hub export onnx`)."""
