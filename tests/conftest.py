"""Test-wide settings: offline, no analytics, and any stray network connection fails at once instead of hanging."""

import ipaddress
import os
import socket

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
torch.set_num_threads(min(2, os.cpu_count() or 1))


SHARED_DATA = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "rgbd")


@pytest.fixture
def shared_rgbd() -> str:
    """../shared/data/rgbd beside the repository; tests that need it skip cleanly when it is absent."""
    if not os.path.isdir(SHARED_DATA):
        pytest.skip("../shared/data/rgbd is not present")
    return os.path.abspath(SHARED_DATA)
