#!/usr/bin/env python
"""Packaging of the shipped checkpoints (train/ship_checkpoints.sh): fp16 export, README table, prediction figure.

    python train/ship.py export runs/ship/NAME checkpoints/NAME   # fp16 weights + configs + training record
    python train/ship.py table [checkpoints]                      # the README's results tables (markdown)
    python train/ship.py readme [checkpoints]                     # put those tables into README.md
    python train/ship.py figure docs/predictions.png --frames ... # input | ground truth | each checkpoint's depth

The logic is in mde_hub.training.shipping (weights in float16, config.json keeping `dtype: float32`).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from mde_hub.training.shipping import TABLES, export_fp16, results_table, update_readme, write_predictions_figure


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    export = commands.add_parser("export")
    export.add_argument("run_dir")
    export.add_argument("out_dir")
    for name in ("table", "readme"):
        commands.add_parser(name).add_argument("checkpoints", nargs="?", default="checkpoints")
    figure = commands.add_parser("figure")
    figure.add_argument("output")
    figure.add_argument("--frames", nargs="+", required=True, help="frame specs: LAYOUT:PATH@INDEX or synthetic:SEED@INDEX")
    figure.add_argument("--checkpoints", default="checkpoints")
    args = parser.parse_args(argv)
    if args.command == "export":
        print(f"exported {export_fp16(args.run_dir, args.out_dir)}")
    elif args.command == "table":
        print("\n\n".join(results_table(args.checkpoints, table) for table in TABLES))
    elif args.command == "readme":
        update_readme("README.md", args.checkpoints)
        print("updated README.md")
    else:
        image = write_predictions_figure(args.output, args.checkpoints, args.frames)
        print(f"wrote {args.output} ({image.width}x{image.height})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
