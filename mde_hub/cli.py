"""The `mde-hub` command line. Sub-commands are thin layers over the library."""

from __future__ import annotations

import argparse
import sys

from . import MODEL_CLASSES, __version__


def list_models(_: argparse.Namespace) -> int:
    """Print every registered model type with what its `predicted_depth` means by default."""
    for model_type, (config_class, model_class) in MODEL_CLASSES.items():
        config = config_class()
        print(
            f"{model_type:<16} {model_class.__name__:<32} {config.depth_estimation_type} depth, "
            f"{config.min_depth:g}-{config.max_depth:g} m"
        )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mde-hub", description="Monocular depth estimation models for transformers.")
    parser.add_argument("--version", action="version", version=f"mde-hub {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("models", help="list the registered model types").set_defaults(handler=list_models)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
