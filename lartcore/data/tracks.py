"""One person's track through a video: the `Track` type, and readers/writers of the real file formats.

Shapes: T = frames of the track (30 fps, consecutive, gaps marked by `has_detection == False`). The 229-d
`pose_shape` layout, the joints and the label states are `lartcore.schema`'s. `camera` holds the location
translation undivided (tz is large, 50-150, because of PHALP's focal length); `joints_3d` are model-space
joints (no translation): camera-frame joints are `joints_3d + camera[:, None]`.
"""
from __future__ import annotations

import contextlib
import io
import re
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import NamedTuple

import joblib
import numpy as np
from tqdm import tqdm

from lartcore.data import shots
from lartcore.fileio import CorruptFileError, PickleLimits, UnsafePickleError, atomic_path, safe_load
from lartcore.paths import SHOTS_FILE
from lartcore.schema import (
    GT_LABEL,
    LOCATION_Z_SCALE,
    NO_LABEL,
    NUM_CLASSES,
    NUM_JOINTS_3D,
    POSE_DIM,
    PSEUDO_LABEL,
)


class TrackError(ValueError):
    """A track file or array is malformed; the message names the file, the key, expected vs found."""


@contextlib.contextmanager
def _naming(source: str):
    """Any error reading the untrusted file `source` (a numpy/Python error on a value of an unexpected type
    the checks did not foresee) becomes a TrackError naming it; the readers' own errors pass as they are."""
    try:
        yield
    except (TrackError, CorruptFileError, UnsafePickleError, OSError):
        raise
    except Exception as e:   # untrusted content: whatever numpy/Python raise on it
        raise TrackError(f"{source}: malformed file ({type(e).__name__}: {e})") from e


@dataclass
class Track:
    """A person's track. Per-frame arrays share the first axis T.

    frame:            (T,) int64    30 fps frame index counted from the start of the AVA segment (second
                                    900), so AVA timestamp t <-> frame (t - 900) * 30; consecutive. Frame f
                                    is the image PHALP numbers f + 1 (`release_frame_name`)
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
    clip_start:       int           frame of the clip's PHALP frame counter 0: the release's `fid` is
                                    frame - clip_start (0 for our own tracks: fid = frame, shared per video)
    """

    dataset: str
    video: str
    track_id: int
    keyframe: int   # KEY_FRAME of the file name: the number in the key frame's image name (PHALP numbering
                    # from 1), so the clip's key frame is `frame == keyframe - 1` (`keyframe_frame`)
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
    clip_start: int = 0

    def __len__(self) -> int:
        return len(self.frame)

    @property
    def name(self) -> str:
        """Release file stem: `<dataset>_<video>_<keyframe:06d>_<track_id>_<length>`."""
        return f"{self.dataset}_{self.video}_{self.keyframe:06d}_{self.track_id}_{len(self)}"

    def validate(self, source: str = "<track>") -> Track:
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

    def equals(self, other: Track, atol: float = 0.0) -> bool:
        """Field-by-field equality (arrays compared with `atol`)."""
        for f in fields(self):
            a, b = getattr(self, f.name), getattr(other, f.name)
            if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
                if a is None or b is None or a.shape != b.shape or not np.allclose(a, b, atol=atol, rtol=0):
                    return False
            elif a != b:
                return False
        return True


def detected_at(tracks: list[Track], frame: int) -> list[tuple[int, int]]:
    """(position in `tracks`, frame index in that track) of each person detected at `frame`, in track order,
    each track id once (release files of overlapping clips repeat a person): who is drawn and listed."""
    rows, seen = [], set()
    for k, t in enumerate(tracks):
        i = frame - int(t.frame[0]) if len(t) else -1
        if 0 <= i < len(t) and t.has_detection[i] and t.track_id not in seen:
            seen.add(t.track_id)
            rows.append((k, i))
    return rows


