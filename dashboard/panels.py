"""Panel library of the dashboard: cached loaders (renderer, body, model in `st.cache_resource`; tracks,
scores, evaluator decisions and tables in `st.cache_data`), selection UIs that return values, and drawing
panels that take plain arrays / DataFrames. Pages (`dashboard/views/*.py`) only wire these together.

Settings come from `app.py` (`streamlit run dashboard/app.py -- --data-root R --results D`) through
`st.session_state`, else from `lartcore.paths` (LART_DATA_ROOT/demo, LART_RESULTS_DIR, LART_SMPL_DIR).
Missing SMPL files, videos or results show a note, never a traceback; a deep-link value that does not
fit says what was asked and what is shown instead. Everything that draws labels says which they are
(`lartcore.chips`): predictions of a run, ground truth, pseudo-labels.
"""
from __future__ import annotations

import io
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st
from PIL import Image

from lartcore import browse, chips, paths, schema, viz
from lartcore.body import StandInBody, load_body
from lartcore.checkpoint import Checkpoint, load_checkpoint
from lartcore.data import ava
from lartcore.data.store import TrackStore, VideoSource
from lartcore.data.tracks import detected_at
from lartcore.infer import data_config_of, track_scores
from lartcore.matches import Matches, match, outcomes_at, pr_curve
from lartcore.paths import DataRoot
from lartcore.registry import Registry, banner, per_class_gain, read_per_class
from lartcore.render import (
    BACKDROP_RGB,
    Renderer,
    draw_boxes,
    export_meshes,
    ground_path,
    people_at_frame,
    render_overlay,
    track_color,
    with_legend,
)
from lartcore.video import frames_at, frames_between, write_video

SPLITS = ("ava_val", "ava_train")
EVAL_SPLIT = "ava_val"         # the split the registry's runs are evaluated on
NONE = "(none)"
MISSING = "–"             # a missing value in a table


# ---- settings ------------------------------------------------------------------------------------------

def settings() -> dict:
    """data (a DataRoot), results, smpl_dir (None = stand-in body) for this session."""
    s = st.session_state
    smpl = s.get("smpl_dir") or paths.smpl_dir()
    return {"data": DataRoot(s.get("data_root") or paths.demo_root()),
            "results": Path(s.get("results") or paths.results_dir()), "smpl_dir": smpl}


# ---- cached loaders: each public loader keys its cache by the file's modification time ----------------

def _mtime(path: Path) -> float:
    return path.stat().st_mtime if path.exists() else 0.0


class RenderThread:
    """One persistent offscreen renderer behind one worker thread. An EGL/OSMesa context stays bound to
    the thread that made it current, and Streamlit runs every rerun on a new thread, so all drawing is
    handed to this thread."""

    def __init__(self):
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="lart-render")
        self._renderer = Renderer()

    def overlay(self, image: np.ndarray | None, people, annotate: bool = True) -> np.ndarray:
        """`lartcore.render.render_overlay` of `people` over `image` (None: backdrop) -> (H, W, 3) uint8."""
        return self._pool.submit(render_overlay, image, people, None, self._renderer, annotate).result()


@st.cache_resource
def renderer() -> RenderThread:
    """The server's renderer (see RenderThread)."""
    return RenderThread()


@st.cache_resource
def body(smpl_dir: str | None):
    """(body model, note): SMPL when a model folder is set and valid, else the stand-in body."""
    if smpl_dir is None:
        return StandInBody(), "No SMPL model files (set LART_SMPL_DIR): meshes use the stand-in body."
    try:
        return load_body(smpl_dir), ""
    except (FileNotFoundError, ValueError) as e:
        return StandInBody(), f"SMPL model not usable ({e}); meshes use the stand-in body."


def store(path: Path) -> TrackStore:
    """The packed track store at `path` (reopened when its index changes)."""
    return _store(str(path), _mtime(Path(path) / "index.parquet"))


@st.cache_resource
def _store(path: str, version: float) -> TrackStore:  # noqa: ARG001  (version: the cache key)
    return TrackStore(path)


def clip_tracks(path: Path, video: str, chunk: tuple[int, int]) -> list:
    """The tracks of the clips of `video` overlapping the frames `chunk` (loaded a chunk at a time)."""
    return _clip_tracks(str(path), _mtime(Path(path) / "index.parquet"), video, chunk)


@st.cache_data(max_entries=16)
def _clip_tracks(path: str, version: float, video: str, chunk: tuple[int, int]) -> list:
    try:
        src = VideoSource(_store(path, version), video, chunk)
    except KeyError:                          # no track in this stretch of the video
        return []
    return [src.track(i) for i in range(len(src))]


def checkpoint(path: Path) -> Checkpoint:
    return _checkpoint(str(path), _mtime(Path(path)))


@st.cache_resource(max_entries=4)
def _checkpoint(path: str, version: float) -> Checkpoint:  # noqa: ARG001  (version: the cache key)
    return load_checkpoint(path)


def clip_scores(ckpt_path: Path, store_path: Path, video: str, chunk: tuple[int, int]):
    """Per-frame sigmoid scores of the tracks `clip_tracks` gives (same order):
    (scores (F, C), offsets (N + 1,), action ids)."""
    return _clip_scores(str(ckpt_path), _mtime(Path(ckpt_path)), str(store_path),
                        _mtime(Path(store_path) / "index.parquet"), video, chunk)


@st.cache_data(max_entries=8, show_spinner="Predicting the clip's tracks ...")
def _clip_scores(ckpt_path: str, ckpt_mtime: float, store_path: str, store_mtime: float, video: str,
                 chunk: tuple[int, int]):
    ckpt = _checkpoint(ckpt_path, ckpt_mtime)
    src = VideoSource(_store(store_path, store_mtime), video, chunk)
    fs = track_scores(ckpt.model, src, data_config_of(ckpt), batch_size=16)
    return fs.scores, fs.offsets, fs.action_ids


def gt_table(path: Path) -> pd.DataFrame:
    return _gt_table(str(path), _mtime(Path(path)))


@st.cache_data(max_entries=4)
def _gt_table(path: str, version: float) -> pd.DataFrame:  # noqa: ARG001  (version: the cache key)
    return ava.read_gt(path)


def video_gt(data: DataRoot, video: str) -> pd.DataFrame | None:
    """The GT rows of one video from the data root's GT files (None without any GT file)."""
    found = [p for p in (data.gt(s) for s in SPLITS) if p.is_file()]
    return _video_gt(tuple(str(p) for p in found), tuple(_mtime(p) for p in found), video) if found else None


@st.cache_data(max_entries=16)
def _video_gt(paths_: tuple[str, ...], versions: tuple[float, ...], video: str) -> pd.DataFrame:
    tables = [_gt_table(p, v) for p, v in zip(paths_, versions, strict=True)]
    return pd.concat([t[t["video_id"].astype(str) == video] for t in tables], ignore_index=True)


def detections(path: Path) -> pd.DataFrame:
    return _detections(str(path), _mtime(Path(path)))


