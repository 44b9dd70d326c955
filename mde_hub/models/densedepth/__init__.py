from .configuration_densedepth import DenseDepthConfig
from .modeling_densedepth import DenseDepthForDepthEstimation
from .registration import ENTRY  # registers the model (mde_hub.models.registry)

__all__ = ["ENTRY", "DenseDepthConfig", "DenseDepthForDepthEstimation"]
