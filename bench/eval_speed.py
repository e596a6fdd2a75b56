"""`lart eval` speed and memory on AVA-val-shaped synthetic files (10% / 30% / 100%), vs the official
ActivityNet evaluator's numbers from shared/ava/synth/README.md, and the mAP reproduced at each scale.

    .venv/bin/python bench/eval_speed.py [--scales 6 19 64] [--repeats 3] [--cache DIR]

Each run is a fresh subprocess doing what `lart eval --gt --pred --exclusions --out` does (read the CSVs,
evaluate, write per-class CSV + JSON); wall time includes interpreter start and imports, peak RSS is the
child's. The generated files (309 MB at full scale) are cached under --cache (default: $TMPDIR).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "ava"
# videos -> (official median wall s, official peak RSS MB, official mAP), from shared/ava/synth/README.md
OFFICIAL = {6: (17.3, 181, 0.348252), 19: (55.6, 507, 0.341835), 64: (232.0, 1646, 0.329275)}
# full scale, SlowFast's evaluator with the exclusions file (shared/ava/eval_semantics.md, ablation row C)
OFFICIAL_SLOWFAST_64 = {"mAP": 0.30714, "PM": 0.38727, "OM": 0.26583, "PI": 0.32582}
GOAL_S, GOAL_MB = 5.0, 1024


def synth_files(cache: Path, videos: int) -> Path:
    """The generator's files for `videos` (seed 0), generated once into cache/v{videos}."""
    out = cache / f"v{videos}"
    if (out / "manifest.json").is_file():
        return out
    tmp = Path(tempfile.mkdtemp(dir=cache, prefix=f".v{videos}."))
    subprocess.run([sys.executable, str(SHARED / "synth" / "gen_ava_synth.py"), str(tmp), "--videos",
                    str(videos)], check=True, stdout=subprocess.DEVNULL)
    shutil.rmtree(out, ignore_errors=True)
    os.replace(tmp, out)
    return out


def child(data: Path, out: Path, flavor: str) -> None:
    """One `lart eval` run; prints JSON with the read / evaluate split and the mAP."""
    t0 = time.perf_counter()
    from lartcore.data import ava
    from lartcore.eval import frame_map
    gt, det = ava.read_gt(data / "gt.csv"), ava.read_detections(data / "dets.csv")
    excl = ava.read_keyframes(data / "excluded.csv")
    t1 = time.perf_counter()
    result = frame_map(gt, det, exclusions=excl, flavor=flavor)
    t2 = time.perf_counter()
    result.save(out)
    print(json.dumps({"read_s": t1 - t0, "eval_s": t2 - t1, "map": result.map, **result.by_type}))


def run_once(data: Path, flavor: str = "activitynet") -> dict:
    with tempfile.TemporaryDirectory() as out:
        t = time.perf_counter()
        proc = subprocess.Popen([sys.executable, __file__, "--child", str(data), out, flavor], stdout=subprocess.PIPE)
        stdout = proc.stdout.read()
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t
    if status != 0:
        raise SystemExit(f"child failed on {data} (status {status})")
    return {**json.loads(stdout), "wall_s": wall, "cpu_s": usage.ru_utime + usage.ru_stime,
            "rss_mb": usage.ru_maxrss / 1024}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scales", type=int, nargs="+", default=[6, 19, 64], help="videos per file")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "lartcore_bench" / "ava_synth")
    ap.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        return child(Path(a.child[0]), Path(a.child[1]), a.child[2])
    if not SHARED.is_dir():
        raise SystemExit(f"needs the synthetic-data generator under {SHARED}")
    a.cache.mkdir(parents=True, exist_ok=True)
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores (wall times grow with it; "
          "cpu s = the child's user+sys time)")
    print(f"{'videos':>6} {'read s':>7} {'eval s':>7} {'wall s':>7} {'cpu s':>7} {'RSS MB':>7} {'official s':>10} "
          f"{'speed-up':>8} {'mAP':>9} {'official':>9} {'|diff|':>8}")
    for videos in a.scales:
        data = synth_files(a.cache, videos)
        runs = [run_once(data) for _ in range(a.repeats)]
        med = {k: statistics.median(r[k] for r in runs) for k in ("read_s", "eval_s", "wall_s", "cpu_s")}
        rss = max(r["rss_mb"] for r in runs)
        off_s, _, off_map = OFFICIAL.get(videos, (float("nan"),) * 3)
        m = runs[0]["map"]
        print(f"{videos:>6} {med['read_s']:7.2f} {med['eval_s']:7.2f} {med['wall_s']:7.2f} {med['cpu_s']:7.2f} {rss:7.0f} "
              f"{off_s:10.1f} {off_s / med['wall_s']:7.1f}x {m:9.6f} {off_map:9.6f} {abs(m - off_map):8.1e}")
    print(f"(medians of {a.repeats} runs; goal at full size: <= {GOAL_S} s and <= {GOAL_MB} MB; official "
          f"evaluator: 232 s, 1646 MB)")
    if 64 in a.scales:
        r = run_once(synth_files(a.cache, 64), "slowfast")
        print(f"--flavor slowfast, full size: {r['wall_s']:.2f} s; " + ", ".join(
            f"{k} {r[k.replace('mAP', 'map')]:.5f} (official {v:.5f})" for k, v in OFFICIAL_SLOWFAST_64.items()))


if __name__ == "__main__":
    main()
