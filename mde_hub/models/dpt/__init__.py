from .configuration_dpt import DptConfig
from .modeling_dpt import DptForDepthEstimation

__all__ = ["DptConfig", "DptForDepthEstimation"]
