"""Throughput of the data side: the synthetic RGB-D generator, the evaluation metrics and `evaluate` itself."""

from __future__ import annotations

import time

import torch

from ..data.synthetic import SyntheticDepthDataset
from ..evaluation.evaluate import evaluate
from ..evaluation.metrics import DepthMetricAccumulator, MetricsKernel
from ..inference.predictor import DepthPredictor
from ..models.registry import ModelEntry

NYU_TEST_PAIRS = 654
NYU_SIZE = (480, 640)


def frames_per_second(kind: str, height: int, width: int, batch: int, device: str, seconds: float) -> float:
    """Frames/s of `SyntheticDepthDataset.render_batch` (scene generation, ray casting, shading, conversion to
    numpy `DepthSample`s) on fresh frames for at least `seconds` (and two batches) after one warm-up batch."""
    dataset = SyntheticDepthDataset(kind, size=10**6, height=height, width=width, device=device)
    dataset.render_batch(range(batch))
    frames, index, start = 0, batch, time.perf_counter()
    while frames < 2 * batch or time.perf_counter() - start < seconds:
        dataset.render_batch(range(index, index + batch))
        frames, index = frames + batch, index + batch
    return frames / (time.perf_counter() - start)


def _metric_pairs(count: int, size: tuple[int, int], generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """`count` float32 prediction/GT pairs: depths in [0.5, 10) m with 10 % invalid (0) ground-truth pixels and the
    prediction off by a log-normal factor."""
    gt = 0.5 + 9.5 * torch.rand(count, *size, generator=generator)
    gt[torch.rand(count, *size, generator=generator) < 0.1] = 0.0
    return gt * torch.exp(0.1 * torch.randn(count, *size, generator=generator)), gt


def metric_pairs_per_second(
    pairs: int = NYU_TEST_PAIRS,
    size: tuple[int, int] = NYU_SIZE,
    batch: int = 8,
    protocol: str = "nyu_eigen",
    kernel: MetricsKernel = "numpy",
) -> tuple[float, dict[str, float]]:
    """Prediction/ground-truth pairs per second through `DepthMetricAccumulator` (`protocol`, `kernel`, one
    `update` per `batch` pairs; batch 1 is how `evaluate` feeds it), and the metrics it returns. Each pair is
    distinct and drawn from a fixed seed (`_metric_pairs`). Only the `update` and `compute` calls are timed, after
    one untimed update that compiles the compiled kernel (`metrics_first_call_seconds`)."""
    generator = torch.Generator().manual_seed(0)
    accumulator = DepthMetricAccumulator(protocol, kernel=kernel)
    accumulator.update(*_metric_pairs(1, size, torch.Generator().manual_seed(1)))
    accumulator.reset()
    elapsed = 0.0
    for first in range(0, pairs, batch):
        pred, gt = _metric_pairs(min(batch, pairs - first), size, generator)
        start = time.perf_counter()
        accumulator.update(pred[0] if batch == 1 else pred, gt[0] if batch == 1 else gt)
        elapsed += time.perf_counter() - start
    start = time.perf_counter()
    metrics = accumulator.compute()
    return pairs / (elapsed + time.perf_counter() - start), metrics


def metrics_first_call_seconds(
    kernel: MetricsKernel, size: tuple[int, int] = NYU_SIZE, protocol: str = "nyu_eigen"
) -> float:
    """Seconds of a process's first `update` of one pair through `kernel` (for `"compiled"`: tracing, and compiling
    unless inductor's on-disk cache holds the C++ already); call it before anything else scores with `kernel`."""
    pair = _metric_pairs(1, size, torch.Generator().manual_seed(1))
    start = time.perf_counter()
    DepthMetricAccumulator(protocol, kernel=kernel).update(*pair)
    return time.perf_counter() - start


def evaluate_images_per_second(
    batch_sizes: tuple[int, ...], frames: int, size: tuple[int, int], entry: ModelEntry, rounds: int = 2
) -> dict[int, float]:
    """Images/s of `evaluate` (protocol none) on `frames` synthetic frames held in memory, for each batch size, with
    a random-weight model of `entry` at its default preset. The batch sizes take turns for `rounds` rounds after one
    warm-up pass each, so a busy machine slows them alike; each one's best round counts."""
    torch.manual_seed(0)
    model = entry.model_class(entry.config()).eval()
    predictor = DepthPredictor.from_model(model, entry.name)
    dataset = SyntheticDepthDataset("indoor", size=frames, height=size[0], width=size[1])
    samples = [dataset[index] for index in range(frames)]
    best = dict.fromkeys(batch_sizes, 0.0)
    for round_index in range(rounds + 1):
        for batch_size in batch_sizes:
            start = time.perf_counter()
            evaluate(predictor, samples, "none", batch_size=batch_size)
            if round_index:  # round 0 warms up
                best[batch_size] = max(best[batch_size], frames / (time.perf_counter() - start))
    return best
