"""One person's track through a video: the `Track` type, and readers/writers of the real file formats.

Shapes: T = frames of the track (30 fps, consecutive, gaps marked by `has_detection == False`). The 229-d
`pose_shape` layout, the joints and the label states are `lartcore.schema`'s. `camera` holds the location
translation undivided (tz is large, 50-150, because of PHALP's focal length); `joints_3d` are model-space
joints (no translation): camera-frame joints are `joints_3d + camera[:, None]`.
"""
from __future__ import annotations

import io
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import NamedTuple

import joblib
import numpy as np
from tqdm import tqdm

from lartcore.data import shots
from lartcore.fileio import atomic_path, safe_load
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
# LART release per-track pickles: `<dataset>_<video>_<keyframe:06d>_<track_id>_<length>.pkl`
#
# Each file is a dict (joblib) of (T, 1, ...) arrays, one person (axis 1). Release key -> Track field:
#   fid (float, = Track.frame)  pose_shape  3d_joints  camera  camera_bbox  has_gt  has_detection
#   frame_size ([H, W])  frame_bbox ([x0, y0, w, h])  frame_conf  frame_name (list of str)
#   action_label_gt (T, 1, 80): labels where has_gt == 2 (zeros elsewhere)
#   apperance_index (T, 1, 1) int: key into apperance_dict / action_label_psudo, -1 = none
#   apperance_dict {key: (1, D)}: key k = row k of Track.appearance (k = 0..K-1)
#   action_label_psudo {key: (1, 80)}: labels of the has_gt == 1 frames, keyed by their appearance
#       key; a pseudo-labelled frame without appearance gets a fresh key >= K, present only here.
# Labels where has_gt == 0 are not stored (they read back as zeros). Spellings are the release's.
# ==================================================================================================

# release key: (Track field, per-frame shape in the file after the person axis, dtype written)
_RELEASE_ARRAYS = {
    "fid": ("frame", (1,), np.float64),
    "pose_shape": ("pose_shape", (POSE_DIM,), np.float32),
    "3d_joints": ("joints_3d", (NUM_JOINTS_3D, 3), np.float32),
    "camera": ("camera", (3,), np.float32),
    "camera_bbox": ("camera_bbox", (3,), np.float32),
    "has_gt": ("has_gt", (1,), np.int8),
    "has_detection": ("has_detection", (1,), np.bool_),
    "frame_size": ("frame_size", (2,), np.int32),
    "frame_bbox": ("box", (4,), np.float32),
    "frame_conf": ("conf", (1,), np.float32),
    "apperance_index": ("appearance_index", (1,), np.int64),   # written by `_release_index`
}
# Track dtypes where they differ from the file's (fid is float in the release, frame is int)
_TRACK_DTYPES = {"frame": np.int64}
_OPTIONAL_KEYS = {"camera_bbox"}   # absent in some files: read as zeros
_NAME_PATTERN = "<dataset>_<video>_<keyframe:06d>_<track_id>_<length>.pkl"


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
    return f"{video}/{video}_{frame + 1:06d}.jpg"


def _release_index(track: Track) -> tuple[np.ndarray, dict, dict]:
    """Track appearance/pseudo labels -> (apperance_index (T,), apperance_dict, action_label_psudo)."""
    K = 0 if track.appearance is None else len(track.appearance)
    appearance = {k: track.appearance[k][None].astype(np.float32) for k in range(K)}   # {k: (1, D)}
    index = track.appearance_index.astype(np.int64)   # (T,)
    pseudo, next_key = {}, K
    for t in np.flatnonzero(track.has_gt == PSEUDO_LABEL):
        if index[t] < 0:
            index[t], next_key = next_key, next_key + 1
        label = track.labels[t][None].astype(np.float32)   # (1, 80)
        key = int(index[t])
        if key in pseudo and not np.array_equal(pseudo[key], label):
            raise TrackError(f"{track.name}: frames sharing appearance row {key} carry different pseudo "
                             f"labels (frame {track.frame[t]}); the release keys pseudo labels by that row")
        pseudo[key] = label
    return index, appearance, pseudo


def release_dict(track: Track) -> dict:
    """The release file's dict for `track` (see the table above)."""
    T = len(track)
    out = {key: np.asarray(getattr(track, field)).astype(dtype).reshape(T, 1, *shape)
           for key, (field, shape, dtype) in _RELEASE_ARRAYS.items()}
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


def _release_array(d: dict, key: str, T: int, source: str) -> np.ndarray:
    """d[key] checked and converted to the Track field's (T, ...) shape and dtype."""
    field, shape, dtype = _RELEASE_ARRAYS[key]
    dtype = _TRACK_DTYPES.get(field, dtype)
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
    keys = sorted(appearance)
    row = {k: i for i, k in enumerate(keys)}
    unknown = [k for k in index if k != -1 and k not in row and k not in pseudo]
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


