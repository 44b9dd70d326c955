"""Downloading a released file: redirects, resume, retries, checksum, atomic rename, progress on stderr.

`download(url, destination)` streams into `destination.part`. A dropped connection (a closed socket, a timeout, a
body shorter than announced, a 5xx, 408 or 429 answer) is retried, resuming with an HTTP Range request from the
bytes already on disk (a server that ignores the Range starts the file over); a 4xx answer, a web page where a file
was expected, or a wrong checksum stops at once with an error that names the URL. The finished file is checked
against the sha256 (or the sha256 prefix) given, deleted when it does not match, and renamed onto `destination`
only when it does, so `destination` is always a complete, checked file. Two processes fetching the same file take
turns (a lock file beside it, where the system has `fcntl`).
"""

from __future__ import annotations

import contextlib
import http.client
import os
import re
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import IO

try:
    import fcntl
except ImportError:  # Windows: no lock
    fcntl = None

from .. import __version__
from ..evaluation.evaluate import file_sha256

CHUNK_BYTES = 1 << 20
PART_SUFFIX = ".part"


class DownloadError(OSError):
    """A download that cannot succeed as asked; the message names the URL and what went wrong."""


class _Interrupted(Exception):
    """A transfer that stopped part-way and may resume."""


def checksum_problem(path: str | os.PathLike, sha256: str | None = None, sha256_prefix: str | None = None) -> str | None:
    """None when `path` has the sha256 (or starts with the prefix) given, else what is wrong."""
    if sha256 is None and sha256_prefix is None:
        return None
    actual = file_sha256(os.fspath(path))
    if sha256 is not None and actual != sha256.lower():
        return f"its sha256 is {actual}, not the published {sha256.lower()}"
    if sha256_prefix is not None and not actual.startswith(sha256_prefix.lower()):
        return f"its sha256 is {actual}, which does not start with the published {sha256_prefix.lower()}"
    return None


