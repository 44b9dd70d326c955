"""Frames per second of the synthetic RGB-D generator (`mde_hub.data.synthetic`), as a markdown table.

Each row times `SyntheticDepthDataset.render_batch` (scene generation, ray casting, shading, conversion to numpy
`DepthSample`s) on fresh frames for at least `--seconds` after one warm-up batch:

    .venv/bin/python benchmarks/bench_synthetic.py                # CPU, and CUDA when available
    .venv/bin/python benchmarks/bench_synthetic.py --threads 1    # one CPU thread
"""

from __future__ import annotations

import argparse

import torch

from mde_hub.benchmarking.pipeline import frames_per_second


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=3.0, help="minimum timing per row")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument(
        "--devices", nargs="+", default=None, help="devices to time (default: cpu, and cuda if available)"
    )
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    devices = args.devices or (["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"])
    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads")
    print()
    print("| kind | size (W x H) | device | batch | frames/s |")
    print("|---|---|---|---:|---:|")
    for device in devices:
        for kind in ("indoor", "outdoor"):
            for height, width in ((240, 320), (480, 640)):
                for batch in (1, 8):
                    fps = frames_per_second(kind, height, width, batch, device, args.seconds)
                    print(f"| {kind} | {width} x {height} | {device} | {batch} | {fps:.1f} |", flush=True)


if __name__ == "__main__":
    main()
