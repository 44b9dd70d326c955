"""The mde-hub Gradio app (`python app.py`): model registry, Compare / Evaluate / Benchmarks logic and the page.

Every module but `layout` is free of Gradio, so the logic is tested without a browser: `handlers` holds what each
control of the page does, and `layout` only lays out the page and wires its events to them.
"""

from .examples import SamplePair, write_examples
from .inputs import ImageLimits, ScratchSpace
from .layout import build_demo, launch
from .registry import ModelRegistry, ModelSource, discover_sources

__all__ = [
    "ImageLimits",
    "ModelRegistry",
    "ModelSource",
    "SamplePair",
    "ScratchSpace",
    "build_demo",
    "discover_sources",
    "launch",
    "write_examples",
]