@st.cache_data(max_entries=8)
def _detections(path: str, version: float) -> pd.DataFrame:  # noqa: ARG001  (version: the cache key)
    return ava.read_detections(path, oddities=[])   # what `lart eval` reads (e.g. unclipped official boxes)


def matches(data: DataRoot, pred_path: Path) -> Matches:
    """The evaluator's decisions (`lartcore.matches.match`, the label map of the data root) for a run's
    predictions against the val GT."""
    return _matches(str(data.gt(EVAL_SPLIT)), _mtime(data.gt(EVAL_SPLIT)), str(pred_path), _mtime(Path(pred_path)),
                    str(data.labelmap()))


@st.cache_data(max_entries=6, show_spinner="Matching detections to the ground truth (the evaluator's steps) ...")
def _matches(gt_path: str, gt_mtime: float, pred_path: str, pred_mtime: float, labelmap: str) -> Matches:
    labels = ava.read_labelmap(labelmap) if Path(labelmap).is_file() else None
    return match(_gt_table(gt_path, gt_mtime), _detections(pred_path, pred_mtime), labels)


def keyframe_tracks(store_path: Path) -> pd.DataFrame:
    """Each track's detected box at each keyframe (`browse.keyframe_tracks`): who a box is."""
    return _keyframe_tracks(str(store_path), _mtime(Path(store_path) / "index.parquet"))


@st.cache_data(max_entries=2, show_spinner="Reading the tracks' keyframe boxes ...")
def _keyframe_tracks(path: str, version: float) -> pd.DataFrame:
    return browse.keyframe_tracks(_store(path, version))


@st.cache_data(ttl=30)
def runs(results: str) -> pd.DataFrame:
    return Registry(results).runs()


# ---- notes, provenance and what a run's numbers are ----------------------------------------------------

def run_name(row) -> str:
    return f"{row['dataset']}/{row['variant']}"


def provenance(reg: Registry, dataset: str, variant: str, label: str = "") -> None:
    """One caption line: checkpoint, config, data manifest and commit of a run's numbers."""
    try:
        p = reg.provenance(dataset, variant)
    except FileNotFoundError:
        st.caption(f"{label}{dataset}/{variant}: no provenance.json")
        return
    ckpt = p.get("checkpoint") or {}
    cfg = (p.get("config") or {}).get("name", "-")
    data = (p.get("data_manifest_sha256") or "-")[:12]
    st.caption(f"{label}**{dataset}/{variant}** · checkpoint `{Path(ckpt.get('path', '-')).name}` "
               f"sha `{(ckpt.get('sha256') or '-')[:12]}` · config `{cfg}` · data manifest `{data}` · "
               f"commit `{(p.get('git_commit') or '-')[:10]}` · {p.get('created', '')}")
    if banner(p):
        st.caption(f":orange[{banner(p)}]")


def facts(reg: Registry, row, label: str = "") -> str:
    """What a run's numbers are (`browse.run_facts`): protocol, classes predicted / evaluated, data."""
    try:
        pred = reg.predictions_path(row["dataset"], row["variant"])
        return label + _facts(str(reg.root), row["dataset"], row["variant"], str(row["path"]), bool(row["demo"]),
                              _mtime(pred))
    except (FileNotFoundError, ValueError) as e:
        return f"{label}run {run_name(row)}: {e}"


@st.cache_data(max_entries=32)
def _facts(root: str, dataset: str, variant: str, path: str, demo: bool, version: float) -> str:  # noqa: ARG001  (version: the cache key)
    reg = Registry(root)
    ids = detections(reg.predictions_path(dataset, variant))["action_id"].unique()
    return browse.run_facts(f"{dataset}/{variant}", browse.protocol_of(path), ids,
                            len(reg.per_class(dataset, variant)), demo)


def run_captions(reg: Registry, rows: dict) -> None:
    """Facts and provenance of each run shown ({label: registry row})."""
    for label, row in rows.items():
        if row is not None:
            st.caption(facts(reg, row, label))
            provenance(reg, row["dataset"], row["variant"], label)


def predictions_or_stop(reg: Registry, rows) -> None:
    """Stop the page with a note when a chosen run has no predictions.csv (its boxes cannot be shown)."""
    for r in rows:
        try:
            reg.predictions_path(r["dataset"], r["variant"])
        except FileNotFoundError as e:
            st.info(f"Run {run_name(r)} has no predictions to show: {e}")
            st.stop()


def no_runs_note(results: Path) -> None:
    st.info(f"No results in `{results}`. Run `make demo` (or `lart demo`) to train and evaluate the demo "
            "variants, or start the dashboard with `-- --results DIR`.")


def media_notes(cfg: dict, view: ClipView) -> list[str]:
    """Notes on what stands in for missing inputs: the body model and the video."""
    _, body_note = body(None if cfg["smpl_dir"] is None else str(cfg["smpl_dir"]))
    path = view.data.video(view.video)
    video_note = "" if path else (f"No video for {view.video} in `{view.data.path / 'videos'}`: meshes over a "
                                  "plain backdrop.")
    return [n for n in (body_note, video_note) if n]


def link_notes(notes: list[str]) -> None:
    """Deep-link values that did not fit: what was asked and what is shown."""
    for n in (n for n in notes if n):
        st.warning(f"Deep link: {n}")


def table(df: pd.DataFrame, key: str, precision: int = 3, **kwargs):
    """st.dataframe with floats to `precision` decimals and missing values shown as '–' (Streamlit draws
    every null as 'None', so columns with missing values are shown as text)."""
    shown = df.copy()
    for c in shown.columns:
        col = shown[c]
        whole = pd.api.types.is_float_dtype(col) and bool(np.all(np.mod(col.dropna(), 1) == 0)) and col.notna().any()
        if whole and not col.isna().any():
            shown[c] = col.astype("int64")                   # ranks, track ids, seconds: no decimals
        elif pd.api.types.is_float_dtype(col) and col.isna().any():
            shown[c] = [MISSING if pd.isna(v) else (f"{v:.0f}" if whole else f"{v:.{precision}f}") for v in col]
        elif col.isna().any():
            shown[c] = col.astype(object).where(col.notna(), MISSING)
    return st.dataframe(shown.style.format(precision=precision), hide_index=True, key=key, **kwargs)


# ---- selection UIs -------------------------------------------------------------------------------------

def query(name: str) -> str | None:
    return st.query_params.get(name)


def run_selector(table_: pd.DataFrame, label: str, key: str, index: int = 0, with_ckpt: bool = False,
                 where=st, param: str | None = None, optional: bool = False):
    """Pick one run of the registry table (in `where`: st or st.sidebar) -> (its row or None, deep-link
    note). The initial choice: the run the query parameter `param` names (a note if it is not listed),
    else `index` (optional: "(none)" first)."""
    if with_ckpt:
        table_ = table_[[(Path(p) / "checkpoint.pt").is_file() for p in table_["path"]]]
    names = [run_name(r) for _, r in table_.iterrows()]
    options = ([NONE] if optional else []) + names
    if not names:
        return None, (f"run {query(param)!r} asked, but there is no run with a checkpoint." if param and
                      query(param) else "")
    default = options[min(index, len(options) - 1)]
    want, note = browse.pick(query(param) if param else None, options, "run", default=default)
    if key not in st.session_state or st.session_state[key] not in options:
        st.session_state[key] = want
    pick = where.selectbox(label, options, key=key)
    return (None if pick == NONE else table_.iloc[names.index(pick)]), note


