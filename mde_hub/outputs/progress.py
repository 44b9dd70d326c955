"""What a long command (`mde-hub evaluate`, `predict`, `data synth`, `bench`) shows on stderr while it runs and
when it ends. The library reports progress through callbacks, `progress(done, total)` (and a label, for `bench`);
`CommandProgress` is such a callback for the command line.

* On a terminal: a tqdm bar, redrawn in place.
* Anywhere else (a pipe, a log file, a batch job): one plain line at each tenth of the work (and when the label
  changes), `evaluate: 66/654 images (10%)`, so a log shows progress without carriage-return noise.
* At the end: one summary line, `evaluate: 654 images in 95.2 s, 6.87 images/s (98.0 s in all)`: the count, the
  wall time from the first `progress(0, total)` to the end and the rate over it, then the command's whole wall time
  (model loading included).
* `quiet`: none of it.

The bars transformers and the Hub draw themselves (`Loading weights`, downloads) follow the same rule while the
command runs: shown on a terminal, hidden elsewhere and when quiet.

Lines a command prints while a bar is shown go through `print`, which lifts the bar, prints and redraws it.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Iterator
from types import TracebackType
from typing import IO

from tqdm import tqdm


def shows_progress(stream: IO[str], quiet: bool) -> bool:
    """Whether bars go to `stream`: only a terminal's, and never when quiet."""
    return not quiet and bool(getattr(stream, "isatty", lambda: False)())


@contextlib.contextmanager
def library_bars(shown: bool) -> Iterator[None]:
    """While the block runs, transformers' and the Hub's own bars (`Loading weights`, `Writing model shards`,
    downloads) are shown only if `shown`; their settings are restored after it."""
    import huggingface_hub.utils
    import transformers.utils.logging

    transformers_bars = transformers.utils.logging.is_progress_bar_enabled()
    hub_bars = not huggingface_hub.utils.are_progress_bars_disabled()
    if not shown:
        transformers.utils.logging.disable_progress_bar()
        huggingface_hub.utils.disable_progress_bars()
    try:
        yield
    finally:
        if transformers_bars:
            transformers.utils.logging.enable_progress_bar()
        if hub_bars:
            huggingface_hub.utils.enable_progress_bars()


class CommandProgress:
    """The progress display and the summary line of one command named `name`, counting `unit`s (`image`)."""

    def __init__(self, name: str, unit: str, quiet: bool = False, stream: IO[str] | None = None) -> None:
        self.name, self.unit, self.quiet = name, unit, quiet
        self.stream = stream if stream is not None else sys.stderr
        self.terminal = shows_progress(self.stream, quiet=False)
        self._library_bars = library_bars(shows_progress(self.stream, quiet))
        self.command_started = time.perf_counter()
        self.work_started: float | None = None
        self.done = 0
        self._bar: tqdm | None = None
        self._shown: tuple[int, str | None] | None = None

    def __call__(self, done: int, total: int | None, label: str | None = None) -> None:
        """`done` of `total` units are finished (`total` None: unknown); `label` names the current step."""
        if self.work_started is None:
            self.work_started = time.perf_counter()
        self.done = done
        if self.quiet:
            return
        if self.terminal:
            if self._bar is None:
                self._bar = tqdm(total=total, unit=self.unit, desc=self.name, file=self.stream, dynamic_ncols=True)
            if label is not None:
                self._bar.set_description(f"{self.name}: {label}", refresh=False)
            self._bar.update(done - self._bar.n)
            return
        step = (done * 10 // total if total else done, label)
        if step != self._shown and (done > 0 or label is not None):
            self._shown = step
            count = f"{done}/{total}" if total else f"{done}"
            percent = f" ({done * 100 // total}%)" if total else ""
            suffix = f": {label}" if label is not None else ""
            self.stream.write(f"{self.name}: {count} {self._units(total or done)}{percent}{suffix}\n")
            self.stream.flush()

    def print(self, text: str, file: IO[str]) -> None:
        """Print `text` to `file` (stdout or stderr) without breaking the bar."""
        if self._bar is not None:
            self._bar.write(text, file=file)
        else:
            print(text, file=file)

    def summary(self) -> str:
        """`NAME: N UNITS in T s, R UNITS/s (W s in all)`."""
        end = time.perf_counter()
        work = end - (self.work_started if self.work_started is not None else self.command_started)
        rate = self.done / work if work > 0 else float("inf")
        return (f"{self.name}: {self.done} {self._units(self.done)} in {work:.1f} s, {rate:.3g} {self.unit}s/s "
                f"({end - self.command_started:.1f} s in all)")

    def __enter__(self) -> CommandProgress:
        """Hide the libraries' own bars unless a terminal shows ours (`library_bars`)."""
        self._library_bars.__enter__()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None) -> None:
        """Close the bar and restore the libraries' bars; print the summary when the command succeeded and is not
        quiet."""
        if self._bar is not None:
            self._bar.close()
        self._library_bars.__exit__(kind, error, trace)
        if kind is None and not self.quiet:
            self.stream.write(self.summary() + "\n")
            self.stream.flush()

    def _units(self, count: int) -> str:
        return self.unit if count == 1 else f"{self.unit}s"
