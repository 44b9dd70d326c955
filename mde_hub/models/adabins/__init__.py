from .configuration_adabins import AdaBinsConfig
from .modeling_adabins import AdaBinsDepthEstimatorOutput, AdaBinsForDepthEstimation

__all__ = ["AdaBinsConfig", "AdaBinsDepthEstimatorOutput", "AdaBinsForDepthEstimation"]
