"""The `mde-hub` command line. Sub-commands are thin layers over the library.

Building the parser imports nothing heavy (the choices it lists come from torch-free modules), and each command
imports what it runs inside its function, so `mde-hub --help` and `mde-hub COMMAND --help` answer without importing
torch, transformers, timm or gradio. Started as the command, `import mde_hub` skips the Auto-class registration
(`mde_hub/__init__.py`); `main` registers once the arguments are parsed, before the command runs.
"""

from __future__ import annotations

import argparse
import functools
import math
import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

from . import __version__
from .inference.backends import BACKENDS
from .models.conversion import CONVERTERS
from .outputs.formats import FORMATS

if TYPE_CHECKING:
    from .outputs.progress import CommandProgress


def _reports_progress(
    name: str, unit: str, sharded: bool = False
) -> Callable[[Callable[..., int]], Callable[[argparse.Namespace], int]]:
    """A long command: run with a `CommandProgress` counting `unit`s (its display, then its summary line on
    stderr; nothing with `--quiet`), passed as its second argument. A `sharded` command started by torchrun or
    `accelerate launch` first joins the other processes (`args.shard`, `args.device` its own GPU); only the first
    process shows progress."""

    def decorate(command: Callable[[argparse.Namespace, CommandProgress], int]) -> Callable[[argparse.Namespace], int]:
        @functools.wraps(command)
        def run(args: argparse.Namespace) -> int:
            from .outputs.progress import CommandProgress

            if not sharded:
                with CommandProgress(name, unit, args.quiet) as progress:
                    return command(args, progress)
            from .inference.distributed import join_launched_processes, leave_launched_processes

            args.shard = join_launched_processes(args.device)
            args.device = args.shard.device(args.device)
            label, quiet = name, args.quiet
            if args.shard.is_distributed:
                label, quiet = f"{name} ({args.shard.describe()})", quiet or not args.shard.is_main
            try:
                with CommandProgress(label, unit, quiet) as progress:
                    return command(args, progress)
            finally:
                leave_launched_processes()

        return run

    return decorate


def list_models(_: argparse.Namespace) -> int:
    """Print every registered model (`mde_hub.models.registry`) with what its `predicted_depth` means by default, its
    paper and reference code's licence, then its presets with the data set each was made for and its output."""
    from .data.frames import DATASET_CAMERAS
    from .models.depth_meaning import depth_meaning_of
    from .models.registry import entries

    def output(config) -> str:
        meaning = depth_meaning_of(config)
        return f"{meaning.describe()}, {config.min_depth:g}-{config.max_depth:g} m" if meaning.is_metric else meaning.describe()

    for entry in entries():
        print(f"{entry.model_type:<16} {entry.model_class.__name__:<32} {output(entry.config())}")
        licence = f"; reference code {entry.card.reference_licence} (not copied)" if entry.card.reference_licence else ""
        print(f"{'':<16} {entry.name}: {entry.paper}{licence}")
        for name, preset in entry.presets.items():
            data = DATASET_CAMERAS[preset.dataset].name if preset.dataset else "-"
            print(f"{'':<16}   {name:<8} {data:<20} {preset.description}: {output(entry.config(name))}")
    return 0


def inspect_data(args: argparse.Namespace) -> int:
    """Print counts and depth statistics of a dataset and write a preview grid PNG."""
    from .data.specs import open_spec
    from .outputs.preview import depth_statistics, write_preview

    dataset, split = open_spec(args.path, args.layout, args.split, **_dataset_options(args))
    count = len(dataset) if args.limit is None else min(args.limit, len(dataset))
    print(f"{args.path}: {type(dataset).__name__}, {len(dataset)} samples" + (f", split {split}" if split else ""))
    print(depth_statistics(dataset[index] for index in range(count)).format())
    write_preview(dataset, args.preview, count, args.preview_count)
    print(f"preview       {args.preview}")
    return 0


