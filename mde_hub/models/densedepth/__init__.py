from .configuration_densedepth import DenseDepthConfig
from .modeling_densedepth import DenseDepthForDepthEstimation

__all__ = ["DenseDepthConfig", "DenseDepthForDepthEstimation"]
