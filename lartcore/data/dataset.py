"""Training / evaluation samples from a track source (a `TrackStore`, or `PickleTrackSource` over release
pickles). One sample = a window of T frames of one "ego" track (slot 0) plus up to P-1 other tracks of
the same clip, placed by frame alignment. The sample layout is the contract in the model's docstring:

    pose_shape (T, P, 229) f32   joints_3d (T, P, 135) f32   appearance (T, P, D) f32 (if enabled)
    present (T, P) bool          labels (T, P, 80) f32        has_gt (T, P) int8
    frame (T,) int64 (-1 = padding)   track () int64   start () int64

Deviations from the official loader (`PHALP_action_dataset.__getitem__`,
lart/datamodules/components/phalp_action_datatset.py of brjathu/LART), on purpose:
- train windows are a real random crop of seq_len frames (the official crop never takes effect), and the
  last frame of short tracks is kept;
- other tracks that start before and end after the window are used too (partial overlaps at both ends),
  and the slots are compacted (no empty slot between filled ones).

Randomness is a pure function of (seed, epoch, item), so a run is reproducible and resumable
bit-for-bit whatever the worker / DDP rank that builds an item. Call `set_epoch` every epoch (with
DataLoader `persistent_workers=False`, so workers see the new epoch).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch.utils.data import Dataset, get_worker_info

from lartcore.data.store import SAMPLE_COLUMNS, ClipIndex, TrackSource
from lartcore.data.tracks import Track, read_release_track
from lartcore.schema import JOINTS_DIM, NO_LABEL, NUM_CLASSES, NUM_JOINTS_3D, POSE_DIM

TORCH_DTYPES = {np.dtype(n): getattr(torch, t) for n, t in (
    ("float32", "float32"), ("float16", "float16"), ("bool", "bool"), ("int8", "int8"), ("int64", "int64"))}
NUMPY_DTYPES = {t: n for n, t in TORCH_DTYPES.items()}


@dataclass(frozen=True)
class DataConfig:
    seq_len: int = 128          # T, frames per sample
    max_people: int = 5         # P, slot 0 = ego track
    appearance: bool = True     # add the `appearance` input (False: pose-only models)
    appearance_dim: int = 1152  # D of the appearance features (MViT 1152, Hiera 2048)


def _track_row(t: Track) -> dict:
    return {"dataset": t.dataset, "video": t.video, "keyframe": t.keyframe, "track_id": t.track_id,
            "length": len(t), "frame_start": int(t.frame[0]) if len(t) else 0}


def _window(t: Track, start: int, stop: int, appearance: bool, where) -> Track:
    """Frames [start, stop) of track t (features kept whole, indices unchanged)."""
    if not 0 <= start <= stop <= len(t):
        raise IndexError(f"{where}: window [{start}, {stop}) outside track of length {len(t)}")
    per_frame = {k: v[start:stop] for k, v in t.__dict__.items() if isinstance(v, np.ndarray) and k != "appearance"}
    return Track(dataset=t.dataset, video=t.video, track_id=t.track_id, keyframe=t.keyframe,
                 appearance=t.appearance if appearance else None, clip_start=t.clip_start, **per_frame)


class PickleTrackSource(TrackSource):
    """The track-source interface of `TrackStore`, reading one release pickle per access (no store
    needed). Building it reads every file once, to learn each track's frame range."""

    def __init__(self, folder: str | Path):
        self._read = read_release_track
        self.paths = sorted(Path(folder).glob("*.pkl"))
        if not self.paths:
            raise FileNotFoundError(f"{folder}: no .pkl track files")
        self.index = pd.DataFrame([_track_row(self._read(p)) for p in self.paths])
        self._clips = ClipIndex(self.index)

    def track(self, i: int, appearance: bool = False) -> Track:
        return self.window(i, 0, int(self.index["length"].iat[i]), appearance)

    def window(self, i: int, start: int, stop: int, appearance: bool = False) -> Track:
        """Frames [start, stop) of track i (features kept whole, indices unchanged)."""
        return _window(self._read(self.paths[i]), start, stop, appearance, self.paths[i])


class ListTrackSource(TrackSource):
    """The track-source interface over tracks already in memory (e.g. one clip's tracks for
    `lart render --checkpoint`), so `lartcore.infer.track_scores` can predict them."""

    def __init__(self, tracks: list[Track]):
        self.tracks = list(tracks)
        self.index = pd.DataFrame([_track_row(t) for t in self.tracks])
        self._clips = ClipIndex(self.index)

    def track(self, i: int, appearance: bool = False) -> Track:
        return self.window(i, 0, len(self.tracks[i]), appearance)

    def window(self, i: int, start: int, stop: int, appearance: bool = False) -> Track:
        return _window(self.tracks[i], start, stop, appearance, f"track {self.tracks[i].name}")


