"""Example images and ground-truth pairs for the app: three shipped photos, then frames rendered at start-up by
`mde_hub.data.synthetic`.

The photos (`PHOTOS`) are ICL-NUIM living-room frames, CC BY 3.0, shown with `ICL_ATTRIBUTION` (the folder's
LICENSE.md has the full note); they come from the part of the sequence held out of the shipped models' training.
Nothing from non-commercial datasets (7-Scenes, KITTI, most of extra_real) is shipped. The synthetic examples are
our own procedural frames (indoor rooms through the NYU camera, streets through the KITTI camera), written with
`write_rgbd_folder`: indoor depth as millimetre PNGs, outdoor depth in KITTI's value / 256 encoding, so the Evaluate
tab's samples show both decodings.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from mde_hub.data.folder import write_rgbd_folder
from mde_hub.data.synthetic import SyntheticDepthDataset

from .inputs import GT_ENCODINGS

_ENCODING_LABELS = {code: label for label, code in GT_ENCODINGS.items()}
SAMPLE_PROTOCOLS = {"indoor": "none", "outdoor": "kitti_garg_adabins", "photo": "none"}
"""The protocol each kind of sample pair sets: the NYU crops are defined on 640x480 frames and the BTS-convention
KITTI ones on full KITTI frames, so a 320x240 room is scored uncropped; a street gets the Garg crop as fractions
of its frame and the 80 m cap (AdaBins convention); the ICL-NUIM photos are scored uncropped (they are not NYU
frames)."""

PHOTOS = Path(__file__).parent / "photos"
ICL_FRAMES = ("00169", "00190", "00210")
"""The shipped frames of ICL-NUIM living room 1 (`PHOTOS/icl_livingroom1_NNNNN.jpg` and `.depth.png` in mm)."""
ICL_ATTRIBUTION = (
    "Living-room photos: ICL-NUIM living room 1 (rendered), A. Handa, T. Whelan, J. McDonald, A. J. Davison, "
    "ICRA 2014, licensed CC BY 3.0 (https://creativecommons.org/licenses/by/3.0/), via Open3D's test data; frames "
    "held out of the shipped models' training."
)


@dataclass(frozen=True)
class SamplePair:
    """An RGB image, its ground-truth depth file, the label of that file's encoding in `GT_ENCODINGS` and the
    evaluation protocol that fits the frame (`SAMPLE_PROTOCOLS`)."""

    name: str
    image: str
    depth: str
    encoding: str
    protocol: str
    attribution: str = ""


def photo_examples(root: str | Path) -> list[SamplePair]:
    """The shipped ICL-NUIM photos and their millimetre depth, copied under `root` (beside the rendered examples,
    where the page serves files from), each carrying `ICL_ATTRIBUTION`."""
    folder = Path(root) / "photos"
    folder.mkdir(parents=True, exist_ok=True)
    pairs = []
    for index, frame in enumerate(ICL_FRAMES):
        image, depth = (shutil.copy(PHOTOS / f"icl_livingroom1_{frame}{suffix}", folder) for suffix in (".jpg", ".depth.png"))
        pairs.append(
            SamplePair(
                f"ICL-NUIM living room {index + 1} (mm depth)", image, depth, _ENCODING_LABELS["mm"],
                SAMPLE_PROTOCOLS["photo"], ICL_ATTRIBUTION,
            )
        )
    return pairs


def write_examples(root: str | Path, indoor: int = 3, outdoor: int = 2, seed: int = 0) -> list[SamplePair]:
    """Render `indoor` 320x240 rooms and `outdoor` 424x128 streets under `root`; about half a second."""
    pairs = []
    for kind, count, (height, width), encoding in (
        ("indoor", indoor, (240, 320), "mm"),
        ("outdoor", outdoor, (128, 424), "kitti"),
    ):
        if count == 0:
            continue
        dataset = SyntheticDepthDataset(kind, size=count, height=height, width=width, seed=seed)
        folder = write_rgbd_folder(dataset.render_batch(range(count)), Path(root) / kind, encoding)
        for index in range(count):
            name = f"{index:06d}.png"
            pairs.append(
                SamplePair(
                    f"synthetic {kind} {index + 1} ({encoding} depth)",
                    str(folder / "image" / name),
                    str(folder / "depth" / name),
                    _ENCODING_LABELS[encoding],
                    SAMPLE_PROTOCOLS[kind],
                )
            )
    return pairs
