"""Writing output files so that a reader never sees a half-written one, even after a crash or a power loss; removing
the temporaries a killed writer left; and refusing to read what is not a regular file (a named pipe would block the
reader forever).

`atomic_output` writes `NAME` through a hidden temporary beside it, `.NAME.PID.RANDOM.SUFFIX` (PID: the writer's
process id; files of versions before it lack the PID), renamed onto `NAME` when whole. A SIGKILL or a power loss
leaves the temporary behind; `remove_stale_temporaries` deletes those of given names once their writer cannot still
be writing them: its process no longer runs on this machine and the file is over `DEAD_WRITER_GRACE_S` old (the
grace covers a writer on another machine sharing the folder), or the file is over `STALE_AFTER_S` old (a temporary
lives for the seconds one file takes to write). A concurrent run's live temporaries are never touched.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil
import stat
import tempfile
import time
from collections.abc import Iterable, Iterator
from pathlib import Path


def _fsync(path: str | os.PathLike, directory: bool = False) -> None:
    if directory and os.name == "nt":
        return  # Windows cannot open a folder to fsync it
    descriptor = os.open(path, os.O_RDONLY | (os.O_DIRECTORY if directory else 0))
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


_KINDS = (
    (stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a named pipe (FIFO)"), (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"),
)


def non_regular_kind(path: str | os.PathLike) -> str | None:
    """What `path` is (symbolic links followed) when something other than a regular file: "a folder", "a named pipe
    (FIFO)", a device or a socket; None for a regular file or when nothing is there. Never opens `path`."""
    try:
        mode = os.stat(path).st_mode
    except (FileNotFoundError, NotADirectoryError):
        return None
    return next((kind for test, kind in _KINDS if test(mode)), None)


def check_regular_file(path: str | os.PathLike) -> None:
    """Refuse, before opening it, a `path` that is not a regular file: opening a named pipe blocks until a writer
    comes, a device can be endless."""
    kind = non_regular_kind(path)
    if kind is not None:
        raise ValueError(f"{os.fspath(path)} is {kind}, not a regular file")


_FULL_DISK = {errno.ENOSPC: "no space left on device"}
if hasattr(errno, "EDQUOT"):  # not on Windows
    _FULL_DISK[errno.EDQUOT] = "disk quota exceeded"


def _disk_full(error: BaseException, path: Path) -> OSError | None:
    """For a write that failed because the disk (or the user's quota) is full: an OSError of the same errno whose
    message names `path` and what to do; None for any other error."""
    if not isinstance(error, OSError) or error.errno not in _FULL_DISK:
        return None
    full = OSError(f"{_FULL_DISK[error.errno]}: cannot write {path}; free some space or choose another output folder")
    full.errno = error.errno
    return full


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success it is renamed onto `path`, on error it is removed (a full
    disk is then an OSError naming `path`).

    The temporary file is flushed to disk before the rename and the folder after it, so that after a power loss
    `path` holds either its old content or the complete new one.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.", suffix=path.suffix, dir=path.parent)
    os.close(handle)
    try:
        yield Path(temporary)
        os.chmod(temporary, 0o666 & ~_current_umask())  # mkstemp makes 0600 files; give the usual permissions
        _fsync(temporary)
        os.replace(temporary, path)
        _fsync(path.parent, directory=True)
    except BaseException as error:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        full = _disk_full(error, path)
        if full is not None:
            raise full from error
        raise


STALE_AFTER_S = 3600.0
"""Age (since the last write) beyond which a temporary of `atomic_output` is stale whoever wrote it."""
DEAD_WRITER_GRACE_S = 60.0
"""Age beyond which a temporary whose writer's process no longer runs here is stale."""
_RANDOM = "[a-z0-9_]{8}"  # the random part of tempfile's names


def _process_runs(pid: int) -> bool:
    """Whether process `pid` runs on this machine (assumed so where that cannot be asked safely: on Windows
    `os.kill(pid, 0)` would send a Ctrl+C)."""
    if os.name == "nt":
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True  # another user's process (or a PID no system has: kept until STALE_AFTER_S)
    return True


def remove_stale_temporaries(folder: str | os.PathLike, names: Iterable[str]) -> list[Path]:
    """Delete the hidden temporaries `atomic_output` left in `folder` for files named `names` whose writer cannot
    still be writing them (the module docstring says when); return what was deleted."""
    patterns = [
        re.compile(re.escape(f".{name}.") + rf"(?:(\d+)\.)?{_RANDOM}" + re.escape(Path(name).suffix))
        for name in set(names)
    ]
    try:
        entries = list(os.scandir(folder))
    except FileNotFoundError:
        return []
    now, removed = time.time(), []
    for entry in entries:
        match = next((found for pattern in patterns if (found := pattern.fullmatch(entry.name))), None)
        if match is None or not entry.is_file(follow_symlinks=False):
            continue
        age = now - entry.stat(follow_symlinks=False).st_mtime
        pid = match.group(1)
        writer_gone = pid is not None and int(pid) != os.getpid() and not _process_runs(int(pid))
        if age > STALE_AFTER_S or (writer_gone and age > DEAD_WRITER_GRACE_S):
            with contextlib.suppress(FileNotFoundError):  # another run removed it first
                os.unlink(entry.path)
                removed.append(Path(entry.path))
    return removed


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
    except BaseException as error:
        if aside is not None and not path.exists():
            os.replace(aside / path.name, path)  # put the old folder back
        shutil.rmtree(temporary, ignore_errors=True)
        full = _disk_full(error, path)
        if full is not None:
            raise full from error
        raise
    finally:
        if aside is not None:
            shutil.rmtree(aside, ignore_errors=True)
