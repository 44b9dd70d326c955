"""Old import paths of the modules that moved into the data-flow packages (mde-hub 0.1 -> 0.2): importing one gives
the new module's names and a FutureWarning naming the new path. They go away in mde-hub 0.3."""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
import warnings
from collections.abc import Callable
from types import ModuleType
from typing import Any

MOVED_MODULES = {
    "mde_hub.alignment": "mde_hub.evaluation.alignment",
    "mde_hub.auto": "mde_hub.models.auto",
    "mde_hub.backbones": "mde_hub.models.backbones",
    "mde_hub.configuration_utils": "mde_hub.models.configuration_utils",
    "mde_hub.data.preview": "mde_hub.outputs.preview",
    "mde_hub.depth_io": "mde_hub.outputs.depth_files",
    "mde_hub.depth_meaning": "mde_hub.models.depth_meaning",
    "mde_hub.files": "mde_hub.data.files",
    "mde_hub.hub": "mde_hub.outputs.hub",
    "mde_hub.image_processing_depth": "mde_hub.processing.image_processing_depth",
    "mde_hub.image_utils": "mde_hub.data.images",
    "mde_hub.layers": "mde_hub.models.layers",
    "mde_hub.losses": "mde_hub.models.losses",
    "mde_hub.metrics": "mde_hub.evaluation.metrics",
    "mde_hub.model_card": "mde_hub.outputs.model_card",
    "mde_hub.modeling_utils": "mde_hub.models.modeling_utils",
    "mde_hub.onnx_export": "mde_hub.inference.onnx_export",
    "mde_hub.onnx_runtime": "mde_hub.inference.onnx_runtime",
    "mde_hub.prediction_files": "mde_hub.outputs.prediction_files",
    "mde_hub.protocols": "mde_hub.evaluation.protocols",
    "mde_hub.published": "mde_hub.evaluation.published",
    "mde_hub.saved_predictions": "mde_hub.evaluation.saved_predictions",
    "mde_hub.visualization": "mde_hub.outputs.colormaps",
}
"""Old module -> where it lives now. `mde_hub.evaluation` and `mde_hub.inference` kept their names as packages
that export what the modules did."""


class _MovedModuleAliases(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Imports an old module name as a module holding the new module's public names."""

    def find_spec(self, fullname: str, path: object = None, target: object = None):
        if fullname not in MOVED_MODULES:
            return None
        return importlib.util.spec_from_loader(fullname, self)

    def exec_module(self, module: ModuleType) -> None:
        new_name = MOVED_MODULES[module.__name__]
        warnings.warn(
            f"{module.__name__} moved to {new_name}; import it from there (the old name goes away in mde-hub 0.3)",
            FutureWarning,
            stacklevel=2,
        )
        new = importlib.import_module(new_name)
        module.__dict__.update({name: value for name, value in vars(new).items() if not name.startswith("__")})
        module.__all__ = getattr(new, "__all__", [name for name in vars(new) if not name.startswith("_")])


def install_moved_module_aliases() -> None:
    """Put the alias finder on `sys.meta_path` once."""
    if not any(isinstance(finder, _MovedModuleAliases) for finder in sys.meta_path):
        sys.meta_path.append(_MovedModuleAliases())



def deprecated_function(old: str, new: str, adapt: Callable[[Any], Any] | None = None) -> Callable[..., Any]:
    """The function `new` ("package.module.name", imported when called) under its removed name `old`: each call warns
    with a FutureWarning naming the new one. `adapt` maps the new function's result to the old one's."""
    module_name, _, function_name = new.rpartition(".")

    def moved(*args: Any, **kwargs: Any) -> Any:
        warnings.warn(f"{old} is deprecated; use {new} (the old name goes away in mde-hub 0.3)", FutureWarning, stacklevel=2)
        result = getattr(importlib.import_module(module_name), function_name)(*args, **kwargs)
        return result if adapt is None else adapt(result)

    moved.__name__ = moved.__qualname__ = old.rpartition(".")[2]
    moved.__doc__ = f"Deprecated: use `{new}`."
    return moved
