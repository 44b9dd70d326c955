"""`mde-hub zoo fetch`: download a zoo model's released file, convert it, write a ready checkpoint with its card.

Files live in mde-hub's cache: `$MDE_HUB_CACHE` (default `$XDG_CACHE_HOME/mde-hub`, i.e. `~/.cache/mde-hub`), the
released files under `downloads/` (under their released names, which converters may read variants from), unpacked
archives under `unpacked/`, and checkpoints fetched without `--output` under `zoo/NAME`, where the app's `--online`
mode finds them too.
"""

from __future__ import annotations

import json
import os
import shutil
import zipfile
from pathlib import Path, PurePosixPath
from typing import IO

from ..data.files import atomic_output, atomic_output_dir, check_output_dir
from ..models.conversion import CONVERTERS, convert_checkpoint
from ..outputs.conversion import file_identity, write_converted_checkpoint
from ..outputs.model_card import CONVERSION_RECORD
from .download import DownloadError, checksum_problem, download
from .table import ZooModel, zoo_model


def cache_dir() -> Path:
    """mde-hub's cache folder: $MDE_HUB_CACHE, else $XDG_CACHE_HOME/mde-hub, else ~/.cache/mde-hub."""
    if os.environ.get("MDE_HUB_CACHE"):
        return Path(os.environ["MDE_HUB_CACHE"]).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache").expanduser() / "mde-hub"


def checkpoint_dir(name: str) -> Path:
    """Where `zoo fetch NAME` writes without --output (and the app looks)."""
    return cache_dir() / "zoo" / name


def fetched(entry: ZooModel, folder: str | os.PathLike | None = None) -> bool:
    """Whether `folder` (default: the cache's) holds a checkpoint converted from this entry's file."""
    path = Path(folder) if folder is not None else checkpoint_dir(entry.name)
    try:
        record = json.loads((path / CONVERSION_RECORD).read_text())
    except (OSError, ValueError):
        return False
    return (
        isinstance(record, dict) and (record.get("origin") or {}).get("name") == entry.name
        and record.get("format") == entry.format and (path / "config.json").is_file()
    )


def released_file(entry: ZooModel, file: str | os.PathLike | None = None, progress: IO[str] | bool | None = True) -> Path:
    """The released file in the cache: downloaded (resumed, checked), or copied from `file`, a manual download,
    after checking it against the published checksum."""
    destination = cache_dir() / "downloads" / entry.file_name
    if file is not None:
        file = Path(file)
        if not file.is_file():
            raise FileNotFoundError(f"--file {file}: no such file")
        problem = checksum_problem(file, entry.sha256, entry.sha256_prefix)
        if problem is not None:
            raise ValueError(f"{file} is not {entry.file_name} of {entry.name}: {problem}")
        if file.resolve() != destination.resolve():
            with atomic_output(destination) as temporary:
                shutil.copyfile(file, temporary)
        return destination
    manual = (
        f"download {entry.file_name} in a browser from {entry.page} and run `mde-hub zoo fetch {entry.name} --file "
        f"PATH`"
    )
    if entry.url is None:
        if destination.is_file():
            return destination
        raise DownloadError(f"{entry.name}: {entry.download_note}; {manual}")
    return download(
        entry.url, destination, sha256=entry.sha256, sha256_prefix=entry.sha256_prefix, progress=progress,
        page_hint=manual,
    )


def _unpack(archive: Path, member: str, sha256: str) -> Path:
    """`member` (a file or folder) of a zip archive, unpacked once into the cache; entries outside it are left."""
    target = cache_dir() / "unpacked" / f"{archive.name}.{sha256[:16]}"
    if not (target / member).exists():
        wanted = PurePosixPath(member)
        with zipfile.ZipFile(archive) as zipped, atomic_output_dir(target, replace=True) as temporary:
            for info in zipped.infolist():
                name = PurePosixPath(info.filename)
                if name.is_absolute() or ".." in name.parts:
                    raise ValueError(f"{archive}: unsafe path {info.filename!r} in the archive")
                if name == wanted or wanted in name.parents:
                    zipped.extract(info, temporary)
            if not (temporary / member).exists():
                raise ValueError(f"{archive} has no {member!r}; it holds {', '.join(zipped.namelist()[:10])}")
    return target / member


def fetch_zoo_model(
    name: str,
    output: str | os.PathLike | None = None,
    *,
    file: str | os.PathLike | None = None,
    force: bool = False,
    progress: IO[str] | bool | None = True,
) -> Path:
    """Download (or take `file`), convert and write zoo model `name` as a checkpoint folder; returns its path.

    `output` defaults to the cache's `zoo/NAME`. A folder that already holds this model is returned as it is (unless
    `force`); any other non-empty folder is refused unless `force`, which replaces it once the new one is complete.
    """
    entry = zoo_model(name)
    output = Path(output) if output is not None else checkpoint_dir(entry.name)
    if not force and file is None and fetched(entry, output):
        return output
    check_output_dir(output, replace=force)
    if entry.format not in CONVERTERS:
        raise ValueError(
            f"{entry.name}: the conversion format {entry.format!r} is not available in this mde-hub "
            f"(formats: {', '.join(sorted(CONVERTERS))})"
        )
    downloaded = released_file(entry, file, progress)
    identity = file_identity(downloaded)
    source = _unpack(downloaded, entry.member, identity["sha256"]) if entry.member else downloaded
    result = convert_checkpoint(entry.format, source, **entry.options)
    return write_converted_checkpoint(
        result, output, format=entry.format, source_file=identity, license=entry.license, origin=entry.origin(),
        force=force,
    )
