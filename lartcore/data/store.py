"""Packed track store: many tracks in sharded, memory-mapped columns + one parquet index row per track.

Reading ~1.5 M small release pickles one by one is the bottleneck of the reference code; a store is
built once (`pack` / `write_store`) and then gives O(1) random access to any track or window of it.

Layout of a store folder:

    index.parquet             one row per track (INDEX_COLUMNS), rows in write order (pack: sorted names)
    store.json                format version, column dtypes, counts
    shards/000000/            one shard: per-frame columns, F = frames of all its tracks, concatenated
        pose_shape.npy (F, 229) f32   joints_3d.npy (F, 45, 3) f16   camera.npy (F, 3) f32
        camera_bbox.npy (F, 3) f32    box.npy (F, 4) f32             frame_size.npy (F, 2) i32
        conf.npy (F,) f32             has_detection.npy (F,) bool    has_gt.npy (F,) i8
        labels.npy (F, 80) f16        appearance_index.npy (F,) i32 (row within the track's features)
        appearance.npy (K, D) f16     features of all tracks of the shard, read only when asked
        index.parquet                 the shard's rows (offsets local to the shard)
        DONE                          written last; a shard folder appears by an atomic rename
    skipped.csv               (pack only) path,reason of files skipped with skip_bad
    shots.csv                 shot changes of the videos (lartcore.data.shots), when the source had them
    pack.json                 (pack only) the file list the store is made of (checked on resume)

Opening a store checks its index against store.json and itself (columns, value ranges, each shard's rows
contiguous); each shard's arrays are checked against its rows the first time the shard is read, and
`validate` (run by `stats`) checks all shards and the per-track counts. A tampered or half-written store
is a StoreError naming the file, never wrong numbers.

One `pack` at a time writes a store: it holds a lock (flock on the store folder) that its worker processes
inherit, so a second pack fails at once while the first, or workers a killed one left running, still write.

Precision: pose_shape (rotation matrices, tz/200), camera, box and conf stay float32 (exact). joints_3d
(model-space metres, |x| < 2) in float16 err <= 1 mm; labels in float16 are exact for multi-hot GT and
within 5e-4 for pseudo probabilities; appearance features in float16 (relative error 5e-4).
Frame indices are not stored per frame: a track's frames are consecutive, `frame_start + arange(T)`.
"""
from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import multiprocessing
import os
import shutil
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from tqdm import tqdm

from lartcore.data import shots
from lartcore.data.tracks import ReadReport, Track, iter_release_tracks
from lartcore.fileio import PickleLimits, atomic_path, atomic_write_text
from lartcore.paths import SHOTS_FILE
from lartcore.schema import FPS, GT_LABEL, NUM_CLASSES, NUM_JOINTS_3D, POSE_DIM, PSEUDO_LABEL

FORMAT_VERSION = 1
SHARDS = "shards"
DONE = "DONE"
SKIPPED = "skipped.csv"
PLAN = "pack.json"
CHUNK_FILES = 500   # release files per pack chunk (= per shard): bounds a worker's memory

# Per-frame columns: Track attribute name -> (on-disk dtype, per-frame shape).
FRAME_COLUMNS = {
    "pose_shape": (np.float32, (POSE_DIM,)), "joints_3d": (np.float16, (NUM_JOINTS_3D, 3)),
    "camera": (np.float32, (3,)), "camera_bbox": (np.float32, (3,)), "box": (np.float32, (4,)),
    "frame_size": (np.int32, (2,)), "conf": (np.float32, ()), "has_detection": (np.bool_, ()),
    "has_gt": (np.int8, ()), "labels": (np.float16, (NUM_CLASSES,)), "appearance_index": (np.int32, ()),
}
# Dtypes a `Track` carries in memory (what `TrackStore.track` returns).
TRACK_DTYPES = {
    "pose_shape": np.float32, "joints_3d": np.float32, "camera": np.float32, "camera_bbox": np.float32,
    "box": np.float32, "frame_size": np.int32, "conf": np.float32, "has_detection": np.bool_,
    "has_gt": np.int8, "labels": np.float32, "appearance_index": np.int64,
}
INDEX_COLUMNS = [
    "dataset", "video", "keyframe", "track_id", "name", "length", "frame_start", "shard", "offset",
    "n_detections", "n_gt", "n_pseudo", "app_offset", "app_count", "app_dim", "gt_label_ids",
]
CLIP_KEY = ["dataset", "video", "keyframe"]
_INT_COLUMNS = [c for c in INDEX_COLUMNS if c not in ("dataset", "video", "name", "gt_label_ids")]


