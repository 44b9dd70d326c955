"""Writing output files so that a reader never sees a half-written one, even after a crash or a power loss."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path


def _fsync(path: str | os.PathLike, directory: bool = False) -> None:
    if directory and os.name == "nt":
        return  # Windows cannot open a folder to fsync it
    descriptor = os.open(path, os.O_RDONLY | (os.O_DIRECTORY if directory else 0))
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success it is renamed onto `path`, on error it is removed.

    The temporary file is flushed to disk before the rename and the folder after it, so that after a power loss
    `path` holds either its old content or the complete new one.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=path.suffix, dir=path.parent)
    os.close(handle)
    try:
        yield Path(temporary)
        os.chmod(temporary, 0o666 & ~_current_umask())  # mkstemp makes 0600 files; give the usual permissions
        _fsync(temporary)
        os.replace(temporary, path)
        _fsync(path.parent, directory=True)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


def check_output_dir(path: str | os.PathLike, replace: bool = False) -> Path:
    """`path` as a Path if a folder can be written there: absent, an empty folder, or (with `replace`) any folder.
    Anything else is refused with a ValueError that says how to replace it."""
    path = Path(path)
    if path.is_file() or path.is_symlink() and not path.is_dir():
        raise ValueError(f"{path} is a file, not a folder: choose another output folder")
    if path.is_dir() and any(path.iterdir()) and not replace:
        raise ValueError(f"{path} exists and is not empty: refusing to overwrite it (--force replaces it)")
    return path


@contextlib.contextmanager
def atomic_output_dir(path: str | os.PathLike, replace: bool = False) -> Iterator[Path]:
    """Yield a temporary folder beside `path`; on success it becomes `path`, on error it is removed.

    Every file in it and the folders are flushed to disk before and after the rename, so a reader sees either the old
    `path` or the complete new folder. An existing `path` must be an empty folder unless `replace`: then the old
    folder is moved aside only once the new one is complete, the new one renamed into place, and the old one deleted.
    """
    path = check_output_dir(path, replace)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent))
    aside = None
    try:
        yield temporary
        for file in temporary.rglob("*"):
            if file.is_file():
                _fsync(file)
        os.chmod(temporary, 0o777 & ~_current_umask())  # mkdtemp makes 0700 folders; give the usual permissions
        check_output_dir(path, replace)  # it may have been filled meanwhile
        if path.is_dir() and any(path.iterdir()):
            aside = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".old", dir=path.parent))
            os.replace(path, aside / path.name)
        elif path.is_dir():
            path.rmdir()
        os.replace(temporary, path)
        _fsync(path.parent, directory=True)
    except BaseException:
        if aside is not None and not path.exists():
            os.replace(aside / path.name, path)  # put the old folder back
        shutil.rmtree(temporary, ignore_errors=True)
        raise
    finally:
        if aside is not None:
            shutil.rmtree(aside, ignore_errors=True)
