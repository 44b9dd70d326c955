"""Writing output files so that a reader never sees a half-written one, even after a crash or a power loss."""

from __future__ import annotations

import contextlib
import os
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