@_reports_progress("data synth", "frame")
def synthesize_data(args: argparse.Namespace, progress: CommandProgress) -> int:
    """Render synthetic RGB-D frames to disk: indoor in DenseDepth's NYU layout, outdoor as a KITTI-encoded folder."""
    from .data.synthetic import SyntheticDepthDataset, write_synthetic

    if args.n < 1:
        raise ValueError(f"--n must be at least 1; got {args.n}")
    dataset = SyntheticDepthDataset(
        kind=args.kind, size=args.n, height=args.height, width=args.width, seed=args.seed, sparse=args.sparse, device=args.device
    )
    written = write_synthetic(dataset, args.out, args.split, progress=progress)
    progress.print(f"wrote {args.n} {args.kind} frames of {args.height}x{args.width} to {written}", sys.stdout)
    return 0


DEFAULT_MAX_MEGAPIXELS = "40"
"""`--max-pixels`' default: `mde_hub.data.images.DEFAULT_MAX_PIXELS` in megapixels (that module imports torch)."""

ALLOW_PICKLE_HELP = "also load pickled pytorch_model.bin weights (they can run code: only from a trusted source)"


@_reports_progress("predict", "image", sharded=True)
def predict_depth(args: argparse.Namespace, progress: CommandProgress) -> int:
    """Depth for images or folders, written as `mde_hub.outputs.prediction_files` names them; refused before anything is
    written when an output would be another's or replace a file in an input folder."""
    from .inference.distributed import wait_for_all_processes
    from .inference.predictor import DepthPredictor
    from .outputs.formats import parse_formats
    from .outputs.prediction_files import (
        check_prediction_options,
        images_to_predict,
        list_inputs,
        plan_outputs,
        predict_to_files,
        remove_interrupted_writes,
    )

    formats = parse_formats(args.formats)
    check_prediction_options(args.colormap, args.focal, args.stride)  # every option before any work
    inputs = list_inputs(args.inputs)
    for note in inputs.skipped_notes():
        print(f"mde-hub: {note}", file=sys.stderr)
    predictor = DepthPredictor.from_pretrained(
        args.model, backend=args.backend, allow_pickle=args.allow_pickle, device=args.device, dtype=args.dtype
    )
    planned = plan_outputs(inputs, args.out, formats, predictor.meaning)
    removed = remove_interrupted_writes(planned, formats, predictor.meaning) if args.shard.is_main else []
    if removed:
        note = f"mde-hub: removed {len(removed)} temporary file(s) a killed run left, e.g. {removed[0]}"
        progress.print(note, sys.stderr)
    wait_for_all_processes()  # every process plans before any writes
    bases, finished = images_to_predict(planned, formats, predictor.meaning, args.shard, args.resume)
    if finished:
        progress.print(f"mde-hub: {finished} image(s) skipped: their outputs exist in {args.out} (--resume)", sys.stderr)
    progress(0, len(bases))
    run = predict_to_files(
        predictor, bases, formats, args.colormap, args.focal, args.stride, args.batch_size, args.num_workers
    )
    for done, (path, prediction, files) in enumerate(run, start=1):
        for note in files.notes:
            progress.print(f"{path}: {note}", sys.stderr)
        depth = prediction.depth
        progress.print(
            f"{path}: {prediction.meaning.describe()}, {depth.min():.3f}-{depth.max():.3f}, "
            f"{prediction.latency_s * 1000:.0f} ms", sys.stdout
        )
        progress(done, len(bases))
    return 0


def _dataset_options(args: argparse.Namespace) -> dict[str, str | None]:
    """The layout options of `mde_hub.data.registry.open_dataset` given on the command line."""
    return {"split_file": args.split_file, "depth_field": args.depth_field, "gt_root": args.gt_root}


