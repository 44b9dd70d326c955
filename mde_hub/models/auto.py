"""Registration of every mde-hub model with the transformers Auto classes (run on `import mde_hub`), from the model
registry (`mde_hub.models.registry`)."""

from __future__ import annotations

from transformers import AutoConfig, AutoImageProcessor, AutoModelForDepthEstimation
from transformers.pipelines import PIPELINE_REGISTRY

from ..processing.depth_pipeline import DepthEstimationPipeline
from ..processing.image_processing_depth import DepthImageProcessor
from .configuration_utils import DepthConfig
from .modeling_utils import DepthEstimationPreTrainedModel
from .registry import entries

MODEL_CLASSES: dict[str, tuple[type[DepthConfig], type[DepthEstimationPreTrainedModel]]] = {
    entry.model_type: (entry.config_class, entry.model_class) for entry in entries()
}
"""model_type -> (config class, model class) of every registered model, in the registry's order."""


def register_auto_classes() -> None:
    """Make AutoConfig, AutoModelForDepthEstimation, AutoImageProcessor and the pipeline know our models, and make
    `pipeline("depth-estimation")` read their images as mde-hub does (`mde_hub.processing.depth_pipeline`; other
    models' pipelines are unchanged). The task's entry is replaced in place rather than through
    `PIPELINE_REGISTRY.register_pipeline`, which would log an "overwriting" warning at every `import mde_hub`."""
    for model_type, (config_class, model_class) in MODEL_CLASSES.items():
        AutoConfig.register(model_type, config_class, exist_ok=True)
        AutoModelForDepthEstimation.register(config_class, model_class, exist_ok=True)
        AutoImageProcessor.register(config_class, image_processor_classes={"torchvision": DepthImageProcessor}, exist_ok=True)
    task = PIPELINE_REGISTRY.supported_tasks["depth-estimation"]
    PIPELINE_REGISTRY.supported_tasks["depth-estimation"] = {**task, "impl": DepthEstimationPipeline}


def image_processor_for(config: DepthConfig) -> DepthImageProcessor:
    """The image processor a model of this configuration is trained and evaluated with."""
    return DepthImageProcessor(**config.image_processor_kwargs())
