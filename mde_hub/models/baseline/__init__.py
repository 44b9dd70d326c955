from .configuration_baseline import BaselineConfig
from .modeling_baseline import BaselineForDepthEstimation

__all__ = ["BaselineConfig", "BaselineForDepthEstimation"]
