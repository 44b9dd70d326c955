"""A fixed glibc mmap threshold for the long-running app server.

glibc serves allocations of at least its mmap threshold (128 KiB at start) with their own mmap, returned to the system
on free. Each time such a block is freed, glibc raises the threshold to that block's size (up to 32 MiB), so from then
on the app's multi-megabyte image, depth and tensor buffers come from the heap, whose freed holes fragment it and are
rarely given back. Under the load test this showed as the server's resident memory growing with every round
(1040 -> 1912 MiB over 500 requests); with the threshold fixed it levelled off at about 1050 MiB (RELIABILITY.md).
"""

from __future__ import annotations

import ctypes
import sys

M_MMAP_THRESHOLD = -3  # mallopt's parameter number for the mmap threshold (glibc's malloc.h)
GLIBC_INITIAL_MMAP_THRESHOLD = 128 * 1024


def fix_mmap_threshold(threshold: int = GLIBC_INITIAL_MMAP_THRESHOLD) -> bool:
    """Pin glibc's mmap threshold at `threshold` bytes (setting it also turns off the dynamic raise).

    Returns whether it was set: False where the C library is not glibc (macOS, Windows, musl), where nothing changes.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    mallopt = getattr(libc, "mallopt", None)
    return mallopt is not None and mallopt(M_MMAP_THRESHOLD, threshold) == 1
