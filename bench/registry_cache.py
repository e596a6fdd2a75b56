"""Cost of `registry.evaluate_cached`: the cache key (hashing the input files) and a cache hit, vs a miss
(reading the CSVs + `frame_map`) when the evaluator is available. Prints a table; no assertions.

    .venv/bin/python bench/registry_cache.py [--rows 1000000]
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from lartcore import registry


def write_csvs(folder: Path, rows: int, seed: int = 0) -> tuple[Path, Path]:
    """A synthetic AVA GT (one box per person) and detections (every class of the 60 per box)."""
    rng = np.random.default_rng(seed)
    ids = np.array([i for i in range(1, 81) if i not in {2, 16, 18, 19, 21, 23, 25, 31, 32, 33, 35, 39, 40,
                                                         42, 44, 50, 53, 55, 71, 75}])
    boxes = max(rows // len(ids), 1)
    video = [f"vid{v:08d}" for v in rng.integers(0, 50, boxes)]
    ts = rng.integers(902, 1799, boxes)
    xy = np.sort(rng.random((boxes, 2, 2)), axis=1).reshape(boxes, 4)
    gt_lines = [f"{v},{t:04d},{a:.3f},{b:.3f},{c:.3f},{d:.3f},{rng.choice(ids)},0"
                for v, t, (a, b, c, d) in zip(video, ts, xy, strict=True)]
    pred_lines = [f"{v},{t:04d},{a:.3f},{b:.3f},{c:.3f},{d:.3f},{k},{s:.4f}"
                  for v, t, (a, b, c, d) in zip(video, ts, xy, strict=True) for k, s in zip(ids, rng.random(len(ids)), strict=True)]
    gt, pred = folder / "gt.csv", folder / "pred.csv"
    gt.write_text("\n".join(gt_lines) + "\n")
    pred.write_text("\n".join(pred_lines) + "\n")
    return gt, pred


def timed(fn, repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000, help="detection rows")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        gt, pred = write_csvs(tmp, args.rows)
        size_mb = pred.stat().st_size / 2**20
        t_key = timed(lambda: registry.eval_cache_key(pred, gt))
        print(f"predictions: {args.rows:,} rows, {size_mb:.1f} MiB")
        print(f"cache key (sha256 of inputs): {t_key:.3f} s  ({size_mb / t_key:.0f} MiB/s)")
        cache = tmp / "cache"
        t0 = time.perf_counter()
        registry.evaluate_cached(pred, gt, cache_dir=cache)
        t_miss = time.perf_counter() - t0
        t_hit = timed(lambda: registry.evaluate_cached(pred, gt, cache_dir=cache))
        print(f"miss (read + frame_map + store): {t_miss:.3f} s")
        print(f"hit  (key + load stored result):  {t_hit:.3f} s   speed-up x{t_miss / t_hit:.1f}")


if __name__ == "__main__":
    main()
