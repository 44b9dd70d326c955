from .configuration_adabins import AdaBinsConfig
from .modeling_adabins import AdaBinsDepthEstimatorOutput, AdaBinsForDepthEstimation
from .registration import ENTRY  # registers the model (mde_hub.models.registry)

__all__ = ["ENTRY", "AdaBinsConfig", "AdaBinsDepthEstimatorOutput", "AdaBinsForDepthEstimation"]