@_reports_progress("evaluate", "image", sharded=True)
def evaluate_model(args: argparse.Namespace, progress: CommandProgress) -> int:
    """Stream a dataset through a model (or score saved predictions), print the metrics table and write the JSON."""
    from .data.files import remove_stale_temporaries
    from .data.specs import open_spec
    from .evaluation.evaluate import DatasetRecord, evaluate, evaluate_predictions

    if (args.model is None) == (args.predictions is None):
        raise ValueError("give either --model (a checkpoint to run) or --predictions (a folder of saved .npy predictions)")
    if args.predictions is not None and args.flip_tta:
        raise ValueError("--flip-tta needs a model to run; saved predictions are scored as saved")
    if args.predictions is not None and (args.device, args.dtype) != ("cpu", "float32"):
        raise ValueError("--device and --dtype say how a model runs; saved predictions are scored as saved")
    if args.model is not None and args.prediction_type is not None:
        raise ValueError("--prediction-type describes saved predictions; a model's output meaning comes from its config")
    options = _dataset_options(args)
    dataset, split = open_spec(args.dataset, args.layout, args.split, "test", **options)
    record = DatasetRecord.opened(args.dataset, split, dataset, options)
    scoring = {
        "alignment": args.align, "alignment_space": args.align_space, "limit": args.limit, "record": record,
        "progress": progress, "batch_size": args.batch_size, "num_workers": args.num_workers, "shard": args.shard,
        "metrics_kernel": args.metrics_kernel,
    }
    if args.predictions is not None:
        result = evaluate_predictions(
            args.predictions, dataset, args.protocol, prediction_type=args.prediction_type or "depth", **scoring
        )
    else:
        from .inference.predictor import DepthPredictor

        predictor = DepthPredictor.from_pretrained(
            args.model, allow_pickle=args.allow_pickle, device=args.device, dtype=args.dtype
        )
        result = evaluate(predictor, dataset, args.protocol, flip_tta=args.flip_tta, **scoring)
    if not args.shard.is_main:
        return 0  # the first process prints and writes the whole run's metrics
    print(f"{args.model or args.predictions} on {args.dataset} ({result.num_images} images, protocol {args.protocol}):")
    print(result.format_table())
    remove_stale_temporaries(os.path.dirname(os.path.abspath(args.output)), [os.path.basename(args.output)])
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

    commit = push_checkpoint(
        args.checkpoint, args.repo_id, args.private, commit_message=args.message, revision=args.revision,
        timeout=args.timeout, retries=args.retries,
    )
    print(commit)
    return 0


def export_onnx(args: argparse.Namespace) -> int:
    """Export a checkpoint to ONNX and print how closely ONNX Runtime matches PyTorch."""
    from .inference.onnx_export import CHECK_SUFFIX, export_checkpoint

    result = export_checkpoint(args.checkpoint, args.output, args.opset)
    sides = f"dynamic height and width (multiples of {result.side_multiple})" if result.dynamic_sides else "fixed size"
    print(f"wrote {result.path} ({result.model_type}, {sides}, opset {result.opset})")
    for size, difference in zip(result.checked_sizes, result.max_abs_diff):
        print(f"max |onnxruntime - pytorch| at {size[0]}x{size[1]}: {difference:.3g} (largest output {result.max_abs_output:.3g})")
    print(f"wrote {result.path}{CHECK_SUFFIX}")
    return 0


@_reports_progress("bench", "step")  # --precision: one step per checkpoint
def run_benchmarks(args: argparse.Namespace, progress: CommandProgress) -> int:
    """Time the models, the data generator and the metrics; print and write the markdown table and the JSON."""
    from .benchmarking import BenchOptions, run_benchmark_suite

    if args.precision:
        from .benchmarking.precision import run_precision_benchmark

        run_precision_benchmark(args.checkpoints, args.rgbd, args.frames, args.output, progress=progress)
        return 0
    options = BenchOptions(
        models=args.models, quick=args.quick, repeats=args.repeats, threads=args.threads, compile=args.compile,
        checkpoints=args.checkpoints,
    )
    run_benchmark_suite(options, args.output, progress)
    return 0


