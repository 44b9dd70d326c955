from .configuration_baseline import BaselineConfig
from .modeling_baseline import BaselineForDepthEstimation
from .registration import ENTRY  # registers the model (mde_hub.models.registry)

__all__ = ["ENTRY", "BaselineConfig", "BaselineForDepthEstimation"]