def read_release_track(path: str | Path) -> Track:
    """Read one release per-track pickle (via `safe_load`); strict: raises TrackError naming the key."""
    path = Path(path)
    source = str(path)
    dataset, video, keyframe, track_id, T = parse_release_name(path.name)
    d = safe_load(path)
    if not isinstance(d, dict):
        raise TrackError(f"{source}: expected a dict of release keys, found {type(d).__name__}")
    if "fid" in d and len(d["fid"]) != T:
        raise TrackError(f"{source}: the file name says {T} frames, 'fid' has {len(d['fid'])}")
    names = d.get("frame_name")
    if not isinstance(names, (list, tuple, np.ndarray)) or len(names) != T:
        found = len(names) if hasattr(names, "__len__") else type(names).__name__
        raise TrackError(f"{source}: 'frame_name' expected a list of {T} names (T from the file name), "
                         f"found {found}")
    arrays = {_RELEASE_ARRAYS[key][0]: _release_array(d, key, T, source) for key in _RELEASE_ARRAYS}
    index = arrays.pop("appearance_index")   # release keys, not yet rows of `appearance`
    labels, appearance, appearance_index = _release_labels(d, index, arrays["has_gt"], source)
    track = Track(dataset=dataset, video=video, track_id=track_id, keyframe=keyframe, labels=labels,
                  appearance=appearance, appearance_index=appearance_index, **arrays)
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
        except (ValueError, OSError) as e:   # TrackError, CorruptFileError, UnsafePickleError, I/O
            if not skip_bad:
                raise
            report.skipped.append((Path(path), str(e)))
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
#   - keyframe = first frame of the piece's shot, so `<dataset>_<video>_<keyframe>` groups one shot;
#   - pose_shape = `pose` when present, else rebuilt from `smpl` + `camera` (tz / 200);
#   - appearance = `appe` of detected frames (one row each) when present;
#   - labels: `ava_action` logits (if the file has them) -> sigmoid probabilities, has_gt = 1.
# ==================================================================================================

_PHALP_LISTS = ("tid", "tracked_time", "bbox", "camera", "3d_joints", "size", "conf")


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
    return int(frame["time"])


def _phalp_pieces(results: dict, source: str) -> tuple[dict, list[int]]:
    """({(tid, shot start frame): [(time, entry), ...]} in time order, shot changes: the `time` of every
    frame flagged `shot` after the first frame)."""
    items = sorted(results.items(), key=lambda kv: _phalp_frame_time(*kv, source))
    times = [int(f["time"]) for _, f in items]
    if len(set(times)) != len(times):
        raise TrackError(f"{source}: 'time' values are not unique")
    pieces, shot_start, changes = {}, times[0], []
    for key, frame in items:
        t = int(frame["time"])
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
    results = safe_load(path, extra=_torch_globals())
    if not isinstance(results, dict) or not results:
        raise TrackError(f"{source}: expected a non-empty dict {{frame: record}}, found "
                         f"{type(results).__name__} {'(empty)' if not results else ''}")
    pieces, changes = _phalp_pieces(results, source)
    tracks = [_phalp_track(dataset, video, tid, shot, entries, source)
              for (tid, shot), entries in sorted(pieces.items())]
    return PhalpVideo(dataset, video, [t for t in tracks if t is not None], changes)


class ConvertReport(NamedTuple):
    tracks: int                       # track files written
    shot_changes: int                 # rows written to shots.csv
    files: ReadReport                 # PHALP files read / skipped


def convert_phalp(sources, out: str | Path, dataset: str = "demo", skip_bad: bool = False) -> ConvertReport:
    """PHALP results files -> release-format per-track pickles in `out` and their shot changes in
    `out/shots.csv` (lartcore.data.shots). With skip_bad, unreadable/malformed files are skipped and listed
    in the report's `files.skipped`; else the first one raises."""
    report, written, cuts, converted = ReadReport(), 0, [], set()
    for src in tqdm(sources, desc="convert-phalp", unit="video", disable=None):
        try:
            result = read_phalp_results(src, dataset=dataset)
        except (ValueError, OSError) as e:   # TrackError, CorruptFileError, UnsafePickleError, I/O
            if not skip_bad:
                raise
            report.skipped.append((Path(src), str(e)))
            continue
        report.read += 1
        for track in result.tracks:
            write_release_track(track, out)
        written += len(result.tracks)
        converted.add((result.dataset, result.video))
        cuts += [(result.dataset, result.video, f) for f in result.shot_changes]
    if converted:
        shots.update_shots(Path(out) / SHOTS_FILE, converted, shots.shots_frame(cuts))
    return ConvertReport(written, len(cuts), report)
