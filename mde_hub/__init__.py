"""mde-hub: classic monocular depth estimation models as Hugging Face transformers models.

Importing this package registers every model with AutoConfig, AutoModelForDepthEstimation and AutoImageProcessor,
so `pipeline("depth-estimation", model=path)` works for mde-hub checkpoints.

One process skips that registration at import: the `mde-hub` command itself (its console script, `python -m mde_hub`
or `python -m mde_hub.cli`), so that `mde-hub --help` answers without importing torch, transformers or timm;
`mde_hub.cli.main` registers once the arguments are parsed, before any command runs. The public names below are
exported lazily (PEP 562): `from mde_hub import DptConfig` imports the DPT modules when it is first read.

The package follows the data flow (docs/ARCHITECTURE.md): `data` -> `processing` -> `models` -> `inference` ->
`evaluation` -> `outputs`, with `app`, `training`, `benchmarking` and `cli` as faces over it. Modules that used to
sit at the top level still import under their old names, with a FutureWarning (`_deprecated_modules`).
"""

import re
import sys
from typing import TYPE_CHECKING

from ._deprecated_modules import install_moved_module_aliases
from ._lazy_exports import lazy_exports

if TYPE_CHECKING:
    from .models.adabins import AdaBinsConfig, AdaBinsForDepthEstimation
    from .models.auto import MODEL_CLASSES, image_processor_for, register_auto_classes
    from .models.baseline import BaselineConfig, BaselineForDepthEstimation
    from .models.bts import BtsConfig, BtsForDepthEstimation
    from .models.configuration_utils import DepthConfig
    from .models.densedepth import DenseDepthConfig, DenseDepthForDepthEstimation
    from .models.dpt import DptConfig, DptForDepthEstimation
    from .processing.image_processing_depth import DepthImageProcessor

__version__ = "0.1.0"

_EXPORTS = {
    ".models.adabins": ("AdaBinsConfig", "AdaBinsForDepthEstimation"),
    ".models.auto": ("MODEL_CLASSES", "image_processor_for", "register_auto_classes"),
    ".models.baseline": ("BaselineConfig", "BaselineForDepthEstimation"),
    ".models.bts": ("BtsConfig", "BtsForDepthEstimation"),
    ".models.configuration_utils": ("DepthConfig",),
    ".models.densedepth": ("DenseDepthConfig", "DenseDepthForDepthEstimation"),
    ".models.dpt": ("DptConfig", "DptForDepthEstimation"),
    ".processing.image_processing_depth": ("DepthImageProcessor",),
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

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

_CLI_MODULES = ("mde_hub", "mde_hub.__main__", "mde_hub.cli")
"""The modules that `python -m` runs as the `mde-hub` command."""


def _started_as_cli() -> bool:
    """Whether this process is the `mde-hub` command: its console script (`mde-hub`, on Windows `mde-hub.exe` or
    `mde-hub-script.py`) or `python -m` of a module of `_CLI_MODULES`. Read while the package is first imported, when
    `sys.argv[0]` is still the script's path, or `-m` while `python -m` finds its module."""
    if sys.argv and sys.argv[0] == "-m":
        options = sys.orig_argv[1:]
        for index, option in enumerate(options):
            if option.startswith("-m"):
                module = option[2:] or (options[index + 1] if index + 1 < len(options) else "")
                return module in _CLI_MODULES
        return False
    script = re.split(r"[\\/]", sys.argv[0])[-1] if sys.argv else ""
    return re.sub(r"(-script\.pyw?|\.exe)?$", "", script) == "mde-hub"


if not _started_as_cli():
    from .models.auto import register_auto_classes

    register_auto_classes()
    for _name in __all__:  # their modules are imported now: bind every name, as eager imports did (`vars(mde_hub)`)
        __getattr__(_name)
    del _name
install_moved_module_aliases()
