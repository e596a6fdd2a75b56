"""Dashboard responsiveness: how long a frame change takes in the clip browser.

1. The frame pipeline alone (people posed, chips, meshes rendered, GT boxes) in ms per frame.
2. Whole clip-browser reruns in Streamlit's AppTest: the first (cold caches: store, tracks, model
   predictions for the clip) and the next ones after a frame change (warm), against the 1 s target.

    python bench/dashboard_speed.py [--data-root ROOT] [--results DIR] [--frames 30]
Default: the demo data (built if missing) and $LART_RESULTS_DIR.
"""
from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
from streamlit.testing.v1 import AppTest

from lartcore import browse, paths
from lartcore.body import StandInBody
from lartcore.data.store import TrackStore, VideoSource
from lartcore.data.synthetic import build_demo
from lartcore.paths import DataRoot

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "dashboard"))
import panels


def frame_pipeline(data_root: Path, frames: int) -> float:
    """Median ms per frame of people_at_frame + chips + render_overlay + GT boxes over `frames` frames."""
    store = TrackStore(DataRoot(data_root).store("ava_val"))
    src = VideoSource(store, browse.videos(store.index)[0])
    tracks = [src.track(i) for i in range(len(src))]
    first, last = src.span()
    body, render = StandInBody(), panels.RenderThread()
    gt = panels.ava.read_gt(DataRoot(data_root).gt("ava_val"))
    render.overlay(None, panels.people_at(tracks, first, body)[0])                 # compile shaders
    times = []
    for f in np.linspace(first, last, frames).astype(int):
        t0 = time.perf_counter()
        people, rows = panels.people_at(tracks, int(f), body)
        labels = [browse.gt_chips(tracks[k], i) for k, i in rows]
        image = render.overlay(None, replace(people, labels=labels))
        browse.draw_gt_boxes(image, browse.gt_boxes_at(gt, src.video, int(f)))
        times.append(time.perf_counter() - t0)
    return 1000 * float(np.median(times))


def app_reruns(data_root: Path, results: Path, steps: int) -> tuple[float, list[float]]:
    """(first run s, [rerun s after each keyframe step]) of the clip browser page in AppTest."""
    at = AppTest.from_file(str(ROOT / "dashboard" / "views" / "clip_browser.py"), default_timeout=600)
    at.session_state["data_root"], at.session_state["results"] = str(data_root), str(results)
    t0 = time.perf_counter()
    at.run()
    first = time.perf_counter() - t0
    if at.exception:
        raise RuntimeError(f"clip browser failed: {at.exception}")
    reruns = []
    for _ in range(steps):
        t0 = time.perf_counter()
        at.button(key="next_kf").click().run()
        reruns.append(time.perf_counter() - t0)
    return first, reruns


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-root", default=None)
    p.add_argument("--results", default=None)
    p.add_argument("--frames", type=int, default=30)
    args = p.parse_args()
    data_root = Path(args.data_root) if args.data_root else build_demo(paths.demo_root())
    results = Path(args.results) if args.results else paths.results_dir()
    ms = frame_pipeline(data_root, args.frames)
    print(f"frame pipeline (pose, chips, meshes, GT boxes): {ms:.1f} ms/frame median over {args.frames} "
          f"frames ({1000 / ms:.1f} frames/s)")
    first, reruns = app_reruns(data_root, results, 5)
    med = float(np.median(reruns))
    print(f"clip browser in AppTest: first run {first:.2f} s (cold: store, tracks, clip predictions); "
          f"frame change rerun median {med:.2f} s (max {max(reruns):.2f} s) = {med:.2f}x the 1 s target")
    return 0


if __name__ == "__main__":
    sys.exit(main())