# ==================================================================================================
# LART release per-track pickles: `<dataset>_<video>_<KEY_FRAME:06d>_<track_id>_<length>.pkl`
#
# Each file is a dict (joblib), one person (axis 1), T frames. Every rule below is what the official code
# needs to read the file (brjathu/LART @9d33242: `PHALP_action_dataset` in
# lart/datamodules/components/phalp_action_datatset.py, `AVA_evaluator` in lart/evaluators/ava.py) and what
# PHALP writes (brjathu/PHALP @96f7e6c: `get_tracks` / `create_fast_tracklets` in phalp/utils/utils_tracks.py,
# the per-track files in `Postprocessor.post_process`, phalp/visualize/postprocessor.py:38-50):
#
#   fid (T,1,1) float64    PHALP's frame counter of the clip's run, shared by all tracks of the clip
#                          (utils_tracks.py:18,41,99); the official loader aligns other people to the
#                          person of interest by it (phalp_action_datatset.py:288-308). Written as
#                          Track.frame - clip_start; read: clip_start = frame - fid (must be constant).
#   frame_name (list of T str)  `<video>/<video>_<n:06d>.jpg`, n = Track.frame + 1: PHALP numbers extracted
#                          frames from 1 (phalp/utils/utils.py:176). Read: Track.frame = n - 1 from the
#                          trailing number of each name (files whose names carry no number: frame = fid).
#                          The official key frame is the last frame of the first 125 whose name contains
#                          the file's 6-digit KEY_FRAME (ava.py:138-146): on our files, frame KEY_FRAME - 1.
#   frame_size, frame_bbox, frame_conf   Python LISTS of T entries, as PHALP appends them
#                          (utils_tracks.py:127-129): detected np.array([h, w]) int64 | float32 [x0, y0, w, h]
#                          pixels | float32 conf; undetected np.array([0, 0]) | np.array([0., 0., 0., 0.]) | 0.
#                          The conf is a 0-d array, not a numpy scalar: numpy >= 2 pickles scalars as
#                          `numpy._core.multiarray.scalar`, which the official code's numpy (< 1.24, for
#                          `np.float` in its evaluator) cannot import; arrays are pickled portably.
#                          The official loader appends padding rows to them (phalp_action_datatset.py:
#                          366-378, AttributeError on arrays) and the evaluator stacks them frame by frame
#                          (ava.py:104-118, arrays of 125+ frames break there). Read: lists or arrays.
#   pose_shape (T,1,229) 3d_joints (T,1,45,3) camera (T,1,3) camera_bbox (T,1,3)  (utils_tracks.py:132-144)
#   has_detection (T,1,1), has_gt (T,1,1): 2 ground truth, 1 pseudo label, 0 none
#   action_label_gt (T,1,80): labels where has_gt == 2 (zeros elsewhere)
#   apperance_index (T,1,1) int: key into BOTH apperance_dict and action_label_psudo, -1 = none. The official
#       loader reads both dicts for EVERY frame whose index is not -1, whatever has_gt
#       (phalp_action_datatset.py:252-260, 330-337): every key used is in both, as PHALP writes them
#       (one entry per frame's index, postprocessor.py:41-47).
#   apperance_dict {key: (1, D) float32}: key k = row k of Track.appearance (k = 0..K-1); a pseudo-labelled
#       frame without features gets a fresh key >= K with a zero vector (what the official loader feeds for
#       -1 too; read back as -1). Tracks without any features (pose only) have no apperance_dict entries.
#   action_label_psudo {key: (1, 80) float32}: the pseudo label of the has_gt == 1 frames using that key;
#       zeros for keys used only by frames without a pseudo label (has_gt 0 or 2: never read as labels).
# Spellings are the release's. Labels where has_gt == 0 are not stored (they read back as zeros).
# ==================================================================================================

# release key: (Track field, per-frame shape in the file after the person axis, dtype written)
_RELEASE_ARRAYS = {
    "pose_shape": ("pose_shape", (POSE_DIM,), np.float32),
    "3d_joints": ("joints_3d", (NUM_JOINTS_3D, 3), np.float32),
    "camera": ("camera", (3,), np.float32),
    "camera_bbox": ("camera_bbox", (3,), np.float32),
    "has_gt": ("has_gt", (1,), np.int8),
    "has_detection": ("has_detection", (1,), np.bool_),
    "apperance_index": ("appearance_index", (1,), np.int64),   # written by `_release_index`
}
# written as Python lists (see above); read as lists or arrays
_RELEASE_LISTS = {
    "frame_size": ("frame_size", (2,), np.int32),
    "frame_bbox": ("box", (4,), np.float32),
    "frame_conf": ("conf", (1,), np.float32),
}
_OPTIONAL_KEYS = {"camera_bbox"}   # absent in some files: read as zeros
_NAME_PATTERN = "<dataset>_<video>_<keyframe:06d>_<track_id>_<length>.pkl"
_FRAME_NUMBER = re.compile(r"(\d+)\.\w+$")   # the image number at the end of a frame name


