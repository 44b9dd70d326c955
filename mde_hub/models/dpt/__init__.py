from .configuration_dpt import DptConfig
from .modeling_dpt import DptForDepthEstimation
from .registration import ENTRY  # registers the model (mde_hub.models.registry)

__all__ = ["ENTRY", "DptConfig", "DptForDepthEstimation"]