class _Progress:
    """`NAME: 45% (74.3 of 165.0 MB)` on stderr: rewritten in place on a terminal, every 10 % otherwise."""

    def __init__(self, name: str, stream: IO[str] | None) -> None:
        self.name, self.stream, self.shown = name, stream, None
        self.terminal = bool(stream is not None and getattr(stream, "isatty", lambda: False)())

    def update(self, done: int, total: int | None) -> None:
        if self.stream is None:
            return
        if total:
            percent = min(100, done * 100 // total)
            step = percent if self.terminal else percent // 10 * 10
            text = f"{self.name}: {percent}% ({done / 1e6:.1f} of {total / 1e6:.1f} MB)"
        else:
            step = done // (10 * 2**20)
            text = f"{self.name}: {done / 1e6:.1f} MB"
        if step != self.shown:
            self.shown = step
            self.stream.write(f"\r{text}" if self.terminal else f"{text}\n")
            self.stream.flush()

    def note(self, text: str) -> None:
        if self.stream is not None:
            self.stream.write(("\n" if self.terminal and self.shown is not None else "") + f"{text}\n")
            self.stream.flush()
            self.shown = None

    def close(self) -> None:
        if self.stream is not None and self.terminal and self.shown is not None:
            self.stream.write("\n")
            self.stream.flush()


@contextlib.contextmanager
def _exclusive(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on `path` (created if needed) while the block runs."""
    if fcntl is None:
        yield
        return
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _content_range(value: str | None) -> tuple[int, int | None]:
    """(first byte, total size or None) of a `Content-Range: bytes FIRST-LAST/TOTAL` header."""
    match = re.fullmatch(r"bytes (\d+)-\d+/(\d+|\*)", (value or "").strip())
    if match is None:
        raise _Interrupted(f"the server answered a Range request with Content-Range {value!r}")
    return int(match[1]), None if match[2] == "*" else int(match[2])


def _transfer(url: str, part: Path, timeout: float, progress: _Progress, page_hint: str) -> None:
    """Download `url` into `part`, resuming after what it holds; raises _Interrupted for what may be retried."""
    start = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"User-Agent": f"mde-hub/{__version__}"})
    if start:
        request.add_header("Range", f"bytes={start}-")
    try:
        response = urllib.request.urlopen(request, timeout=timeout)  # noqa: S310 - http(s) URLs of the zoo table
    except urllib.error.HTTPError as error:
        error.close()
        if error.code == 416 and start:  # the range starts at or past the end: the server has nothing more
            if (error.headers.get("Content-Range") or "").strip() == f"bytes */{start}":
                return  # the part was complete already (a run stopped before its rename)
            part.unlink()
            raise _Interrupted("the server refused to resume (HTTP 416); starting over") from None
        if error.code in (408, 429) or error.code >= 500:
            raise _Interrupted(f"HTTP {error.code} {error.reason}") from None
        where = f" (redirected to {error.url})" if error.url and error.url != url else ""
        raise DownloadError(f"{url}: HTTP {error.code} {error.reason}{where}") from None
    except (urllib.error.URLError, OSError, http.client.HTTPException) as error:
        reason = getattr(error, "reason", error)
        raise _Interrupted(f"cannot connect: {reason}") from None
    with response:
        kind = response.headers.get("Content-Type", "")
        if kind.split(";")[0].strip().lower() == "text/html":
            raise DownloadError(
                f"{url} answered with a web page ({kind}), not the file (a sign-in, quota or confirmation page?)"
                + (f"; {page_hint}" if page_hint else "")
            )
        if response.status == 206:
            first, total = _content_range(response.headers.get("Content-Range"))
            if first != start:
                part.unlink()
                raise _Interrupted(f"the server resumed at byte {first}, not {start}; starting over")
            mode = "ab"
        else:  # 200: the whole file, whether or not a Range was asked for
            length = response.headers.get("Content-Length")
            start, total, mode = 0, int(length) if length and length.isdigit() else None, "wb"
        done = start
        with open(part, mode) as handle:
            try:
                while block := response.read(CHUNK_BYTES):
                    handle.write(block)
                    done += len(block)
                    progress.update(done, total)
            except (http.client.HTTPException, OSError) as error:  # IncompleteRead, reset, timeout
                raise _Interrupted(f"connection dropped after {done:,} bytes ({type(error).__name__})") from None
            finally:
                handle.flush()
                os.fsync(handle.fileno())
    if total is not None and done < total:
        raise _Interrupted(f"connection closed after {done:,} of {total:,} bytes")
    if total is not None and done > total:
        part.unlink()
        raise DownloadError(f"{url}: received {done:,} bytes, more than the {total:,} announced; the file was deleted")


def download(
    url: str,
    destination: str | os.PathLike,
    *,
    sha256: str | None = None,
    sha256_prefix: str | None = None,
    retries: int = 5,
    timeout: float = 60.0,
    retry_delay: float = 2.0,
    progress: IO[str] | bool | None = True,
    page_hint: str = "",
) -> Path:
    """Download `url` to `destination` (resuming a `.part` left by an earlier try) and return its path.

    A `destination` already there is kept when it matches the checksum given (or none is given), else fetched again.
    `retries` dropped connections are retried, each resuming where the last stopped, after `retry_delay` seconds
    (doubling, at most 30). `page_hint` is added to the error when the server answers with a web page.
    """
    destination = Path(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    with _exclusive(destination.with_name(destination.name + ".lock")):
        if destination.is_file():
            if checksum_problem(destination, sha256, sha256_prefix) is None:
                return destination
            destination.unlink()  # a damaged or replaced file in the cache: fetch it again
        part = destination.with_name(destination.name + PART_SUFFIX)
        shown = _Progress(destination.name, sys.stderr if progress is True else progress or None)
        failures = 0
        while True:
            try:
                _transfer(url, part, timeout, shown, page_hint)
                break
            except _Interrupted as error:
                failures += 1
                kept = part.stat().st_size if part.exists() else 0
                if failures > retries:
                    shown.close()
                    raise DownloadError(
                        f"{url}: {error}; gave up after {retries} retries ({kept:,} bytes kept in {part}: fetching "
                        "again resumes there)"
                    ) from None
                shown.note(f"{destination.name}: {error}; retrying from byte {kept:,} ({failures} of {retries})")
                time.sleep(min(retry_delay * 2 ** (failures - 1), 30.0))
        shown.close()
        problem = checksum_problem(part, sha256, sha256_prefix)
        if problem is not None:
            part.unlink()
            raise DownloadError(f"{url}: wrong checksum: {problem}; the downloaded file was deleted")
        os.replace(part, destination)
        return destination
