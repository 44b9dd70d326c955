"""The files of a prediction, named and written one way for `mde-hub predict` and the app's Compare tab.

An input (or, in the app, a model) named `NAME.EXT` gives, with only the last extension dropped (`room.v1.jpg`
gives `room.v1`):

* `NAME.depth.png`: depth in millimetres, 16-bit (metric models only, and only up to 65.535 m);
* `NAME.depth.npy` (metric depth, metres), `NAME.relative_depth.npy` or `NAME.inverse_depth.npy`: the values as
  the model gave them, float32, named by what they mean (`mde_hub.models.depth_meaning`);
* `NAME.color.png`: the depth-valued map colourised; `NAME.ply` / `NAME.glb`: its point cloud.

`plan_outputs` refuses a run, before anything is written, when two of its outputs would be one file (`photo.jpg`
and `photo.png`) or an output would replace an existing file in a folder the inputs come from (a ground-truth
`room.depth.png` beside `room.jpg`, an input, an earlier run's output). In any other output folder an earlier
run's files are replaced.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import PIL.Image

from ..data.batches import batches
from ..data.exif_focal import focal_length_from_exif
from ..data.files import non_regular_kind, remove_stale_temporaries
from ..data.images import SIXTEEN_BIT_MODES, ImageLike, load_image, to_rgb_uint8
from ..data.sample import Intrinsics, check_focal
from ..inference.distributed import ProcessShard
from ..models.depth_meaning import DepthMeaning
from .colormaps import check_colormap
from .depth_files import (
    PNG_MM_MAX_DEPTH_M,
    default_intrinsics,
    depth_to_points,
    fits_depth_png_mm,
    max_valid_depth,
    save_colorized_depth,
    save_depth_npy,
    save_depth_png_mm,
    save_point_cloud_glb,
    save_point_cloud_ply,
)
from .formats import FORMATS

if TYPE_CHECKING:
    from ..inference.predictor import DepthPrediction, DepthPredictor

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".ppm")
"""Files of a folder that are read as images."""

DEPTH_MAP_MODES = frozenset(SIXTEEN_BIT_MODES | {"F"})
"""Pillow modes of single-channel 16-bit and float images: in a folder of photos, these are depth maps."""

_NPY_SUFFIXES = {
    "metric_depth": ".depth.npy",
    "relative_depth": ".relative_depth.npy",
    "relative_inverse_depth": ".inverse_depth.npy",
}
_SUFFIXES = {"png16": ".depth.png", "color": ".color.png", "ply": ".ply", "glb": ".glb"}
_SHOWN_CLASHES = 5


def output_paths(base: Path, formats: Sequence[str], meaning: DepthMeaning) -> dict[str, Path]:
    """Where each of `formats` goes for the prediction named `base` (`folder/NAME`); `png16` is left out for
    a relative model, which has no millimetres."""
    paths = {}
    for name in FORMATS:
        if name in formats and (name != "png16" or meaning.is_metric):
            suffix = _NPY_SUFFIXES[meaning.kind] if name == "npy" else _SUFFIXES[name]
            paths[name] = base.with_name(base.name + suffix)
    return paths


def is_depth_map(path: str | os.PathLike) -> bool:
    """True for a single-channel 16-bit or float image (Pillow mode I;16, I or F): a depth map, not a photo."""
    try:
        with PIL.Image.open(path) as image:
            return image.mode in DEPTH_MAP_MODES
    except (OSError, SyntaxError, ValueError, PIL.Image.DecompressionBombError):
        return False  # not readable: `load_image` says why when it is predicted


@dataclass
class PredictionInputs:
    """The images to predict, what was skipped in folders (depth maps, and image names that are not regular files),
    and the (resolved) folders the inputs come from."""

    images: list[Path]
    skipped: list[Path]
    folders: set[Path]
    not_regular: list[Path] = field(default_factory=list)

    def skipped_notes(self) -> list[str]:
        """One line on the skipped depth maps and one on the skipped non-regular files, where there are any."""
        notes = []
        if self.skipped:
            notes.append(
                f"skipped {len(self.skipped)} depth map(s) in the input folders (single-channel 16-bit or float "
                f"images, not photos), e.g. {self.skipped[0]}; name a file on its own to predict on it anyway"
            )
        if self.not_regular:
            named = ", ".join(f"{path} ({non_regular_kind(path)})" for path in self.not_regular[:_SHOWN_CLASHES])
            more = len(self.not_regular) - _SHOWN_CLASHES
            notes.append(
                f"skipped {len(self.not_regular)} image name(s) in the input folders that are not regular files, never "
                f"opened (reading a named pipe or a device could block forever): {named}"
                + (f" and {more} more" if more > 0 else "")
            )
        return notes


def list_inputs(inputs: Sequence[str | os.PathLike]) -> PredictionInputs:
    """Image files as given, and the image files of folders (sorted), less their depth maps; each image once. In
    folders, image names that are not regular files (named pipes, devices, sockets) are skipped with a note, never
    opened; such a file named on its own is a ValueError."""
    images: dict[Path, Path] = {}
    skipped, not_regular, folders = [], [], set()
    for item in map(Path, inputs):
        if item.is_dir():
            folders.add(item.resolve())
            named = sorted(p for p in item.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and not p.is_dir())
            for path in named:
                if non_regular_kind(path):
                    not_regular.append(path)
                elif not path.is_file():
                    continue  # a dangling link
                elif is_depth_map(path):
                    skipped.append(path)
                else:
                    images.setdefault(path.resolve(), path)
        elif item.is_file():
            folders.add(item.resolve().parent)
            images.setdefault(item.resolve(), item)
        elif non_regular_kind(item):
            raise ValueError(f"{item} is {non_regular_kind(item)}, not an image file or a folder: refusing to read it")
        else:
            raise FileNotFoundError(f"no image or folder at {item}")
    found = PredictionInputs(list(images.values()), skipped, folders, not_regular)
    if not found.images:
        notes = "; ".join(found.skipped_notes())
        raise ValueError(f"no images found in {[str(item) for item in inputs]}" + (f" ({notes})" if notes else ""))
    return found


def plan_outputs(
    inputs: PredictionInputs, out: str | os.PathLike, formats: Sequence[str], meaning: DepthMeaning
) -> dict[Path, Path]:
    """Each image's output base (`out/NAME`, see the module docstring), once no two outputs are one file (names
    compared ignoring case, as some file systems do) and no output would replace an existing file in a folder the
    inputs come from; otherwise ValueError naming the files, and nothing may be written."""
    out = Path(out)
    guarded = out.resolve() in inputs.folders
    bases: dict[Path, Path] = {}
    claimed: dict[str, Path] = {}
    shared, replaced = [], []
    for image in inputs.images:
        bases[image] = out / image.stem
        for path in output_paths(bases[image], formats, meaning).values():
            other = claimed.setdefault(path.name.casefold(), image)
            if other is not image:
                shared.append(f"{other} and {image} would both write {path}")
            elif guarded and path.exists():
                replaced.append(f"{image} would replace {path}")
    reasons = []
    if shared:
        reasons.append(f"{_listed(shared)}: rename one of each pair, or predict them into separate output folders")
    if replaced:
        reasons.append(
            f"{_listed(replaced)}: {out} holds inputs, and predict never replaces a file in a folder it reads from "
            "(ground truth, photos, an earlier run's outputs): choose another output folder"
        )
    if reasons:
        raise ValueError("nothing written: " + "; ".join(reasons))
    return bases


def images_to_predict(
    bases: dict[Path, Path], formats: Sequence[str], meaning: DepthMeaning, shard: ProcessShard, resume: bool
) -> tuple[dict[Path, Path], int]:
    """This process's part of a planned run (every N-th image of N processes, from its rank: disjoint, so each
    output is written by one process) and, with `resume`, without the images whose every output file exists (a
    killed run's finished ones: outputs are written atomically, so an existing file is whole); and how many were
    skipped."""
    planned = list(bases.items())
    mine = [planned[index] for index in shard.indices(len(planned))]
    pending = [
        (image, base) for image, base in mine
        if not (resume and all(path.exists() for path in output_paths(base, formats, meaning).values()))
    ]
    return dict(pending), len(mine) - len(pending)


def remove_interrupted_writes(bases: dict[Path, Path], formats: Sequence[str], meaning: DepthMeaning) -> list[Path]:
    """Delete the hidden temporaries a killed run left for the outputs of `bases` (`plan_outputs`), once their
    writer cannot still be writing them (`mde_hub.data.files.remove_stale_temporaries`); return what was deleted."""
    names: dict[Path, set[str]] = {}
    for base in bases.values():
        for path in output_paths(base, formats, meaning).values():
            names.setdefault(path.parent, set()).add(path.name)
    return [removed for folder, named in names.items() for removed in remove_stale_temporaries(folder, named)]


def _listed(items: list[str]) -> str:
    more = len(items) - _SHOWN_CLASHES
    return ", ".join(items[:_SHOWN_CLASHES]) + (f" and {more} more" if more > 0 else "")


def check_prediction_options(colormap: str, focal: float | None, stride: int) -> None:
    """Refuse the options of `write_prediction_files` that would fail, or write an invalid file, midway through a
    run: an unknown colormap, a focal length that is not a finite positive number, a stride below 1. Callers check
    before any work; `write_prediction_files` checks again before writing anything."""
    check_colormap(colormap)
    if focal is not None:
        check_focal(focal)
    if stride < 1:
        raise ValueError(f"the point-cloud stride must be a positive integer; got {stride}")


@dataclass
class PredictionFiles:
    """What `write_prediction_files` wrote (format -> path, in writing order) and notes on what it left out."""

    written: dict[str, Path] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def write_prediction_files(
    values: np.ndarray,
    meaning: DepthMeaning,
    image: ImageLike,
    base: Path,
    formats: Sequence[str],
    colormap: str = "Spectral",
    value_range: tuple[float, float] | None = None,
    focal: float | None = None,
    stride: int = 1,
) -> PredictionFiles:
    """Write `formats` of one prediction (`values` as the model gave them, meaning `meaning`) at `output_paths`
    of `base`, each atomically. The colour PNG and the point clouds show `meaning.to_depth(values)`: colours over
    `value_range` (default: the map's 2nd-98th percentile); points seen by a camera of `focal` pixels (default: a
    60 degree horizontal field of view), every `stride`-th pixel, coloured from `image`. No millimetre PNG for a
    relative model or for metric depth beyond 65.535 m, no point cloud without valid depth: notes say so, and say
    when a point cloud is not metric. Options are checked (`check_prediction_options`) before any file is written."""
    check_prediction_options(colormap, focal, stride)
    files = PredictionFiles()
    paths = output_paths(base, formats, meaning)
    depth = meaning.to_depth(values)
    if "png16" in formats and not meaning.is_metric:
        files.notes.append(f"{meaning.describe()} has no millimetres, so no 16-bit PNG (the .npy holds the values)")
    if "png16" in paths:
        if fits_depth_png_mm(depth):
            save_depth_png_mm(depth, paths["png16"])
            files.written["png16"] = paths["png16"]
        else:
            files.notes.append(
                f"depth reaches {max_valid_depth(depth):.1f} m, beyond the {PNG_MM_MAX_DEPTH_M} m a millimetre PNG "
                "holds, so no 16-bit PNG (the .npy holds it)"
            )
    if "npy" in paths:
        save_depth_npy(values, paths["npy"])
        files.written["npy"] = paths["npy"]
    if "color" in paths:
        save_colorized_depth(depth, paths["color"], colormap, value_range)
        files.written["color"] = paths["color"]
    clouds = [name for name in ("ply", "glb") if name in paths]
    if clouds:
        height, width = depth.shape
        camera = default_intrinsics(height, width)
        if focal:
            camera = Intrinsics(focal, focal, camera.cx, camera.cy)
        points, colors = depth_to_points(depth, camera, to_rgb_uint8(image), stride=stride)
        if not len(points):
            files.notes.append("no valid depth, so no point cloud")
            return files
        if not meaning.is_metric:
            files.notes.append(f"the point cloud is not in metres: the model predicts {meaning.describe()}")
        for name in clouds:
            (save_point_cloud_ply if name == "ply" else save_point_cloud_glb)(points, colors, paths[name])
            files.written[name] = paths[name]
    return files


@dataclass(frozen=True)
class _ImageLoader:
    """`load_image` of the index-th path (picklable, for DataLoader workers)."""

    paths: list[Path]

    def __call__(self, index: int) -> PIL.Image.Image:
        return load_image(self.paths[index])


def predict_to_files(
    predictor: DepthPredictor,
    bases: dict[Path, Path],
    formats: Sequence[str],
    colormap: str = "Spectral",
    focal: float | None = None,
    stride: int = 1,
    batch_size: int = 1,
    num_workers: int = 0,
) -> Iterator[tuple[Path, DepthPrediction, PredictionFiles]]:
    """`mde-hub predict`'s run: the images of `bases` (`plan_outputs`) loaded `batch_size` at a time by
    `num_workers` processes (`mde_hub.data.batches`), predicted as a batch (`focal`: the camera's focal length in
    pixels, for models that take it and for the point clouds; None: each photo's own from its EXIF tags,
    `mde_hub.data.exif_focal`, where it has them) and each written with
    `write_prediction_files` at its base; yields the image, its prediction and its files as each is done, in order."""
    paths = list(bases)
    done = 0
    for images in batches(_ImageLoader(paths), len(paths), batch_size, num_workers):
        focals = [focal_length_from_exif(image) if focal is None else focal for image in images]
        predictions = predictor.predict_batch(images, focals)
        for path, image, prediction, image_focal in zip(paths[done : done + len(images)], images, predictions, focals):
            files = write_prediction_files(
                prediction.values, prediction.meaning, image, bases[path], formats, colormap, focal=image_focal,
                stride=stride,
            )
            yield path, prediction, files
        done += len(images)