class StoreError(ValueError):
    """A store's index, metadata and arrays disagree (tampered or half-written); names the file."""


# ---- writing ------------------------------------------------------------------------------------

def _index_row(track: Track, offset: int, app_offset: int) -> dict:
    """The index row of one track (offsets local to its shard)."""
    gt = track.has_gt == GT_LABEL
    app = track.appearance
    return {
        "dataset": track.dataset, "video": track.video, "keyframe": int(track.keyframe),
        "track_id": int(track.track_id), "name": track.name, "length": len(track),
        "frame_start": int(track.frame[0]) if len(track) else 0, "offset": offset,
        "n_detections": int(track.has_detection.sum()), "n_gt": int(gt.sum()),
        "n_pseudo": int((track.has_gt == PSEUDO_LABEL).sum()),
        "app_offset": app_offset, "app_count": 0 if app is None else len(app),
        "app_dim": 0 if app is None else app.shape[1],
        # AVA ids (1..80) positive on any ground-truth frame: what the dashboard/trainer filter on
        "gt_label_ids": (np.flatnonzero(track.labels[gt].max(axis=0) > 0) + 1).tolist() if gt.any() else [],
    }


def _shard_appearance(tracks: list[Track], where: Path) -> np.ndarray:
    """(K, D) float16 features of all tracks of a shard; all tracks with features must share D."""
    feats = [t.appearance for t in tracks if t.appearance is not None and len(t.appearance)]
    dims = sorted({f.shape[1] for f in feats})
    if len(dims) > 1:
        raise ValueError(f"{where}: tracks of one shard have appearance dims {dims}; expected one D")
    if not feats:
        return np.zeros((0, dims[0] if dims else 0), np.float16)
    return np.concatenate(feats).astype(np.float16)


