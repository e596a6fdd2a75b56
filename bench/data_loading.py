"""Training samples/s: packed track store vs per-track release pickles (same tracks, same Dataset).

    .venv/bin/python bench/data_loading.py [--tracks 2000] [--items 400] [--out DIR]

Builds N random tracks (30-300 frames, 1-6 people per clip, one 1152-d appearance feature per frame)
as release pickles AND packs them into a store, then times `TrackDataset` in train mode (T=128, P=5,
appearance on) from each source: in this process, and through a DataLoader with 2 workers. Pickles are
read from the page cache (warm), the pickle reader's best case. Goal: store >= 10x pickles.
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from torch.utils.data import DataLoader

from lartcore.data.dataset import DataConfig, PickleTrackSource, TrackDataset
from lartcore.data.store import TrackStore, pack
from lartcore.data.tracks import Track, write_release_track

D = 1152


def random_track(rng: np.random.Generator, video: str, keyframe: int, tid: int, first: int, T: int) -> Track:
    """A release-writable random track: per-frame features, pseudo labels on the feature rows."""
    has_gt = np.where(np.arange(T) % 30 == 0, 2, 1).astype(np.int8)
    labels = rng.random((T, 80)).astype(np.float32)
    labels[has_gt == 2] = (labels[has_gt == 2] < 0.05)
    return Track(
        dataset="ava-train", video=video, track_id=tid, keyframe=keyframe, frame=np.arange(first, first + T),
        pose_shape=rng.standard_normal((T, 229)).astype(np.float32),
        joints_3d=rng.uniform(-1, 1, (T, 45, 3)).astype(np.float32),
        camera=rng.standard_normal((T, 3)).astype(np.float32), camera_bbox=np.zeros((T, 3), np.float32),
        box=rng.uniform(0, 500, (T, 4)).astype(np.float32), frame_size=np.full((T, 2), 720, np.int32),
        conf=np.ones(T, np.float32), has_detection=rng.random(T) < 0.9, has_gt=has_gt, labels=labels,
        appearance_index=np.arange(T), appearance=rng.standard_normal((T, D)).astype(np.float32),
    )


def write_pickles(n: int, folder: Path, seed: int = 0) -> None:
    """n tracks in clips of 1-6 people whose frame ranges overlap."""
    rng = np.random.default_rng(seed)
    k = clip = 0
    while k < n:
        people = min(int(rng.integers(1, 7)), n - k)
        for tid in range(people):
            write_release_track(random_track(rng, f"bench_{clip:05d}", 30 * clip, tid,
                                             int(rng.integers(0, 60)), int(rng.integers(30, 301))), folder)
        k, clip = k + people, clip + 1


def mib(folder: Path) -> float:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file()) / 2**20


def rate_in_process(ds: TrackDataset, items: int) -> float:
    order = np.random.default_rng(0).permutation(len(ds))[:items]
    t0 = time.perf_counter()
    for k in order:
        ds[int(k)]
    return len(order) / (time.perf_counter() - t0)


def rate_loader(ds: TrackDataset, items: int, workers: int = 2, batch: int = 16) -> float:
    loader = DataLoader(ds, batch_size=batch, shuffle=True, num_workers=workers)
    it = iter(loader)
    next(it)                                   # workers started, first batch served
    t0, n = time.perf_counter(), 0
    for b in it:
        n += len(b["track"])
        if n >= items:
            break
    return n / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tracks", type=int, default=2000)
    ap.add_argument("--items", type=int, default=400, help="samples timed per measurement (pickles)")
    ap.add_argument("--out", default=None, help="work folder (default: a temporary one)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(args.out or tmp)
        src, dst = root / "pickles", root / "store"
        src.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        write_pickles(args.tracks, src)
        t1 = time.perf_counter()
        pack(src, dst, workers=2)
        t2 = time.perf_counter()
        pickles, store = PickleTrackSource(src), TrackStore(dst)
        t3 = time.perf_counter()
        print(f"{args.tracks} tracks, {int(store.index['length'].sum())} frames: pickles {mib(src):.0f} MiB "
              f"(written in {t1 - t0:.1f} s), store {mib(dst):.0f} MiB (pack, 2 workers: {t2 - t1:.1f} s); "
              f"PickleTrackSource index scan {t3 - t2:.1f} s")
        cfg = DataConfig(seq_len=128, max_people=5, appearance=True, appearance_dim=D)
        ds = {"pickles": TrackDataset(pickles, cfg, seed=0), "store": TrackDataset(store, cfg, seed=0)}
        for label, fn in (("1 process", rate_in_process), ("DataLoader 2 workers", rate_loader)):
            r = {name: fn(d, args.items if name == "pickles" else 10 * args.items) for name, d in ds.items()}
            print(f"{label:>22}: pickles {r['pickles']:8.1f} samples/s | store {r['store']:8.1f} samples/s "
                  f"| ratio {r['store'] / r['pickles']:.1f}x")


if __name__ == "__main__":
    main()