def parse_release_name(name: str | Path) -> tuple[str, str, int, int, int]:
    """`ava-train_053oq2xB3oU_000150_3_128.pkl` -> ('ava-train', '053oq2xB3oU', 150, 3, 128).

    The dataset prefix has no '_'; the video id may contain '_' and '-' (split from both ends)."""
    stem = Path(name).name.removesuffix(".pkl")
    parts = stem.split("_")
    ok = len(parts) >= 5 and parts[0] and "_".join(parts[1:-3])
    try:
        keyframe, track_id, length = int(parts[-3]), int(parts[-2]), int(parts[-1])
    except (ValueError, IndexError):
        ok = False
    if not ok or length < 1 or track_id < 0 or not parts[-2].isdigit() or not parts[-1].isdigit():
        raise TrackError(f"{name}: not a release track name, expected {_NAME_PATTERN}")
    return parts[0], "_".join(parts[1:-3]), keyframe, track_id, length


def release_frame_name(video: str, frame: int) -> str:
    """Frame image name written to `frame_name`: frames numbered from 1, as PHALP's extracted frames."""
    return f"{video}/{video}_{release_frame_number(int(frame)):06d}.jpg"


def release_frame_number(frame):
    """The number in the image name of Track frame(s) `frame` (PHALP numbers extracted frames from 1)."""
    return frame + 1


def keyframe_frame(keyframe):
    """Track frame(s) of the image named with a file's KEY_FRAME: the clip's key frame."""
    return keyframe - 1


def _release_index(track: Track) -> tuple[np.ndarray, dict, dict]:
    """Track appearance/pseudo labels -> (apperance_index (T,), apperance_dict, action_label_psudo)."""
    K = 0 if track.appearance is None else len(track.appearance)
    appearance = {k: track.appearance[k][None].astype(np.float32) for k in range(K)}   # {k: (1, D)}
    index = track.appearance_index.astype(np.int64)   # (T,)
    pseudo, next_key = {}, K
    for t in np.flatnonzero(track.has_gt == PSEUDO_LABEL):
        if index[t] < 0:
            index[t], next_key = next_key, next_key + 1
            if K:   # the official loader reads a feature for every key: zeros, as it feeds for -1
                appearance[int(index[t])] = np.zeros((1, track.appearance.shape[1]), np.float32)
        label = track.labels[t][None].astype(np.float32)   # (1, 80)
        key = int(index[t])
        if key in pseudo and not np.array_equal(pseudo[key], label):
            raise TrackError(f"{track.name}: frames sharing appearance row {key} carry different pseudo "
                             f"labels (frame {track.frame[t]}); the release keys pseudo labels by that row")
        pseudo[key] = label
    for key in np.unique(index[index >= 0]):   # keys of GT / unlabelled frames only: never read as labels
        pseudo.setdefault(int(key), np.zeros((1, NUM_CLASSES), np.float32))
    return index, appearance, pseudo


def _release_lists(track: Track) -> dict[str, list]:
    """frame_size / frame_bbox / frame_conf as PHALP writes them: one entry per frame (see above)."""
    det = track.has_detection
    size = [np.array(s, np.int64) for s in track.frame_size]
    box = [b.astype(np.float32 if d else np.float64) for b, d in zip(track.box, det, strict=True)]
    conf = [np.array(c, np.float32) if d or c else 0 for c, d in zip(track.conf, det, strict=True)]
    return {"frame_size": size, "frame_bbox": box, "frame_conf": conf}


def release_dict(track: Track) -> dict:
    """The release file's dict for `track` (see the table above)."""
    T = len(track)
    out = {key: np.asarray(getattr(track, field)).astype(dtype).reshape(T, 1, *shape)
           for key, (field, shape, dtype) in _RELEASE_ARRAYS.items()}
    out["fid"] = (track.frame - track.clip_start).astype(np.float64).reshape(T, 1, 1)
    out.update(_release_lists(track))
    gt = (track.has_gt == GT_LABEL)[:, None]
    out["action_label_gt"] = np.where(gt, track.labels, 0).astype(np.float32).reshape(T, 1, NUM_CLASSES)
    index, appearance, pseudo = _release_index(track)
    out["apperance_index"] = index.reshape(T, 1, 1)
    out["apperance_dict"] = appearance
    out["action_label_psudo"] = pseudo
    out["frame_name"] = [release_frame_name(track.video, int(f)) for f in track.frame]
    return out


