"""The `mde-hub` command line. Sub-commands are thin layers over the library."""

from __future__ import annotations

import argparse
import sys

from . import MODEL_CLASSES, __version__
from .inference.predictor import BACKENDS
from .outputs.prediction_files import FORMATS, list_inputs, parse_formats, plan_outputs, write_prediction_files


def list_models(_: argparse.Namespace) -> int:
    """Print every registered model type with what its `predicted_depth` means by default."""
    from .models.depth_meaning import depth_meaning_of

    for model_type, (config_class, model_class) in MODEL_CLASSES.items():
        config = config_class()
        print(
            f"{model_type:<16} {model_class.__name__:<32} {depth_meaning_of(config).describe()}, "
            f"{config.min_depth:g}-{config.max_depth:g} m"
        )
    return 0


def inspect_data(args: argparse.Namespace) -> int:
    """Print counts and depth statistics of a dataset and write a preview grid PNG."""
    from .outputs.preview import depth_statistics, preview_grid
    from .data.specs import open_spec
    from .data.files import atomic_output

    dataset, split = open_spec(args.path, args.layout, args.split, **_dataset_options(args))
    count = len(dataset) if args.limit is None else min(args.limit, len(dataset))
    print(f"{args.path}: {type(dataset).__name__}, {len(dataset)} samples" + (f", split {split}" if split else ""))
    print(depth_statistics(dataset[index] for index in range(count)).format())
    step = max(1, count // args.preview_count)
    grid = preview_grid([dataset[index] for index in range(0, count, step)][: args.preview_count])
    with atomic_output(args.preview) as temporary:
        grid.save(temporary, format="PNG")
    print(f"preview       {args.preview}")
    return 0


def synthesize_data(args: argparse.Namespace) -> int:
    """Render synthetic RGB-D frames to disk: indoor in DenseDepth's NYU layout, outdoor as a KITTI-encoded folder."""
    from .data.folder import write_rgbd_folder
    from .data.synthetic import SyntheticDepthDataset, write_densedepth_layout

    if args.n < 1:
        raise ValueError(f"--n must be at least 1; got {args.n}.")
    dataset = SyntheticDepthDataset(
        kind=args.kind, size=args.n, height=args.height, width=args.width, seed=args.seed, sparse=args.sparse, device=args.device
    )
    if args.kind == "indoor":
        written = write_densedepth_layout(dataset, args.out, split=args.split)
    else:
        written = write_rgbd_folder((dataset[index] for index in range(len(dataset))), args.out)
    print(f"wrote {args.n} {args.kind} frames of {args.height}x{args.width} to {written}")
    return 0


ALLOW_PICKLE_HELP = "also load pickled pytorch_model.bin weights (they can run code: only from a trusted source)"


def predict_depth(args: argparse.Namespace) -> int:
    """Depth for images or folders, written as `mde_hub.outputs.prediction_files` names them; refused before anything is
    written when an output would be another's or replace a file in an input folder."""
    from .data.images import load_image
    from .inference.predictor import DepthPredictor

    formats = parse_formats(args.formats)
    inputs = list_inputs(args.inputs)
    if inputs.skipped:
        print(f"mde-hub: {inputs.skipped_note()}", file=sys.stderr)
    predictor = DepthPredictor.from_pretrained(args.model, backend=args.backend, allow_pickle=args.allow_pickle)
    bases = plan_outputs(inputs, args.out, formats, predictor.meaning)
    for path, base in bases.items():
        image = load_image(path)
        prediction = predictor.predict(image, args.focal)
        files = write_prediction_files(
            prediction.values, prediction.meaning, image, base, formats, args.colormap, focal=args.focal,
            stride=args.stride,
        )
        for note in files.notes:
            print(f"{path}: {note}", file=sys.stderr)
        depth = prediction.depth
        print(
            f"{path}: {prediction.meaning.describe()}, {depth.min():.3f}-{depth.max():.3f}, "
            f"{prediction.latency_s * 1000:.0f} ms"
        )
    return 0


def _dataset_options(args: argparse.Namespace) -> dict[str, str | None]:
    """The layout options of `mde_hub.data.registry.open_dataset` given on the command line."""
    return {"split_file": args.split_file, "depth_field": args.depth_field, "gt_root": args.gt_root}


def _evaluation_dataset(spec: str, layout: str | None, split: str | None, **options: str | None):
    """`(dataset, split)` of a data-set spec (`mde_hub.data.specs`: a path, LAYOUT:PATH or synthetic:KIND:N[:SEED]),
    by default its test split where it has named splits, else all its frames; `split` may be `tail:F`."""
    from .data.specs import open_spec

    return open_spec(spec, layout, split, "test", **options)


def evaluate_model(args: argparse.Namespace) -> int:
    """Stream a dataset through a model (or score saved predictions), print the metrics table and write the JSON."""
    from .evaluation.evaluate import DatasetRecord, evaluate, evaluate_predictions

    if (args.model is None) == (args.predictions is None):
        raise ValueError("give either --model (a checkpoint to run) or --predictions (a folder of saved .npy predictions)")
    if args.predictions is not None and args.flip_tta:
        raise ValueError("--flip-tta needs a model to run; saved predictions are scored as saved")
    if args.model is not None and args.prediction_type is not None:
        raise ValueError("--prediction-type describes saved predictions; a model's output meaning comes from its config")
    options = _dataset_options(args)
    dataset, split = _evaluation_dataset(args.dataset, args.layout, args.split, **options)
    recorded = {key: value for key, value in options.items() if value is not None}
    if hasattr(dataset, "depth_field"):  # the labeled .mat: which ground truth was scored, raw or in-painted
        recorded["depth_field"] = dataset.depth_field
    record = DatasetRecord(args.dataset, split, recorded)
    scoring = {"alignment": args.align, "alignment_space": args.align_space, "limit": args.limit, "record": record}
    if args.predictions is not None:
        result = evaluate_predictions(
            args.predictions, dataset, args.protocol, prediction_type=args.prediction_type or "depth", **scoring
        )
    else:
        from .inference.predictor import DepthPredictor

        predictor = DepthPredictor.from_pretrained(args.model, allow_pickle=args.allow_pickle)
        result = evaluate(predictor, dataset, args.protocol, flip_tta=args.flip_tta, **scoring)
    print(f"{args.model or args.predictions} on {args.dataset} ({result.num_images} images, protocol {args.protocol}):")
    print(result.format_table())
    result.to_json(args.output)
    print(f"wrote {args.output}")
    return 0


def write_card(args: argparse.Namespace) -> int:
    """Write the Hub model card of a checkpoint, with the results of its evaluation JSONs."""
    from .outputs.model_card import write_model_card

    path = write_model_card(args.checkpoint, args.eval, args.repo_id, args.license, args.output)
    print(f"wrote {path}")
    return 0


def push_model(args: argparse.Namespace) -> int:
    """Upload a checkpoint (config, processor config, safetensors weights, card, records) to a Hub repo in one commit."""
    from .outputs.hub import push_checkpoint

    commit = push_checkpoint(args.checkpoint, args.repo_id, args.private, commit_message=args.message, revision=args.revision)
    print(commit)
    return 0


def export_onnx(args: argparse.Namespace) -> int:
    """Export a checkpoint to ONNX and print how closely ONNX Runtime matches PyTorch."""
    from .inference.onnx_export import CHECK_SUFFIX, export_checkpoint

    result = export_checkpoint(args.checkpoint, args.output, args.opset)
    sides = f"dynamic height and width (multiples of {result.side_multiple})" if result.dynamic_sides else "fixed size"
    print(f"wrote {result.path} ({result.model_type}, {sides})")
    for size, difference in zip(result.checked_sizes, result.max_abs_diff):
        print(f"max |onnxruntime - pytorch| at {size[0]}x{size[1]}: {difference:.3g} (largest output {result.max_abs_output:.3g})")
    print(f"wrote {result.path}{CHECK_SUFFIX}")
    return 0


def run_benchmarks(args: argparse.Namespace) -> int:
    """Time the models, the data generator and the metrics; print and write the markdown table and the JSON."""
    from .benchmarking import BenchOptions, run_benchmark_suite

    options = BenchOptions(
        models=args.models, quick=args.quick, repeats=args.repeats, threads=args.threads, compile=args.compile,
        checkpoints=args.checkpoints,
    )
    run_benchmark_suite(options, args.output)
    return 0


def _add_dataset_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--split-file", "--splits-file", dest="split_file", help="the file that defines the split: nyu_labeled, the official splits.mat "
                        "(default: splits.mat beside the .mat); kitti_eigen, a BTS-style list (required), e.g. "
                        "eigen_test_files_with_gt.txt")
    parser.add_argument("--depth-field", choices=("rawDepths", "depths"),
                        help="nyu_labeled ground truth: rawDepths, the raw Kinect depth with 0 = invalid that "
                        "BTS/AdaBins/DPT score against (default), or depths, the in-painted dense depth")
    parser.add_argument("--gt-root", help="kitti_eigen: the annotated depth folder (data_depth_annotated, its train "
                        "and val drives merged) that the list's depth paths are relative to")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mde-hub", description="Monocular depth estimation models for transformers.")
    parser.add_argument("--version", action="version", version=f"mde-hub {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("models", help="list the registered model types").set_defaults(handler=list_models)

    data = commands.add_parser("data", help="datasets: inspect one, or generate synthetic RGB-D scenes")
    data_commands = data.add_subparsers(dest="data_command", required=True)
    inspect = data_commands.add_parser("inspect", help="counts, depth statistics and a preview grid of a dataset")
    inspect.add_argument("path", help="dataset file or folder (layout recognised from its files), LAYOUT:PATH, or "
                         "synthetic:indoor:N / synthetic:outdoor:N (optionally :SEED)")
    inspect.add_argument("--layout", help="name the layout instead of detecting it")
    inspect.add_argument("--split", help="a split the data set has (default: its first: train of nyu_data.zip, all of "
                         "the labeled .mat; all frames of a layout without splits); tail:F, the last fraction F of "
                         "the frames by index")
    _add_dataset_options(inspect)
    inspect.add_argument("--limit", type=int, help="look at the first N samples only")
    inspect.add_argument("--preview", default="preview.png", help="where to write the preview grid (default: preview.png)")
    inspect.add_argument("--preview-count", type=int, default=8, help="samples in the preview grid (default: 8)")
    inspect.set_defaults(handler=inspect_data)

    synth = data_commands.add_parser("synth", help="render procedural synthetic RGB-D scenes to disk")
    synth.add_argument("--kind", choices=("indoor", "outdoor"), default="indoor")
    synth.add_argument("--n", type=int, required=True, help="number of frames")
    synth.add_argument("--out", required=True, help="output folder (indoor: DenseDepth NYU layout; outdoor: KITTI /256)")
    synth.add_argument("--height", type=int, default=240)
    synth.add_argument("--width", type=int, default=320)
    synth.add_argument("--seed", type=int, default=0, help="frame i of seed s is always the same scene")
    synth.add_argument("--split", choices=("train", "test"), default="train", help="indoor: 8-bit train or 16-bit test PNGs")
    synth.add_argument("--sparse", action="store_true", help="outdoor: LiDAR-like sparse ground truth")
    synth.add_argument("--device", default="cpu", help="torch device for rendering, e.g. cuda")
    synth.set_defaults(handler=synthesize_data)

    predict = commands.add_parser("predict", help="depth maps (and point clouds) for images or folders of images")
    predict.add_argument("inputs", nargs="+", help="image files or folders")
    predict.add_argument("--model", required=True, help="checkpoint directory (or Hub id when online)")
    predict.add_argument("--out", required=True,
                         help="output folder (may be an input folder: nothing there is ever replaced)")
    predict.add_argument("--formats", default="png16,npy,color", help=f"comma-separated, from {','.join(FORMATS)}")
    predict.add_argument("--colormap", default="Spectral")
    predict.add_argument("--focal", type=float, help="the camera's focal length in pixels: point clouds (default: 60 degree FOV) and models "
                         "that scale depth by it (BTS KITTI; default: no scaling)")
    predict.add_argument("--stride", type=int, default=1, help="point clouds: keep every N-th pixel")
    predict.add_argument("--backend", choices=BACKENDS, default="pytorch",
                         help="onnxruntime: run MODEL/model.onnx (written by mde-hub export onnx)")
    predict.add_argument("--allow-pickle", action="store_true", help=ALLOW_PICKLE_HELP)
    predict.set_defaults(handler=predict_depth)

    evaluation = commands.add_parser("evaluate", help="the nine depth metrics of a model on a dataset, as the papers score")
    evaluation.add_argument("--model", help="checkpoint directory (mde-hub or transformers depth model)")
    evaluation.add_argument("--predictions", metavar="DIR",
                            help="instead of --model: a folder of saved .npy predictions, one per sample, matched by "
                            "name (the sample's path without extension, e.g. DIR/2011_09_26/.../0000000069.npy)")
    evaluation.add_argument("--prediction-type", choices=("depth", "inverse_depth"),
                            help="what the saved predictions hold (default: depth); metric (metres or 1/m) unless --align")
    evaluation.add_argument("--dataset", required=True,
                            help="dataset path (layout recognised from its files), LAYOUT:PATH, or synthetic:indoor:N / "
                            "synthetic:outdoor:N (optionally :SEED, default 0)")
    evaluation.add_argument("--layout", help="name the dataset layout instead of detecting it")
    evaluation.add_argument("--split",
                            help="a split the data set has (default: test where it has named splits, e.g. "
                            "nyu_data.zip, nyu_test.zip, the labeled .mat; else all its frames); tail:F scores the "
                            "last fraction F of the frames by index (the held-out block of a video, e.g. tail:0.2)")
    _add_dataset_options(evaluation)
    evaluation.add_argument("--protocol", default="nyu_eigen",
                            help="nyu_eigen, nyu_densedepth, kitti_garg, kitti_eigen (BTS/DPT: prediction pasted into "
                            "the full frame), kitti_garg_adabins, kitti_eigen_adabins (AdaBins: cropped frame), none; "
                            "KITTI protocols take full frames and predict on their KB crop")
    evaluation.add_argument("--flip-tta", action="store_true",
                            help="average with the prediction of the mirrored image (always on for nyu_densedepth)")
    evaluation.add_argument("--align", default="none", choices=("none", "median", "scale_shift"), help="for relative models")
    evaluation.add_argument("--align-space", choices=("depth", "inverse_depth"),
                            help="space the alignment fits in (default: the prediction's own: inverse depth for "
                            "MiDaS-style models, depth otherwise)")
    evaluation.add_argument("--limit", type=int, help="score the first N samples only")
    evaluation.add_argument("--output", default="results.json", help="evaluation JSON (default: results.json)")
    evaluation.add_argument("--allow-pickle", action="store_true", help=ALLOW_PICKLE_HELP)
    evaluation.set_defaults(handler=evaluate_model)

    card = commands.add_parser("card", help="write a Hub model card (README.md) for a checkpoint")
    card.add_argument("checkpoint", help="checkpoint directory (config.json; training_record.json if trained here)")
    card.add_argument("--eval", nargs="+", action="extend", default=[], metavar="RESULTS_JSON",
                      help="evaluation JSONs written by mde-hub evaluate")
    card.add_argument("--repo-id", help="Hub repo id, used as the model name and in the usage snippets")
    card.add_argument("--license", default="apache-2.0", help="licence of the weights (default: apache-2.0)")
    card.add_argument("--output", help="where to write the card (default: CHECKPOINT/README.md)")
    card.set_defaults(handler=write_card)

    push = commands.add_parser("push", help="upload a checkpoint to a Hugging Face Hub model repo in one commit")
    push.add_argument("checkpoint", help="checkpoint directory (config.json, preprocessor_config.json, model.safetensors)")
    push.add_argument("repo_id", help="Hub repo, e.g. user/name (created if missing; token: HF_TOKEN or `hf auth login`)")
    push.add_argument("--private", action="store_true", help="create the repo private")
    push.add_argument("--revision", help="branch to commit to (created from main if missing; default: main)")
    push.add_argument("--message", help="commit message (default: Upload checkpoint with mde-hub push)")
    push.set_defaults(handler=push_model)

    export = commands.add_parser("export", help="export a checkpoint to another runtime's format")
    export_commands = export.add_subparsers(dest="export_command", required=True)
    onnx = export_commands.add_parser("onnx", help="ONNX graph (pixel_values -> predicted_depth), checked against PyTorch")
    onnx.add_argument("checkpoint", help="checkpoint directory")
    onnx.add_argument("--output", help="ONNX file (default: CHECKPOINT/model.onnx); the check goes to OUTPUT.check.json")
    onnx.add_argument("--opset", type=int, help="ONNX opset version (default: torch.onnx's)")
    onnx.set_defaults(handler=export_onnx)

    bench = commands.add_parser("bench", help="benchmark models, the data generator and the metrics (markdown + JSON)")
    bench.add_argument("--models", nargs="+", help="rows to run, e.g. dpt-hybrid baseline compact (default: all)")
    bench.add_argument("--quick", action="store_true", help="tiny configurations at 64x96: a smoke test, not a benchmark")
    bench.add_argument("--repeats", type=int, default=3, help="timed runs per latency (median; default: 3)")
    bench.add_argument("--threads", type=int, help="torch and ONNX Runtime CPU threads (default: torch's choice)")
    bench.add_argument("--compile", choices=("none", "compact", "all"), default="compact",
                       help="rows timed with torch.compile (default: compact; compiling a paper model takes minutes on 2 cores)")
    bench.add_argument("--checkpoints", default="checkpoints", help="folder whose */config.json give the compact rows")
    bench.add_argument("--output", default="bench.md", help="markdown report (default: bench.md); raw numbers: bench.json")
    bench.set_defaults(handler=run_benchmarks)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except (ValueError, OSError, KeyError, ImportError) as error:
        print(f"mde-hub: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