def _converter_options(pairs: list[str]) -> dict[str, object]:
    """`KEY=VALUE` pairs as keyword options; a VALUE that reads as JSON (a number, true, a list) is that value."""
    import json

    options: dict[str, object] = {}
    for pair in pairs:
        key, equals, value = pair.partition("=")
        if not equals or not key.isidentifier():
            raise ValueError(f"--option takes KEY=VALUE, e.g. depth_estimation_type=metric; got {pair!r}")
        try:
            options[key] = json.loads(value)
        except json.JSONDecodeError:
            options[key] = value
    return options


def convert_weights(args: argparse.Namespace) -> int:
    """Convert an authors' released file into a checkpoint folder (weights, config, image processor, card)."""
    from .data.files import check_output_dir
    from .models.conversion import convert_checkpoint
    from .outputs.conversion import write_converted_checkpoint

    check_output_dir(args.output, replace=args.force)  # refuse before a conversion that may take minutes
    result = convert_checkpoint(args.format, args.file, **_converter_options(args.option))
    path = write_converted_checkpoint(
        result, args.output, format=args.format, source_file=args.file if os.path.exists(args.file) else None,
        license=args.license, force=args.force,
    )
    print(f"wrote {path}: {type(result.model).__name__} from {result.source}")
    for entry in result.skipped:
        print(f"  skipped (not a model weight): {entry}")
    for note in result.notes:
        print(f"  note: {note}")
    return 0


def list_zoo(args: argparse.Namespace) -> int:
    """The zoo's models: name, data, format, licence, how the download works, whether it is fetched."""
    from .evaluation.metrics import METRIC_NAMES
    from .zoo import ZOO, checkpoint_dir, fetched
    from .zoo.table import ZERO_SHOT_NOTE

    print(f"{'name':<18} {'trained on':<42} {'format':<17} {'licence':<8} {'download':<13} fetched")
    for entry in ZOO.values():
        status = str(checkpoint_dir(entry.name)) if fetched(entry) else "no"
        print(f"{entry.name:<18} {entry.trained_on:<42} {entry.format:<17} {entry.license:<8} "
              f"{entry.download_kind:<13} {status}")
        if not args.details:
            continue
        print(f"    paper      {entry.paper}")
        print(f"    file       {entry.file_name}" + (f", sha256 starts {entry.sha256_prefix}" if entry.sha256_prefix else
                                                     f", sha256 {entry.sha256}" if entry.sha256 else ", no published checksum"))
        print(f"    url        {entry.url or 'none: a manual download from the page'}")
        print(f"    page       {entry.page}")
        print(f"    read from  {entry.reference}")
        print(f"    download   {entry.download_note}")
        print(f"    licence    {entry.license}: {entry.license_note}")
        for row in entry.published():
            numbers = ", ".join(f"{name} {row.metrics[name]:g}" for name in METRIC_NAMES if name in row.metrics)
            print(f"    published  {row.dataset}, {row.protocol} ({row.source}): {numbers}")
        if entry.published_variant is None:
            print(f"    published  none in mde_hub.evaluation.published: {ZERO_SHOT_NOTE}")
        for command in entry.evaluate_commands():
            print(f"    evaluate   {command}")
    return 0


def fetch_zoo(args: argparse.Namespace) -> int:
    """Download a zoo model (resumed, checked), convert it and write a ready checkpoint with its card."""
    from .outputs.progress import library_bars, shows_progress
    from .zoo import checkpoint_dir, fetch_zoo_model, fetched, zoo_model

    entry = zoo_model(args.name)
    output = args.output or checkpoint_dir(entry.name)
    if not args.force and args.file is None and fetched(entry, output):
        print(f"{output} already holds {entry.name} (--force converts it again)")
        return 0
    with library_bars(shows_progress(sys.stderr, args.quiet)):  # the download shows its own progress unless quiet
        path = fetch_zoo_model(entry.name, output, file=args.file, force=args.force, progress=not args.quiet)
    print(f"wrote {path} ({entry.name}: {entry.file_name}, licence {entry.license})")
    for command in entry.evaluate_commands(str(path)):
        print(f"  score it: {command}")
    return 0


