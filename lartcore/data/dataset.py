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

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from torch.utils.data import Dataset

from lartcore.data.store import ClipIndex, TrackSource
from lartcore.data.tracks import Track, read_release_track
from lartcore.schema import JOINTS_DIM, NO_LABEL, NUM_CLASSES, POSE_DIM


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


def empty_sample(T: int, P: int, D: int | None) -> dict:
    """All-padding sample (zeros, nothing present, frame -1); D None = no appearance key."""
    sample = {
        "pose_shape": np.zeros((T, P, POSE_DIM), np.float32),
        "joints_3d": np.zeros((T, P, JOINTS_DIM), np.float32),
        "present": np.zeros((T, P), bool),
        "labels": np.zeros((T, P, NUM_CLASSES), np.float32),
        "has_gt": np.zeros((T, P), np.int8),
        "frame": np.full(T, -1, np.int64),
    }
    if D is not None:
        sample["appearance"] = np.zeros((T, P, D), np.float32)
    return sample


def place(sample: dict, slot: int, row: int, t: Track) -> None:
    """Write track window `t` into `sample` rows [row, row + len(t)) of people slot `slot`."""
    rows = slice(row, row + len(t))
    sample["pose_shape"][rows, slot] = t.pose_shape
    sample["joints_3d"][rows, slot] = (t.joints_3d + t.camera[:, None]).reshape(len(t), -1)  # (n, 135)
    sample["present"][rows, slot] = t.has_detection
    sample["labels"][rows, slot] = t.labels * (t.has_gt != NO_LABEL)[:, None]
    sample["has_gt"][rows, slot] = t.has_gt
    if "appearance" in sample and t.appearance is not None:
        D = sample["appearance"].shape[-1]
        if t.appearance.shape[1] != D:
            raise ValueError(f"track {t.name}: appearance dim {t.appearance.shape[1]}, expected {D} "
                             "(DataConfig.appearance_dim)")
        has = t.appearance_index >= 0
        sample["appearance"][row + np.flatnonzero(has), slot] = t.appearance[t.appearance_index[has]]


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

    def __getitem__(self, k: int) -> dict:
        cfg = self.cfg
        rng = np.random.default_rng((self.seed, self.epoch, k))
        i, start, stop = self._window(k, rng)
        sample = empty_sample(cfg.seq_len, cfg.max_people, cfg.appearance_dim if cfg.appearance else None)
        ego = self.source.window(i, start, stop, appearance=cfg.appearance)
        place(sample, 0, 0, ego)
        sample["frame"][:len(ego)] = ego.frame
        for slot, (j, s, e, row) in enumerate(self._others(i, start, stop, rng), start=1):
            place(sample, slot, row, self.source.window(j, s, e, appearance=cfg.appearance))
        sample["track"], sample["start"] = np.int64(i), np.int64(start)
        return sample