def write_release_track(track: Track, folder: str | Path, compress: int = 0) -> Path:
    """Write `track` as `<folder>/<track.name>.pkl` in the release format (joblib, atomic)."""
    track.validate(track.name)
    if parse_release_name(track.name)[:2] != (track.dataset, track.video):
        raise TrackError(f"{track.name}: dataset '{track.dataset}' must not contain '_' and video must "
                         "be non-empty, so that the file name parses back")
    path = Path(folder) / f"{track.name}.pkl"
    with atomic_path(path) as tmp:
        joblib.dump(release_dict(track), tmp, compress=compress)
    return path


def _release_array(d: dict, key: str, T: int, source: str, spec: tuple | None = None) -> np.ndarray:
    """d[key] (an array, or a list of per-frame entries) checked and converted to the (T, ...) shape and
    dtype of `spec` = (Track field, per-frame shape, dtype), by default the key's entry in the tables."""
    _, shape, dtype = spec or _RELEASE_ARRAYS.get(key) or _RELEASE_LISTS[key]
    if key not in d:
        if key in _OPTIONAL_KEYS:
            return np.zeros((T, *shape), dtype)
        raise TrackError(f"{source}: missing key '{key}'")
    arr = np.asarray(d[key])
    accepted = [(T, 1, *shape), (T, *shape)] + ([(T,)] if shape == (1,) else [])
    if arr.shape not in accepted:
        raise TrackError(f"{source}: '{key}' expected shape {(T, 1, *shape)} (T = {T} from the file "
                         f"name), found {arr.shape}")
    if arr.dtype.kind not in "biuf":
        raise TrackError(f"{source}: '{key}' expected numbers, found dtype {arr.dtype}")
    if arr.dtype.kind == "f" and not np.isfinite(arr).all():
        bad = np.argwhere(~np.isfinite(arr))[0].tolist()
        raise TrackError(f"{source}: '{key}' has NaN/inf (first at index {bad})")
    arr = arr.reshape(T, *shape)
    out = arr.astype(dtype)
    if out.dtype.kind in "biu" and not np.array_equal(out, arr):
        bad = np.argwhere(out != arr)[0].tolist()
        raise TrackError(f"{source}: '{key}' expected {np.dtype(dtype).name} values, found "
                         f"{arr[tuple(bad)]} at index {bad}")
    return out[:, 0] if shape == (1,) else out


def _keyed_vectors(d: dict, key: str, source: str, dim: int | None = None) -> dict[int, np.ndarray]:
    """A release dict {index: (1, D) or (D,)} -> {int index: (D,) float32}, checked."""
    table = d.get(key, {})
    if not isinstance(table, dict):
        raise TrackError(f"{source}: '{key}' expected a dict, found {type(table).__name__}")
    out, dims = {}, set()
    for k, v in table.items():
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
            raise TrackError(f"{source}: '{key}' keys expected integers (appearance indices), found {k!r}")
        v = np.asarray(v, dtype=np.float32)
        v = v[0] if v.ndim == 2 and len(v) == 1 else v   # release values carry a leading axis
        if v.ndim != 1 or (dim is not None and len(v) != dim) or not np.isfinite(v).all():
            raise TrackError(f"{source}: '{key}'[{k}] expected a finite ({dim or 'D'},) vector, found "
                             f"shape {v.shape}")
        out[int(k)] = v
        dims.add(len(v))
    if len(dims) > 1:
        raise TrackError(f"{source}: '{key}' vectors have different lengths {sorted(dims)}")
    return out


