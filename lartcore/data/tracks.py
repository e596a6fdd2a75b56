"""One person's track through a video: the `Track` type, and readers/writers of the real file formats.

Shapes: T = frames of the track (30 fps, consecutive, gaps marked by `has_detection == False`).

The 229-d `pose_shape` vector (PHALP / LART layout, per frame):

    [  0:  9]  global_orient  one 3x3 rotation matrix, row-major            (SMPL root)
    [  9:216]  body_pose      23 x (3x3) rotation matrices, SMPL joints 1..23, row-major each
    [216:226]  betas          10 SMPL shape coefficients
    [226:229]  location       PHALP full-frame camera translation (tx, ty, tz / 200)

`camera` holds the same translation undivided (tz is large, 50-150, because PHALP's focal length is
5000 * max(H, W) / 256). `joints_3d` are model-space joints (no translation): camera-frame joints are
`joints_3d + camera[:, None]`.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields

import numpy as np

POSE_DIM = 229
GLOBAL_ORIENT = slice(0, 9)
BODY_POSE = slice(9, 216)
BETAS = slice(216, 226)
LOCATION = slice(226, 229)
LOCATION_Z_SCALE = 200.0   # pose_shape[228] = camera tz / 200
NUM_JOINTS_3D = 45         # 25 OpenPose BODY_25 + 19 SPIN joints + 1 zero row
NUM_CLASSES = 80           # AVA v2.2 action ids 1..80 at column id - 1
FPS = 30

# has_gt values
NO_LABEL, PSEUDO_LABEL, GT_LABEL = 0, 1, 2


class TrackError(ValueError):
    """A track file or array is malformed; the message names the file, the key, expected vs found."""


@dataclass
class Track:
    """A person's track. Per-frame arrays share the first axis T.

    frame:            (T,) int64    30 fps frame index counted from the start of the AVA segment (second
                                    900), so AVA timestamp t <-> frame (t - 900) * 30; consecutive
    pose_shape:       (T, 229) f32  see module docstring; zeros where not detected
    joints_3d:        (T, 45, 3) f32 model-space 3D joints
    camera:           (T, 3) f32    full-frame camera translation (tx, ty, tz)
    camera_bbox:      (T, 3) f32    weak-perspective camera w.r.t. the box crop (s, tx, ty); unused by LART
    box:              (T, 4) f32    detection box [x0, y0, w, h] in pixels
    frame_size:       (T, 2) int32  image size [H, W] (height first, as PHALP)
    conf:             (T,) f32      detector confidence (0 where not detected)
    has_detection:    (T,) bool     True = detected in this frame
    has_gt:           (T,) int8     0 no label, 1 pseudo label, 2 ground truth
    labels:           (T, 80) f32   AVA labels (multi-hot GT where has_gt == 2, pseudo probabilities where 1)
    appearance_index: (T,) int64    row of `appearance` for this frame, -1 = none
    appearance:       (K, D) f32    appearance features (MViT 1152-d / Hiera 2048-d), or None (pose only)
    """

    dataset: str
    video: str
    track_id: int
    keyframe: int   # annotated key frame (same frame numbering) the track was built for; -1 if none
    frame: np.ndarray
    pose_shape: np.ndarray
    joints_3d: np.ndarray
    camera: np.ndarray
    camera_bbox: np.ndarray
    box: np.ndarray
    frame_size: np.ndarray
    conf: np.ndarray
    has_detection: np.ndarray
    has_gt: np.ndarray
    labels: np.ndarray
    appearance_index: np.ndarray
    appearance: np.ndarray | None = field(default=None)

    def __len__(self) -> int:
        return len(self.frame)

    @property
    def name(self) -> str:
        """Release file stem: `<dataset>_<video>_<keyframe:06d>_<track_id>_<length>`."""
        return f"{self.dataset}_{self.video}_{self.keyframe:06d}_{self.track_id}_{len(self)}"

    def validate(self, source: str = "<track>") -> "Track":
        """Check shapes, dtypes and finiteness; raise TrackError naming `source` and the field."""
        T = len(self.frame)
        expected = {
            "frame": (T,), "pose_shape": (T, POSE_DIM), "joints_3d": (T, NUM_JOINTS_3D, 3),
            "camera": (T, 3), "camera_bbox": (T, 3), "box": (T, 4), "frame_size": (T, 2), "conf": (T,),
            "has_detection": (T,), "has_gt": (T,), "labels": (T, NUM_CLASSES), "appearance_index": (T,),
        }
        for name, shape in expected.items():
            arr = getattr(self, name)
            if not isinstance(arr, np.ndarray) or arr.shape != shape:
                found = getattr(arr, "shape", type(arr).__name__)
                raise TrackError(f"{source}: '{name}' expected shape {shape}, found {found}")
            if arr.dtype.kind == "f" and not np.isfinite(arr).all():
                bad = np.argwhere(~np.isfinite(arr))[0].tolist()
                raise TrackError(f"{source}: '{name}' has NaN/inf (first at index {bad})")
        if T and np.any(np.diff(self.frame) != 1):
            raise TrackError(f"{source}: 'frame' must be consecutive frame indices")
        if not np.isin(self.has_gt, (NO_LABEL, PSEUDO_LABEL, GT_LABEL)).all():
            raise TrackError(f"{source}: 'has_gt' values must be 0, 1 or 2, found {np.unique(self.has_gt)}")
        n = 0 if self.appearance is None else len(self.appearance)
        if self.appearance is not None:
            if self.appearance.ndim != 2:
                raise TrackError(f"{source}: 'appearance' expected (K, D), found {self.appearance.shape}")
            if not np.isfinite(self.appearance).all():
                raise TrackError(f"{source}: 'appearance' has NaN/inf")
        if T and (self.appearance_index.min() < -1 or self.appearance_index.max() >= n):
            raise TrackError(f"{source}: 'appearance_index' must be in [-1, {n}), found "
                             f"[{self.appearance_index.min()}, {self.appearance_index.max()}]")
        return self

    def equals(self, other: "Track", atol: float = 0.0) -> bool:
        """Field-by-field equality (arrays compared with `atol`)."""
        for f in fields(self):
            a, b = getattr(self, f.name), getattr(other, f.name)
            if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
                if a is None or b is None or a.shape != b.shape or not np.allclose(a, b, atol=atol, rtol=0):
                    return False
            elif a != b:
                return False
        return True
