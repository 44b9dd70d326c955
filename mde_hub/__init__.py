"""mde-hub: classic monocular depth estimation models as Hugging Face transformers models.

Importing this package registers every model with AutoConfig, AutoModelForDepthEstimation and AutoImageProcessor,
so `pipeline("depth-estimation", model=path)` works for mde-hub checkpoints.

The package follows the data flow (docs/ARCHITECTURE.md): `data` -> `processing` -> `models` -> `inference` ->
`evaluation` -> `outputs`, with `app`, `training`, `benchmarking` and `cli` as faces over it. Modules that used to
sit at the top level still import under their old names, with a FutureWarning (`_deprecated_modules`).
"""

from ._deprecated_modules import install_moved_module_aliases
from .models.adabins import AdaBinsConfig, AdaBinsForDepthEstimation
from .models.auto import MODEL_CLASSES, image_processor_for, register_auto_classes
from .models.baseline import BaselineConfig, BaselineForDepthEstimation
from .models.bts import BtsConfig, BtsForDepthEstimation
from .models.configuration_utils import DepthConfig
from .models.densedepth import DenseDepthConfig, DenseDepthForDepthEstimation
from .models.dpt import DptConfig, DptForDepthEstimation
from .processing.image_processing_depth import DepthImageProcessor

__version__ = "0.1.0"

register_auto_classes()
install_moved_module_aliases()

__all__ = [
    "MODEL_CLASSES",
    "AdaBinsConfig",
    "AdaBinsForDepthEstimation",
    "BaselineConfig",
    "BaselineForDepthEstimation",
    "BtsConfig",
    "BtsForDepthEstimation",
    "DenseDepthConfig",
    "DenseDepthForDepthEstimation",
    "DepthConfig",
    "DepthImageProcessor",
    "DptConfig",
    "DptForDepthEstimation",
    "image_processor_for",
    "register_auto_classes",
]