def class_selector(label: str, key: str, ids, param: str | None = None, optional: bool = True, where=st,
                   default: int | None = None, none: str = "(none)"):
    """Pick an AVA class (by short name) -> (id, or None for the `none` choice; deep-link note)."""
    options = ([0] if optional else []) + [int(i) for i in ids]
    want, note = browse.pick(query(param) if param else None, options, "class", int,
                             default=default if default in options else options[0])
    if key not in st.session_state or st.session_state[key] not in options:
        st.session_state[key] = want
    pick = where.selectbox(label, options, key=key,
                           format_func=lambda a: none if a == 0 else f"{schema.short_name(a)} ({a})")
    return (pick or None), note


def people_table(df: pd.DataFrame) -> int | None:
    """The frame's people as a table; a click on a row -> that track id (once per new click), else None."""
    event = table(df, key="people", on_select="rerun", selection_mode="single-row")
    rows = event.selection.rows
    picked = int(df["track"].iloc[rows[0]]) if rows else None
    new = picked if picked != st.session_state.get("people_pick") else None
    st.session_state["people_pick"] = picked
    return new


def person_selector(ids: list[int], clicked: int | None) -> tuple[int, str]:
    """The followed track id: a clicked table row, else the current choice, else ?track=, else the first
    -> (id, deep-link note)."""
    note = ""
    if clicked in ids:
        st.session_state["track"] = clicked
    elif st.session_state.get("track") not in ids:
        want, note = browse.pick(query("track"), ids, "track", int)
        st.session_state["track"] = want
    return int(st.selectbox("follow person (track id)", ids, key="track",
                            help="or click a person's row in the table above")), note


def frame_selector(frames: tuple[int, int], keys: np.ndarray, cuts: np.ndarray, default: int) -> int:
    """Slider over the clip's frames with keyframe (and, when the video has cuts, shot) stepping buttons ->
    the chosen frame."""
    if "frame" not in st.session_state or not frames[0] <= st.session_state["frame"] <= frames[1]:
        st.session_state["frame"] = int(np.clip(default, *frames))
    starts = np.array([a for a, _ in browse.shot_spans(cuts, *frames)], np.int64)
    steps = {"prev_kf": ("◀ keyframe", keys, -1), "next_kf": ("keyframe ▶", keys, +1)}
    if len(starts) > 1:
        steps.update(prev_shot=("◀ shot", starts, -1), next_shot=("shot ▶", starts, +1))
    cols = st.columns([1] * len(steps) + [8 - len(steps)])
    for col, (key, (label, where, step)) in zip(cols, steps.items(), strict=False):
        if col.button(label, key=key):
            st.session_state["frame"] = browse.step_keyframe(where, st.session_state["frame"], step)
    return int(st.slider("frame (30 fps from AVA second 900)", frames[0], frames[1], key="frame"))


# ---- the clip browser: what is drawn ---------------------------------------------------------------------

@dataclass
class ClipView:
    """Everything the clip browser draws at a frame, chosen in the sidebar: the clip, its tracks of the
    minute on screen (`chunk`), the runs whose predictions are shown (A drawn; B compared in the tables
    and curves), the label toggles, and the class whose TP / FP / FN boxes are drawn."""
    data: DataRoot
    split: str
    video: str
    frame: int
    span: tuple[int, int]
    cuts: np.ndarray
    chunk: tuple[int, int]
    tracks: list
    body: object
    run: object = None                   # registry row of run A, or None
    run_b: object = None
    scores: tuple | None = None          # (scores (F, C), offsets, action ids) of run A on `tracks`
    scores_b: tuple | None = None
    top_k: int = 3
    threshold: float = 0.2
    show_pred: bool = True
    show_gt: bool = True
    show_pseudo: bool = False
    outcome_class: int | None = None
    matches: Matches | None = None       # run A's evaluator decisions (when outcome_class is set)
    gt: pd.DataFrame | None = None       # GT rows of the data root's GT files
    notes: list[str] = field(default_factory=list)

    def legend(self) -> chips.Legend:
        """What the drawing shows (the same at every frame, so a played or exported stretch keeps it)."""
        pred = self.scores is not None and self.show_pred
        return chips.Legend(run=f"run {run_name(self.run)}" if pred else None, top_k=self.top_k,
                            threshold=self.threshold, gt=self.show_gt, pseudo=self.show_pseudo,
                            gt_boxes=self.show_gt and self.gt is not None,
                            outcomes=schema.short_name(self.outcome_class)
                            if self.outcome_class and self.matches is not None else "")


def clip_selector(cfg: dict) -> ClipView:
    """Sidebar and frame choices of the clip browser -> a ClipView (stops the page with a note when there
    is no store or no track at that time)."""
    data = cfg["data"]
    split = st.sidebar.selectbox("split", [s for s in SPLITS if s in data.stores()])
    if split is None:
        st.warning(f"No track store under `{data.path / 'store'}`. Build the demo data with "
                   "`lart data build-demo` or start with `-- --data-root ROOT`.")
        st.stop()
    spath, notes = data.store(split), []
    vids = browse.videos(store(spath).index)
    want, note = browse.pick(query("video"), vids, "video")
    notes.append(note)
    if st.session_state.get("video") not in vids:
        st.session_state["video"] = want
    video = st.sidebar.selectbox("video", vids, key="video")
    labels = label_controls(cfg, notes)
    first, last = browse.video_span(store(spath).index, video)
    keys, cuts = schema.keyframes(first, last), store(spath).shot_changes(video)
    default = int(keys[0]) if len(keys) else first
    asked, note = browse.parse_time(query("t"), (first, last), default)
    notes.append(note if "frame" not in st.session_state else "")
    frame = frame_selector((first, last), keys, cuts, asked)
    chunk = browse.chunk_of(frame)
    tracks = clip_tracks(spath, video, chunk)
    link_notes(notes)
    if not tracks:
        st.info(f"No tracks of {video} between frames {chunk[0]} and {chunk[1]}: pick another time.")
        st.stop()
    view = ClipView(data, split, video, frame, (first, last), cuts, chunk, tracks,
                    body(None if cfg["smpl_dir"] is None else str(cfg["smpl_dir"]))[0], **labels, notes=notes)
    return _with_predictions(view, spath)


