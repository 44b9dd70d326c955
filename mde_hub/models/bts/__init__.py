from .configuration_bts import BtsConfig
from .modeling_bts import BtsForDepthEstimation

__all__ = ["BtsConfig", "BtsForDepthEstimation"]