def _int_at_least(text: str, minimum: int) -> int:
    """`text` as an integer of at least `minimum`, else an argparse usage error saying so."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= {minimum}; got {text!r}") from None
    if value < minimum:
        raise argparse.ArgumentTypeError(f"must be at least {minimum}; got {value}")
    return value


def _megapixels(text: str) -> int:
    """`--max-pixels`: a positive number of megapixels, as pixels."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of megapixels; got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number of megapixels; got {text}")
    return max(1, round(value * 1e6))


def _positive_int(text: str) -> int:
    return _int_at_least(text, 1)


def _non_negative_int(text: str) -> int:
    return _int_at_least(text, 0)


def _positive_float(text: str) -> float:
    """`text` as a finite number above 0, else an argparse usage error saying so."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number; got {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a finite number above 0; got {text}")
    return value


def _add_inference_options(parser: argparse.ArgumentParser) -> None:
    """Where and how a model runs: `DepthPredictor`'s device and dtype, and the batches it is given."""
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or mps (default: cpu)")
    parser.add_argument("--dtype", default="float32",
                        help="auto, float32, bfloat16 or float16: the precision the model runs in, by autocast (weights "
                        "stay float32); auto: bfloat16 on a CPU with native bf16 (avx512_bf16 or AMX) or a CUDA device "
                        "that has it, else float32 (default: float32)")
    parser.add_argument("--batch-size", type=_positive_int, default=1,
                        help="images per forward pass; images that resize to one shape share a pass (default: 1)")
    parser.add_argument("--num-workers", type=_non_negative_int, default=0,
                        help="processes that load images in parallel (default: 0: the main process)")
    parser.add_argument("--max-pixels", type=_megapixels, default=DEFAULT_MAX_MEGAPIXELS, metavar="MP",
                        help="largest image file read, in megapixels, checked from its header before it is decoded: "
                        f"photos and depth maps (default: {DEFAULT_MAX_MEGAPIXELS}, as the app's)")


def _add_dataset_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--split-file", "--splits-file", dest="split_file", help="the file that defines the split: nyu_labeled, the official splits.mat "
                        "(default: splits.mat beside the .mat); kitti_eigen, a BTS-style list (required), e.g. "
                        "eigen_test_files_with_gt.txt")
    parser.add_argument("--depth-field", choices=("rawDepths", "depths"),
                        help="nyu_labeled ground truth: rawDepths, the raw Kinect depth with 0 = invalid that "
                        "BTS/AdaBins/DPT score against (default), or depths, the in-painted dense depth")
    parser.add_argument("--gt-root", help="kitti_eigen: the annotated depth folder (data_depth_annotated, its train "
                        "and val drives merged) that the list's depth paths are relative to")


