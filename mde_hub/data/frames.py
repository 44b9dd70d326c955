"""The frames of the benchmark data sets: NYU Depth v2's and KITTI's sizes and cameras (each with its data set's key,
name and depth range: `DATASET_CAMERAS`), KITTI's KB crop, and crop boxes (fixed pixel boxes or fractions of the
frame) that the data sets and the evaluation protocols share."""

from __future__ import annotations

from dataclasses import dataclass

from .sample import Intrinsics

NYU_FRAME = (480, 640)
"""(height, width) of every NYU Depth v2 frame."""

NYU_INTRINSICS = Intrinsics(fx=518.8579, fy=519.4696, cx=325.5824, cy=253.7362)
"""The NYU colour camera (toolbox `camera_params.m`; BTS/AdaBins lists carry the same focal 518.8579)."""

KITTI_FRAME = (375, 1242)
"""(height, width) of a KITTI raw colour frame (drives of 2011_09_26)."""

KITTI_INTRINSICS = Intrinsics(fx=721.5377, fy=721.5377, cx=609.5593, cy=172.854)
"""`P_rect_02` of KITTI's 2011_09_26 calibration (the focal the BTS/AdaBins Eigen lists carry)."""



@dataclass(frozen=True)
class DatasetCamera:
    """A benchmark data set as a model made for it sees it: `key` (how published rows, model cards and the model
    registry name it), `name` (for people), its frame and camera, and `max_depth`, the depth in metres up to which
    its models predict (NYU 10 m, KITTI 80 m)."""

    key: str
    name: str
    frame: tuple[int, int]
    intrinsics: Intrinsics
    max_depth: float

    def focal_at_width(self, width: int) -> float:
        """The camera's horizontal focal length in pixels for an image of this frame resized to `width` pixels."""
        return self.intrinsics.fx * width / self.frame[1]


NYU_CAMERA = DatasetCamera("nyu_depth_v2", "NYU Depth v2", NYU_FRAME, NYU_INTRINSICS, 10.0)
KITTI_CAMERA = DatasetCamera("kitti", "KITTI (Eigen split)", KITTI_FRAME, KITTI_INTRINSICS, 80.0)
DATASET_CAMERAS: dict[str, DatasetCamera] = {camera.key: camera for camera in (NYU_CAMERA, KITTI_CAMERA)}
"""Key -> data set, NYU Depth v2 first (smallest depth range first)."""

KB_CROP_HEIGHT = 352
KB_CROP_WIDTH = 1216


@dataclass(frozen=True)
class AbsoluteCrop:
    """A fixed pixel box `[top:bottom, left:right]` valid only on a `frame` of `(height, width)`."""

    top: int
    bottom: int
    left: int
    right: int
    frame: tuple[int, int]

    def bounds(self, height: int, width: int) -> tuple[int, int, int, int]:
        """Return `(top, bottom, left, right)`; raise if the GT is not the reference frame size."""
        if (height, width) != tuple(self.frame):
            raise ValueError(
                f"crop [{self.top}:{self.bottom}, {self.left}:{self.right}] is defined on a "
                f"{self.frame[0]}x{self.frame[1]} frame, but the ground truth is {height}x{width}"
            )
        return self.top, self.bottom, self.left, self.right


@dataclass(frozen=True)
class FractionalCrop:
    """A box given as fractions of the GT height/width; indices are `int(fraction * size)` (truncation)."""

    top: float
    bottom: float
    left: float
    right: float

    def bounds(self, height: int, width: int) -> tuple[int, int, int, int]:
        """Return `(top, bottom, left, right)` for a `height` x `width` ground truth."""
        return int(self.top * height), int(self.bottom * height), int(self.left * width), int(self.right * width)


CropSpec = AbsoluteCrop | FractionalCrop


def kb_crop_box(height: int, width: int) -> tuple[int, int, int, int]:
    """KITTI KB crop of a `height` x `width` frame as `(top, left, 352, 1216)`: bottom rows, centred columns."""
    if height < KB_CROP_HEIGHT or width < KB_CROP_WIDTH:
        raise ValueError(
            f"the KB crop needs a frame of at least {KB_CROP_HEIGHT}x{KB_CROP_WIDTH}, got {height}x{width}"
        )
    return height - KB_CROP_HEIGHT, (width - KB_CROP_WIDTH) // 2, KB_CROP_HEIGHT, KB_CROP_WIDTH


def is_full_kitti_frame(height: int, width: int) -> bool:
    """True for a frame the KB crop cuts down (at least 352x1216 and not exactly that); smaller ones are taken as
    already cropped."""
    return height >= KB_CROP_HEIGHT and width >= KB_CROP_WIDTH and (height, width) != (KB_CROP_HEIGHT, KB_CROP_WIDTH)
