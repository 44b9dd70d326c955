"""Writing a converted model (`mde_hub.models.conversion.ConversionResult`) as an ordinary mde-hub checkpoint folder.

`write_converted_checkpoint` writes config.json, model.safetensors, preprocessor_config.json, conversion_record.json
(where the weights came from: the released file's name, size and sha256, the format, what was skipped, the notes,
the licence) and the model card README.md that states them, all into a temporary folder that is renamed into place
once complete. The folder loads with `AutoModelForDepthEstimation.from_pretrained` and
`pipeline("depth-estimation", model=folder)` after `import mde_hub`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from .. import __version__
from ..data.files import atomic_output_dir, check_output_dir
from ..evaluation.evaluate import file_sha256
from ..models.auto import image_processor_for
from ..models.configuration_utils import DepthConfig
from ..models.conversion import ConversionResult
from .model_card import CONVERSION_RECORD, write_model_card

DEFAULT_CONVERTED_LICENSE = "other"
"""The card's licence when none is given: the weights are the authors', under whatever terms they published."""


def file_identity(path: str | os.PathLike) -> dict[str, Any]:
    """Name, size and sha256 of a released file; a folder: its name and the total size of its files."""
    path = Path(path)
    if path.is_dir():
        return {"name": path.name, "bytes": sum(f.stat().st_size for f in path.rglob("*") if f.is_file()), "sha256": None}
    return {"name": path.name, "bytes": path.stat().st_size, "sha256": file_sha256(os.fspath(path))}


def write_converted_checkpoint(
    result: ConversionResult,
    output_dir: str | os.PathLike,
    *,
    format: str | None = None,
    source_file: str | os.PathLike | dict[str, Any] | None = None,
    license: str = DEFAULT_CONVERTED_LICENSE,
    origin: dict[str, Any] | None = None,
    force: bool = False,
) -> Path:
    """Write `result` as a checkpoint folder at `output_dir` and return its path.

    `format` is the conversion format (a key of `CONVERTERS`, when it was one); `source_file` the released file (its name, size and
    sha256 are recorded) or an already computed `file_identity`; `license` the weights' licence for the card;
    `origin` where the file came from (e.g. the zoo entry: name, url, reference, paper). An `output_dir` that exists
    and is not empty is refused unless `force`, which replaces it once the new folder is complete.
    """
    check_output_dir(output_dir, replace=force)
    model = result.model.eval()
    processor = result.image_processor
    if processor is None:
        if not isinstance(model.config, DepthConfig):
            raise ValueError(
                f"the converted {type(model).__name__} is not an mde-hub model: its converter must return the "
                "image processor it runs with (ConversionResult.image_processor)"
            )
        processor = image_processor_for(model.config)
    if isinstance(source_file, (str, os.PathLike)):
        source_file = file_identity(source_file)
    record = {
        "format": format,
        "source": result.source,
        "source_file": source_file,
        "skipped": list(result.skipped),
        "notes": list(result.notes),
        "license": license,
        "origin": origin or {},
        "mde_hub_version": __version__,
    }
    output_dir = Path(output_dir)
    with atomic_output_dir(output_dir, replace=force) as temporary:
        model.save_pretrained(temporary)
        processor.save_pretrained(temporary)
        (temporary / CONVERSION_RECORD).write_text(json.dumps(record, indent=2) + "\n")
        write_model_card(temporary, license=license, location=output_dir)
    return output_dir
