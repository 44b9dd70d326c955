"""The papers' published results, as data (docs/MODELS.md §2.5, §3.5, §4.6, §5.4).

Each :class:`PublishedResult` holds exactly the numbers its source gives (no derived values), keyed by
:data:`mde_hub.evaluation.metrics.METRIC_NAMES`, and names the :mod:`mde_hub.evaluation.protocols` protocol that comes closest to how the
source scored them; ``notes`` says where the source's evaluation differs from that protocol. Model cards and the
app's benchmarks tab read these rows and put this project's own measurements beside them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

DATASET_NAMES: dict[str, str] = {"nyu_depth_v2": "NYU Depth v2", "kitti": "KITTI (Eigen split)"}
"""Dataset key -> human-readable name."""


@dataclass(frozen=True)
class PublishedResult:
    """One published row: a model variant's metrics on one dataset under one protocol.

    Attributes:
        model: mde-hub ``model_type`` of the architecture, e.g. ``"mde_bts"``.
        variant: the published model's encoder or size, e.g. ``"DenseNet-161"``.
        dataset: ``"nyu_depth_v2"`` or ``"kitti"`` (keys of :data:`DATASET_NAMES`).
        protocol: name of the closest :mod:`mde_hub.evaluation.protocols` protocol.
        source: where the numbers come from, with the MODELS.md section that records them.
        metrics: metric name -> value, only the metrics the source gives.
        notes: how the source's evaluation differs from ``protocol``, and what could not be verified.
    """

    model: str
    variant: str
    dataset: str
    protocol: str
    source: str
    metrics: dict[str, float] = field(default_factory=dict, hash=False)
    notes: str = ""


_PER_IMAGE_RAW = "raw Kinect depth, metrics averaged per image"
_KITTI_FULL_FRAME = "352x1216 KB-crop prediction pasted into the full ground-truth frame; 652 of 697 images have GT"

PUBLISHED_RESULTS: tuple[PublishedResult, ...] = (
    PublishedResult(
        model="mde_densedepth",
        variant="DenseNet-169",
        dataset="nyu_depth_v2",
        protocol="nyu_densedepth",
        source="DenseDepth paper, as tabulated by third parties (MODELS.md §2.5)",
        metrics={"delta1": 0.846, "delta2": 0.974, "delta3": 0.994, "abs_rel": 0.123, "rmse": 0.465, "log10": 0.053},
        notes="in-painted (dense) ground truth, all pixels pooled, flip TTA; AbsRel divides by the prediction "
        "(DenseDepth's swapped compute_errors arguments), as nyu_densedepth's abs_rel does (abs_rel_standard is the "
        "usual one)",
    ),
    PublishedResult(
        model="mde_densedepth",
        variant="DenseNet-169",
        dataset="kitti",
        protocol="kitti_garg",
        source="DenseDepth paper table (MODELS.md §2.5)",
        metrics={
            "delta1": 0.886,
            "delta2": 0.965,
            "delta3": 0.986,
            "abs_rel": 0.093,
            "sq_rel": 0.589,
            "rmse": 4.170,
            "rmse_log": 0.171,
        },
        notes="[unverified]: numbers recorded from memory; DenseDepth's repository has no KITTI evaluation code "
        "(evaluate.py and utils.py evaluate() score only NYU's nyu_test.zip), so its crop, frame and cap are "
        "undocumented and kitti_garg is only the papers' usual protocol; trained on in-painted LiDAR depth",
    ),
    PublishedResult(
        model="mde_bts",
        variant="DenseNet-161",
        dataset="nyu_depth_v2",
        protocol="nyu_eigen",
        source="BTS README model zoo (MODELS.md §5.4)",
        metrics={
            "delta1": 0.885,
            "delta2": 0.978,
            "delta3": 0.994,
            "abs_rel": 0.110,
            "sq_rel": 0.066,
            "rmse": 0.392,
            "rmse_log": 0.142,
            "silog": 11.533,
            "log10": 0.047,
        },
        notes=f"{_PER_IMAGE_RAW}, no flip TTA",
    ),
    PublishedResult(
        model="mde_bts",
        variant="DenseNet-161",
        dataset="kitti",
        protocol="kitti_garg",
        source="BTS README model zoo (MODELS.md §5.4)",
        metrics={
            "delta1": 0.955,
            "delta2": 0.993,
            "delta3": 0.998,
            "abs_rel": 0.060,
            "sq_rel": 0.249,
            "rmse": 2.798,
            "rmse_log": 0.096,
        },
        notes=f"{_KITTI_FULL_FRAME}; no flip TTA",
    ),
    PublishedResult(
        model="mde_bts",
        variant="ResNeXt-101",
        dataset="kitti",
        protocol="kitti_garg",
        source="BTS row of the DPT and AdaBins papers (MODELS.md §5.4)",
        metrics={"delta1": 0.956, "abs_rel": 0.059, "sq_rel": 0.245, "rmse": 2.756, "rmse_log": 0.096},
        notes=f"{_KITTI_FULL_FRAME}; no flip TTA; a ResNeXt-101 encoder, which mde-hub's BTS (DenseNet only) "
        "does not build",
    ),
    PublishedResult(
        model="mde_adabins",
        variant="EfficientNet-B5",
        dataset="nyu_depth_v2",
        protocol="nyu_eigen",
        source="AdaBins paper and mmsegmentation's AdaBins README (MODELS.md §4.6)",
        metrics={"delta1": 0.903, "delta2": 0.984, "delta3": 0.997, "abs_rel": 0.103, "rmse": 0.364, "log10": 0.044},
        notes=f"{_PER_IMAGE_RAW}, flip TTA",
    ),
    PublishedResult(
        model="mde_adabins",
        variant="EfficientNet-B5",
        dataset="kitti",
        protocol="kitti_garg_adabins",
        source="AdaBins paper and mmsegmentation's AdaBins README (MODELS.md §4.6)",
        metrics={
            "delta1": 0.964,
            "delta2": 0.995,
            "delta3": 0.999,
            "abs_rel": 0.058,
            "sq_rel": 0.190,
            "rmse": 2.360,
            "rmse_log": 0.088,
        },
        notes="flip TTA; image and ground truth KB-cropped, Garg fractions of the 352x1216 cropped frame (AdaBins "
        "evaluate.py), a slightly smaller region than kitti_garg's",
    ),
    PublishedResult(
        model="mde_dpt",
        variant="DPT-Hybrid",
        dataset="nyu_depth_v2",
        protocol="nyu_eigen",
        source="DPT paper, Table 2 (MODELS.md §3.5)",
        metrics={"delta1": 0.904, "delta2": 0.988, "delta3": 0.998, "abs_rel": 0.110, "rmse": 0.357, "log10": 0.045},
        notes=f"{_PER_IMAGE_RAW}, 480x640 network input, no flip TTA",
    ),
    PublishedResult(
        model="mde_dpt",
        variant="DPT-Hybrid",
        dataset="nyu_depth_v2",
        protocol="nyu_eigen",
        source="DPT repository re-run, EVALUATION.md (MODELS.md §3.5)",
        metrics={"abs_rel": 0.109, "sq_rel": 0.054, "rmse_log": 0.129, "silog": 9.521},
        notes=f"{_PER_IMAGE_RAW}, 480x640 network input, no flip TTA",
    ),
    PublishedResult(
        model="mde_dpt",
        variant="DPT-Hybrid",
        dataset="kitti",
        protocol="kitti_garg",
        source="DPT paper, Table 3 (MODELS.md §3.5)",
        metrics={"delta1": 0.959, "delta2": 0.995, "delta3": 0.999, "abs_rel": 0.062, "rmse": 2.573, "rmse_log": 0.092},
        notes=f"{_KITTI_FULL_FRAME}; no flip TTA",
    ),
    PublishedResult(
        model="mde_dpt",
        variant="DPT-Hybrid",
        dataset="kitti",
        protocol="kitti_garg",
        source="DPT repository re-run, EVALUATION.md (MODELS.md §3.5)",
        metrics={"rmse": 2.575, "sq_rel": 0.222, "log10": 0.027, "silog": 8.282},
        notes=f"{_KITTI_FULL_FRAME}; no flip TTA",
    ),
)


def published_results(model_type: str | None = None, dataset: str | None = None) -> tuple[PublishedResult, ...]:
    """The published rows of ``model_type`` on ``dataset`` (either filter left out when None), in table order."""
    if dataset is not None and dataset not in DATASET_NAMES:
        raise ValueError(f"unknown dataset {dataset!r}; published results exist for {', '.join(DATASET_NAMES)}")
    return tuple(
        result
        for result in PUBLISHED_RESULTS
        if (model_type is None or result.model == model_type) and (dataset is None or result.dataset == dataset)
    )
