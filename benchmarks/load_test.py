"""Load test of the mde-hub app over loopback: concurrent gradio_client clients send a mix of `/compare` and
`/evaluate` requests; every answer is checked, and the failures, p50/p95 latency and the server's resident memory
(RSS) before and after are reported.

    .venv/bin/python benchmarks/load_test.py                                  # starts app.py (its default model)
    .venv/bin/python benchmarks/load_test.py --models runs/baseline --clients 50 --requests 200
    .venv/bin/python benchmarks/load_test.py --url http://127.0.0.1:7860 --pid 1234   # an app already running

Started by the script, the app runs as `python app.py` does (offline, 127.0.0.1, its default queue concurrency).
The inputs are the app's own synthetic sample pair (a 320x240 room and its millimetre depth PNG); one request in
`--evaluate-every` is an evaluation, the others comparisons. `--rounds` repeats the run against the same server,
so that memory growth from warm-up (models load on first use) is told apart from a leak. Results go to stdout and,
with `--output`, a JSON.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from gradio_client import Client, handle_file

REPO = Path(__file__).resolve().parent.parent


def rss_bytes(pid: int) -> int:
    """Resident set size of process `pid` (Linux `/proc`)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise OSError(f"no VmRSS in /proc/{pid}/status")


def served_models(url: str) -> list[str]:
    """The model names the Compare tab offers, read from the app's Gradio config."""
    with urllib.request.urlopen(f"{url.rstrip('/')}/config", timeout=30) as response:
        config = json.load(response)
    for component in config["components"]:
        props = component.get("props", {})
        if props.get("elem_id") == "compare-models":
            return [choice[1] if isinstance(choice, list) else choice for choice in props["choices"]]
    raise ValueError(f"{url} does not look like the mde-hub app: no compare-models component in its config")


@dataclass
class LoadReport:
    url: str
    clients: int
    requests: int
    models: list[str]
    latencies_s: dict[str, list[float]] = field(default_factory=lambda: {"compare": [], "evaluate": []})
    failures: list[str] = field(default_factory=list)
    wall_s: float = 0.0
    rss_before: int | None = None
    rss_after: int | None = None

    def percentile(self, q: float, kind: str | None = None) -> float:
        values = [v for k, vs in self.latencies_s.items() if kind in (None, k) for v in vs]
        return float(np.percentile(values, q)) if values else float("nan")

    def summary(self) -> str:
        done = sum(len(v) for v in self.latencies_s.values())
        counts = ", ".join(f"{len(v)} {kind}" for kind, v in self.latencies_s.items())
        p50, p95, top = (self.percentile(q) for q in (50, 95, 100))
        lines = [
            f"{self.url}: {self.clients} concurrent clients, {self.requests} requests ({counts}) on {self.models}",
            f"completed {done}, failures {len(self.failures)}, wall {self.wall_s:.1f} s ({done / self.wall_s:.2f} req/s)",
            f"latency p50 {p50:.3f} s, p95 {p95:.3f} s, max {top:.3f} s",
        ]
        for kind in self.latencies_s:
            lines.append(f"  {kind:<8} p50 {self.percentile(50, kind):.3f} s, p95 {self.percentile(95, kind):.3f} s")
        if self.rss_before is not None and self.rss_after is not None:
            lines.append(f"server RSS {self.rss_before / 2**20:.0f} MiB before, {self.rss_after / 2**20:.0f} MiB after")
        lines += [f"  failure: {failure}" for failure in self.failures[:10]]
        return "\n".join(lines)

    def to_dict(self) -> dict:
        return {
            **{key: value for key, value in asdict(self).items() if key != "latencies_s"},
            "completed": sum(len(v) for v in self.latencies_s.values()),
            "p50_s": self.percentile(50),
            "p95_s": self.percentile(95),
            "max_s": self.percentile(100),
            "by_kind": {k: {"n": len(v), "p50_s": self.percentile(50, k), "p95_s": self.percentile(95, k)}
                        for k, v in self.latencies_s.items()},
            "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}",
        }


def _request(client: Client, kind: str, image: str, gt: str, encoding: str, models: list[str]) -> None:
    """One request; raises unless the answer holds one result per model."""
    if kind == "compare":
        gallery = client.predict(handle_file(image), models, "Spectral", "shared", 0, api_name="/compare")[0]
        if len(gallery) != len(models):
            raise AssertionError(f"compare returned {len(gallery)} depth maps for {len(models)} models")
    else:
        table = client.predict(
            handle_file(image), handle_file(gt), encoding, models, "none", "none", "depth", api_name="/evaluate"
        )[0]
        if [row[0] for row in table["data"]] != models or any(row[1] is None for row in table["data"]):
            raise AssertionError(f"evaluate returned rows {table['data']!r}")


