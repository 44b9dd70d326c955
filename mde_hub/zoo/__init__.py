"""The model zoo (a face): the authors' released weights as one table, downloaded, converted and written as ready
checkpoints with their cards (`mde-hub zoo list`, `mde-hub zoo fetch NAME`)."""

from .download import DownloadError
from .fetch import cache_dir, checkpoint_dir, fetch_zoo_model, fetched, released_file
from .table import ZOO, ZOO_MODELS, ZooEvaluation, ZooModel, zoo_model

__all__ = [
    "ZOO",
    "ZOO_MODELS",
    "DownloadError",
    "ZooEvaluation",
    "ZooModel",
    "cache_dir",
    "checkpoint_dir",
    "fetch_zoo_model",
    "fetched",
    "released_file",
    "zoo_model",
]