def write_shard(tracks: list[Track], shard_dir: Path, skipped: pd.DataFrame | None = None) -> None:
    """Write `tracks` as one finished shard at `shard_dir`, atomically (tmp folder + rename);
    `skipped` (file, reason rows of a pack chunk) goes into the shard's skipped.csv. A failed write (disk
    full, ...) leaves no folder behind and is an OSError naming `shard_dir`."""
    shard_dir = Path(shard_dir)
    tmp = shard_dir.with_name(f".{shard_dir.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)  # leftover of a killed run
    for t in tracks:
        t.validate(t.name)
    try:
        tmp.mkdir(parents=True)
        _write_shard_files(tracks, tmp, shard_dir, skipped)
        os.replace(tmp, shard_dir)
    except OSError as e:
        shutil.rmtree(tmp, ignore_errors=True)
        raise OSError(e.errno, e.strerror or str(e), str(shard_dir)) from e


def _write_shard_files(tracks: list[Track], tmp: Path, shard_dir: Path, skipped: pd.DataFrame | None) -> None:
    for col, (dtype, shape) in FRAME_COLUMNS.items():
        arr = np.concatenate([getattr(t, col).astype(dtype) for t in tracks] + [np.zeros((0, *shape), dtype)])
        np.save(tmp / f"{col}.npy", arr)  # (F, *shape)
    np.save(tmp / "appearance.npy", _shard_appearance(tracks, shard_dir))
    rows, offset, app_offset = [], 0, 0
    for t in tracks:
        rows.append(_index_row(t, offset, app_offset))
        offset += len(t)
        app_offset += rows[-1]["app_count"]
    _write_parquet(_index_frame(rows), tmp / "index.parquet")
    if skipped is not None:
        skipped.to_csv(tmp / SKIPPED, index=False)
    (tmp / DONE).write_text("")


def _index_frame(rows: list[dict]) -> pd.DataFrame:
    columns = [c for c in INDEX_COLUMNS if c != "shard"]
    return pd.DataFrame(rows, columns=columns).astype(
        {c: "int64" for c in columns if c not in ("dataset", "video", "name", "gt_label_ids")})


def _write_parquet(df: pd.DataFrame, path: Path) -> None:
    with atomic_path(path) as tmp:
        pq.write_table(pa.Table.from_pandas(df, preserve_index=False), tmp)


def shard_done(shard_dir: Path) -> bool:
    return (Path(shard_dir) / DONE).is_file()


def shard_dir(root: Path, k: int) -> Path:
    return Path(root) / SHARDS / f"{k:06d}"


def finish_store(root: Path) -> Path:
    """Build `index.parquet` + `store.json` from the finished shards, in shard order."""
    root = Path(root)
    parts = []
    folder = root / SHARDS   # skip ".<k>.tmp": shards being written
    shards = sorted(d for d in folder.iterdir() if not d.name.startswith(".")) if folder.exists() else []
    for k, d in enumerate(shards):
        if d.name != f"{k:06d}" or not shard_done(d):
            raise ValueError(f"{root}: shard folder {d.name} is unfinished or out of sequence (expected "
                             f"{k:06d} with a {DONE} marker); rerun the pack to complete it")
        part = pd.read_parquet(d / "index.parquet")
        part.insert(INDEX_COLUMNS.index("shard"), "shard", k)
        parts.append(part)
    index = pd.concat(parts, ignore_index=True) if parts else _index_frame([]).assign(shard=0)[INDEX_COLUMNS]
    _write_parquet(index, root / "index.parquet")
    meta = {"format_version": FORMAT_VERSION, "n_tracks": len(index), "n_shards": len(parts),
            "n_frames": int(index["length"].sum()), "columns": {c: np.dtype(d).name for c, (d, _) in
                                                                 FRAME_COLUMNS.items()}}
    atomic_write_text(root / "store.json", json.dumps(meta, indent=1, sort_keys=True) + "\n")
    return root


def write_store(tracks: Iterable[Track], dst: str | Path, shard_frames: int = 1_000_000,
                shot_changes: pd.DataFrame | None = None) -> Path:
    """Write tracks (in order) into a new store at `dst`; a shard closes once it holds >= shard_frames.
    `shot_changes`: the videos' shot-change table (lartcore.data.shots), stored as shots.csv."""
    dst = Path(dst)
    if (dst / SHARDS).exists():
        raise FileExistsError(f"{dst}: already holds a store; write into an empty folder")
    if shot_changes is not None:
        dst.mkdir(parents=True, exist_ok=True)
        shots.write_shots(shot_changes, dst / SHOTS_FILE)
    buf, frames, k = [], 0, 0
    for t in tracks:
        buf.append(t)
        frames += len(t)
        if frames >= shard_frames:
            write_shard(buf, shard_dir(dst, k))
            buf, frames, k = [], 0, k + 1
    if buf or k == 0:
        write_shard(buf, shard_dir(dst, k))
    return finish_store(dst)


# ---- reading ------------------------------------------------------------------------------------

class ClipIndex:
    """Which tracks share a clip key (dataset, video, keyframe) and overlap a frame range.

    Built from any index DataFrame with CLIP_KEY, `frame_start` and `length` columns (pure numpy,
    cheap to pickle into DataLoader workers).
    """

    def __init__(self, index: pd.DataFrame):
        codes = pd.MultiIndex.from_frame(index[CLIP_KEY]).factorize()[0] if len(index) else np.zeros(0, int)
        self.clip = np.asarray(codes, np.int64)                      # (N,) clip id per track
        self.order = np.argsort(self.clip, kind="stable")            # tracks grouped by clip
        self.bounds = np.searchsorted(self.clip[self.order], np.arange(self.clip.max(initial=-1) + 2))
        self.first = index["frame_start"].to_numpy(np.int64)         # (N,) first frame
        self.end = self.first + index["length"].to_numpy(np.int64)   # (N,) one past the last frame

    def clip_tracks(self, i: int) -> np.ndarray:
        """Rows of the other tracks of track i's clip, ascending."""
        c = self.clip[i]
        rows = self.order[self.bounds[c]:self.bounds[c + 1]]
        return rows[rows != i]

    def others(self, i: int, start: int, stop: int) -> np.ndarray:
        """Other tracks of i's clip with a frame inside track i's window [start, stop) (track offsets)."""
        rows = self.clip_tracks(i)
        lo, hi = self.first[i] + start, self.first[i] + stop
        return rows[(self.first[rows] < hi) & (self.end[rows] > lo)]


def frame_span(index: pd.DataFrame) -> tuple[int, int]:
    """(first, last) frame (inclusive) covered by the tracks of an index."""
    first = index["frame_start"].to_numpy(np.int64)
    return int(first.min()), int((first + index["length"].to_numpy(np.int64)).max() - 1)


def _npy_header(path: Path) -> tuple[tuple, np.dtype]:
    """(shape, dtype) of a .npy file from its header alone."""
    try:
        with open(path, "rb") as f:
            version = np.lib.format.read_magic(f)
            read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            shape, _fortran, dtype = read(f)
    except (ValueError, EOFError) as e:
        raise StoreError(f"{path}: not a readable .npy array ({e})") from None
    return shape, dtype


def _within_group(values: np.ndarray, group: np.ndarray) -> np.ndarray:
    """Exclusive running sum of `values` (>= 0) restarting at each new `group` (non-decreasing)."""
    before = np.cumsum(values) - values
    first = np.r_[True, group[1:] != group[:-1]] if len(group) else np.zeros(0, bool)
    return before - np.maximum.accumulate(np.where(first, before, 0))


def check_index(root: Path, index: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Check a store's index.parquet against its store.json and itself: columns and types, value ranges,
    shard numbers, each shard's rows laid end to end (offsets = running sums of lengths / feature counts).
    Returns the frames and feature rows each shard must hold (checked against the arrays on first read)."""
    where = root / "index.parquet"
    missing = [c for c in INDEX_COLUMNS if c not in index.columns]
    not_int = [c for c in _INT_COLUMNS if c in index.columns and not pd.api.types.is_integer_dtype(index[c])]
    if missing or not_int:
        raise StoreError(f"{where}: expected the columns {INDEX_COLUMNS} with integer counts, found "
                         f"{'missing ' + str(missing) if missing else 'non-integer ' + str(not_int)}")
    meta_path = root / "store.json"
    try:
        meta = json.loads(meta_path.read_text())
        expected = {"format_version": FORMAT_VERSION, "n_tracks": len(index),
                    "n_frames": int(index["length"].sum())}
        wrong = {k: (v, meta.get(k)) for k, v in expected.items() if meta.get(k) != v}
        n_shards = int(meta["n_shards"])
    except FileNotFoundError:
        raise StoreError(f"{root}: an unfinished store (no store.json); rerun the pack to finish it") from None
    except (ValueError, KeyError, TypeError) as e:
        raise StoreError(f"{meta_path}: expected the store's JSON metadata, found an unreadable file ({e})") from None
    if wrong:
        k, (want, found) = next(iter(wrong.items()))
        raise StoreError(f"{meta_path}: '{k}' is {found!r} but {where} says {want}")
    v = {c: index[c].to_numpy(np.int64) for c in _INT_COLUMNS}
    ranges = [("length", v["length"] >= 0, ">= 0"), ("offset", v["offset"] >= 0, ">= 0"),
              ("shard", (v["shard"] >= 0) & (v["shard"] < n_shards), f"in [0, {n_shards})"),
              ("track_id", v["track_id"] >= 0, ">= 0"), ("keyframe", v["keyframe"] >= -1, ">= -1"),
              ("frame_start", np.abs(v["frame_start"]) < 1 << 40, "a frame index"),
              ("app_offset", v["app_offset"] >= 0, ">= 0"), ("app_count", v["app_count"] >= 0, ">= 0"),
              ("app_dim", v["app_dim"] >= 0, ">= 0")]
    ranges += [(c, (v[c] >= 0) & (v[c] <= v["length"]), "in [0, length]") for c in ("n_detections", "n_gt", "n_pseudo")]
    ranges += [("shard", np.r_[True, np.diff(v["shard"]) >= 0], "non-decreasing (rows in shard order)"),
               ("offset", v["offset"] == _within_group(v["length"], v["shard"]),
                "the sum of the lengths of the shard's earlier tracks"),
               ("app_offset", v["app_offset"] == _within_group(v["app_count"], v["shard"]),
                "the sum of the feature counts of the shard's earlier tracks")]
    for col, ok, what in ranges:
        if not ok.all():
            i = int(np.flatnonzero(~ok)[0])
            raise StoreError(f"{where}: row {i} ({index['name'].iloc[i]}): '{col}' expected {what}, found "
                             f"{v[col][i]}")
    frames, app_rows = np.zeros(n_shards, np.int64), np.zeros(n_shards, np.int64)
    np.add.at(frames, v["shard"], v["length"])
    np.add.at(app_rows, v["shard"], v["app_count"])
    return frames, app_rows


class TrackSource:
    """Shared part of the track sources (TrackStore, VideoSource, dataset.PickleTrackSource):
    a subclass sets `self.index` (one row per track) and `self._clips = ClipIndex(self.index)`."""

    index: pd.DataFrame
    _clips: ClipIndex

    def __len__(self) -> int:
        return len(self.index)

    def clip_tracks(self, i: int) -> np.ndarray:
        return self._clips.clip_tracks(i)

    def others(self, i: int, start: int, stop: int) -> np.ndarray:
        return self._clips.others(i, start, stop)


class TrackStore(TrackSource):
    """Read-only random access to a packed store. Safe to pickle into DataLoader workers / DDP ranks:
    memory maps are opened lazily in each process and never pickled."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        if not (self.root / "index.parquet").is_file():
            raise FileNotFoundError(f"{self.root}: not a track store (no index.parquet); build one with "
                                    "`lart data pack SRC DST`")
        self.index = pd.read_parquet(self.root / "index.parquet")
        self._shard_totals = check_index(self.root, self.index)   # (frames, feature rows) per shard
        self._clips = ClipIndex(self.index)
        self._rows = {c: self.index[c].to_numpy(np.int64) for c in (
            "keyframe", "track_id", "length", "frame_start", "shard", "offset", "app_offset", "app_count",
            "app_dim")}
        self._text = {c: self.index[c].to_numpy(object) for c in ("dataset", "video")}
        self._maps: dict = {}
        self._checked: set[int] = set()   # shards whose arrays were checked against the index
        self._pid = os.getpid()
        path = self.root / SHOTS_FILE
        self.shots = shots.read_shots(path) if path.is_file() else shots.shots_frame()

    def validate(self) -> TrackStore:
        """Check every shard's arrays against the index, and each track's n_detections / n_gt / n_pseudo
        against its frames (reads the has_detection and has_gt columns); raise StoreError."""
        for k in range(len(self._shard_totals[0])):
            self._check_shard(k)
            rows = np.flatnonzero((self._rows["shard"] == k) & (self._rows["length"] > 0))
            if not len(rows):
                continue
            starts = self._rows["offset"][rows]   # contiguous, filling the shard (checked above)
            has_gt = np.asarray(self._column(k, "has_gt"))
            counts = {"n_detections": np.add.reduceat(np.asarray(self._column(k, "has_detection"), np.int64), starts),
                      "n_gt": np.add.reduceat((has_gt == GT_LABEL).astype(np.int64), starts),
                      "n_pseudo": np.add.reduceat((has_gt == PSEUDO_LABEL).astype(np.int64), starts)}
            for col, found in counts.items():
                bad = np.flatnonzero(self.index[col].to_numpy(np.int64)[rows] != found)
                if len(bad):
                    i = int(rows[bad[0]])
                    raise StoreError(f"{self.root / 'index.parquet'}: row {i} ({self.index['name'].iloc[i]}): "
                                     f"'{col}' {self.index[col].iloc[i]} disagrees with its frames in shard "
                                     f"{k:06d} ({found[bad[0]]})")
        return self

    def _check_shard(self, k: int) -> None:
        """Shard k's arrays have the frames and feature rows its index rows say (once per process)."""
        if k in self._checked:
            return
        frames, app_rows = (int(t[k]) for t in self._shard_totals)
        folder = shard_dir(self.root, k)
        dims = set(self._rows["app_dim"][(self._rows["shard"] == k) & (self._rows["app_count"] > 0)].tolist())
        for name, (dtype, shape) in {**FRAME_COLUMNS, "appearance": (np.float16, None)}.items():
            path = folder / f"{name}.npy"
            found_shape, found_dtype = _npy_header(path)
            rows = app_rows if name == "appearance" else frames
            ok = (found_dtype == np.dtype(dtype) and len(found_shape) >= 1 and found_shape[0] == rows and (
                found_shape[1:] == shape if shape is not None else
                len(found_shape) == 2 and dims <= {found_shape[1]}))
            if not ok:
                raise StoreError(f"{path}: expected {rows} rows of {np.dtype(dtype).name} "
                                 f"{'' if shape is None else shape} (as {self.root / 'index.parquet'} says), "
                                 f"found shape {found_shape} {found_dtype}")
        self._checked.add(k)

    def shot_changes(self, video: str) -> np.ndarray:
        """Frames where `video` cuts to a new shot, sorted (K,) int64; empty when none are known."""
        return shots.changes(self.shots, video)

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_maps": {}, "_checked": set()}

    def _column(self, shard: int, name: str) -> np.ndarray:
        """Memory map of one shard column, opened once per process."""
        if self._pid != os.getpid():  # forked: open our own maps
            self._maps, self._checked, self._pid = {}, set(), os.getpid()
        key = (shard, name)
        if key not in self._maps:
            self._check_shard(shard)
            self._maps[key] = np.load(shard_dir(self.root, shard) / f"{name}.npy", mmap_mode="r")
        return self._maps[key]

    def track(self, i: int, appearance: bool = False) -> Track:
        """Track i in full (float16 columns come back as float32)."""
        return self.window(i, 0, int(self._rows["length"][i]), appearance)

    def window(self, i: int, start: int, stop: int, appearance: bool = False) -> Track:
        """Frames [start, stop) of track i, reading only those rows (and their appearance features).
        With appearance=False the features are not read: `appearance` is None and `appearance_index`
        keeps the (window-local) row numbers the features would have."""
        r = {k: int(v[i]) for k, v in self._rows.items()}
        if not 0 <= start <= stop <= r["length"]:
            raise IndexError(f"{self.root}: window [{start}, {stop}) outside track {i} "
                             f"(length {r['length']})")
        lo, hi = r["offset"] + start, r["offset"] + stop
        cols = {c: np.array(self._column(r["shard"], c)[lo:hi], dtype=TRACK_DTYPES[c]) for c in FRAME_COLUMNS}
        full = start == 0 and stop == r["length"]
        cols["appearance_index"], feats = self._window_appearance(r, cols["appearance_index"], full,
                                                                  appearance)
        return Track(dataset=self._text["dataset"][i], video=self._text["video"][i], track_id=r["track_id"],
                     keyframe=r["keyframe"], frame=r["frame_start"] + np.arange(start, stop),
                     appearance=feats, **cols)

    def _window_appearance(self, r: dict, idx: np.ndarray, full: bool, read: bool):
        """(window appearance_index, features (K', D) float32 or None). A partial window keeps only the
        features its frames use, renumbered; the full track keeps all K rows."""
        if r["app_dim"] == 0 and r["app_count"] == 0:
            return idx, None
        used = np.arange(r["app_count"]) if full else np.unique(idx[idx >= 0])
        idx = idx if full else np.where(idx >= 0, np.searchsorted(used, idx), -1)
        if not read:
            return idx, None
        if not len(used):
            return idx, np.zeros((0, r["app_dim"]), np.float32)
        feats = self._column(r["shard"], "appearance")[r["app_offset"] + used]   # (K', D) float16
        return idx, feats.astype(np.float32)


class VideoSource(TrackSource):
    """The tracks of one video of a `TrackStore` (optionally only the clips with a track overlapping
    `frames` = (first, last)), with the track-source interface `TrackDataset` and
    `lartcore.infer.track_scores` use (index, window, track, others), so predictions run on part of a
    video only. Whole clips are kept, so each track sees the same other tracks as in the full store.
    Row i here is row `rows[i]` of the store."""

    def __init__(self, store: TrackStore, video: str, frames: tuple[int, int] | None = None):
        index = store.index
        mine = index["video"].astype(str).to_numpy() == video
        if frames is not None:
            first = index["frame_start"].to_numpy(np.int64)
            hit = mine & (first <= frames[1]) & (first + index["length"].to_numpy(np.int64) > frames[0])
            clips = set(zip(index["dataset"][hit], index["keyframe"][hit], strict=True))
            mine &= np.array([c in clips for c in zip(index["dataset"], index["keyframe"], strict=True)], bool)
        self.rows = np.flatnonzero(mine)
        if not len(self.rows):
            raise KeyError(f"{store.root}: no tracks of video {video!r}"
                           + (f" around frames {frames}" if frames is not None else ""))
        self.store, self.video = store, video
        self.index = index.iloc[self.rows].reset_index(drop=True)
        self._clips = ClipIndex(self.index)

    def window(self, i: int, start: int, stop: int, appearance: bool = False) -> Track:
        return self.store.window(int(self.rows[i]), start, stop, appearance)

    def track(self, i: int, appearance: bool = False) -> Track:
        return self.store.track(int(self.rows[i]), appearance)

    def span(self) -> tuple[int, int]:
        """(first, last) frame covered by the loaded tracks (inclusive)."""
        return frame_span(self.index)


# ---- statistics ---------------------------------------------------------------------------------

def stats(store: TrackStore | str | Path) -> pd.DataFrame:
    """The paper's Table 1 columns per dataset: #clips, #tracks, #bbox (detections), mean track length
    in seconds (30 fps) and hours of tracks. The store is validated first (`TrackStore.validate`): a
    tampered index is an error, not a table."""
    index = (store if isinstance(store, TrackStore) else TrackStore(store)).validate().index
    g = index.groupby("dataset", sort=True)
    table = pd.DataFrame({
        "#clips": g[["video", "keyframe"]].apply(lambda d: len(d.drop_duplicates())),
        "#tracks": g.size(),
        "#bbox": g["n_detections"].sum(),
        "mean track length (s)": g["length"].mean() / FPS,
        "hours": g["length"].sum() / FPS / 3600,
    })
    return table.reset_index()


# ---- pack: release pickles -> store (multiprocessing, resumable) --------------------------------

def _pack_chunk(job: tuple[int, list[Path], Path, bool]) -> int:
    """Read one chunk of release files and write it as shard k (worker process). Returns len(files)."""
    k, files, dst, skip_bad = job
    report = ReadReport()
    tracks = list(iter_release_tracks(files, skip_bad=skip_bad, report=report))
    skipped = pd.DataFrame([(Path(p).name, reason) for p, reason in report.skipped],
                           columns=["file", "reason"])
    write_shard(tracks, shard_dir(dst, k), skipped)
    return len(files)


def _check_plan(src: Path, dst: Path, files: list[Path], chunk_files: int) -> None:
    """Record (first run) or verify (resume) which files the pack of `dst` is made of."""
    plan = {"chunk_files": chunk_files, "n_files": len(files),
            "names_sha1": hashlib.sha1("\n".join(f.name for f in files).encode()).hexdigest()}
    path = dst / PLAN
    if path.is_file():
        found = json.loads(path.read_text())
        if found != plan:
            raise ValueError(f"{dst}: holds a pack of a different file list or chunk size ({path}: "
                             f"expected {plan}, found {found}); pack {src} into a new folder")
    else:
        atomic_write_text(path, json.dumps(plan, indent=1, sort_keys=True) + "\n")


@contextlib.contextmanager
def _pack_lock(dst: Path):
    """Hold an exclusive flock on the store folder while packing. Forked workers inherit the descriptor, so
    the lock lasts until the last of them exits, even if this process is killed; a second pack into the
    same folder meanwhile fails at once (BlockingIOError naming the folder)."""
    fd = os.open(dst, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise BlockingIOError(errno.EWOULDBLOCK, "another `lart data pack` into this folder is still running "
                              "(or worker processes of a killed one are still writing); wait for them to end "
                              "or stop them, then rerun", str(dst)) from None
    try:
        yield
    finally:
        os.close(fd)


def _remove_stale_temps(dst: Path) -> None:
    """Delete the temp files/folders a killed run left (`.NAME.tmp` shard folders, `.NAME.*.tmp` files of
    atomic writes); called with the pack lock held, so nothing is writing them."""
    for folder in (dst, dst / SHARDS):
        for p in folder.glob(".*.tmp") if folder.is_dir() else []:
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p)
            else:
                p.unlink()


def pack(src: str | Path, dst: str | Path, workers: int | None = None, skip_bad: bool = False,
         chunk_files: int = CHUNK_FILES, only_chunks: Iterable[int] | None = None) -> Path:
    """Convert a folder of release pickles (and its shots.csv, if any) into a store at `dst`. Files are
    taken in sorted name order in chunks of `chunk_files`; each chunk becomes one shard, written atomically,
    so a killed pack reruns from the unfinished chunks and ends byte-identical to an uninterrupted one (the
    temp files it left are removed). With skip_bad every file that cannot be read is skipped and listed in
    dst/skipped.csv, whatever the error. One pack at a time per `dst` (a lock, see `_pack_lock`).
    `only_chunks` packs just those chunks and stops before the index (partial runs)."""
    src, dst = Path(src), Path(dst)
    files = sorted(src.glob("*.pkl"))
    if not files:
        raise FileNotFoundError(f"{src}: no .pkl track files")
    cuts = shots.read_shots(src / SHOTS_FILE) if (src / SHOTS_FILE).is_file() else None   # checked first
    PickleLimits.from_env()   # a bad LART_PICKLE_* setting fails here, not once per file
    dst.mkdir(parents=True, exist_ok=True)
    with _pack_lock(dst):
        _remove_stale_temps(dst)
        _check_plan(src, dst, files, chunk_files)
        chunks = [files[a:a + chunk_files] for a in range(0, len(files), chunk_files)]
        wanted = range(len(chunks)) if only_chunks is None else only_chunks
        jobs = [(k, chunks[k], dst, skip_bad) for k in wanted if not shard_done(shard_dir(dst, k))]
        _run_chunks(jobs, workers, len(files), f"pack {src.name}")
        if only_chunks is not None:
            return dst
        if cuts is not None:
            shots.write_shots(cuts, dst / SHOTS_FILE)
        finish_store(dst)
        _collect_skipped(dst, len(chunks))
    return dst


def _run_chunks(jobs: list, workers: int | None, n_files: int, desc: str) -> None:
    workers = min(workers or os.cpu_count() or 1, len(jobs))
    with tqdm(total=n_files, initial=n_files - sum(len(j[1]) for j in jobs), unit="file", desc=desc,
              disable=None) as bar:
        if workers <= 1:
            for job in jobs:
                bar.update(_pack_chunk(job))
            return
        # fork: the workers inherit the pack lock (spawn/forkserver workers would not)
        with multiprocessing.get_context("fork").Pool(workers) as pool:
            for n in pool.imap_unordered(_pack_chunk, jobs):
                bar.update(n)


def read_skipped(dst: str | Path) -> pd.DataFrame:
    """The files a pack skipped (file, reason): `dst/skipped.csv`."""
    return pd.read_csv(Path(dst) / SKIPPED, dtype=str, keep_default_na=False)


def _collect_skipped(dst: Path, n_shards: int) -> pd.DataFrame:
    """dst/skipped.csv = the shards' skipped files, in shard order."""
    parts = [pd.read_csv(shard_dir(dst, k) / SKIPPED, dtype=str, keep_default_na=False)
             for k in range(n_shards)]
    skipped = pd.concat(parts, ignore_index=True)
    with atomic_path(dst / SKIPPED) as tmp:
        skipped.to_csv(tmp, index=False)
    return skipped