def _release_labels(d: dict, index: np.ndarray, has_gt: np.ndarray, source: str):
    """-> labels (T, 80), appearance (K, D) or None, appearance_index (T,) from the release keys."""
    T = len(index)
    appearance = _keyed_vectors(d, "apperance_dict", source)
    pseudo = _keyed_vectors(d, "action_label_psudo", source, NUM_CLASSES)
    # key -1 (PHALP also stores the undetected frames' entry) never feeds a frame; a zero vector = no feature
    keys = sorted(k for k, v in appearance.items() if k != -1 and v.any())
    row = {k: i for i, k in enumerate(keys)}
    unknown = [k for k in index if k != -1 and k not in appearance and k not in pseudo]
    if unknown:
        raise TrackError(f"{source}: 'apperance_index' {unknown[0]} is in neither 'apperance_dict' nor "
                         "'action_label_psudo' (expected -1 or one of their keys)")
    labels = np.zeros((T, NUM_CLASSES), np.float32)
    for t in np.flatnonzero(has_gt == PSEUDO_LABEL):
        if int(index[t]) not in pseudo:
            raise TrackError(f"{source}: frame {t} has has_gt=1 but 'action_label_psudo' has no key "
                             f"{int(index[t])}")
        labels[t] = pseudo[int(index[t])]
    gt = has_gt == GT_LABEL
    if gt.any():
        labels[gt] = _release_labels_gt(d, T, source)[gt]
    table = np.stack([appearance[k] for k in keys]) if keys else None   # (K, D)
    return labels, table, np.array([row.get(int(k), -1) for k in index], np.int64)


def _release_labels_gt(d: dict, T: int, source: str) -> np.ndarray:
    if "action_label_gt" not in d:
        raise TrackError(f"{source}: missing key 'action_label_gt' (frames have has_gt=2)")
    arr = np.asarray(d["action_label_gt"], dtype=np.float32)
    if arr.shape not in ((T, 1, NUM_CLASSES), (T, NUM_CLASSES)) or not np.isfinite(arr).all():
        raise TrackError(f"{source}: 'action_label_gt' expected finite {(T, 1, NUM_CLASSES)}, found "
                         f"{arr.shape}")
    return arr.reshape(T, NUM_CLASSES)


def _release_frames(d: dict, T: int, source: str) -> tuple[np.ndarray, int]:
    """(Track.frame (T,), clip_start) from `frame_name` (PHALP numbering) and `fid` (see the table above)."""
    if "fid" in d and np.ndim(d["fid"]) == 0:
        raise TrackError(f"{source}: 'fid' expected an array of {T} frame indices, found "
                         f"{type(d['fid']).__name__} {d['fid']!r:.40}")
    if "fid" in d and len(d["fid"]) != T:
        raise TrackError(f"{source}: the file name says {T} frames, 'fid' has {len(d['fid'])}")
    names = d.get("frame_name")
    if not isinstance(names, (list, tuple, np.ndarray)) or len(names) != T:
        found = len(names) if hasattr(names, "__len__") else type(names).__name__
        raise TrackError(f"{source}: 'frame_name' expected a list of {T} names (T from the file name), "
                         f"found {found}")
    fid = _release_array(d, "fid", T, source, ("frame", (1,), np.int64))
    numbers = [_FRAME_NUMBER.search(str(n)) for n in names]
    if not all(numbers):          # names without image numbers: the frame counter is all there is
        return fid, 0
    frame = np.array([int(m.group(1)) - 1 for m in numbers], np.int64)
    if T and np.any(np.diff(frame) != 1):
        bad = int(np.flatnonzero(np.diff(frame) != 1)[0])
        raise TrackError(f"{source}: 'frame_name' numbers must be consecutive, found {names[bad]!r} then "
                         f"{names[bad + 1]!r}")
    offset = frame - fid
    if T and np.any(offset != offset[0]):
        bad = int(np.flatnonzero(offset != offset[0])[0])
        raise TrackError(f"{source}: 'fid' and 'frame_name' disagree: frame {bad} is named {names[bad]!r} "
                         f"with fid {fid[bad]}, frame 0 {names[0]!r} with fid {fid[0]}")
    return frame, int(offset[0]) if T else 0


def read_release_track(path: str | Path) -> Track:
    """Read one release per-track pickle (via `safe_load`); strict: raises TrackError naming the key (any
    error on the file's content is a TrackError, CorruptFileError or UnsafePickleError naming the file)."""
    path = Path(path)
    source = str(path)
    dataset, video, keyframe, track_id, T = parse_release_name(path.name)
    limits = PickleLimits.from_env()
    with _naming(source):
        d = safe_load(path, limits=limits)
        if not isinstance(d, dict):
            raise TrackError(f"{source}: expected a dict of release keys, found {type(d).__name__}")
        frame, clip_start = _release_frames(d, T, source)
        arrays = {field: _release_array(d, key, T, source)
                  for key, (field, _, _) in (_RELEASE_ARRAYS | _RELEASE_LISTS).items()}
        index = arrays.pop("appearance_index")   # release keys, not yet rows of `appearance`
        labels, appearance, appearance_index = _release_labels(d, index, arrays["has_gt"], source)
        track = Track(dataset=dataset, video=video, track_id=track_id, keyframe=keyframe, frame=frame,
                      labels=labels, appearance=appearance, appearance_index=appearance_index,
                      clip_start=clip_start, **arrays)
        return track.validate(source)


