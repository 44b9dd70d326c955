"""Items of an indexable data set in batches, loaded in parallel by a torch `DataLoader`: what `evaluate` and
`mde-hub predict` stream. A batch is a plain list of items, in order; an item's loading error (ValueError, OSError:
a damaged file) is raised in the calling process as itself, with no worker traceback around it."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any, Generic, TypeVar

from torch.utils.data import DataLoader, Dataset

from .images import current_pixel_limit, pixel_limit

Item = TypeVar("Item")


def check_batching(batch_size: int, num_workers: int) -> None:
    """ValueError unless `batch_size` >= 1 and `num_workers` >= 0 (both integers)."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be an integer >= 1; got {batch_size!r}")
    if isinstance(num_workers, bool) or not isinstance(num_workers, int) or num_workers < 0:
        raise ValueError(f"num_workers must be an integer >= 0; got {num_workers!r}")


class _Loaded(Dataset, Generic[Item]):
    """`load(index)` of each index below `count`, or the error that loading raised (to be raised by the caller).
    Items load under the `pixel_limit` in force where this was made, also in a spawned loading process."""

    def __init__(self, load: Callable[[int], Item], count: int) -> None:
        self.load = load
        self.count = count
        self.max_pixels = current_pixel_limit()

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, index: int) -> Item | Exception:
        try:
            with pixel_limit(self.max_pixels):
                return self.load(index)
        except (ValueError, OSError) as error:
            return error


def _as_list(items: list[Any]) -> list[Any]:
    return items


def batches(
    load: Callable[[int], Item], count: int, batch_size: int = 1, num_workers: int = 0
) -> Iterator[list[Item]]:
    """`[load(0), ..., load(count - 1)]` in order, as lists of at most `batch_size`, loaded by `num_workers`
    processes (0: here). `load` must be picklable when `num_workers` > 0 (a data set's bound `__getitem__` is)."""
    check_batching(batch_size, num_workers)
    loader = DataLoader(
        _Loaded(load, count), batch_size=batch_size, num_workers=num_workers, collate_fn=_as_list, shuffle=False
    )
    for batch in loader:
        for item in batch:
            if isinstance(item, Exception):
                raise item
        yield batch


def dataset_batches(
    dataset: Sequence[Item], count: int, batch_size: int = 1, num_workers: int = 0
) -> Iterator[list[Item]]:
    """The first `count` items of an indexable `dataset` (`dataset[index]`), as `batches` yields them."""
    return batches(dataset.__getitem__, count, batch_size, num_workers)
