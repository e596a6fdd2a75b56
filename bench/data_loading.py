"""Training samples/s: packed track store vs per-track release pickles (same tracks, same Dataset), in one
process and through the training DataLoader.

    .venv/bin/python bench/data_loading.py [--tracks 2000] [--items 400] [--batch 16] [--workers 2] [--out DIR]

Builds N random tracks (30-300 frames, 1-6 people per clip, one 1152-d appearance feature per frame)
as release pickles AND packs them into a store, then times `TrackDataset` in train mode (T=128, P=5,
appearance on; the paper `lart` config) from each source, one after the other in this one run:
  1 process, per item      `dataset[k]` (one sample's arrays)
  1 process, whole batches `dataset.batch(ks)` (a batch filled in place; what each training worker does)
  DataLoader, per item     a plain `DataLoader(dataset, batch_size, num_workers)`: samples, then default
                           collate (the training loader before issue #15)
  training loader          `lartcore.train.make_loader` with `num_workers` workers: whole batches in shared
                           memory, appearance in float16 (what `lart train` iterates)
Pickles are read from the page cache (warm), the pickle reader's best case. Goals (issue #15): through the
training loader the store is >= 10x the pickles, and >= 80% of the store's in-process rate. The load
average (`uptime`) is printed before and after: the machine may be shared.
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader

from lartcore import variants
from lartcore.data.dataset import PickleTrackSource, TrackDataset
from lartcore.data.store import TrackStore, pack
from lartcore.data.tracks import Track, write_release_track
from lartcore.distributed import Dist
from lartcore.train import make_loader

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


def load() -> str:
    return "load average " + ", ".join(f"{x:.2f}" for x in os.getloadavg())


def timed_batches(batches, items: int) -> float:
    """samples/s over the batches after the first (workers started, first batch served)."""
    it = iter(batches)
    next(it)
    t0, n = time.perf_counter(), 0
    for b in it:
        n += len(b["track"])
        if n >= items:
            break
    return n / (time.perf_counter() - t0)


def per_item(ds: TrackDataset, items: int) -> float:
    order = [int(k) for k in np.random.default_rng(0).permutation(len(ds))[:items]]
    t0 = time.perf_counter()
    for k in order:
        ds[k]
    return len(order) / (time.perf_counter() - t0)


def whole_batches(ds: TrackDataset, items: int, batch: int) -> float:
    order = [int(k) for k in np.random.default_rng(0).permutation(len(ds))]
    return timed_batches((ds.batch(order[a:a + batch], torch.float16) for a in range(0, len(order), batch)),
                         items)


def plain_loader(ds: TrackDataset, items: int, batch: int, workers: int) -> float:
    loader = DataLoader(ds, batch_size=batch, shuffle=True, num_workers=workers,
                        generator=torch.Generator().manual_seed(0))
    return timed_batches(loader, items)


def training_loader(ds: TrackDataset, items: int, batch: int, workers: int) -> float:
    cfg = variants.variant_config("lart", "paper", overrides=(f"batch_size={batch}", f"num_workers={workers}"))
    return timed_batches(make_loader(ds, cfg, Dist(0, 1, torch.device("cpu")), epoch=0, skip=0), items)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tracks", type=int, default=2000)
    ap.add_argument("--items", type=int, default=400, help="samples timed per measurement of the pickles "
                    "(the store: 4x as many, at most one epoch)")
    ap.add_argument("--batch", type=int, default=16, help="samples per batch (per process)")
    ap.add_argument("--workers", type=int, default=2, help="DataLoader worker processes")
    ap.add_argument("--out", default=None, help="work folder (default: a temporary one)")
    args = ap.parse_args()
    print(f"start: {load()}, {os.cpu_count()} CPUs, torch {torch.__version__}")
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
        cfg = variants.variant_config("lart", "paper").data
        ds = {"pickles": TrackDataset(pickles, cfg, seed=0), "store": TrackDataset(store, cfg, seed=0)}
        n = {"pickles": args.items, "store": min(4 * args.items, len(ds["store"]) - 2 * args.batch)}
        print(f"samples/s, T={cfg.seq_len} P={cfg.max_people} D={cfg.appearance_dim}, batch {args.batch}, "
              f"{args.workers} workers:")
        rates = {}
        b, w = args.batch, args.workers
        for label, fn in (("1 process, per item", per_item),
                          ("1 process, whole batches", lambda d, k: whole_batches(d, k, b)),
                          (f"DataLoader, per item ({w} w.)", lambda d, k: plain_loader(d, k, b, w)),
                          (f"training loader ({w} w.)", lambda d, k: training_loader(d, k, b, w))):
            r = rates[label] = {name: fn(d, n[name]) for name, d in ds.items()}
            print(f"{label:>32}: pickles {r['pickles']:8.1f} | store {r['store']:8.1f} | "
                  f"store/pickles {r['store'] / r['pickles']:5.1f}x", flush=True)
        train, plain = rates[f"training loader ({args.workers} w.)"], rates[f"DataLoader, per item ({args.workers} w.)"]
        one, fill = rates["1 process, per item"]["store"], rates["1 process, whole batches"]["store"]
        print(f"store through the training loader: {train['store'] / train['pickles']:.1f}x the pickles (goal >= 10x); "
              f"{100 * train['store'] / fill:.0f}% of 1 process whole batches, {100 * train['store'] / one:.0f}% of "
              f"1 process per item (goal >= 80%); {train['store'] / plain['store']:.1f}x the per-item DataLoader")
    print(f"end: {load()}")


if __name__ == "__main__":
    main()