@dataclass
class ReadReport:
    """What `iter_release_tracks(..., skip_bad=True)` read and skipped."""

    read: int = 0
    skipped: list[tuple[Path, str]] = field(default_factory=list)   # (path, reason)

    def summary(self) -> str:
        lines = [f"{self.read} read, {len(self.skipped)} skipped"]
        lines += [f"  skipped {path}: {reason}" for path, reason in self.skipped]
        return "\n".join(lines)


def iter_release_tracks(paths, skip_bad: bool = False, report: ReadReport | None = None):
    """Yield a Track per release file. Without `skip_bad` the first bad file raises; with it, bad files
    (malformed, corrupt, unsafe, unreadable) are skipped and recorded in `report` (pass your own)."""
    report = ReadReport() if report is None else report
    for path in paths:
        try:
            track = read_release_track(path)
        except (ValueError, OSError) as e:   # all a reader raises: TrackError, CorruptFileError, Unsafe..., I/O
            if not skip_bad:
                raise
            report.skipped.append((Path(path), " ".join(str(e).split())))
            continue
        report.read += 1
        yield track


# ==================================================================================================
# PHALP per-video results (`<dataset>_<video>.pkl`, joblib): {frame key: {'time', 'shot', per-track
# lists 'tid', 'tracked_time', 'bbox', 'smpl', 'camera', ...}}, as PHALP's tracker writes it. Conventions:
#   - Track.frame = PHALP's `time` (0-based processing index of the frame);
#   - a tid is split at shot changes (`shot == 1`); each piece spans its first to last detected frame,
#     so leading/trailing ghosts are dropped; ghosts (`tracked_time != 0`) and frames where the tid is
#     absent become undetected frames (all-zero rows, has_detection False);
#   - keyframe = the image number of the piece's shot's first frame (`release_frame_number`), so
#     `<dataset>_<video>_<keyframe>` groups one shot and the frame named with it is the shot's first;
#   - pose_shape = `pose` when present, else rebuilt from `smpl` + `camera` (tz / 200);
#   - appearance = `appe` of detected frames (one row each) when present;
#   - labels: `ava_action` logits (if the file has them) -> sigmoid probabilities, has_gt = 1.
# ==================================================================================================

_PHALP_LISTS = ("tid", "tracked_time", "bbox", "camera", "3d_joints", "size", "conf")
# A PHALP results file holds a whole video (tens of thousands of frames): its own, larger memory cap
PHALP_MAX_BYTES_ENV, PHALP_MAX_BYTES = "LART_PHALP_MAX_BYTES", 8 << 30


def _torch_globals() -> dict:
    """Globals a pickled torch tensor needs (`ava_action` logits), loaded the safe way."""

    import torch  # noqa: PLC0415  (only for PHALP files that hold torch tensors; `lart data` stays light)

    def load_storage(data: bytes):
        return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)

    return {"torch.storage._load_from_bytes": load_storage,
            "torch._utils._rebuild_tensor_v2": torch._utils._rebuild_tensor_v2}


def _vector(value, shape: tuple, where: str, key: str) -> np.ndarray:
    arr = np.asarray(value.detach().cpu().numpy() if hasattr(value, "detach") else value, np.float32)
    if -1 not in shape and arr.size != int(np.prod(shape)):
        raise TrackError(f"{where}: '{key}' expected {int(np.prod(shape))} values {shape}, found "
                         f"shape {arr.shape}")
    return arr.reshape(shape)


def _phalp_pose(entry: dict, where: str) -> np.ndarray:
    """(229,) pose_shape: `pose` if present, else global_orient | body_pose | betas | tx, ty, tz/200."""
    if "pose" in entry:
        return _vector(entry["pose"], (POSE_DIM,), where, "pose")
    smpl = entry.get("smpl")
    if not isinstance(smpl, dict):
        raise TrackError(f"{where}: needs 'pose' or an 'smpl' dict, found {type(smpl).__name__}")
    missing = {"global_orient", "body_pose", "betas"} - set(smpl)
    if missing:
        raise TrackError(f"{where}: 'smpl' is missing {sorted(missing)}")
    location = _vector(entry["camera"], (3,), where, "camera") / np.array([1, 1, LOCATION_Z_SCALE])
    return np.concatenate([_vector(smpl["global_orient"], (9,), where, "smpl.global_orient"),
                           _vector(smpl["body_pose"], (207,), where, "smpl.body_pose"),
                           _vector(smpl["betas"], (10,), where, "smpl.betas"), location]).astype(np.float32)


