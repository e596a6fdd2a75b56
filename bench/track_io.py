"""Cost of restricted loading: `safe_load` vs plain `joblib.load` on a release track file (compressed or
not) and on a PHALP results file, plus the full readers. Prints a table; no assertions.

    .venv/bin/python bench/track_io.py [--frames 125] [--phalp-frames 300] [--repeat 20]
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import joblib
import numpy as np

from lartcore.data.tracks import (
    Track,
    read_phalp_results,
    read_release_track,
    write_release_track,
)
from lartcore.fileio import safe_load
from lartcore.schema import NUM_CLASSES, POSE_DIM


def release_track(T: int, rng) -> Track:
    """A detected, pseudo-labelled track with one 1152-d appearance row per frame."""
    return Track(dataset="ava-train", video="benchvid000", track_id=1, keyframe=150, frame=np.arange(T),
                 pose_shape=rng.standard_normal((T, POSE_DIM), np.float32),
                 joints_3d=rng.standard_normal((T, 45, 3), np.float32),
                 camera=rng.standard_normal((T, 3), np.float32), camera_bbox=np.zeros((T, 3), np.float32),
                 box=rng.random((T, 4), np.float32), frame_size=np.full((T, 2), 720, np.int32),
                 conf=np.ones(T, np.float32), has_detection=np.ones(T, bool), has_gt=np.ones(T, np.int8),
                 labels=rng.random((T, NUM_CLASSES), np.float32), appearance_index=np.arange(T),
                 appearance=rng.standard_normal((T, 1152), np.float32))


def phalp_results(path: Path, frames: int, people: int, rng) -> Path:
    """A PHALP-layout results dict (no rendering keys), `people` detected in every frame, compress=3."""
    def entry(tid):
        rot = np.linalg.qr(rng.standard_normal((24, 3, 3)))[0].astype(np.float32)
        return {"tid": tid, "tracked_time": 0, "bbox": rng.random(4, np.float32) * 100,
                "smpl": {"global_orient": rot[:1], "body_pose": rot[1:], "betas": np.zeros(10, np.float32)},
                "camera": np.array([0, 0, 80], np.float32), "camera_bbox": np.zeros(3, np.float32),
                "3d_joints": rng.standard_normal((45, 3), np.float32), "size": [720, 1280],
                "conf": np.float32(0.9), "2d_joints": rng.random(90, np.float32)}
    results = {}
    for t in range(frames):
        per_track = [entry(tid) for tid in range(1, people + 1)]
        results[f"benchvid000/{t + 1:06d}.jpg"] = {"time": t, "shot": 0} | {
            k: [e[k] for e in per_track] for k in per_track[0]}
    joblib.dump(results, path, compress=3)
    return path


def best_ms(fn, path: Path, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn(path)
        times.append(time.perf_counter() - start)
    return 1000 * min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=125)
    parser.add_argument("--phalp-frames", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    tmp = Path(tempfile.mkdtemp())
    print(f"{'file':34s} {'joblib.load':>12s} {'safe_load':>10s} {'ratio':>6s} {'reader':>9s}  (ms, best of "
          f"{args.repeat})")
    for compress in (0, 3):
        path = write_release_track(release_track(args.frames, rng), tmp / f"c{compress}", compress=compress)
        row = [best_ms(f, path, args.repeat) for f in (joblib.load, safe_load, read_release_track)]
        print(f"{f'release T={args.frames} compress={compress}':34s} {row[0]:12.2f} {row[1]:10.2f} "
              f"{row[1] / row[0]:6.2f} {row[2]:9.2f}")
    path = phalp_results(tmp / "demo_benchvid000.pkl", args.phalp_frames, 3, rng)
    repeat = max(args.repeat // 4, 1)
    row = [best_ms(f, path, repeat) for f in (joblib.load, safe_load, read_phalp_results)]
    print(f"{f'phalp {args.phalp_frames} frames x 3 people':34s} {row[0]:12.2f} {row[1]:10.2f} "
          f"{row[1] / row[0]:6.2f} {row[2]:9.2f}")


if __name__ == "__main__":
    main()
