"""A short run of benchmarks/load_test.py: 10 concurrent gradio_client clients, 20 requests (compare and evaluate)
against an in-process app with two tiny models; every answer is checked and none may fail. The full run (50 clients,
200 requests, app.py in its own process) and its figures are in RELIABILITY.md."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import PIL.Image
import pytest
from app_helpers import save_baseline, start_app

from mde_hub.app.inputs import GT_ENCODINGS

SCRIPT = Path(__file__).parent.parent / "benchmarks" / "load_test.py"


@pytest.fixture(scope="module")
def load_test():
    spec = importlib.util.spec_from_file_location("load_test", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_ten_clients_twenty_requests_without_a_failure(load_test, tmp_path) -> None:
    save_baseline(tmp_path / "models" / "tiny-a", 0)
    save_baseline(tmp_path / "models" / "tiny-b", 1)
    demo, _, _ = start_app(tmp_path / "models", tmp_path)
    try:
        assert load_test.served_models(demo.local_url) == ["tiny-a", "tiny-b"]
        image, depth = tmp_path / "image.png", tmp_path / "depth.png"
        PIL.Image.fromarray(np.random.default_rng(0).integers(0, 256, (48, 64, 3), dtype=np.uint8)).save(image)
        PIL.Image.fromarray(np.linspace(500, 5000, 48 * 64).reshape(48, 64).astype(np.uint16)).save(depth)
        encoding = next(label for label, code in GT_ENCODINGS.items() if code == "mm")
        report = load_test.run_load(demo.local_url, 10, 20, str(image), str(depth), encoding, pid=os.getpid())
    finally:
        demo.close()
    assert report.failures == []
    assert report.models == ["tiny-a", "tiny-b"]
    assert len(report.latencies_s["evaluate"]) == 5 and len(report.latencies_s["compare"]) == 15  # i % 4 == 0
    summary = report.to_dict()
    assert summary["completed"] == 20 and 0 < summary["p50_s"] <= summary["p95_s"] <= summary["max_s"]
    assert report.rss_before > 0 and report.rss_after > 0
    assert "failures 0" in report.summary()


def test_bad_arguments_are_refused(load_test) -> None:
    with pytest.raises(ValueError, match="need 1 <= clients <= requests; got 5 clients for 2 requests"):
        load_test.run_load("http://127.0.0.1:1", 5, 2, "a.png", "b.png", "mm", models=["m"])


MMAP_PROBE = """
import ctypes, sys
from mde_hub.app.allocator import fix_mmap_threshold
libc = ctypes.CDLL("libc.so.6")
class MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in
                "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost".split()]
libc.mallinfo2.restype = MallInfo2
libc.malloc.restype, libc.malloc.argtypes, libc.free.argtypes = ctypes.c_void_p, [ctypes.c_size_t], [ctypes.c_void_p]
if sys.argv[1] == "fixed":
    assert fix_mmap_threshold()
libc.free(libc.malloc(8 << 20))  # freeing an 8 MiB mmapped block raises glibc's dynamic threshold to 8 MiB
before = libc.mallinfo2().hblkhd
block = libc.malloc(4 << 20)
print((libc.mallinfo2().hblkhd - before) >> 20)  # MiB of the 4 MiB block that got its own mmap
"""


def _glibc() -> bool:
    try:
        return os.confstr("CS_GNU_LIBC_VERSION").startswith("glibc")
    except (ValueError, OSError, AttributeError):
        return False


@pytest.mark.slow  # two app processes under load (about 12 s each): the default suite's time goal (issue 18)
@pytest.mark.skipif(not _glibc(), reason="glibc's allocator only")
@pytest.mark.parametrize(("mode", "mmapped_mib"), [("dynamic", 0), ("fixed", 4)])
def test_fixed_mmap_threshold_keeps_large_buffers_off_the_heap(mode, mmapped_mib) -> None:
    """glibc's default raises its mmap threshold when a large block is freed, after which multi-megabyte buffers
    come from the heap and fragment it (the app's memory growth under load); app.py pins the threshold."""
    done = subprocess.run([sys.executable, "-c", MMAP_PROBE, mode], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert int(done.stdout) == mmapped_mib