def _phalp_entries(frame: dict, where: str):
    """Yield one dict per track in a PHALP frame record (index j of the aligned lists)."""
    missing = [k for k in (*_PHALP_LISTS, "time") if k not in frame]
    if missing:
        raise TrackError(f"{where}: missing keys {missing}")
    n = len(frame["tid"])
    keys = _PHALP_LISTS + tuple(k for k in ("smpl", "pose", "appe", "camera_bbox") if k in frame)
    for key in keys:
        if len(frame[key]) != n:
            raise TrackError(f"{where}: '{key}' has {len(frame[key])} entries, expected {n} (one per tid)")
    actions = frame.get("ava_action") or {}
    for j in range(n):
        entry = {k: frame[k][j] for k in keys}
        entry["tid"] = int(frame["tid"][j])
        entry["label"] = actions.get(entry["tid"])
        yield entry


def _phalp_frame_time(key, frame, source: str) -> int:
    if not isinstance(frame, dict) or "time" not in frame:
        raise TrackError(f"{source}: frame {key!r} expected a dict with 'time', found "
                         f"{type(frame).__name__}")
    t = frame["time"]
    if isinstance(t, (bool, np.bool_)) or not isinstance(t, (int, np.integer, float, np.floating)) or (
            not float(t).is_integer() or t < 0):
        raise TrackError(f"{source}: frame {key!r}: 'time' expected a frame index (an integer >= 0), found "
                         f"{t!r:.40}")
    return int(t)


def _phalp_pieces(results: dict, source: str) -> tuple[dict, list[int]]:
    """({(tid, shot start frame): [(time, entry), ...]} in time order, shot changes: the `time` of every
    frame flagged `shot` after the first frame)."""
    items = sorted(((_phalp_frame_time(key, frame, source), key, frame) for key, frame in results.items()),
                   key=lambda item: item[0])
    times = [t for t, _, _ in items]
    if len(set(times)) != len(times):
        raise TrackError(f"{source}: 'time' values are not unique")
    pieces, shot_start, changes = {}, times[0], []
    for t, key, frame in items:
        if frame.get("shot", 0) and t != times[0]:
            shot_start = t
            changes.append(t)
        for entry in _phalp_entries(frame, f"{source}: frame {key!r}"):
            entry["where"] = f"{source}: frame {key!r} tid {entry['tid']}"
            pieces.setdefault((entry["tid"], shot_start), []).append((t, entry))
    return pieces, changes


def _empty_track(dataset: str, video: str, tid: int, keyframe: int, first: int, T: int) -> Track:
    """A track of T undetected, unlabelled frames starting at frame `first`."""
    def zeros(*shape, dtype=np.float32):
        return np.zeros((T, *shape), dtype)
    return Track(dataset=dataset, video=video, track_id=tid, keyframe=keyframe,
                 frame=np.arange(first, first + T, dtype=np.int64), pose_shape=zeros(POSE_DIM),
                 joints_3d=zeros(NUM_JOINTS_3D, 3), camera=zeros(3), camera_bbox=zeros(3), box=zeros(4),
                 frame_size=zeros(2, dtype=np.int32), conf=zeros(), has_detection=zeros(dtype=bool),
                 has_gt=zeros(dtype=np.int8), labels=zeros(NUM_CLASSES),
                 appearance_index=np.full(T, -1, np.int64))


