"""Measuring primitives: median latency, FLOPs, peak resident memory, training throughput."""

from __future__ import annotations

import ctypes
import re
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")


def median_seconds(run: Callable[[], object], repeats: int, warmup: int = 1) -> float:
    """Median wall time of `repeats` calls of `run` after `warmup` untimed calls."""
    if repeats < 1:
        raise ValueError(f"repeats must be at least 1; got {repeats}")
    for _ in range(warmup):
        run()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def count_flops(build: Callable[[], nn.Module], input_shape: tuple[int, ...]) -> int:
    """FLOPs (2 per multiply-add, as `torch.utils.flop_counter` counts) of one forward of `build()`'s model.

    The model is built and run on the meta device: nothing is computed, and every op takes its reference path, so
    fused CPU kernels that the counter has no formula for (the scaled-dot-product attention and transformer-encoder
    fast paths) are counted through their decompositions instead of being missed.
    """
    with torch.device("meta"):
        model = build().eval()
    counter = FlopCounterMode(display=False)
    with counter, torch.inference_mode():
        model(pixel_values=torch.empty(input_shape, device="meta"))
    return counter.get_total_flops()


def _high_water_mark() -> int:
    """This process's peak resident set size in bytes (VmHWM)."""
    match = re.search(r"^VmHWM:\s+(\d+) kB", _STATUS.read_text(), re.MULTILINE)
    if match is None:
        raise OSError(f"{_STATUS} has no VmHWM line")
    return int(match.group(1)) * 1024


def _resident() -> int:
    match = re.search(r"^VmRSS:\s+(\d+) kB", _STATUS.read_text(), re.MULTILINE)
    if match is None:
        raise OSError(f"{_STATUS} has no VmRSS line")
    return int(match.group(1)) * 1024


def _release_free_heap() -> None:
    """Give the memory that glibc's malloc keeps from freed blocks back to the OS (`malloc_trim`), so that a
    measured run has to fault its own pages in again instead of silently reusing those."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def peak_memory_bytes(run: Callable[[], object]) -> int | None:
    """Peak resident memory that `run` adds to the process: the Linux peak-RSS mark (VmHWM), reset just before
    through /proc/self/clear_refs, minus the resident size at that moment. None where /proc does not offer this.

    torch's CPU tensors are plain malloc/mmap allocations, so RSS sees them (tracemalloc would not). Freed heap memory
    is trimmed first (`malloc_trim`); what the allocator still keeps and reuses is not counted, so this is a lower
    bound.
    """
    _release_free_heap()
    try:
        _CLEAR_REFS.write_text("5")
        before = _resident()
        run()
        return max(0, _high_water_mark() - before)
    except OSError:
        return None


def training_images_per_second(
    model: nn.Module, batch: int, size: tuple[int, int], steps: int, max_depth: float, warmup: int = 1
) -> float:
    """Images/s of full training steps (forward with labels, loss, backward, AdamW step) on random images and
    random depth labels in [0.1 max_depth, 0.9 max_depth]; `warmup` untimed steps first."""
    generator = torch.Generator().manual_seed(0)
    pixel_values = torch.randn(batch, 3, *size, generator=generator)
    labels = max_depth * (0.1 + 0.8 * torch.rand(batch, *size, generator=generator))
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-5)
    model.train()

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        model(pixel_values=pixel_values, labels=labels).loss.backward()
        optimizer.step()

    seconds = median_seconds(step, steps, warmup)
    model.eval()
    return batch / seconds