def run_load(
    url: str,
    clients: int,
    requests: int,
    image: str,
    gt: str,
    encoding: str,
    models: list[str] | None = None,
    evaluate_every: int = 4,
    pid: int | None = None,
) -> LoadReport:
    """`requests` requests spread over `clients` concurrent clients, each with its own gradio_client session,
    all released at once; request i is an evaluation when i % evaluate_every == 0. `pid`: the server, for RSS."""
    if clients < 1 or requests < clients:
        raise ValueError(f"need 1 <= clients <= requests; got {clients} clients for {requests} requests")
    models = models or served_models(url)[:2]
    report = LoadReport(url, clients, requests, models)
    lock = threading.Lock()
    start = threading.Barrier(clients + 1)

    def client_loop(index: int) -> None:
        try:
            client = Client(url, verbose=False)
        except Exception as error:  # noqa: BLE001 - every failure is reported, none may stop the test
            with lock:
                report.failures.append(f"client {index}: cannot connect: {error}")
            start.wait()
            return
        start.wait()
        with contextlib.closing(client):
            for number in range(index, requests, clients):
                kind = "evaluate" if number % evaluate_every == 0 else "compare"
                begin = time.perf_counter()
                try:
                    _request(client, kind, image, gt, encoding, models)
                except Exception as error:  # noqa: BLE001
                    with lock:
                        report.failures.append(f"request {number} ({kind}): {type(error).__name__}: {error}")
                    continue
                with lock:
                    report.latencies_s[kind].append(time.perf_counter() - begin)

    report.rss_before = rss_bytes(pid) if pid else None
    with ThreadPoolExecutor(clients) as pool:
        futures = [pool.submit(client_loop, index) for index in range(clients)]
        start.wait()
        began = time.perf_counter()
        for future in futures:
            future.result()
    report.wall_s = time.perf_counter() - began
    report.rss_after = rss_bytes(pid) if pid else None
    return report


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def serve_app(app_args: list[str], timeout_s: float = 300) -> Iterator[tuple[str, int]]:
    """`python app.py APP_ARGS` on a free loopback port; yields (url, pid) once it answers, stops it after."""
    port = _free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False", "PYTHONPATH": str(REPO)}
    process = subprocess.Popen(
        [sys.executable, str(REPO / "app.py"), "--port", str(port), *app_args], env=env, cwd=REPO,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"app.py exited with status {process.returncode}: {process.stderr.read()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{url}/config", timeout=5):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"app.py did not answer on {url} within {timeout_s:.0f} s") from None
                time.sleep(0.5)
        yield url, process.pid
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _sample_pair(folder: str) -> tuple[str, str, str]:
    """The app's first synthetic sample: (image, millimetre depth PNG, its encoding label)."""
    from mde_hub.app import write_examples

    sample = write_examples(folder, indoor=1, outdoor=0)[0]
    return sample.image, sample.depth, sample.encoding


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", help="a running app (default: start app.py on a free loopback port)")
    parser.add_argument("--pid", type=int, help="with --url: the app's process id, for its RSS")
    parser.add_argument("--models", nargs="*", help="app.py --models (default: app.py's own default)")
    parser.add_argument("--app-args", nargs=argparse.REMAINDER, default=[], help="more app.py arguments (last)")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--evaluate-every", type=int, default=4, help="one evaluation per N requests (default: 4)")
    parser.add_argument("--rounds", type=int, default=1, help="repeat against the same server (RSS after each: leaks)")
    parser.add_argument("--output", help="write the report as JSON here")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="mde-hub-load-") as work:
        image, gt, encoding = _sample_pair(work)
        app_args = ([*["--models", *args.models]] if args.models else []) + args.app_args
        server = contextlib.nullcontext((args.url, args.pid)) if args.url else serve_app(app_args)
        with server as (url, pid):
            reports = []
            for round_number in range(1, args.rounds + 1):
                report = run_load(url, args.clients, args.requests, image, gt, encoding, None, args.evaluate_every, pid)
                reports.append(report)
                print(f"round {round_number}: {report.summary()}", flush=True)
    if args.output:
        rounds = [report.to_dict() for report in reports]
        Path(args.output).write_text(json.dumps({"command": sys.argv, "rounds": rounds}, indent=2) + "\n")
    return 1 if any(report.failures for report in reports) else 0


if __name__ == "__main__":
    sys.exit(main())
