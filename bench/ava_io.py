"""Benchmark the AVA CSV readers/writers at full AVA v2.2 val scale.

    python bench/ava_io.py [DIR] [--videos 64] [--repeats 3]

DIR holds (or receives) `gt.csv` / `dets.csv` from the AVA-shaped generator
`tests/data/ava/synth/gen_ava_synth.py DIR --videos 64` (216,594 GT rows; 5,839,860 detection rows,
309 MB). Each step runs in a fresh process so that its peak RSS is its own; printed: median seconds,
peak RSS, RSS after imports, and the ratio to pandas' C-engine `read_csv` on the same file.
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

GENERATOR = Path(__file__).resolve().parents[1] / "tests" / "data" / "ava" / "synth" / "gen_ava_synth.py"

_PRELUDE = """
import json, resource, time
import numpy as np, pandas as pd
from lartcore.data import ava
def rss_mb():
    return int(open("/proc/self/statm").read().split()[1]) * 4096 / 2**20
base = rss_mb()
"""
STEPS = {  # name -> code run after the prelude; it sets `t` (seconds)
    "read_gt": "t0 = time.perf_counter(); df = ava.read_gt(D + '/gt.csv'); t = time.perf_counter() - t0",
    "read_detections": "t0 = time.perf_counter(); df = ava.read_detections(D + '/dets.csv'); "
                       "t = time.perf_counter() - t0",
    "pandas_read_csv (reference)": "t0 = time.perf_counter(); df = pd.read_csv(D + '/dets.csv', header=None); "
                                   "t = time.perf_counter() - t0",
    "write_detections": "df = ava.read_detections(D + '/dets.csv'); t0 = time.perf_counter(); "
                        "ava.write_detections(df, D + '/dets_rewritten.csv'); t = time.perf_counter() - t0",
}


def run_step(code: str, data_dir: Path) -> dict:
    script = _PRELUDE + f"D = {str(data_dir)!r}\n" + code + (
        "\nprint(json.dumps({'s': t, 'peak_mb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,"
        " 'base_mb': base, 'rows': len(df)}))")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dir", nargs="?", default=None, help="folder with gt.csv/dets.csv (generated if absent)")
    ap.add_argument("--videos", type=int, default=64, help="generator scale when generating (64 = full val)")
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()
    data_dir = Path(a.dir or tempfile.mkdtemp(prefix="ava_io_bench_"))
    if not (data_dir / "dets.csv").exists():
        subprocess.run([sys.executable, str(GENERATOR), str(data_dir), "--videos", str(a.videos)], check=True)
    print(f"data: {data_dir} (dets.csv {(data_dir / 'dets.csv').stat().st_size / 1e6:.0f} MB)")
    results = {}
    for name, code in STEPS.items():
        runs = [run_step(code, data_dir) for _ in range(a.repeats)]
        results[name] = r = {"s": statistics.median(x["s"] for x in runs), "rows": runs[0]["rows"],
                             "peak_mb": max(x["peak_mb"] for x in runs), "base_mb": runs[0]["base_mb"]}
        each = ", ".join(f"{x['s']:.2f}" for x in runs)
        print(f"{name:28s} {r['rows']:>9,d} rows  {r['s']:6.2f} s (median of {a.repeats}: {each})  "
              f"peak RSS {r['peak_mb']:6.0f} MB "
              f"(after imports {r['base_mb']:.0f} MB)")
    ref = results["pandas_read_csv (reference)"]
    det = results["read_detections"]
    print(f"read_detections vs pandas.read_csv: {ref['s'] / det['s']:.1f}x faster, "
          f"peak RSS {det['peak_mb'] / ref['peak_mb']:.2f}x")


if __name__ == "__main__":
    main()
