"""Scale: a synthetic release of N tracks in the real per-track pickle layout, packed and read back; every
rate as a function of N, then extrapolated to the full LART release.

    .venv/bin/python bench/scale.py [--tracks 20000] [--workers 2] [--mean-frames 50] [--out DIR]

1. Writes N tracks (clips of 1-6 people, lengths uniform in [10, 2 * mean - 10] frames, a 1152-d float32
   appearance feature per frame, random pseudo labels, GT every 30th frame) as release pickles
   (`write_release_track`: the joblib layout of brjathu/LART's files) into DIR/release. The default mean of
   50 frames makes a file about the release's average size (~600 GB unpacked / 1.61 M files, ~370 KB).
2. For n = N/4, N/2, N (the first n files, hard-linked): `lart data pack --workers W` (`store.pack`), then
     pack         tracks/s and MB/s (pickle bytes read per second of wall time)
     store        bytes per track, with and without appearance (the appearance.npy shards)
     index        `TrackStore(store)` open time and the memory it adds (VmRSS, in a fresh process)
     random       training samples/s: `TrackDataset.batch` of random items (paper `lart`: T=128, P=5,
                  float16 appearance), one process, warm page cache
     sequential   evaluation windows in index order (`lart predict`'s order), samples/s
3. The model (printed with its inputs), from least-squares lines through the 3 sizes (a fixed part + a part
   per unit): pack seconds = a + b x pickle bytes, so hours = release bytes x b / workers x W (each worker
   reads its own files; b is per worker); store disk = (store bytes / pickle bytes) x release bytes; index
   memory and open time = a + b x tracks; sample rates = the rates at the largest n (constant in N when the
   design holds: O(1) work per sample).
   Release: AVA val 97,148, AVA train 300,000, Kinetics 1,213,908 files (data_manifests/lart_release.yaml),
   `--release-kb` KB per file (default 372 = 600 GB / 1.61 M).
The load average (`uptime`) is printed before and after: the machine may be shared.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from data_loading import random_track  # bench/ is the script's folder

from lartcore import variants
from lartcore.data.dataset import TrackDataset
from lartcore.data.store import TrackStore, pack
from lartcore.data.tracks import write_release_track

RELEASE = {"ava_val": 97_148, "ava_train": 300_000, "kinetics_train": 1_213_908}
BATCH = 16


def load() -> str:
    return "load average " + ", ".join(f"{x:.2f}" for x in os.getloadavg())


def _write_clips(job: tuple[Path, int, int, int, int]) -> int:
    """Clips first..first+count-1 of the release (seeded per clip), at most `limit` tracks in all."""
    folder, first, count, mean, limit = job
    n = 0
    for clip in range(first, first + count):
        rng = np.random.default_rng(clip)
        for tid in range(int(rng.integers(1, 7))):
            if clip * 6 + tid >= limit:
                break
            T = int(rng.integers(10, 2 * mean - 9))
            write_release_track(random_track(rng, f"scale{clip:06d}", 30 * (clip % 800) + 30, tid,
                                             int(rng.integers(0, 30)), T), folder)
            n += 1
    return n


def write_release(folder: Path, n: int, mean: int, workers: int) -> list[Path]:
    """At least n tracks (6 slots per clip, 1-6 used); returns the first n file names in sorted order."""
    folder.mkdir(parents=True, exist_ok=True)
    clips, per_job = 0, 50
    while len(list(folder.glob("*.pkl"))) < n:
        jobs = [(folder, clips + k * per_job, per_job, mean, 1 << 60) for k in range(max(workers, 1) * 4)]
        with multiprocessing.get_context("fork").Pool(workers) as pool:
            pool.map(_write_clips, jobs)
        clips += len(jobs) * per_job
    return sorted(folder.glob("*.pkl"))[:n]


def mib(paths) -> float:
    return sum(p.stat().st_size for p in paths) / 2**20


def open_cost(store: Path) -> tuple[float, float]:
    """(seconds, MiB of VmRSS) that opening the store adds, in a fresh process (imports excluded)."""
    code = ("import re, time\nfrom pathlib import Path\nfrom lartcore.data.store import TrackStore\n"
            "rss = lambda: int(re.search(r'VmRSS:\\s+(\\d+)', Path('/proc/self/status').read_text()).group(1))\n"
            f"r0, t0 = rss(), time.perf_counter()\nst = TrackStore({str(store)!r})\n"
            "print(time.perf_counter() - t0, (rss() - r0) / 1024)\n")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout.split()
    return float(out[0]), float(out[1])


def rate(ds: TrackDataset, order: list[int], seconds: float = 20.0) -> float:
    """Samples/s of `ds.batch` over `order` (after one warm-up batch), for about `seconds` at most."""
    ds.batch(order[:BATCH], torch.float16)
    t0, n = time.perf_counter(), 0
    for a in range(BATCH, len(order) - BATCH + 1, BATCH):
        ds.batch(order[a:a + BATCH], torch.float16)
        n += BATCH
        if time.perf_counter() - t0 > seconds:
            break
    return n / (time.perf_counter() - t0)


def measure(files: list[Path], root: Path, workers: int) -> dict:
    n = len(files)
    src, dst = root / f"release_{n}", root / f"store_{n}"
    src.mkdir()
    for f in files:
        os.link(f, src / f.name)
    t0 = time.perf_counter()
    pack(src, dst, workers=workers)
    seconds = time.perf_counter() - t0
    store_files = [p for p in dst.rglob("*") if p.is_file()]
    app = [p for p in store_files if p.name == "appearance.npy"]
    opened, rss = open_cost(dst)
    st = TrackStore(dst)
    cfg = variants.variant_config("lart", "paper").data
    train, evaluate = TrackDataset(st, cfg, train=True), TrackDataset(st, cfg, train=False)
    random_order = [int(k) for k in np.random.default_rng(0).permutation(len(train))]
    return {"tracks": n, "frames": int(st.index["length"].sum()), "pickle_mib": mib(files), "pack_s": seconds,
            "store_mib": mib(store_files), "appearance_mib": mib(app), "open_s": opened, "open_mib": rss,
            "random": rate(train, random_order), "sequential": rate(evaluate, list(range(len(evaluate))))}


def report(rows: list[dict], workers: int, release_kb: float, target_workers: int) -> None:
    print(f"\n{'tracks':>8} {'frames':>9} {'pickles MiB':>11} {'pack s':>7} {'tracks/s':>8} {'MB/s':>6} "
          f"{'store KiB/track':>15} {'w/o app.':>8} {'open s':>6} {'open MiB':>8} {'random/s':>8} {'seq./s':>7}")
    for r in rows:
        n = r["tracks"]
        print(f"{n:8d} {r['frames']:9d} {r['pickle_mib']:11.0f} {r['pack_s']:7.1f} {n / r['pack_s']:8.1f} "
              f"{r['pickle_mib'] * 1.048576 / r['pack_s']:6.1f} {1024 * r['store_mib'] / n:15.1f} "
              f"{1024 * (r['store_mib'] - r['appearance_mib']) / n:8.1f} {r['open_s']:6.2f} {r['open_mib']:8.1f} "
              f"{r['random']:8.1f} {r['sequential']:7.1f}")
    big = rows[-1]

    def fit(x: str, y: str) -> tuple[float, float]:
        """Least-squares a + b * x of column y over the sizes."""
        b, a = np.polyfit([r[x] for r in rows], [r[y] for r in rows], 1)
        return float(a), float(b)
    pack_a, pack_b = fit("pickle_mib", "pack_s")                  # s, s per MiB (all workers together)
    per_worker = 1.048576 / (pack_b * workers)                     # MB/s per worker, marginal
    ratio = big["store_mib"] / big["pickle_mib"]
    app_share = big["appearance_mib"] / big["store_mib"]
    mem_a, mem_b = fit("tracks", "open_mib")
    open_a, open_b = fit("tracks", "open_s")
    kb_file = 1024 * big["pickle_mib"] * 1.024 / big["tracks"]
    print(f"\nmodel (lines through the {len(rows)} sizes): pack {pack_a:.1f} s + {per_worker:.2f} MB/s of pickles "
          f"per worker; store = {ratio:.3f} x pickle bytes ({100 * app_share:.0f}% appearance); opening the index "
          f"{open_a:.2f} s + {1e3 * open_b:.4f} ms per track, {mem_a:.1f} MiB + {1024 * mem_b:.2f} KiB per track; "
          f"random {big['random']:.0f} / sequential {big['sequential']:.0f} samples/s at n = {big['tracks']} "
          f"(vs {rows[0]['random']:.0f} / {rows[0]['sequential']:.0f} at n = {rows[0]['tracks']}); synthetic files "
          f"{kb_file:.0f} KB, release assumed {release_kb:.0f} KB per file")
    print("full release (pack hours with this machine's workers and with --target-workers, assuming the storage "
          "keeps up):")
    print(f"{'split':>15} {'files':>10} {'pickles GB':>10} {f'pack h {workers} w.':>11} "
          f"{f'pack h {target_workers} w.':>12} {'store GB':>9} {'w/o app. GB':>11} {'index MiB':>9} {'open s':>7}")
    for split, files in [*RELEASE.items(), ("all", sum(RELEASE.values()))]:
        gb = files * release_kb / 1e6
        hours = [gb * 1e3 / (per_worker * w) / 3600 for w in (workers, target_workers)]
        print(f"{split:>15} {files:10,d} {gb:10.0f} {hours[0]:11.1f} {hours[1]:12.2f} {gb * ratio:9.0f} "
              f"{gb * ratio * (1 - app_share):11.1f} {mem_a + files * mem_b:9.0f} {open_a + files * open_b:7.1f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tracks", type=int, default=20_000, help="largest N (also N/4 and N/2 are measured)")
    ap.add_argument("--workers", type=int, default=2, help="pack (and pickle writer) processes")
    ap.add_argument("--mean-frames", type=int, default=50, help="mean track length of the synthetic release")
    ap.add_argument("--release-kb", type=float, default=372.0, help="KB per release file (600 GB / 1.61 M)")
    ap.add_argument("--target-workers", type=int, default=32, help="pack workers assumed for the full release")
    ap.add_argument("--out", default=None, help="work folder (default: a temporary one, removed at the end)")
    args = ap.parse_args()
    print(f"start: {load()}, {os.cpu_count()} CPUs, torch {torch.__version__}")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(args.out or tmp)
        t0 = time.perf_counter()
        files = write_release(root / "release", args.tracks, args.mean_frames, args.workers)
        print(f"wrote {len(files)} release pickles ({mib(files):.0f} MiB) in {time.perf_counter() - t0:.0f} s "
              f"({args.workers} processes)", flush=True)
        rows = []
        for n in (args.tracks // 4, args.tracks // 2, args.tracks):
            rows.append(measure(files[:n], root, args.workers))
            print(json.dumps({k: round(v, 3) for k, v in rows[-1].items()}), flush=True)
        report(rows, args.workers, args.release_kb, args.target_workers)
    print(f"end: {load()}")


if __name__ == "__main__":
    main()
