"""Dashboard responsiveness: a frame change in the clip browser, the keyframe grid's first page and the
clip browser's Explain panel.

1. The frame pipeline alone (`panels.compose`: the video frame, GT boxes, people posed, the run's chips,
   meshes rendered, the legend band) in ms per frame.
2. Whole clip-browser reruns in Streamlit's AppTest: the first (cold caches: store, tracks, the run's
   predictions for the clip) and the next ones after a frame change (warm), against the 0.3 s target.
3. The keyframe grid's first page in AppTest (12 rendered thumbnails): cold (the evaluator's matching of
   the run, tracks and video frames read) and again in a new session (warm caches), against 2 s.
4. The Explain panel (`--explain-run`, default demo/lart when it has a checkpoint) in AppTest: opening it
   (cold: the model loaded, the Captum import, the first explanation), then whole clip-browser reruns
   after a what-if toggle (the toggled edits and their combination: one batched forward), a class change
   (both attribution maps anew) and a keyframe step with edits on (everything anew for the new keyframe:
   scores, maps, edits, the frame with its outlines), against 1.5 s. The machine load (`uptime`) is
   printed before and after.

    python bench/dashboard_speed.py [--data-root ROOT] [--results DIR] [--frames 30] [--explain-run NAME]
Default: the demo data (built if missing) and $LART_RESULTS_DIR; the first run with a checkpoint.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from streamlit.testing.v1 import AppTest

from lartcore import browse, paths
from lartcore.body import StandInBody
from lartcore.data.store import TrackStore
from lartcore.demodata.synthetic import build_demo
from lartcore.paths import DataRoot
from lartcore.registry import Registry

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "dashboard"))
import panels

FRAME_TARGET_S, GRID_TARGET_S, EXPLAIN_TARGET_S = 0.3, 2.0, 1.5


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


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()


def explained(at) -> bool:
    """The Explain panel shows an attribution map (not a note) after this run."""
    return any("integrated gradients:" in c.proto.spec or "attention rollout:" in c.proto.spec
               for c in at.get("plotly_chart"))


def timed_run(changed, strict: bool = True) -> float:
    """Seconds of the rerun after a widget change (`changed`: the widget or the AppTest)."""
    t0 = time.perf_counter()
    at = changed.run()
    if at.exception:
        raise RuntimeError(f"clip browser failed: {at.exception}")
    if strict and not explained(at):
        raise RuntimeError("the Explain panel shows no explanation here: " + " | ".join(i.value for i in at.info))
    return time.perf_counter() - t0


def explain_reruns(data_root: Path, results: Path, run: str, steps: int) -> tuple[float, dict[str, list[float]]]:
    """(seconds to open the panel, {kind: [rerun s]}) of the clip browser with the Explain panel of `run` for
    the first person scored at the first keyframe: what-if toggles, class changes, keyframe steps with edits
    on."""
    at, _ = app("clip_browser", data_root, results, run=run)
    if at.selectbox(key="run").value != run:
        raise SystemExit(f"run {run} has no checkpoint in {results}: pass --explain-run")
    at.toggle(key="explain").set_value(True).run()
    for tid in at.selectbox(key="track").options:                  # the first person scored at this keyframe
        at.selectbox(key="track").set_value(int(tid))
        opened = timed_run(at, strict=False)
        if explained(at):
            break
    else:
        raise RuntimeError("nobody is scored at the first keyframe of the first video")
    toggles = [k for k in ("x_others", "x_cue_pose", "x_keyframe", "x_cue_appearance", "x_span")
               if not at.toggle(key=k).disabled][:steps]
    times = {"what-if toggle": [timed_run(at.toggle(key=k).set_value(True)) for k in toggles]}
    times["class change"] = [timed_run(at.selectbox(key="x_class").select_index(i)) for i in range(1, steps + 1)]
    times["keyframe step"] = [timed_run(at.button(key="next_kf").click()) for _ in range(steps)]
    return opened, times


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-root", default=None)
    p.add_argument("--results", default=None)
    p.add_argument("--frames", type=int, default=30)
    p.add_argument("--explain-run", default="demo/lart", help="run whose predictions the Explain panel explains")
    p.add_argument("--steps", type=int, default=3, help="reruns of each kind in the Explain panel timing")
    args = p.parse_args()
    print("load before:", uptime())
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
    opened, times = explain_reruns(data_root, results, args.explain_run, args.steps)
    print(f"Explain panel ({args.explain_run}) in AppTest: opening {opened:.2f} s (cold: model, Captum import, first "
          "explanation); clip-browser rerun with the panel open:")
    for kind, ts in times.items():
        worst = max(ts)
        print(f"  {kind}: median {np.median(ts):.2f} s, max {worst:.2f} s over {len(ts)}: target {EXPLAIN_TARGET_S} s "
              f"{'met' if worst <= EXPLAIN_TARGET_S else 'MISSED'}")
    print("load after:", uptime())
    return 0


if __name__ == "__main__":
    sys.exit(main())
