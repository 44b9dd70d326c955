from .configuration_bts import BtsConfig
from .modeling_bts import BtsForDepthEstimation
from .registration import ENTRY  # registers the model (mde_hub.models.registry)

__all__ = ["ENTRY", "BtsConfig", "BtsForDepthEstimation"]
