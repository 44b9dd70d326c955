"""The model zoo: the authors' released weights that mde-hub converts, as one data table.

Each `ZooModel` says where the authors publish the file (the URL, or the page when a download needs a person),
its name, its checksum where the authors published one (DPT's file names carry the first 8 hex digits of their
sha256, which torch.hub checks; no other author publishes a checksum, and none is made up here), the licence of the
weights, the conversion format, and how its paper scored it: the data set, the `mde_hub.evaluation.protocols`
protocol and its options (`evaluations`) and the published numbers, read through `mde_hub.evaluation.published` by
(architecture, variant, data set), not copied. URLs were read from the authors' READMEs at the commits `reference`
names.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..evaluation.published import PublishedResult, published_results
from ..models import adabins, bts, densedepth, dpt


@dataclass(frozen=True)
class ZooEvaluation:
    """How a paper scored a model: a data set key of `mde_hub.evaluation.published.DATASET_NAMES`, a protocol and
    the options of `mde-hub evaluate` its evaluation needs."""

    dataset: str
    protocol: str
    flip_tta: bool = False
    align: str = "none"


# The data sets as `mde-hub evaluate` reads them (README, "Evaluation: metrics and protocols").
NYU_LABELED = "--dataset nyu_depth_v2_labeled.mat --split test"
NYU_DENSEDEPTH_TEST = "--dataset nyu_test.zip"
KITTI_EIGEN = (
    "--dataset KITTI_RAW --layout kitti_eigen --split-file eigen_test_files_with_gt.txt --gt-root data_depth_annotated"
)


@dataclass(frozen=True)
class ZooModel:
    """One released file of one paper's model.

    Attributes:
        name: the zoo name (`mde-hub zoo fetch NAME`).
        architecture: the mde-hub `model_type` the weights convert to.
        variant: the published model's encoder or size, as `PublishedResult.variant` names it.
        paper: authors, title, venue.
        trained_on: the data the weights were trained on.
        format: the conversion format (a key of `mde_hub.models.conversion.CONVERTERS`).
        file_name: the released file's name.
        url: where a program can download it; None when only a page is published (a person downloads the file and
            passes it with `--file`).
        page: the link the authors' README gives.
        reference: the README (repository, file, commit) the link was read from.
        license: the weights' licence as a Hub licence id; `license_note` says what the authors state.
        sha256: the whole sha256, where the authors publish one; `sha256_prefix`: its first hex digits (DPT's names).
        member: the file or folder inside a released archive that the converter reads; None: the file itself.
        options: keyword options for the converter.
        download_note: how a download works, honestly.
        evaluations: how the paper scored it.
        published_variant: `PublishedResult.variant` of its published rows; None when none are recorded.
    """

    name: str
    architecture: str
    variant: str
    paper: str
    trained_on: str
    format: str
    file_name: str
    url: str | None
    page: str
    reference: str
    license: str
    license_note: str
    download_note: str
    evaluations: tuple[ZooEvaluation, ...]
    published_variant: str | None
    sha256: str | None = None
    sha256_prefix: str | None = None
    member: str | None = None
    options: dict[str, Any] = field(default_factory=dict, hash=False)

    @property
    def download_kind(self) -> str:
        """direct, google-drive (an undocumented endpoint that may answer with a page) or manual."""
        if self.url is None:
            return "manual"
        return "google-drive" if "google.com" in self.url else "direct"

    def origin(self) -> dict[str, str | None]:
        """What a converted checkpoint records about where its weights came from."""
        return {"name": self.name, "url": self.url or self.page, "reference": self.reference, "paper": self.paper,
                "license_note": self.license_note}

    def published(self) -> tuple[PublishedResult, ...]:
        """The paper's published rows for this model, one per data set it was scored on."""
        if self.published_variant is None:
            return ()
        return tuple(
            row
            for evaluation in self.evaluations
            for row in published_results(self.architecture, evaluation.dataset)
            if row.variant == self.published_variant and row.protocol == evaluation.protocol
        )

    def evaluate_commands(self, checkpoint: str | None = None) -> list[str]:
        """The `mde-hub evaluate` command of each evaluation (the data sets must be downloaded first)."""
        checkpoint = checkpoint or f"zoo/{self.name}"
        commands = []
        for evaluation in self.evaluations:
            if evaluation.dataset == "kitti":
                data, suffix = KITTI_EIGEN, "kitti"
            elif evaluation.protocol == "nyu_densedepth":
                data, suffix = NYU_DENSEDEPTH_TEST, "nyu"
            else:
                data, suffix = NYU_LABELED, "nyu"
            options = " --flip-tta" if evaluation.flip_tta else ""
            options += f" --align {evaluation.align}" if evaluation.align != "none" else ""
            commands.append(
                f"mde-hub evaluate --model {checkpoint} {data} --protocol {evaluation.protocol}{options} "
                f"--output {self.name}.{suffix}.json"
            )
        return commands


_DENSEDEPTH = dict(
    architecture=densedepth.ENTRY.model_type,
    variant="DenseNet-169",
    paper="I. Alhashim and P. Wonka, High Quality Monocular Depth Estimation via Transfer Learning, arXiv:1812.11941",
    format="densedepth-keras",
    reference="ialhashim/DenseDepth README.md at 2e15107 (the links moved from s3-eu-west-1.amazonaws.com/densedepth/ "
    "to Google Drive in the README's history)",
    license="gpl-3.0",
    license_note="the repository is GPL-3.0; the README states no separate licence for the weights",
    download_note="a Google Drive file (165 MB, README): fetched through Google Drive's download endpoint, which is not "
    "a documented API and may answer with a confirmation or quota page instead; if it does, download it in a browser from the page "
    "and pass it with --file",
    published_variant="DenseNet-169",
)
_BTS = dict(
    architecture=bts.ENTRY.model_type,
    variant="DenseNet-161",
    paper="J. H. Lee, M.-K. Han, D. W. Ko and I. H. Suh, From Big to Small: Multi-Scale Local Planar Guidance for "
    "Monocular Depth Estimation, arXiv:1907.10326",
    format="bts",
    reference="cleinc/bts README.md (Model Zoo) at 5e3406b, Feb 2026 (pytorch/README.md still gives the older "
    "cogaplex-bts bucket)",
    license="gpl-3.0",
    license_note="the repository is GPL-3.0-or-later; the README states no separate licence for the weights",
    download_note="a zip on the authors' S3 bucket, downloaded directly; the converter reads its `model` file (the "
    "checkpoint the authors' bts_test.py loads with --checkpoint_path)",
    published_variant="DenseNet-161",
)
_ADABINS = dict(
    architecture=adabins.ENTRY.model_type,
    variant="EfficientNet-B5",
    paper="S. F. Bhat, I. Alhashim and P. Wonka, AdaBins: Depth Estimation Using Adaptive Bins, CVPR 2021 "
    "(arXiv:2011.14141)",
    format="adabins",
    url=None,
    page="https://drive.google.com/drive/folders/1nYyaQXOBjNdUJDsmJpcRpu6oE55aQoLA?usp=sharing",
    reference="shariqfarooq123/AdaBins README.md at 0952d91",
    license="gpl-3.0",
    license_note="the repository is GPL-3.0; the README states no separate licence for the weights",
    download_note="the README links only a Google Drive folder, with no per-file link or checksum: download the file "
    "in a browser from the page, then pass it with --file (a manual step)",
    published_variant="EfficientNet-B5",
)
_DPT_RELEASE = "https://github.com/isl-org/DPT/releases/download/1_0/"
_DPT = dict(
    architecture=dpt.ENTRY.model_type,
    paper="R. Ranftl, A. Bochkovskiy and V. Koltun, Vision Transformers for Dense Prediction, ICCV 2021 "
    "(arXiv:2103.13413)",
    format="dpt-isl",
    reference="isl-org/DPT README.md at cd3fe90 (its links spell the old organisation, intel-isl, which GitHub "
    "redirects to isl-org)",
    license="mit",
    license_note="the repository, code and models, is MIT",
    download_note="a GitHub release asset, downloaded directly (GitHub redirects to its storage); the name's 8 hex "
    "digits are the start of its sha256, checked after the download",
)

_MIDAS_EVALUATIONS = (ZooEvaluation("nyu_depth_v2", "nyu_eigen", align="scale_shift"),
                      ZooEvaluation("kitti", "kitti_garg", align="scale_shift"))
_NYU = ZooEvaluation("nyu_depth_v2", "nyu_eigen")
_KITTI = ZooEvaluation("kitti", "kitti_garg")


def _densedepth(name: str, trained_on: str, file_name: str, drive_id: str, evaluation: ZooEvaluation) -> ZooModel:
    return ZooModel(
        name=name, trained_on=trained_on, file_name=file_name,
        url=f"https://drive.usercontent.google.com/download?id={drive_id}&export=download&confirm=t",
        page=f"https://drive.google.com/file/d/{drive_id}/view?usp=sharing", evaluations=(evaluation,), **_DENSEDEPTH,
    )


def _bts(name: str, trained_on: str, stem: str, evaluation: ZooEvaluation) -> ZooModel:
    url = f"https://bts-github-models-bucket.s3.ap-northeast-2.amazonaws.com/{stem}.zip"
    return ZooModel(name=name, trained_on=trained_on, file_name=f"{stem}.zip", url=url, page=url,
                    member=f"{stem}/model", evaluations=(evaluation,), **_BTS)


def _dpt(name: str, variant: str, trained_on: str, file_name: str, evaluations: tuple[ZooEvaluation, ...],
         published_variant: str | None) -> ZooModel:
    """A DPT release asset; its name ends in the first 8 hex digits of its sha256."""
    return ZooModel(
        name=name, variant=variant, trained_on=trained_on, file_name=file_name,
        sha256_prefix=file_name.removesuffix(".pt")[-8:], url=_DPT_RELEASE + file_name,
        page=f"https://github.com/intel-isl/DPT/releases/download/1_0/{file_name}", evaluations=evaluations,
        published_variant=published_variant, **_DPT,
    )


_MIX6 = "MIX 6 (relative inverse depth, zero-shot)"
ZOO_MODELS: tuple[ZooModel, ...] = (
    _densedepth("densedepth-nyu", "NYU Depth v2", "nyu.h5", "19dfvGvDfCRYaqxVKypp1fRHwK7XtSjVu",
                ZooEvaluation("nyu_depth_v2", "nyu_densedepth")),
    _densedepth("densedepth-kitti", "KITTI (Eigen split)", "kitti.h5", "19flUnbJ_6q2xtjuUQvjt1Y1cJRwOr-XY", _KITTI),
    _bts("bts-nyu", "NYU Depth v2", "bts_nyu_v2_pytorch_densenet161", _NYU),
    _bts("bts-kitti", "KITTI (Eigen split)", "bts_eigen_v2_pytorch_densenet161", _KITTI),
    ZooModel(name="adabins-nyu", trained_on="NYU Depth v2", file_name="AdaBins_nyu.pt",
             evaluations=(ZooEvaluation("nyu_depth_v2", "nyu_eigen", flip_tta=True),), **_ADABINS),
    ZooModel(name="adabins-kitti", trained_on="KITTI (Eigen split)", file_name="AdaBins_kitti.pt",
             evaluations=(ZooEvaluation("kitti", "kitti_garg_adabins", flip_tta=True),), **_ADABINS),
    _dpt("dpt-hybrid-midas", "DPT-Hybrid", _MIX6, "dpt_hybrid-midas-501f0c75.pt", _MIDAS_EVALUATIONS, None),
    _dpt("dpt-large-midas", "DPT-Large", _MIX6, "dpt_large-midas-2f21e586.pt", _MIDAS_EVALUATIONS, None),
    _dpt("dpt-hybrid-nyu", "DPT-Hybrid", "NYU Depth v2 (fine-tuned from MIX 6)", "dpt_hybrid_nyu-2ce69ec7.pt",
         (_NYU,), "DPT-Hybrid"),
    _dpt("dpt-hybrid-kitti", "DPT-Hybrid", "KITTI (Eigen split, fine-tuned from MIX 6)", "dpt_hybrid_kitti-cb926ef4.pt",
         (_KITTI,), "DPT-Hybrid"),
)

ZOO: dict[str, ZooModel] = {model.name: model for model in ZOO_MODELS}
"""Zoo name -> entry (tests register entries that point at a local server)."""

ZERO_SHOT_NOTE = (
    "the MiDaS-trained DPT models output relative inverse depth: they are scored after a per-image least-squares "
    "scale and shift in inverse-depth space; the paper's zero-shot numbers (Table 1, quoted in the DPT model card) "
    "follow MiDaS's protocol, which these commands do not reproduce exactly, and are not rows of "
    "mde_hub.evaluation.published"
)


def zoo_model(name: str) -> ZooModel:
    """The zoo entry `name`, or a ValueError listing the names."""
    if name not in ZOO:
        raise ValueError(f"no zoo model {name!r}; the zoo has {', '.join(ZOO)} (mde-hub zoo list)")
    return ZOO[name]


def readme_block() -> str:
    """The README's zoo listing, generated from the table (tests/test_readme.py checks the README holds it): the
    models, then each one's `mde-hub evaluate` commands beside its published numbers."""
    from ..evaluation.published import DATASET_NAMES

    lines = [
        "| name | released file | trained on | licence | download |",
        "|---|---|---|---|---|",
        *[
            f"| `{entry.name}` | [`{entry.file_name}`]({entry.page}) | {entry.trained_on} | {entry.license} | "
            f"{entry.download_kind} |"
            for entry in ZOO_MODELS
        ],
        "",
        "| name | data set | protocol | published AbsRel / RMSE / δ1 (source) |",
        "|---|---|---|---|",
    ]
    for entry in ZOO_MODELS:
        for evaluation in entry.evaluations:
            rows = [row for row in entry.published() if row.dataset == evaluation.dataset]
            numbers = "; ".join(
                " / ".join(f"{row.metrics[m]:.3f}" if m in row.metrics else "–" for m in ("abs_rel", "rmse", "delta1"))
                + f" ({row.source})"
                for row in rows
            ) or "none recorded (zero-shot; see below)"
            options = ", flip TTA" if evaluation.flip_tta else ""
            options += f", {evaluation.align.replace('_', ' ')} alignment" if evaluation.align != "none" else ""
            lines.append(f"| `{entry.name}` | {DATASET_NAMES[evaluation.dataset]} | `{evaluation.protocol}`{options} | "
                         f"{numbers} |")
    commands = [f"mde-hub zoo fetch {entry.name} --output zoo/{entry.name}" + (" --file PATH" if entry.url is None else "")
                for entry in ZOO_MODELS]
    lines += ["", "```bash", *commands, *[c for entry in ZOO_MODELS for c in entry.evaluate_commands()], "```"]
    return "\n".join(lines)
