"""Dashboard responsiveness: a frame change in the clip browser and the keyframe grid's first page.

1. The frame pipeline alone (`panels.compose`: the video frame, GT boxes, people posed, the run's chips,
   meshes rendered, the legend band) in ms per frame.
2. Whole clip-browser reruns in Streamlit's AppTest: the first (cold caches: store, tracks, the run's
   predictions for the clip) and the next ones after a frame change (warm), against the 0.3 s target.
3. The keyframe grid's first page in AppTest (12 rendered thumbnails): cold (the evaluator's matching of
   the run, tracks and video frames read) and again in a new session (warm caches), against 2 s.

    python bench/dashboard_speed.py [--data-root ROOT] [--results DIR] [--frames 30]
Default: the demo data (built if missing) and $LART_RESULTS_DIR; the first run with a checkpoint.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from streamlit.testing.v1 import AppTest

from lartcore import browse, paths
from lartcore.body import StandInBody
from lartcore.data.store import TrackStore
from lartcore.data.synthetic import build_demo
from lartcore.paths import DataRoot
from lartcore.registry import Registry

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "dashboard"))
import panels

FRAME_TARGET_S, GRID_TARGET_S = 0.3, 2.0


def first_run(results: Path):
    runs = Registry(results).runs()
    runs = runs[[(Path(p) / "checkpoint.pt").is_file() for p in runs["path"]]]
    if runs.empty:
        raise SystemExit(f"no run with a checkpoint in {results}: run `make demo` first")
    return runs.iloc[0]


def frame_pipeline(data_root: Path, results: Path, frames: int) -> float:
    """Median ms per frame of `panels.compose` over `frames` frames of the first video, run A's chips."""
    data = DataRoot(data_root)
    store = TrackStore(data.store("ava_val"))
    video = browse.videos(store.index)[0]
    span = browse.video_span(store.index, video)
    chunk = browse.chunk_of(span[0])
    view = panels.ClipView(data, "ava_val", video, span[0], span, store.shot_changes(video), chunk,
                           panels.clip_tracks(data.store("ava_val"), video, chunk), StandInBody(), first_run(results))
    view = panels._with_predictions(view, data.store("ava_val"))
    panels.compose(view, span[0])                                                   # compile shaders
    times = []
    for f in np.linspace(span[0], min(span[1], chunk[1]), frames).astype(int):
        t0 = time.perf_counter()
        panels.compose(view, int(f))
        times.append(time.perf_counter() - t0)
    return 1000 * float(np.median(times))


def app(page: str, data_root: Path, results: Path, **query) -> tuple[AppTest, float]:
    at = AppTest.from_file(str(ROOT / "dashboard" / "views" / f"{page}.py"), default_timeout=600)
    at.session_state["data_root"], at.session_state["results"] = str(data_root), str(results)
    for k, v in query.items():
        at.query_params[k] = v
    t0 = time.perf_counter()
    at.run()
    if at.exception:
        raise RuntimeError(f"{page} failed: {at.exception}")
    return at, time.perf_counter() - t0


def app_reruns(data_root: Path, results: Path, steps: int) -> tuple[float, list[float]]:
    """(first run s, [rerun s after each keyframe step]) of the clip browser page in AppTest."""
    at, first = app("clip_browser", data_root, results)
    reruns = []
    for _ in range(steps):
        t0 = time.perf_counter()
        at.button(key="next_kf").click().run()
        reruns.append(time.perf_counter() - t0)
    return first, reruns


def grid_first_page(data_root: Path, results: Path) -> tuple[float, float, int]:
    """(cold s, warm s, thumbnails) of the keyframe grid's first page."""
    run = panels.run_name(first_run(results))
    at, cold = app("keyframes", data_root, results, run=run)
    _, warm = app("keyframes", data_root, results, run=run)
    return cold, warm, len(at.image)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-root", default=None)
    p.add_argument("--results", default=None)
    p.add_argument("--frames", type=int, default=30)
    args = p.parse_args()
    data_root = Path(args.data_root) if args.data_root else build_demo(paths.demo_root())
    results = Path(args.results) if args.results else paths.results_dir()
    ms = frame_pipeline(data_root, results, args.frames)
    print(f"frame pipeline (video frame, GT boxes, pose, chips, meshes, legend): {ms:.1f} ms/frame median over "
          f"{args.frames} frames ({1000 / ms:.1f} frames/s)")
    first, reruns = app_reruns(data_root, results, 5)
    med = float(np.median(reruns))
    print(f"clip browser in AppTest: first run {first:.2f} s (cold: store, tracks, clip predictions); "
          f"frame change rerun median {med:.2f} s (max {max(reruns):.2f} s): target {FRAME_TARGET_S} s "
          f"{'met' if med <= FRAME_TARGET_S else 'MISSED'}")
    cold, warm, n = grid_first_page(data_root, results)
    print(f"keyframe grid first page ({n} thumbnails) in AppTest: {cold:.2f} s cold (the run's matching, tracks, "
          f"video frames), {warm:.2f} s in a new session: target {GRID_TARGET_S} s "
          f"{'met' if cold <= GRID_TARGET_S else 'met warm only' if warm <= GRID_TARGET_S else 'MISSED'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
