"""mde-hub app: compare depth models side by side, score them against ground truth, see published benchmarks.

Serves the checkpoints in ./checkpoints (or those given with --models: checkpoint directories, folders of them, Hub
ids); with none, an untrained Baseline, labelled as such. Runs offline unless --online (which also lists the model
zoo's models, each fetched on first use), sends no analytics, binds to 127.0.0.1:7860 unless --host/--port or
GRADIO_SERVER_NAME/GRADIO_SERVER_PORT (set by Hugging Face Spaces) say otherwise; the flags win over the variables.
Stops cleanly on Ctrl+C or SIGTERM, removing its temporary folder. The logic lives in mde_hub.app.
"""

from __future__ import annotations

import argparse
import os
import sys

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
if "--online" not in sys.argv[1:]:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # read when huggingface_hub is imported, so set before any import

from mde_hub.app import ImageLimits  # noqa: E402
from mde_hub.app.registry import parse_online_models  # noqa: E402
from mde_hub.app.serve import open_registry, serve, server_address  # noqa: E402
from mde_hub.inference.predictor import BACKENDS  # noqa: E402

CHECKPOINTS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "checkpoints")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--host", help="interface to bind (default: $GRADIO_SERVER_NAME, else 127.0.0.1, local only)"
    )
    parser.add_argument("--port", type=int, help="port to bind (default: $GRADIO_SERVER_PORT, else 7860)")
    parser.add_argument("--share", action="store_true", help="create a public Gradio link (needs internet)")
    parser.add_argument(
        "--models", nargs="*", help="checkpoint directories, folders of checkpoints or Hub ids (default: ./checkpoints/*)"
    )
    parser.add_argument("--online", action="store_true", help="allow downloads from the Hugging Face Hub, and list "
                        "the model zoo's models (each downloaded and converted on first use)")
    parser.add_argument(
        "--online-models", metavar="IDS",
        help="comma-separated Hub ids, the only ones visitors may type into the page (default: any; '' for none). "
        "Whatever the list, online a Hub model is refused before download when its safetensors weights exceed "
        "--max-model-memory",
    )
    parser.add_argument(
        "--allow-local-paths", action="store_true",
        help="let the page load checkpoints from any local folder (default: only beside the served checkpoints)",
    )
    parser.add_argument("--max-model-memory", type=float, default=4096, help="MiB of model weights kept loaded (LRU)")
    parser.add_argument("--max-pixels", type=float, default=40, help="largest accepted image, in megapixels")
    parser.add_argument("--max-file-size", default="50mb", help="largest upload, e.g. 50mb")
    parser.add_argument("--concurrency", type=int, default=2, help="requests processed at once per event")
    parser.add_argument(
        "--max-disk", type=float, default=1024,
        help="MiB of per-request result files kept in the temporary folder; the oldest are deleted beyond it",
    )
    parser.add_argument(
        "--backend", choices=BACKENDS, default="pytorch",
        help="onnxruntime: run the local checkpoints that hold a model.onnx (mde-hub export onnx) with ONNX Runtime",
    )
    parser.add_argument("--device", default="cpu", help="where the PyTorch models run: cpu, cuda, cuda:N or mps")
    parser.add_argument("--dtype", default="float32", help="auto, float32, bfloat16 or float16: the precision the "
                        "PyTorch models run in, by autocast (auto: bfloat16 where the CPU or GPU has it natively)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    try:
        host, port = server_address(args.host, args.port)
        if not args.max_disk > 0:
            raise ValueError(f"--max-disk must be a positive number of MiB; got {args.max_disk}")
        registry = open_registry(
            args.models, CHECKPOINTS_DIR, int(args.max_model_memory * 2**20), args.backend, args.allow_local_paths,
            online=args.online, device=args.device, dtype=args.dtype,
            online_models=parse_online_models(args.online_models),
        )
    except ValueError as error:
        sys.exit(f"app.py: error: {error}")
    limits = ImageLimits(max_pixels=int(args.max_pixels * 1e6))
    serve(
        registry, limits, host, port, args.share, args.max_file_size, args.concurrency, int(args.max_disk * 2**20)
    )


if __name__ == "__main__":
    main()
