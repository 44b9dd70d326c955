"""One command in several processes: `torchrun` or `accelerate launch` start N copies of `mde-hub evaluate` or
`mde-hub predict`, and each copy takes one shard of the work.

The launchers announce the run in the environment (`RANK`, `WORLD_SIZE`, `LOCAL_RANK`, `MASTER_ADDR`,
`MASTER_PORT`); `join_launched_processes` joins them into a `torch.distributed` process group (gloo on CPUs, NCCL
between GPUs) and returns this process's `ProcessShard`. Shards are strided (rank r takes items r, r + N, ...), so
they are disjoint, cover everything and stay balanced when items are sorted by size or date. Evaluation sums its
metric accumulators across the processes (`sum_across_processes`), so N processes give the metrics of one.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as dist

LAUNCHER_VARIABLES = ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")


@dataclass(frozen=True)
class ProcessShard:
    """This process's part of a job run by `world_size` processes."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0  # the process's number on its machine: which GPU it takes

    def __post_init__(self) -> None:
        if self.world_size < 1 or not 0 <= self.rank < self.world_size:
            raise ValueError(f"rank must be in [0, world_size); got rank {self.rank} of {self.world_size}")

    @property
    def is_main(self) -> bool:
        """Whether this process writes what the whole job writes once (the results JSON, the summary)."""
        return self.rank == 0

    @property
    def is_distributed(self) -> bool:
        return self.world_size > 1

    def indices(self, total: int) -> range:
        """The items of `total` this process takes: rank, rank + world_size, ..."""
        return range(self.rank, total, self.world_size)

    def describe(self) -> str:
        return f"process {self.rank + 1} of {self.world_size}"

    def device(self, device: str) -> str:
        """The device this process runs on: a bare "cuda" of a multi-process run means its own GPU, cuda:local_rank."""
        return f"cuda:{self.local_rank}" if device == "cuda" and self.is_distributed else device


def launched_shard() -> ProcessShard:
    """The shard the launcher's environment gives this process (rank 0 of 1 when none launched it)."""
    if "WORLD_SIZE" not in os.environ:
        return ProcessShard()
    try:
        return ProcessShard(
            int(os.environ.get("RANK", "0")), int(os.environ["WORLD_SIZE"]), int(os.environ.get("LOCAL_RANK", "0"))
        )
    except ValueError:
        names = ("RANK", "WORLD_SIZE", "LOCAL_RANK")
        given = ", ".join(f"{name}={os.environ.get(name)!r}" for name in names)
        raise ValueError(f"{given} must be integers (set by torchrun or accelerate launch)") from None


def join_launched_processes(device: torch.device | str = "cpu", timeout_s: float = 1800.0) -> ProcessShard:
    """Join the process group of a multi-process launch (once per process) and return this process's shard; a
    single process needs no group. CUDA devices communicate over NCCL, everything else over gloo."""
    shard = launched_shard()
    if not shard.is_distributed or dist.is_initialized():
        return shard
    missing = [name for name in LAUNCHER_VARIABLES if name not in os.environ]
    if missing:
        raise ValueError(f"WORLD_SIZE={shard.world_size} but {', '.join(missing)} is not set: start the processes "
                         "with torchrun or accelerate launch")
    backend = "nccl" if torch.device(shard.device(device)).type == "cuda" else "gloo"
    dist.init_process_group(backend, rank=shard.rank, world_size=shard.world_size,
                            timeout=timedelta(seconds=timeout_s))
    return shard


def leave_launched_processes() -> None:
    """Leave the process group `join_launched_processes` joined (nothing in one process)."""
    if dist.is_initialized():
        dist.destroy_process_group()


def sum_across_processes(values: torch.Tensor) -> torch.Tensor:
    """The element-wise sum of `values` over every process of the group (`values` itself in one process)."""
    if not dist.is_initialized() or dist.get_world_size() == 1:
        return values
    device = "cuda" if dist.get_backend() == "nccl" else "cpu"
    total = values.detach().to(device=device, copy=True)
    dist.all_reduce(total, op=dist.ReduceOp.SUM)
    return total.to(values.device)


def wait_for_all_processes() -> None:
    """Block until every process of the group gets here (nothing in one process)."""
    if dist.is_initialized() and dist.get_world_size() > 1:
        dist.barrier()