def _phalp_track(dataset: str, video: str, tid: int, keyframe: int, entries: list, source: str):
    """One Track from a tid's [(time, entry)] within a shot; None if it is never detected."""
    detected = [t for t, e in entries if int(e["tracked_time"]) == 0]
    if not detected:
        return None
    first, last = detected[0], detected[-1]
    track = _empty_track(dataset, video, tid, keyframe, first, last - first + 1)
    rows = []   # appearance (D,) of detected frames
    for t, e in entries:
        i, where = t - first, e["where"]
        if not 0 <= i < len(track):
            continue
        if e["label"] is not None:
            logits = _vector(e["label"], (NUM_CLASSES,), where, "ava_action")
            track.labels[i], track.has_gt[i] = 0.5 * (1 + np.tanh(logits / 2)), PSEUDO_LABEL   # sigmoid
        if int(e["tracked_time"]) != 0:
            continue
        track.pose_shape[i] = _phalp_pose(e, where)
        track.joints_3d[i] = _vector(e["3d_joints"], (NUM_JOINTS_3D, 3), where, "3d_joints")
        track.camera[i] = _vector(e["camera"], (3,), where, "camera")
        if "camera_bbox" in e:
            track.camera_bbox[i] = _vector(e["camera_bbox"], (3,), where, "camera_bbox")
        track.box[i] = _vector(e["bbox"], (4,), where, "bbox")
        track.frame_size[i] = _vector(e["size"], (2,), where, "size")
        track.conf[i] = _vector(e["conf"], (1,), where, "conf")[0]
        track.has_detection[i] = True
        if "appe" in e:
            track.appearance_index[i] = len(rows)
            rows.append(_vector(e["appe"], (-1,), where, "appe"))
    track.appearance = np.stack(rows) if rows else None
    return track.validate(f"{source}: tid {tid}")


class PhalpVideo(NamedTuple):
    """What one PHALP results file holds for LART: its tracks and the frames where a new shot starts."""

    dataset: str
    video: str
    tracks: list[Track]
    shot_changes: list[int]


def read_phalp_results(path: str | Path, dataset: str = "demo", video: str | None = None) -> PhalpVideo:
    """PHALP per-video results pickle -> Tracks (conventions above) and shot changes. `video` defaults to
    the file stem without its `<dataset>_` prefix."""
    path = Path(path)
    source = str(path)
    if "_" in dataset or not dataset:
        raise TrackError(f"{source}: dataset prefix '{dataset}' must be non-empty and contain no '_'")
    video = video or path.stem.removeprefix(f"{dataset}_")
    limits = PickleLimits.from_env(PHALP_MAX_BYTES_ENV, PHALP_MAX_BYTES)
    with _naming(source):
        results = safe_load(path, extra=_torch_globals(), limits=limits)
        if not isinstance(results, dict) or not results:
            raise TrackError(f"{source}: expected a non-empty dict {{frame: record}}, found "
                             f"{type(results).__name__}{' (empty)' if isinstance(results, dict) else ''}")
        pieces, changes = _phalp_pieces(results, source)
        tracks = [_phalp_track(dataset, video, tid, release_frame_number(shot), entries, source)
                  for (tid, shot), entries in sorted(pieces.items())]
        return PhalpVideo(dataset, video, [t for t in tracks if t is not None], changes)


class ConvertReport(NamedTuple):
    tracks: int                       # track files written
    shot_changes: int                 # rows written to shots.csv
    files: ReadReport                 # PHALP files read / skipped


def convert_phalp(sources, out: str | Path, dataset: str = "demo", skip_bad: bool = False) -> ConvertReport:
    """PHALP results files -> release-format per-track pickles in `out` and their shot changes in
    `out/shots.csv` (lartcore.data.shots). Each video is finished before the next is read: its shot changes
    are written (atomically) first, then its tracks, so a later bad file or a kill never leaves converted
    tracks without their cuts. With skip_bad, unreadable/malformed files are skipped and listed in the
    report's `files.skipped`; else the first one raises."""
    report, written, n_cuts = ReadReport(), 0, 0
    PickleLimits.from_env(PHALP_MAX_BYTES_ENV, PHALP_MAX_BYTES)   # a bad setting fails here, not per file
    for src in tqdm(sources, desc="convert-phalp", unit="video", disable=None):
        try:
            result = read_phalp_results(src, dataset=dataset)
        except (ValueError, OSError) as e:   # all a reader raises: TrackError, CorruptFileError, ..., I/O
            if not skip_bad:
                raise
            report.skipped.append((Path(src), " ".join(str(e).split())))
            continue
        report.read += 1
        cuts = shots.shots_frame((result.dataset, result.video, f) for f in result.shot_changes)
        shots.update_shots(Path(out) / SHOTS_FILE, [(result.dataset, result.video)], cuts)
        for track in result.tracks:
            write_release_track(track, out)
        written += len(result.tracks)
        n_cuts += len(cuts)
    return ConvertReport(written, n_cuts, report)