def sample_layout(T: int, P: int, D: int | None) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
    """Shape and dtype of each array of a sample (the contract in the module docstring); D None = no
    appearance key."""
    layout = {
        "pose_shape": ((T, P, POSE_DIM), np.float32), "joints_3d": ((T, P, JOINTS_DIM), np.float32),
        "present": ((T, P), np.bool_), "labels": ((T, P, NUM_CLASSES), np.float32),
        "has_gt": ((T, P), np.int8), "frame": ((T,), np.int64),
    }
    if D is not None:
        layout["appearance"] = ((T, P, D), np.float32)
    return layout


def empty_sample(T: int, P: int, D: int | None) -> dict:
    """All-padding sample (zeros, nothing present, frame -1); D None = no appearance key."""
    sample = {k: np.zeros(shape, dtype) for k, (shape, dtype) in sample_layout(T, P, D).items()}
    sample["frame"][:] = -1
    return sample


def track_arrays(t: Track) -> dict[str, np.ndarray | None]:
    """A Track's arrays in the form of `window_arrays`."""
    return {**{c: getattr(t, c) for c in ("frame", *SAMPLE_COLUMNS)}, "features": t.appearance}


def window_arrays(source, i: int, start: int, stop: int, appearance: bool = False) -> dict:
    """What a sample takes from frames [start, stop) of track i of `source`: `frame` and the SAMPLE_COLUMNS
    arrays, and `features`, the rows `appearance_index` points into (frame f's feature is
    features[appearance_index[f]], -1 = none; None without appearance). A source's own `window_arrays`
    when it has one (TrackStore: memory-map views, no Track built), else its `window`."""
    own = getattr(source, "window_arrays", None)
    if own is not None:
        return own(i, start, stop, appearance)
    return track_arrays(source.window(i, start, stop, appearance))


def place(sample: dict, slot: int, row: int, t: Track | dict) -> None:
    """Write a track window (a Track, or `window_arrays`) into `sample` rows [row, row + n) of
    people slot `slot`; `sample` may be one item of a batch (views)."""
    a = track_arrays(t) if isinstance(t, Track) else t
    n = len(a["has_detection"])
    rows = slice(row, row + n)
    sample["pose_shape"][rows, slot] = a["pose_shape"]
    joints = sample["joints_3d"].view()
    joints.shape = (*joints.shape[:-1], NUM_JOINTS_3D, 3)       # (T, P, 45, 3), a view (raises if it cannot be)
    np.add(a["joints_3d"], a["camera"][:, None], out=joints[rows, slot])   # in float32
    sample["present"][rows, slot] = a["has_detection"]
    sample["labels"][rows, slot] = a["labels"]
    sample["labels"][row + np.flatnonzero(a["has_gt"] == NO_LABEL), slot] = 0.0   # no label: zeros
    sample["has_gt"][rows, slot] = a["has_gt"]
    feats = a["features"]
    if "appearance" in sample and feats is not None:
        D = sample["appearance"].shape[-1]
        if feats.shape[1] != D:
            name = t.name if isinstance(t, Track) else "window"
            raise ValueError(f"track {name}: appearance dim {feats.shape[1]}, expected {D} "
                             "(DataConfig.appearance_dim)")
        idx = a["appearance_index"]
        has = idx >= 0
        sample["appearance"][row + np.flatnonzero(has), slot] = feats[idx[has]]


def _zeros(shape: tuple[int, ...], dtype: torch.dtype, shared: bool) -> torch.Tensor:
    """A zero tensor whose pages are zeroed lazily by the kernel (calloc / a new shared-memory file grown by
    ftruncate), so padding that is never written costs no memset. shared=True (in a DataLoader worker): in
    shared memory, as default_collate allocates its batches, so handing it to the main process copies
    nothing."""
    if not shared:
        return torch.from_numpy(np.zeros(shape, NUMPY_DTYPES[dtype]))
    kind = torch.empty(0, dtype=dtype)
    return kind.new(kind._typed_storage()._new_shared(math.prod(shape))).view(shape)


class Batches(Dataset):
    """A TrackDataset indexed by lists of items, each one whole batch (`TrackDataset.batch`). With
    `DataLoader(Batches(ds), batch_size=None, sampler=BatchSampler(...))` a worker fills its batch in place,
    in shared memory, instead of building single samples that the collate function then copies into one.
    `appearance_dtype` torch.float16: features travel at half the bytes (a store holds them in float16, so
    nothing is lost); the consumer casts them to float32."""

    def __init__(self, dataset: TrackDataset, appearance_dtype: torch.dtype = torch.float32):
        self.dataset, self.appearance_dtype = dataset, appearance_dtype

    def __getitem__(self, items: list[int]) -> dict[str, torch.Tensor]:
        return self.dataset.batch(items, self.appearance_dtype)