def label_controls(cfg: dict, notes: list[str]) -> dict:
    """The sidebar's choices of what is drawn -> ClipView fields: runs A and B, top-k, threshold, the label
    toggles and the class whose TP / FP / FN boxes are drawn (deep-link notes appended to `notes`)."""
    table_ = runs(str(cfg["results"]))
    run, note_a = run_selector(table_, "predictions of run (A)", "run", with_ckpt=True, where=st.sidebar,
                               param="run")
    run_b, note_b = run_selector(table_, "compare with run (B)", "run_b", with_ckpt=True, where=st.sidebar,
                                 param="b", optional=True)
    out = {"run": run, "run_b": run_b,
           "top_k": st.sidebar.slider("top-k labels", 1, 5, 3, key="top_k"),
           "threshold": st.sidebar.slider("score threshold", 0.0, 1.0, 0.2, 0.05, key="threshold"),
           "show_pred": st.sidebar.toggle("predicted labels (run A)", True, key="show_pred"),
           "show_gt": st.sidebar.toggle("ground truth (GT labels, dashed boxes)", True, key="show_gt"),
           "show_pseudo": st.sidebar.toggle("pseudo-labels of the dataset (~)", False, key="show_pseudo")}
    out["outcome_class"], note_c = class_selector("TP / FP / FN boxes of class (run A, IoU 0.5)", "outcome_class",
                                                  schema.EVALUATED_IDS, "class", where=st.sidebar)
    notes += [note_a, note_b, note_c]
    return out


def _with_predictions(view: ClipView, spath: Path) -> ClipView:
    """The view with the runs' scores of the chunk, the GT table and run A's evaluator decisions."""
    scores = [clip_scores(Path(r["path"]) / "checkpoint.pt", spath, view.video, view.chunk) if r is not None
              else None for r in (view.run, view.run_b)]
    gt = video_gt(view.data, view.video)
    m = None
    if view.outcome_class and view.run is not None and view.split == EVAL_SPLIT:
        pred = Path(view.run["path"]) / "predictions.csv"
        m = matches(view.data, pred) if pred.is_file() and view.data.gt(EVAL_SPLIT).is_file() else None
    return replace(view, scores=scores[0], scores_b=scores[1], gt=gt, matches=m)


def update_link(view: ClipView, track: int | None) -> None:
    """The URL follows every selection (deep link)."""
    q = {"video": view.video, "t": f"{schema.timestamp_of(view.frame):g}"}
    q.update({k: run_name(r) for k, r in (("run", view.run), ("b", view.run_b)) if r is not None})
    if view.outcome_class:
        q["class"] = str(view.outcome_class)
    if track is not None:
        q["track"] = str(track)
    for k in ("run", "b", "class", "track"):
        if k not in q and k in st.query_params:
            del st.query_params[k]
    st.query_params.update(q)


def frame_people(view: ClipView, f: int):
    """(People of frame f with the view's chips, their (track position, frame index) rows)."""
    people = people_at_frame(view.tracks, f, view.body)
    rows = detected_at(view.tracks, f)
    s = view.scores if view.show_pred else None
    labels = chips.for_people(view.tracks, rows, *(s or (None, None, ())), view.top_k, view.threshold,
                              gt=view.show_gt, pseudo_labels=view.show_pseudo)
    return replace(people, labels=labels), rows


def video_frame(data: DataRoot, video: str, frame: int, size: tuple[int, int]):
    """(frame (H, W, 3) uint8 or None, note): the real video frame when the data root has the clip's video."""
    path = data.video(video)
    if path is None:
        return None, f"No video for {video} in `{data.path / 'videos'}`: meshes over a plain backdrop."
    try:
        rgb = frames_at(path, [schema.timestamp_of(frame)])[0]
    except (ValueError, FileNotFoundError) as e:
        return None, f"Video {path} not readable ({e}): meshes over a plain backdrop."
    return _fit(rgb, size), ""


