"""Test-wide settings: offline, no analytics, any stray network connection fails at once instead of hanging, and a
run that leaves new files in the checkout fails (tests write under pytest's temporary folders)."""

import ipaddress
import os
import socket
import subprocess
from pathlib import Path

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import pytest  # noqa: E402
import torch  # noqa: E402

_connect = socket.socket.connect


def _loopback_only_connect(self: socket.socket, address) -> None:
    host = address[0] if isinstance(address, tuple) else address
    if self.family in (socket.AF_INET, socket.AF_INET6):
        try:
            loopback = ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = host == "localhost"
        if not loopback:
            raise ConnectionRefusedError(f"Tests may not reach the network (tried {address}).")
    _connect(self, address)


socket.socket.connect = _loopback_only_connect
# Under pytest-xdist each worker gets one core's worth of threads, so the workers do not oversubscribe the CPU.
_WORKERS = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
torch.set_num_threads(max(1, min(2, os.cpu_count() or 1) // _WORKERS))


@pytest.fixture
def decoded_sizes(monkeypatch) -> list[tuple[int, int]]:
    """The (width, height) of every image file Pillow decodes during the test (`ImageFile.load`), in order."""
    import PIL.ImageFile

    sizes: list[tuple[int, int]] = []
    load = PIL.ImageFile.ImageFile.load

    def recording_load(self):
        sizes.append(self.size)
        return load(self)

    monkeypatch.setattr(PIL.ImageFile.ImageFile, "load", recording_load)
    return sizes


SHARED_DATA = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "rgbd")


@pytest.fixture
def shared_rgbd() -> str:
    """../shared/data/rgbd beside the repository; tests that need it skip cleanly when it is absent."""
    if not os.path.isdir(SHARED_DATA):
        pytest.skip("../shared/data/rgbd is not present")
    return os.path.abspath(SHARED_DATA)


# ------------------------------------------------------------------------------------ nothing written into the checkout

CHECKOUT = Path(__file__).resolve().parent.parent
# What running Python and pytest legitimately leave in a checkout, and Gradio's interface stub: importing
# mde_hub.app.layout makes Gradio's ComponentMeta write mde_hub/app/layout.pyi beside the module (.gitignore).
GENERATED = ("__pycache__/", ".pytest_cache/", ".egg-info/")
GENERATED_FILES = ("mde_hub/app/layout.pyi",)
_STATUS_AT_START = pytest.StashKey[set | None]()
_NEW_IN_CHECKOUT = pytest.StashKey[list]()


def checkout_status() -> set[str] | None:
    """`git status` lines (tracked changes, untracked and ignored files, one line per file) of the checkout, without
    the generated files above; None when the checkout is not a git work tree or git is unavailable (the check is
    then skipped). `--no-optional-locks`: never take the index lock, so a commit made meanwhile is not disturbed;
    an in-checkout .venv is excluded from the walk (thousands of files, and installs are not test output)."""
    command = [
        "git", "--no-optional-locks", "-C", str(CHECKOUT), "status", "--porcelain=v1", "-z", "--untracked-files=all",
        "--ignored=traditional", "--", ".", ":(exclude).venv",
    ]
    try:
        done = subprocess.run(command, capture_output=True, timeout=120, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    if done.returncode != 0:
        return None
    entries = done.stdout.decode("utf-8", "surrogateescape").split("\0")
    lines, index = set(), 0
    while index < len(entries):
        entry = entries[index]
        index += 1
        if not entry:
            continue
        if entry[0] in "RC":  # a rename or copy: the next entry is its source
            index += 1
        path = entry[3:]
        if any(part in path for part in GENERATED) or path in GENERATED_FILES:
            continue
        lines.add(entry)
    return lines


def pytest_sessionstart(session: pytest.Session) -> None:
    session.config.stash[_STATUS_AT_START] = checkout_status()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    before = session.config.stash.get(_STATUS_AT_START, None)
    if before is None or os.environ.get("MDE_HUB_ALLOW_CHECKOUT_WRITES"):
        return
    after = checkout_status()
    new = sorted((after or set()) - before)
    session.config.stash[_NEW_IN_CHECKOUT] = new
    if new and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    new = config.stash.get(_NEW_IN_CHECKOUT, [])
    if new:
        terminalreporter.write_sep("=", "the run wrote into the checkout (write under tmp_path instead)", red=True)
        for line in new:
            terminalreporter.write_line(f"{CHECKOUT}: {line}")
        terminalreporter.write_line(
            "(`git status` lines new since the session began; MDE_HUB_ALLOW_CHECKOUT_WRITES=1 skips this check)"
        )