class TrackDataset(Dataset):
    """Samples of a track source. train=True: one item per track, random window and random others;
    train=False: items are the windows tiling every track (`windows`), others most-overlapping first."""

    def __init__(self, source, cfg: DataConfig = DataConfig(), train: bool = True, seed: int = 0):
        self.source, self.cfg, self.train, self.seed, self.epoch = source, cfg, train, seed, 0
        self.first = source.index["frame_start"].to_numpy(np.int64)    # (N,)
        self.length = source.index["length"].to_numpy(np.int64)        # (N,)
        T = cfg.seq_len
        if train:
            self.windows = np.stack([np.flatnonzero(self.length > 0), np.zeros((self.length > 0).sum(),
                                                                               np.int64)], 1)
        else:
            self.windows = np.array([(i, s) for i in range(len(self.length))
                                     for s in range(0, int(self.length[i]), T)], np.int64).reshape(-1, 2)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.windows)

    def _window(self, k: int, rng: np.random.Generator) -> tuple[int, int, int]:
        """(track, start, stop) of item k (train: a random crop of seq_len frames)."""
        i, start = (int(v) for v in self.windows[k])
        L, T = int(self.length[i]), self.cfg.seq_len
        if self.train and L > T:
            start = int(rng.integers(0, L - T + 1))
        return i, start, min(start + T, L)

    def _others(self, i: int, start: int, stop: int, rng: np.random.Generator) -> list[tuple]:
        """Up to P-1 (track j, start_j, stop_j, row) placements of other tracks overlapping the window."""
        cand = self.source.others(i, start, stop)
        lo, hi = self.first[i] + start, self.first[i] + stop                # absolute frames of the window
        a = np.maximum(self.first[cand], lo)                                # overlap [a, b) per candidate
        b = np.minimum(self.first[cand] + self.length[cand], hi)
        order = rng.permutation(len(cand)) if self.train else np.lexsort((cand, -(b - a)))
        order = order[:self.cfg.max_people - 1]
        first = self.first[cand]
        return [(int(cand[o]), int(a[o] - first[o]), int(b[o] - first[o]), int(a[o] - lo)) for o in order]

    def slot_tracks(self, k: int) -> np.ndarray:
        """(P,) source row of the track in each people slot of item k, as `__getitem__` places them (slot 0
        the ego track, -1 = empty slot)."""
        rng = np.random.default_rng((self.seed, self.epoch, k))
        i, start, stop = self._window(k, rng)
        rows = np.full(self.cfg.max_people, -1, np.int64)
        rows[0] = i
        for slot, (j, *_) in enumerate(self._others(i, start, stop, rng), start=1):
            rows[slot] = j
        return rows

    def _fill(self, sample: dict, k: int) -> tuple[int, int]:
        """Write item k into the zeroed arrays `sample` (frame -1); returns its (track, start)."""
        cfg = self.cfg
        rng = np.random.default_rng((self.seed, self.epoch, k))
        i, start, stop = self._window(k, rng)
        ego = window_arrays(self.source, i, start, stop, cfg.appearance)
        place(sample, 0, 0, ego)
        sample["frame"][:stop - start] = ego["frame"]
        for slot, (j, s, e, row) in enumerate(self._others(i, start, stop, rng), start=1):
            place(sample, slot, row, window_arrays(self.source, j, s, e, cfg.appearance))
        return i, start

    def __getitem__(self, k: int) -> dict:
        cfg = self.cfg
        sample = empty_sample(cfg.seq_len, cfg.max_people, cfg.appearance_dim if cfg.appearance else None)
        i, start = self._fill(sample, k)
        sample["track"], sample["start"] = np.int64(i), np.int64(start)
        return sample

    def batch(self, items, appearance_dtype: torch.dtype = torch.float32) -> dict[str, torch.Tensor]:
        """Items stacked into one batch (what DataLoader's default collate makes of `[self[k] for k in
        items]`, appearance in `appearance_dtype`), filled in place: no per-sample arrays, and in a
        DataLoader worker directly in shared memory."""
        cfg = self.cfg
        shared = get_worker_info() is not None
        layout = sample_layout(cfg.seq_len, cfg.max_people, cfg.appearance_dim if cfg.appearance else None)
        out = {k: _zeros((len(items), *shape), TORCH_DTYPES[np.dtype(dtype)], shared)
               for k, (shape, dtype) in layout.items()}
        if "appearance" in out:
            out["appearance"] = _zeros(tuple(out["appearance"].shape), appearance_dtype, shared)
        out["frame"].fill_(-1)
        out["track"], out["start"] = (_zeros((len(items),), torch.int64, shared) for _ in range(2))
        arrays = {k: v.numpy() for k, v in out.items()}
        for b, k in enumerate(items):
            arrays["track"][b], arrays["start"][b] = self._fill({key: a[b] for key, a in arrays.items()}, int(k))
        return out