def _fit(rgb: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    if rgb.shape[:2] != tuple(size):
        rgb = np.asarray(Image.fromarray(rgb).resize((size[1], size[0]), Image.BILINEAR))
    return rgb


def _boxes(view: ClipView, f: int) -> tuple[np.ndarray, list[str], list[str]]:
    """Boxes drawn under the meshes at frame f: GT boxes (dashed white) and run A's TP / FP / FN boxes of
    the chosen class at keyframes."""
    boxes, kinds, tags = [], [], []
    ts = schema.timestamp_of(f)
    if view.show_gt and view.gt is not None:
        g = browse.gt_boxes_at(view.gt, view.video, f)
        boxes += g[ava.BOX].to_numpy(np.float64).tolist()
        kinds += ["GT"] * len(g)
        tags += [""] * len(g)
    if view.matches is not None and view.outcome_class and f % schema.FPS == 0:
        o = outcomes_at(view.matches, view.video, ts, view.outcome_class, view.threshold)
        boxes += o[ava.BOX].to_numpy(np.float64).tolist()
        kinds += o["outcome"].tolist()
        tags += [f"{k} {s:.2f}" if np.isfinite(s) else k for k, s in zip(o["outcome"], o["score"], strict=True)]
    return np.array(boxes, np.float64).reshape(-1, 4), kinds, tags


@dataclass(frozen=True)
class Highlight:
    """People outlined thick in their track colour on top of the drawing, each with a tag (the Explain
    panel's top contributors), and the legend line saying what the outlines mean."""
    track_ids: tuple[int, ...]
    tags: tuple[str, ...]
    legend: tuple[str, ...]          # lines


def compose(view: ClipView, f: int, image: np.ndarray | None = None, follow: int | None = None,
            legend: bool = True, highlight: Highlight | None = None) -> np.ndarray:
    """The drawing of frame f: the video frame (`image`, else read from the data root's video, else the
    backdrop), GT / outcome boxes and the `highlight` outlines (under the meshes and chips), meshes, ids and
    chips (`frame_people`), where a followed person who is not detected here was last seen, and the legend
    band below."""
    people, _ = frame_people(view, f)
    if image is None:
        image, _ = video_frame(view.data, view.video, f, people.frame_size)
    boxes, kinds, tags = _boxes(view, f)
    if len(boxes) or follow is not None or highlight is not None:
        if image is None:
            image = np.empty((*people.frame_size, 3), np.uint8)
            image[:] = BACKDROP_RGB
        image = draw_boxes(image, boxes, kinds, tags) if len(boxes) else image
        image = _outline(view, image, f, highlight) if highlight is not None else image
        image = _last_seen_marker(view, image, follow, f)
    out = renderer().overlay(image, people)
    lines = view.legend().lines() + (list(highlight.legend) if highlight is not None else [])
    return with_legend(out, lines) if legend else out


def _outline(view: ClipView, image: np.ndarray, f: int, h: Highlight) -> np.ndarray:
    """The highlighted people detected at frame f outlined (3x the box width) in their track colour, tagged."""
    at = {view.tracks[k].track_id: (k, i) for k, i in detected_at(view.tracks, f)}
    hit = [(t, tag) for t, tag in zip(h.track_ids, h.tags, strict=True) if t in at]
    if not hit:
        return image
    H, W = image.shape[:2]
    xywh = np.array([view.tracks[at[t][0]].box[at[t][1]] for t, _ in hit], np.float64)      # pixels
    boxes = np.stack([xywh[:, 0] / W, xywh[:, 1] / H, (xywh[:, 0] + xywh[:, 2]) / W,
                      (xywh[:, 1] + xywh[:, 3]) / H], axis=1)
    return draw_boxes(image, boxes, ["TP"] * len(hit), [tag for _, tag in hit],
                      colors=[track_color(t) for t, _ in hit], width=3 * max(2, round(H / 240)), tags_below=True)


def _last_seen_marker(view: ClipView, image: np.ndarray, follow: int | None, f: int) -> np.ndarray:
    """A dashed box in the followed person's colour where they were last seen, when not detected at f."""
    if follow is None or any(view.tracks[k].track_id == follow for k, _ in detected_at(view.tracks, f)):
        return image
    track = view.tracks[track_position(view.tracks, follow, f)]
    last, _ = browse.seen_near(track, f)
    if last is None:
        return image
    i = last - int(track.frame[0])
    h, w = image.shape[:2]
    x0, y0, bw, bh = (float(v) for v in track.box[i])
    box = np.array([[x0 / w, y0 / h, (x0 + bw) / w, (y0 + bh) / h]])
    return draw_boxes(image, box, ["FN"], [f"#{follow} last seen {_ago(f - last)}"], colors=[track_color(follow)])


def _ago(frames: int) -> str:
    return f"{frames} frame{'s' if frames > 1 else ''} ago" if frames < schema.FPS else f"{frames / schema.FPS:.1f} s ago"


def track_position(tracks, track_id: int, frame: int) -> int:
    """The track file of `track_id` covering `frame` (else its first one)."""
    mine = [k for k, t in enumerate(tracks) if t.track_id == track_id]
    covering = [k for k in mine if tracks[k].frame[0] <= frame <= tracks[k].frame[-1]]
    return (covering or mine)[0]


def people_frame(view: ClipView, rows, people) -> pd.DataFrame:
    """One row per visible person: track id, colour, detector confidence, labels shown; with a class
    chosen, runs A's (and B's) score of it."""
    t = view.tracks
    out = pd.DataFrame({"track": [t[p].track_id for p, _ in rows],
                        "colour": ["#{:02x}{:02x}{:02x}".format(*track_color(t[p].track_id)) for p, _ in rows],
                        "conf": [float(t[p].conf[i]) for p, i in rows],
                        "labels": [" · ".join(c) for c in people.labels]})
    for name, s, run in (("A", view.scores, view.run), ("B", view.scores_b, view.run_b)):
        if s is not None and view.outcome_class in s[2]:
            col = list(s[2]).index(view.outcome_class)
            out[f"{schema.short_name(view.outcome_class)} ({name}: {run['variant']})"] = [
                float(s[0][s[1][p] + i, col]) for p, i in rows]
    return out


def frame_caption(view: ClipView, n_people: int) -> str:
    shot = (f"shot {browse.shot_of(view.cuts, view.frame) + 1}/{len(view.cuts) + 1} · " if len(view.cuts) else "")
    source = "over the video frame" if view.data.video(view.video) else "over a backdrop (no video)"
    return (f"{view.video} · t = {schema.timestamp_of(view.frame):.2f} s · frame {view.frame} · {shot}"
            f"{n_people} {'person' if n_people == 1 else 'people'} · {source} · the legend below the frame "
            "says which labels are drawn")


def not_detected_note(view: ClipView, track_id: int) -> None:
    """When the followed person is not detected at this frame: say so, where they were last / are next
    seen, and offer to go there."""
    if any(view.tracks[k].track_id == track_id for k, _ in detected_at(view.tracks, view.frame)):
        return
    track = view.tracks[track_position(view.tracks, track_id, view.frame)]
    last, after = browse.seen_near(track, view.frame)
    seen = [f"last seen at t = {schema.timestamp_of(last):.2f} s (frame {last}, dashed box)" if last is not None
            else "not seen before", f"next seen at t = {schema.timestamp_of(after):.2f} s" if after is not None
            else "not seen after"]
    inside = track.frame[0] <= view.frame <= track.frame[-1]
    what = "in-filled by the mask token" if inside else "outside their track"
    st.warning(f"#{track_id} not detected here ({what}); {seen[0]}, {seen[1]}.")
    cols = st.columns(6)
    for col, (label, target, key) in zip(cols, (("◀ last seen", last, "go_last"), ("next seen ▶", after, "go_next")),
                                         strict=False):
        if target is not None:
            col.button(label, key=key, on_click=go_to, args=(int(target),))


def go_to(frame: int) -> None:
    """Button callback: the clip browser moves to `frame` on the next run."""
    st.session_state["frame"] = frame


def play(slot, view: ClipView, start: int, stop: int, follow: int | None) -> None:
    """Show every frame start..stop in `slot` as drawn at `start` (same run, top-k, threshold, toggles,
    boxes, real video frames), at most 30 frames/s."""
    size = view.tracks[0].frame_size[0]
    t_start, n = time.perf_counter(), 0
    for f, image in _frames(view, start, stop, size):
        t0 = time.perf_counter()
        slot.image(compose(view, f, image, follow), caption=f"▶ frame {f} · t = {schema.timestamp_of(f):.2f} s",
                   width="stretch")
        time.sleep(max(0.0, 1 / schema.FPS - (time.perf_counter() - t0)))
        n += 1
    st.caption(f"played frames {start}-{stop}: {n} frames (every frame) at "
               f"{n / max(time.perf_counter() - t_start, 1e-9):.0f} frames/s")


def _frames(view: ClipView, start: int, stop: int, size):
    """(frame, video image or None) for start..stop, decoding the video sequentially after one seek."""
    path = view.data.video(view.video)
    decoded = {}
    if path is not None:
        try:
            decoded = {schema.frame_of(t): rgb for t, rgb in frames_between(path, schema.timestamp_of(start),
                                                                            schema.timestamp_of(stop))}
        except (ValueError, FileNotFoundError):
            decoded = {}
    for f in range(start, stop + 1):
        image = decoded.get(f)
        yield f, None if image is None else _fit(image, tuple(int(v) for v in size))


def clip_mp4(view: ClipView, start: int, stop: int, follow: int | None) -> tuple[bytes, str]:
    """(bytes, file name) of an H.264 MP4 (VP9 WebM when no H.264 encoder) of frames start..stop drawn as
    the frame on screen is; the legend band and the file's comment tag say which labels are shown."""
    size = view.tracks[0].frame_size[0]
    frames = (compose(view, f, image, follow) for f, image in _frames(view, start, stop, size))
    with tempfile.TemporaryDirectory() as tmp:
        path = write_video(Path(tmp) / "overlay.mp4", frames, metadata={"comment": view.legend().text()})
        return path.read_bytes(), path.name


def png_bytes(image: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="PNG")
    return buf.getvalue()


def mesh_bytes(people, suffix: str) -> bytes:
    """One frame's meshes as GLB or OBJ bytes (via `lartcore.render.export_meshes`)."""
    with tempfile.TemporaryDirectory() as tmp:
        return export_meshes(people, Path(tmp) / f"frame{suffix}").read_bytes()


def figure_downloads(fig, name: str, key: str) -> None:
    """HTML (interactive) download of a plotly figure."""
    st.download_button(f"{name} (HTML)", lambda: fig.to_html(include_plotlyjs="cdn"), f"{name}.html", "text/html",
                       key=key)                          # made on click


def exports(view: ClipView, image: np.ndarray, people, table_: pd.DataFrame, follow: int | None) -> None:
    """Downloads: frame PNG (as shown, with its legend), people CSV, meshes GLB/OBJ, and an MP4 of a
    stretch of the clip drawn the same way."""
    c1, c2, c3, c4 = st.columns(4)
    name = f"{view.video}_{view.frame}"                  # files are made when a button is clicked
    c1.download_button("frame (PNG)", lambda: png_bytes(image), f"{name}.png", "image/png", key="dl_png")
    c2.download_button("people (CSV)", table_.to_csv(index=False), f"{name}.csv", "text/csv", key="dl_csv")
    if len(people):
        c3.download_button("meshes (GLB)", lambda: mesh_bytes(people, ".glb"), f"{name}.glb", "model/gltf-binary",
                           key="dl_glb")
        c4.download_button("meshes (OBJ)", lambda: mesh_bytes(people, ".obj"), f"{name}.obj", "text/plain",
                           key="dl_obj")
    with st.expander("MP4 of the clip, drawn as above"):
        seconds = st.slider("seconds from this frame", 1, 10, 2, key="mp4_seconds")
        st.caption(f"Labels: {view.legend().text()}")
        stop = min(view.span[1], view.chunk[1], view.frame + seconds * schema.FPS - 1)
        made_for = (view.video, view.frame, stop, follow, view.legend().text())
        if st.button("render MP4", key="mp4"):
            st.session_state["mp4_made"] = (made_for, clip_mp4(view, view.frame, stop, follow))
        made = st.session_state.get("mp4_made")
        if made is not None and made[0] == made_for:     # kept over reruns while what it shows is unchanged
            data, fname = made[1]
            st.video(data)
            st.download_button("overlay (MP4)", data, f"{name}_{fname}", key="dl_mp4")


def follow_panel(view: ClipView, track_id: int) -> None:
    """One person over time: the pose timeline with the stretches in-filled by the mask token, and
    prediction curves of chosen classes for run A (and B, dashed)."""
    pos = track_position(view.tracks, track_id, view.frame)
    track = view.tracks[pos]
    per = [None if s is None else s[0][s[1][pos]:s[1][pos + 1]] for s in (view.scores, view.scores_b)]
    ids = view.scores[2] if view.scores is not None else ()
    options = [int(a) for a in ids] or [int(a) for a in schema.EVALUATED_IDS]
    default = browse.top_classes(per[0], ids) if per[0] is not None else []
    if view.outcome_class in options and view.outcome_class not in default:
        default = [view.outcome_class, *default]
    chosen = st.multiselect("classes to plot", options, default=default, format_func=schema.short_name,
                            key="curve_classes")
    if per[0] is None:
        st.caption("No predictions (no run with a checkpoint): pose timeline only.")
    names = tuple(run_name(r) if r is not None else "" for r in (view.run, view.run_b))
    per_b = per[1] if view.scores_b is not None and tuple(view.scores_b[2]) == tuple(ids) else None
    key = (view.video, track.track_id, track.keyframe, int(track.frame[0]), len(track), tuple(chosen), names)
    fig = timeline_chart(_pose_figure(key, track, per[0], tuple(ids), tuple(chosen), view.cuts, names, per_b),
                         view.frame, "timeline")
    missing = browse.missing_spans(track)
    st.caption(f"{len(missing)} stretch(es) without detection, {int((~track.has_detection).sum())} frames "
               "in-filled by the mask token")
    figure_downloads(fig, f"track_{track.track_id}_timeline", "dl_timeline")


_FIGURE_LOCK = threading.Lock()


def timeline_chart(fig, frame: int, key: str, where=st):
    """Show a cached timeline figure with its "this frame" line moved to `frame` (the figure is shared by
    the server's sessions: the move and the serialisation happen under one lock)."""
    with _FIGURE_LOCK:
        where.plotly_chart(viz.move_frame_line(fig, frame), key=key)
    return fig


@st.cache_resource(max_entries=64)
def _pose_figure(_key: tuple, _track, scores, ids: tuple, chosen: tuple, cuts, names: tuple, scores_b):
    """The pose timeline of one person, built once per (person, classes, runs) (`_key`; the arrays are
    hashed too): a frame change only moves its frame line."""
    return viz.pose_timeline(_track, scores, ids, list(chosen), int(_track.frame[0]), cuts, names, scores_b)


@st.cache_resource(max_entries=64)
def video_timeline_figure(store_path: str, video: str, cuts, span: tuple, selected: int):
    """The video timeline strip of a video with the followed person outlined, built once per person."""
    return viz.video_timeline(browse.track_lanes(store(Path(store_path)).index, video), cuts, span, span[0],
                              selected)


def view_3d(view: ClipView, people) -> None:
    """Interactive plotly meshes of the frame's people from camera-matched views, with ground paths (drawn
    only while its toggle is on: a frame change stays fast)."""
    if not st.toggle("3D view of the frame (camera, side and top views; ground paths)", False, key="show3d"):
        return
    if not len(people):
        st.caption("Nobody detected at this frame.")
        return
    c1, c2 = st.columns(2)
    mode = c1.radio("layout", ["depth", "root"], horizontal=True, key="mode3d",
                    help="depth: the scene as the camera sees it; root: side by side")
    angle = c2.radio("view", list(viz.VIEWS), horizontal=True, key="view3d_angle",
                     help="camera: as the image (x to the right); side: from the right; top: from above")
    paths_ = {int(t.track_id): ground_path(t, view.chunk) for t in view.tracks
              if int(t.track_id) in set(people.track_ids.tolist())}
    fig = viz.meshes_3d(people, mode, view=angle, paths=paths_)
    st.plotly_chart(fig, key="view3d")
    st.caption("Depth layout: each person's ground path over the minute on screen (a circle where it "
               "starts); depths compressed as `lartcore.render.plot_points` says.")
    figure_downloads(fig, "frame_3d", "dl_3d")


# ---- per-class comparison panels -----------------------------------------------------------------------

def uploaded_pair():
    """(table A, table B, names) from two uploaded per_class.csv files (checked by
    `browse.validate_per_class`), or (None, None, None) with a note saying why."""
    files = [st.sidebar.file_uploader(f"{k} per_class.csv", type="csv", key=f"up_{k}") for k in "AB"]
    if not all(files):
        return None, None, None
    out = []
    for f in files:
        try:
            df, note = browse.validate_per_class(read_per_class(f), f.name)
        except (ValueError, pd.errors.ParserError, pd.errors.EmptyDataError) as e:
            st.error(f"Not a usable per-class table: {e}")
            return None, None, None
        st.caption(note)
        out.append(df)
    return out[0], out[1], (files[0].name, files[1].name)


def comparison_charts(a: pd.DataFrame, b: pd.DataFrame, types: list[str], names: tuple[str, str],
                      banner_text: str) -> None:
    """Per-class AP of A and B side by side and the sorted gain chart (paper Figures 2/3/5 style, via
    `lartcore.viz`), classes of the chosen types; figures downloadable as HTML."""
    a, b = a[a["type"].isin(types)], b[b["type"].isin(types)]
    side = viz.per_class_ap(a, b, *names, banner_text)
    st.plotly_chart(side, key="side_chart")
    figure_downloads(side, "per_class_ap", "dl_side")
    min_gain = st.slider("gain chart: classes with |gain| above (AP)", 0.0, 10.0, 1.0, 0.5, key="min_gain")
    gains = per_class_gain(a, b, min_gain=min_gain, relative=True)
    if gains.empty:
        st.caption(f"No class with |gain| > {min_gain:g} AP.")
        return
    gain = viz.class_gains(gains, *names, banner_text, min_gain=min_gain)
    st.plotly_chart(gain, key="gain_chart")
    figure_downloads(gain, "per_class_gain", "dl_gain")


def run_pair(reg: Registry, run_a, run_b, data: DataRoot):
    """Both runs' evaluator decisions, or None with a note when a file is missing."""
    gt_path = data.gt(EVAL_SPLIT)
    if not gt_path.is_file():
        st.info(f"No ground truth at `{gt_path}`: start with `-- --data-root` of the runs' data.")
        return None
    try:
        return tuple(matches(data, reg.predictions_path(r["dataset"], r["variant"])) for r in (run_a, run_b))
    except FileNotFoundError as e:
        st.info(f"{e}")
        return None


def ab_drilldown_panel(reg: Registry, run_a, run_b, both: pd.DataFrame, data: DataRoot) -> None:
    """A class -> its boxes where A is right and B wrong (or B right, A wrong), or either run's false
    positives / negatives at a score threshold, from the evaluator's matching, each linked to the clip
    browser with both runs, the class and the person."""
    st.subheader("Drill-down: A against B, box by box")
    ids = [int(i) for i in both.dropna(subset=["gain"])["id"]]
    if not ids:
        st.caption("No class with GT among the chosen types.")
        return
    pair = run_pair(reg, run_a, run_b, data)
    if pair is None:
        return
    c1, c2, c3 = st.columns(3)
    action = c1.selectbox("class", ids, format_func=schema.short_name, key="drill_class")
    sort = c2.selectbox("show", browse.AB_SORTS, key="drill_sort")
    point = c3.radio("a run predicts the class at", ["its top n_GT scores", "a fixed score"], key="drill_point",
                     help="its top n_GT: each run's score of its n_GT-th detection of the class (precision = "
                     "recall there), so runs with different calibration compare fairly")
    if point == "a fixed score":
        thr = st.slider("fixed score threshold", 0.0, 1.0, 0.5, 0.05, key="drill_thr")
        thresholds = (thr, thr)
    else:
        thresholds = tuple(browse.operating_point(m, action) for m in pair)
    rows = browse.ab_drilldown(browse.ab_boxes(*pair, action, thresholds), sort)
    rows["track"] = browse.attach_tracks(rows, keyframe_tracks(data.store(EVAL_SPLIT)))
    a, b = run_name(run_a), run_name(run_b)
    rows["open"] = ["/" + browse.deep_link(v, t, k, a, b, action) for v, t, k in
                    zip(rows["video_id"], rows["timestamp"], rows["track"], strict=True)]
    st.caption(f"{len(rows)} boxes of {schema.short_name(action)}: {sort} (A = {a} predicts it at score >= "
               f"{thresholds[0]:.3f}, B = {b} at >= {thresholds[1]:.3f}; box-level, the evaluator's IoU-0.5 "
               "matching; a link opens the clip browser on that keyframe with both runs, the class and the "
               "person)")
    table(rows, key="drill", column_config={"open": st.column_config.LinkColumn("clip browser",
                                                                                  display_text="open")})
    st.download_button("boxes (CSV)", rows.to_csv(index=False), f"drilldown_{action}.csv", "text/csv",
                       key="dl_drill")


# ---- evaluation: PR curves and label confusion ---------------------------------------------------------

def clicked_rank(event, curves: dict[str, pd.DataFrame]) -> tuple[str | None, int]:
    """(run name, rank) of the PR-curve point clicked last, or (None, 0). A point's index in its trace is
    its row in that run's curve (rank order)."""
    points = event.selection.points if event is not None and event.selection else []
    if not points:
        return None, 0
    point = points[0]
    name = list(curves)[int(point.get("curve_number", 0))]
    index = int(point.get("point_index", point.get("point_number", 0)))
    return name, int(curves[name]["rank"].iloc[index])


def pr_panel(reg: Registry, runs_: dict, data: DataRoot, banner_text: str, body_model) -> None:
    """Per-class precision-recall curves of one or two runs from the evaluator's own pooled detections;
    clicking a point opens the detection at that rank."""
    ms = {name: matches(data, reg.predictions_path(r["dataset"], r["variant"])) for name, r in runs_.items()}
    first = next(iter(ms.values()))
    with_gt = first.per_class[first.per_class["n_gt"] > 0]
    default = int(with_gt.sort_values("n_gt", ascending=False)["id"].iloc[0]) if len(with_gt) else None
    action, note = class_selector("class", "pr_class", with_gt["id"], "class", optional=False, default=default)
    link_notes([note])
    curves = {name: pr_curve(m, action) for name, m in ms.items()}
    ap = {name: float(m.per_class.set_index("id").at[action, "ap"]) for name, m in ms.items()}
    fig = viz.pr_curves(curves, schema.short_name(action), ap, banner_text)
    event = st.plotly_chart(fig, key="pr_chart", on_select="rerun", selection_mode="points")
    n_gt = int(first.per_class.set_index("id").at[action, "n_gt"])
    st.caption(f"{n_gt} GT boxes of {schema.short_name(action)}; each point is one detection in the "
               "evaluator's pooled order (rank 1 = highest score). Click a point to open it.")
    name, rank = clicked_rank(event, curves)
    c1, c2 = st.columns([1, 3])
    if name is None:
        name = c1.selectbox("or open a detection of run", list(curves), key="pr_run")
        rank = c2.number_input("at rank", 0, max(len(curves[name]), 1), 0, key="pr_rank",
                               help="0: none; 1 = the highest-scored detection of the class")
    hit = curves[name][curves[name]["rank"] == rank]
    if len(hit):
        detection_card(hit.iloc[0], name, runs_[name], data, action, body_model)
    figure_downloads(fig, f"pr_{action}", "dl_pr")


def detection_card(det, run_label: str, run, data: DataRoot, action: int, body_model) -> None:
    """One detection (a row of `lartcore.matches.pr_curve`): its keyframe with the class's TP / FP / FN
    boxes, its numbers, and a link to the clip browser."""
    row = pd.DataFrame([det])
    track = browse.attach_tracks(row, keyframe_tracks(data.store(EVAL_SPLIT))).iloc[0]
    link = "/" + browse.deep_link(det["video_id"], det["timestamp"], track, run_name(run), None, action)
    st.markdown(f"**rank {int(det['rank'])}** of {run_label}: {'TP' if det['tp'] else 'FP'}, score "
                f"{det['score']:.3f}, precision {det['precision']:.3f}, recall {det['recall']:.3f} · "
                f"{det['video_id']} t = {det['timestamp']:g} s · person "
                f"{f'#{int(track)}' if np.isfinite(track) else 'not matched to a track'} · [open in the clip browser]({link})")
    thumb = keyframe_image(data, run, det["video_id"], float(det["timestamp"]), action, 0.0, body_model,
                           highlight=np.asarray([det[c] for c in ava.BOX], np.float64))
    if thumb is not None:
        st.image(thumb, caption="the detection: thick yellow outline; the class's other boxes: green TP, red FP, "
                 "dashed orange FN (at any score)", width=640)


def confusion_panel(reg: Registry, runs_: dict, data: DataRoot, banner_text: str) -> None:
    """For a GT class: which classes each run predicts on its GT boxes; and the whole matrix."""
    gt = gt_table(data.gt(EVAL_SPLIT))
    thr = st.slider("predicted = score at least", 0.0, 1.0, 0.5, 0.05, key="conf_thr")
    confs = {name: confusion(reg.predictions_path(r["dataset"], r["variant"]), data, thr) for name, r in runs_.items()}
    ids = sorted(int(a) for a in gt["action_id"].unique() if a in schema.EVALUATED_IDS)
    action = st.selectbox("GT class", ids, format_func=schema.short_name, key="conf_class")
    fig = viz.confusion_bars(next(iter(confs.values())), action, confs, banner=banner_text)
    st.plotly_chart(fig, key="conf_bars")
    with st.expander("the whole matrix (first run)"):
        st.plotly_chart(viz.confusion_matrix(next(iter(confs.values())), banner_text), key="conf_matrix")
    st.caption("Each GT box takes the run's detection box that overlaps it most (IoU >= 0.5 in its keyframe; "
               "none: nothing predicted). Label co-occurrence in the GT makes off-diagonal bars expected.")


def confusion(pred_path: Path, data: DataRoot, threshold: float) -> pd.DataFrame:
    return _confusion(str(pred_path), _mtime(Path(pred_path)), str(data.gt(EVAL_SPLIT)), _mtime(data.gt(EVAL_SPLIT)),
                      threshold)


@st.cache_data(max_entries=8, show_spinner="Pairing GT boxes with detection boxes ...")
def _confusion(pred: str, pred_mtime: float, gt: str, gt_mtime: float, threshold: float) -> pd.DataFrame:
    return browse.label_confusion(_gt_table(gt, gt_mtime), _detections(pred, pred_mtime), threshold)


# ---- the keyframe grid ---------------------------------------------------------------------------------

def keyframe_image(data: DataRoot, run, video: str, timestamp: float, action: int, threshold: float,
                   body_model, highlight: np.ndarray | None = None, width: int | None = None) -> np.ndarray | None:
    """A rendered keyframe: the video frame (or backdrop), the people's meshes (no boxes or chips), the
    class's TP / FP / FN boxes of `run` at `threshold` on top, optionally one box outlined thick in yellow;
    rendered at `width` pixels wide (the PHALP camera scales with the frame). None when no track covers it."""
    f = schema.frame_of(timestamp)
    tracks = clip_tracks(data.store(EVAL_SPLIT), video, browse.chunk_of(f))
    if not tracks:
        return None
    people = people_at_frame(tracks, f, body_model)
    h, w = people.frame_size
    size = (round(h * width / w), width) if width else (h, w)
    people = replace(people, labels=[[] for _ in range(len(people))], frame_size=size)
    image, _ = video_frame(data, video, f, size)
    if image is None:
        image = np.empty((*size, 3), np.uint8)
        image[:] = BACKDROP_RGB
    o = outcomes_at(matches(data, Path(run["path"]) / "predictions.csv"), video, timestamp, action, threshold)
    out = renderer().overlay(image, people, annotate=False)
    out = draw_boxes(out, o[ava.BOX].to_numpy(np.float64), o["outcome"].tolist(), width=3 if width else None)
    if highlight is not None:
        out = draw_boxes(out, highlight[None], ["TP"], width=8, colors=[(255, 255, 0)])
    return out


def grid_filters(gt: pd.DataFrame, m: Matches):
    """The keyframe grid's filters -> dict of browse.keyframe_grid arguments and deep-link notes."""
    ids = [int(a) for a in m.per_class.loc[m.per_class["n_gt"] > 0, "id"]]
    c1, c2, c3 = st.columns(3)
    action, n1 = class_selector("class (outcomes and score)", "grid_class", ids, "class", optional=False, where=c1)
    outcome = c2.selectbox("outcome (boxes of the class)", browse.OUTCOMES, key="grid_outcome",
                           format_func={"any": "any", "TP": "TP: true positive", "FP": "FP: false positive",
                                        "FN": "FN: false negative"}.get)
    threshold = c3.slider("score threshold", 0.0, 1.0, 0.5, 0.05, key="grid_thr")
    c4, c5, c6 = st.columns(3)
    present = sorted(int(a) for a in gt["action_id"].unique() if a > 0)
    gt_label, n2 = class_selector("has GT label", "grid_gt", present, "gt", where=c4, none="(any)")
    pred_label, n3 = class_selector("has predicted label (>= threshold)", "grid_pred", ids, "pred", where=c5,
                                    none="(any)")
    lo, hi = c6.slider("score of the class", 0.0, 1.0, (0.0, 1.0), 0.05, key="grid_range")
    return ({"action_id": action, "threshold": threshold, "gt_label": gt_label, "pred_label": pred_label,
             "score_range": (lo, hi), "outcome": outcome}, [n1, n2, n3])


def keyframe_cards(data: DataRoot, run, rows: pd.DataFrame, args: dict, body_model, columns: int = 4) -> None:
    """Thumbnails of the keyframes `rows` (`browse.keyframe_grid`), each with its numbers and a link that
    opens the clip browser there."""
    cols = st.columns(columns)
    for k, r in enumerate(rows.itertuples()):
        with cols[k % columns]:
            image = keyframe_image(data, run, r.video_id, r.timestamp, args["action_id"], args["threshold"],
                                   body_model, width=320)
            if image is not None:
                st.image(image, width="stretch")
            link = "/" + browse.deep_link(r.video_id, r.timestamp, None, run_name(run), None, args["action_id"])
            st.markdown(f"[{r.video_id} · {r.timestamp:g} s]({link}) · score {r.score:.2f}  \n"
                        f"GT {r.n_gt} · :green[TP {r.tp}] · :red[FP {r.fp}] · :orange[FN {r.fn}]")
