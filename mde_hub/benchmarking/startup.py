"""How long the command line takes to start: a fresh Python running `mde-hub --help`, and `import mde_hub` (which
registers every model, so it imports torch and transformers), timed as whole processes."""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from typing import Any

STARTUP_COMMANDS = {
    "`mde-hub --help`": ["-m", "mde_hub", "--help"],
    "`mde-hub predict --help`": ["-m", "mde_hub", "predict", "--help"],
    "`python -c 'import mde_hub'` (registers the models)": ["-c", "import mde_hub"],
}
"""What is timed -> the interpreter's arguments."""


def process_seconds(arguments: list[str], repeats: int) -> float:
    """Median wall time of `repeats` fresh `python ARGUMENTS` processes (after one untimed run that warms the disk
    cache); a process that fails raises a RuntimeError with its stderr."""
    times = []
    for run in range(repeats + 1):
        start = time.perf_counter()
        result = subprocess.run([sys.executable, *arguments], capture_output=True, text=True)
        if result.returncode != 0:
            raise RuntimeError(f"python {' '.join(arguments)} failed: {result.stderr[-500:]}")
        if run:
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def startup_rows(repeats: int, quick: bool) -> list[dict[str, Any]]:
    """One row per `STARTUP_COMMANDS` entry (`quick`: the `--help` rows only, once each)."""
    commands = {what: arguments for what, arguments in STARTUP_COMMANDS.items() if not quick or "--help" in what}
    return [{"what": what, "seconds": process_seconds(arguments, 1 if quick else repeats)}
            for what, arguments in commands.items()]
