"""`lart eval` vs the official ActivityNet AVA evaluator, side by side in one run, on AVA-val-shaped
synthetic files (10% / 30% / 100% of AVA v2.2 val): wall and CPU seconds, peak RSS, their ratios, and
both mAPs.

    .venv/bin/python bench/eval_speed.py [--scales 6 19 64] [--repeats 3] [--score-decimals 6]
                                         [--official DIR] [--cache DIR]

--official (or $ACTIVITYNET_DIR) is an activitynet/ActivityNet checkout: its Evaluation/get_ava_performance.py
is run unmodified, as `python get_ava_performance.py -l -g -d` would run it (two aliases numpy 2 removed,
np.float and np.NAN, are set first if absent). Without it only `lart eval` is timed and the script says so.
Each run is a fresh process: `python -m lartcore.cli eval --gt --pred --labelmap --out` (interpreter start,
imports, reading, evaluation, writing) and the official script; CPU = the child's user + system time
(all threads), peak RSS = the child's. The generated files (309 MB of detections at full scale) are
cached under --cache. The load average is printed before and after: wall times grow with it.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
GENERATOR = REPO / "tests" / "data" / "ava" / "synth" / "gen_ava_synth.py"
LABELMAP = REPO / "lartcore" / "resources" / "ava_action_list_v2.2_for_activitynet_2019.pbtxt"
GOAL_S, GOAL_MB, GOAL_RATIO = 2.5, 1024, 100
_OFFICIAL_DRIVER = """
import sys
import numpy as np
for name, value in (("float", float), ("NAN", np.nan)):   # removed in numpy 1.24 / 2.0
    if not hasattr(np, name):
        setattr(np, name, value)
evaluation = sys.argv.pop(1)
sys.path[:0] = [evaluation, evaluation + "/ava"]          # its implicit relative imports (Python 2 style)
import get_ava_performance
get_ava_performance.main()
"""


def synth_files(cache: Path, videos: int, decimals: int) -> Path:
    """The generator's files for `videos` (seed 0), generated once into cache/v{videos}_d{decimals}."""
    out = cache / f"v{videos}_d{decimals}"
    if (out / "manifest.json").is_file():
        return out
    tmp = Path(tempfile.mkdtemp(dir=cache, prefix=f".v{videos}."))
    subprocess.run([sys.executable, str(GENERATOR), str(tmp), "--videos", str(videos), "--score-decimals",
                    str(decimals)], check=True, stdout=subprocess.DEVNULL)
    shutil.rmtree(out, ignore_errors=True)
    os.replace(tmp, out)
    return out


def timed(cmd: list[str], env: dict | None = None) -> dict:
    """Run cmd as a child; its wall and CPU seconds, peak RSS (MB) and stdout."""
    t = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
    stdout = proc.stdout.read().decode()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t
    if status != 0:
        raise SystemExit(f"failed (status {status}): {' '.join(cmd)}")
    return {"wall_s": wall, "cpu_s": usage.ru_utime + usage.ru_stime, "rss_mb": usage.ru_maxrss / 1024,
            "stdout": stdout}


def run_ours(data: Path) -> dict:
    with tempfile.TemporaryDirectory() as out:
        r = timed([sys.executable, "-m", "lartcore.cli", "eval", "--gt", str(data / "gt.csv"), "--pred",
                   str(data / "dets.csv"), "--labelmap", str(LABELMAP), "--out", out],
                  env={**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"})
        return {**r, "map": json.loads((Path(out) / "metrics.json").read_text())["mAP"]}


def run_official(evaluation: Path, data: Path) -> dict:
    r = timed([sys.executable, "-c", _OFFICIAL_DRIVER, str(evaluation), "-l", str(LABELMAP), "-g",
               str(data / "gt.csv"), "-d", str(data / "dets.csv")])
    m = re.search(r"'PascalBoxes_Precision/mAP@0\.5IOU': (?:np\.float64\()?([-+0-9.eE]+|nan)", r["stdout"])
    return {**r, "map": float(m[1]) if m else float("nan")}


def find_official(arg: str | None) -> Path | None:
    """<checkout>/Evaluation if --official or $ACTIVITYNET_DIR names an ActivityNet checkout."""
    root = arg or os.environ.get("ACTIVITYNET_DIR")
    if root is None:
        return None
    evaluation = Path(root) / "Evaluation"
    if not (evaluation / "get_ava_performance.py").is_file():
        raise SystemExit(f"{root}: not an ActivityNet checkout (no Evaluation/get_ava_performance.py)")
    return evaluation


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scales", type=int, nargs="+", default=[6, 19, 64], help="videos per file (64 = AVA val)")
    ap.add_argument("--repeats", type=int, default=3, help="lart eval runs per scale (the median is shown)")
    ap.add_argument("--score-decimals", type=int, default=6, help="2 = realistic ties")
    ap.add_argument("--official", default=None, help="ActivityNet checkout (default: $ACTIVITYNET_DIR)")
    ap.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "lartcore_bench" / "ava_synth")
    a = ap.parse_args()
    evaluation = find_official(a.official)
    a.cache.mkdir(parents=True, exist_ok=True)
    print(f"{os.cpu_count()} cores; load average before: {load()} (wall times grow with it; CPU = user + system "
          "of all threads)")
    if evaluation is None:
        print("official evaluator: not given (--official DIR or ACTIVITYNET_DIR=DIR, an activitynet/ActivityNet "
              "checkout): timing lart eval only")
    head = f"{'videos':>6} {'ours wall':>9} {'cpu':>6} {'RSS MB':>7}"
    if evaluation is not None:
        head += f" {'official wall':>13} {'cpu':>7} {'RSS MB':>7} {'wall x':>7} {'cpu x':>6}"
    print(head + f" {'mAP':>10}" + (f" {'official':>10} {'|diff|':>8}" if evaluation is not None else ""))
    for videos in a.scales:
        data = synth_files(a.cache, videos, a.score_decimals)
        runs = [run_ours(data) for _ in range(a.repeats)]
        ours = {k: statistics.median(r[k] for r in runs) for k in ("wall_s", "cpu_s")}
        line = f"{videos:>6} {ours['wall_s']:9.2f} {ours['cpu_s']:6.2f} {max(r['rss_mb'] for r in runs):7.0f}"
        if evaluation is not None:
            off = run_official(evaluation, data)
            line += (f" {off['wall_s']:13.1f} {off['cpu_s']:7.1f} {off['rss_mb']:7.0f}"
                     f" {off['wall_s'] / ours['wall_s']:6.0f}x {off['cpu_s'] / ours['cpu_s']:5.0f}x")
        line += f" {runs[0]['map']:10.7f}"
        if evaluation is not None:
            line += f" {off['map']:10.7f} {abs(runs[0]['map'] - off['map']):8.1e}"
        print(line, flush=True)
    print(f"(lart eval: median of {a.repeats} runs, --score-decimals {a.score_decimals}; goal at 64 videos: <= "
          f"{GOAL_S} s wall on a quiet 2-core machine, >= {GOAL_RATIO}x the official, <= {GOAL_MB} MB)")
    print(f"load average after: {load()}")


if __name__ == "__main__":
    main()