def _add_quiet_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress display and no summary line on "
                        "stderr (notes about skipped inputs and errors still go there)")


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
    inspect.add_argument("--limit", type=_positive_int, help="look at the first N samples only")
    inspect.add_argument("--preview", default="preview.png",
                         help="where to write the preview grid (default: preview.png)")
    inspect.add_argument("--preview-count", type=_positive_int, default=8,
                         help="samples in the preview grid (default: 8)")
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
    _add_quiet_option(synth)
    synth.set_defaults(handler=synthesize_data)

    predict = commands.add_parser("predict", help="depth maps (and point clouds) for images or folders of images")
    predict.add_argument("inputs", nargs="+", help="image files or folders")
    predict.add_argument("--model", required=True, help="checkpoint directory (or Hub id when online)")
    predict.add_argument("--out", required=True,
                         help="output folder (may be an input folder: nothing there is ever replaced)")
    predict.add_argument("--formats", default="png16,npy,color", help=f"comma-separated, from {','.join(FORMATS)}")
    predict.add_argument("--colormap", default="Spectral")
    predict.add_argument("--focal", type=_positive_float,
                         help="the camera's focal length in pixels, for point clouds and models that take it "
                         "(BTS KITTI, Depth Pro); default: each photo's EXIF focal length where it has one, else a 60 "
                         "degree FOV for point clouds, no scaling for BTS and Depth Pro's own FOV estimate")
    predict.add_argument("--stride", type=_positive_int, default=1, help="point clouds: keep every N-th pixel")
    predict.add_argument("--backend", choices=BACKENDS, default="pytorch",
                         help="onnxruntime: run MODEL/model.onnx (written by mde-hub export onnx)")
    predict.add_argument("--allow-pickle", action="store_true", help=ALLOW_PICKLE_HELP)
    predict.add_argument("--resume", action="store_true", help="skip images whose output files all exist in --out "
                         "(an interrupted run's finished images; outputs are written whole or not at all)")
    _add_inference_options(predict)
    _add_quiet_option(predict)
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
    evaluation.add_argument("--metrics-kernel", choices=("numpy", "compiled"), default="numpy",
                            help="how the pixels are scored: numpy, or one loop compiled by torch.compile (1.6-1.8x "
                            "faster on two cores, the same metrics to float rounding; the first image waits seconds "
                            "for the compiler, which must be installed: g++ or clang++) (default: numpy)")
    evaluation.add_argument("--output", default="results.json", help="evaluation JSON (default: results.json)")
    evaluation.add_argument("--allow-pickle", action="store_true", help=ALLOW_PICKLE_HELP)
    _add_inference_options(evaluation)
    _add_quiet_option(evaluation)
    evaluation.set_defaults(handler=evaluate_model)

    card = commands.add_parser("card", help="write a Hub model card (README.md) for a checkpoint")
    card.add_argument("checkpoint", help="checkpoint directory (config.json; training_record.json if trained here)")
    card.add_argument("--eval", nargs="+", action="extend", default=[], metavar="RESULTS_JSON",
                      help="evaluation JSONs written by mde-hub evaluate")
    card.add_argument("--repo-id", help="Hub repo id, used as the model name and in the usage snippets")
    card.add_argument("--license", help="licence of the weights (default: the one a converted checkpoint's "
                      "conversion_record.json records, else apache-2.0)")
    card.add_argument("--output", help="where to write the card (default: CHECKPOINT/README.md)")
    card.set_defaults(handler=write_card)

    push = commands.add_parser("push", help="upload a checkpoint to a Hugging Face Hub model repo in one commit")
    push.add_argument("checkpoint", help="checkpoint directory (config.json, preprocessor_config.json, model.safetensors)")
    push.add_argument("repo_id", help="Hub repo, e.g. user/name (created if missing; token: HF_TOKEN or `hf auth login`)")
    push.add_argument("--private", action="store_true", help="create the repo private")
    push.add_argument("--revision", help="branch to commit to (created from main if missing; default: main)")
    push.add_argument("--message", help="commit message (default: Upload checkpoint with mde-hub push)")
    push.add_argument("--timeout", type=float, default=60, metavar="SECONDS",
                      help="longest wait to connect to the Hub and for each next byte of a request (default: 60)")
    push.add_argument("--retries", type=int, default=4,
                      help="repeats of a request that failed transiently (connection error, timeout, HTTP 408, 429, "
                      "5xx), after 1, 2, 4 ... s (default: 4)")
    push.set_defaults(handler=push_model)

    export = commands.add_parser("export", help="export a checkpoint to another runtime's format")
    export_commands = export.add_subparsers(dest="export_command", required=True)
    onnx = export_commands.add_parser("onnx", help="ONNX graph (pixel_values -> predicted_depth), checked against PyTorch")
    onnx.add_argument("checkpoint", help="checkpoint directory")
    onnx.add_argument("--output", help="ONNX file (default: CHECKPOINT/model.onnx); the check goes to OUTPUT.check.json")
    onnx.add_argument("--opset", type=int, help="ONNX opset version, 18-23 (default: torch.onnx's)")
    onnx.set_defaults(handler=export_onnx)

    convert = commands.add_parser("convert", help="convert an authors' released weights into a checkpoint folder")
    convert.add_argument("format", help=f"the released file's format: {', '.join(sorted(CONVERTERS))}")
    convert.add_argument("file", help="the released file (or folder)")
    convert.add_argument("--output", required=True, help="the checkpoint folder to write (refused if it exists and "
                         "is not empty, unless --force)")
    convert.add_argument("--force", action="store_true", help="replace a non-empty --output folder (the new "
                         "checkpoint is written completely first, then swapped in)")
    convert.add_argument("--license", default="other", help="licence of the weights for the model card (default: "
                         "other: the authors' terms)")
    convert.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                         help="a keyword option of the converter (repeatable), e.g. depth_estimation_type=metric")
    convert.set_defaults(handler=convert_weights)

    zoo = commands.add_parser("zoo", help="the authors' released models: list them, fetch one as a ready checkpoint")
    zoo_commands = zoo.add_subparsers(dest="zoo_command", required=True)
    zoo_list = zoo_commands.add_parser("list", help="the zoo's models, their licences and whether they are fetched")
    zoo_list.add_argument("--details", action="store_true", help="also URLs, checksums, published numbers and the "
                          "mde-hub evaluate command that scores each")
    zoo_list.set_defaults(handler=list_zoo)
    fetch = zoo_commands.add_parser("fetch", help="download (with resume and checksum), convert, write a checkpoint")
    fetch.add_argument("name", help="a zoo model (mde-hub zoo list)")
    fetch.add_argument("--output", help="checkpoint folder (default: the cache's zoo/NAME, where the app finds it)")
    fetch.add_argument("--file", help="the released file, downloaded by hand (for models whose page needs a person)")
    fetch.add_argument("--force", action="store_true", help="convert again and replace a non-empty --output folder")
    _add_quiet_option(fetch)
    fetch.set_defaults(handler=fetch_zoo)

    bench = commands.add_parser("bench", help="benchmark models, the data generator and the metrics (markdown + JSON)")
    bench.add_argument("--models", nargs="+", help="rows to run, e.g. dpt-hybrid baseline compact (default: all)")
    bench.add_argument("--quick", action="store_true", help="tiny configurations at 64x96: a smoke test, not a benchmark")
    bench.add_argument("--repeats", type=int, default=3, help="timed runs per latency (median; default: 3)")
    bench.add_argument("--threads", type=int, help="torch and ONNX Runtime CPU threads (default: torch's choice)")
    bench.add_argument("--compile", choices=("none", "compact", "all"), default="compact",
                       help="rows timed with torch.compile (default: compact; compiling a paper model takes minutes on 2 cores); "
                       "any but none adds the compiled metrics kernel's row")
    bench.add_argument("--checkpoints", default="checkpoints", help="folder whose */config.json give the compact rows")
    bench.add_argument("--output", default="bench.md", help="markdown report (default: bench.md); raw numbers: bench.json")
    bench.add_argument("--precision", action="store_true", help="only the bf16 accuracy table: every --checkpoints "
                       "model in float32 and bfloat16 (autocast) on real frames of --rgbd")
    bench.add_argument("--rgbd", default="../shared/data/rgbd",
                       help="--precision: the RGB-D frames folder (its MANIFEST.md; skipped when absent)")
    bench.add_argument("--frames", type=_positive_int, default=4, help="--precision: frames per scene (default: 4)")
    _add_quiet_option(bench)
    bench.set_defaults(handler=run_benchmarks)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from .models.auto import register_auto_classes

    register_auto_classes()  # skipped at import when started as the command (mde_hub/__init__.py)
    from .data.images import pixel_limit

    try:
        with pixel_limit(getattr(args, "max_pixels", None)):  # predict and evaluate: --max-pixels
            return args.handler(args)
    except (ValueError, OSError, KeyError, ImportError) as error:
        print(f"mde-hub: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
