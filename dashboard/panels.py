"""Panel library of the dashboard: cached loaders (renderer, body, model in `st.cache_resource`; tracks,
scores and tables in `st.cache_data`), selection UIs that return values, and drawing panels that take
plain arrays / DataFrames. Pages (`dashboard/pages/*.py`) only wire these together.

Settings come from `app.py` (`streamlit run dashboard/app.py -- --data-root R --results D`) through
`st.session_state`, else from `lartcore.paths` (LART_DATA_ROOT/demo, LART_RESULTS_DIR, LART_SMPL_DIR).
Missing SMPL files, videos or results show a note, never a traceback.
"""
from __future__ import annotations

import io
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st
from PIL import Image

from lartcore import browse, paths, schema, viz
from lartcore.body import StandInBody, load_body
from lartcore.checkpoint import Checkpoint, load_checkpoint
from lartcore.data import ava
from lartcore.data.store import TrackStore, VideoSource
from lartcore.data.tracks import detected_at
from lartcore.infer import data_config_of, track_scores
from lartcore.paths import DataRoot
from lartcore.registry import Registry, banner, per_class_gain, read_per_class
from lartcore.render import (
    BACKDROP_RGB,
    Renderer,
    export_meshes,
    people_at_frame,
    render_overlay,
    track_color,
)
from lartcore.video import frames_at, write_video

SPLITS = ("ava_val", "ava_train")


# ---- settings ------------------------------------------------------------------------------------------

def settings() -> dict:
    """data (a DataRoot), results, smpl_dir (None = stand-in body) for this session."""
    s = st.session_state
    smpl = s.get("smpl_dir") or paths.smpl_dir()
    return {"data": DataRoot(s.get("data_root") or paths.demo_root()),
            "results": Path(s.get("results") or paths.results_dir()), "smpl_dir": smpl}


# ---- cached loaders: each public loader keys its cache by the file's modification time (`_version`) ----

def _mtime(path: Path) -> float:
    return path.stat().st_mtime if path.exists() else 0.0


class RenderThread:
    """One persistent offscreen renderer behind one worker thread. An EGL/OSMesa context stays bound to
    the thread that made it current, and Streamlit runs every rerun on a new thread, so all drawing is
    handed to this thread."""

    def __init__(self):
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="lart-render")
        self._renderer = Renderer()

    def overlay(self, image: np.ndarray | None, people) -> np.ndarray:
        """`lartcore.render.render_overlay` of `people` over `image` (None: backdrop) -> (H, W, 3) uint8."""
        return self._pool.submit(render_overlay, image, people, None, self._renderer).result()


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
def _store(path: str, _version: float) -> TrackStore:
    return TrackStore(path)


def clip_tracks(path: Path, video: str, chunk: tuple[int, int]) -> list:
    """The tracks of the clips of `video` overlapping the frames `chunk` (loaded a chunk at a time)."""
    return _clip_tracks(str(path), _mtime(Path(path) / "index.parquet"), video, chunk)


@st.cache_data(max_entries=8)
def _clip_tracks(path: str, _version: float, video: str, chunk: tuple[int, int]) -> list:
    try:
        src = VideoSource(_store(path, _version), video, chunk)
    except KeyError:                          # no track in this stretch of the video
        return []
    return [src.track(i) for i in range(len(src))]


def checkpoint(path: Path) -> Checkpoint:
    return _checkpoint(str(path), _mtime(Path(path)))


@st.cache_resource(max_entries=4)
def _checkpoint(path: str, _version: float) -> Checkpoint:
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
def _gt_table(path: str, _version: float) -> pd.DataFrame:
    return ava.read_gt(path)


def detections(path: Path) -> pd.DataFrame:
    return _detections(str(path), _mtime(Path(path)))


@st.cache_data(max_entries=8)
def _detections(path: str, _version: float) -> pd.DataFrame:
    return ava.read_detections(path)


@st.cache_data(ttl=30)
def runs(results: str) -> pd.DataFrame:
    return Registry(results).runs()


# ---- notes and provenance ------------------------------------------------------------------------------

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


def no_runs_note(results: Path) -> None:
    st.info(f"No results in `{results}`. Run `make demo` (or `lart demo`) to train and evaluate the demo "
            "variants, or start the dashboard with `-- --results DIR`.")


# ---- selection UIs -------------------------------------------------------------------------------------

def query_value(name: str, cast, default):
    """A deep-link query parameter (?video=...&t=...&track=...), cast, or default when absent/bad."""
    try:
        return cast(st.query_params[name]) if name in st.query_params else default
    except ValueError:
        return default


def run_selector(table: pd.DataFrame, label: str, key: str, index: int = 0, with_ckpt: bool = False,
                 where=st, prefer: str | None = None):
    """Pick one run of the registry table (in `where`: st or st.sidebar) -> its row, or None if none.
    The initial choice: `prefer` ("dataset/variant", e.g. from a deep link) if listed, else `index`."""
    if with_ckpt:
        table = table[[(Path(p) / "checkpoint.pt").is_file() for p in table["path"]]]
    if table.empty:
        return None
    names = [f"{r.dataset}/{r.variant}" for r in table.itertuples()]
    index = names.index(prefer) if prefer in names else min(index, len(names) - 1)
    pick = where.selectbox(label, names, index=index, key=key)
    return table.iloc[names.index(pick)]


def people_table(table: pd.DataFrame) -> int | None:
    """The frame's people as a table; a click on a row -> that track id (once per new click), else None."""
    event = st.dataframe(table, hide_index=True, key="people", on_select="rerun", selection_mode="single-row")
    rows = event.selection.rows
    picked = int(table["track"].iloc[rows[0]]) if rows else None
    new = picked if picked != st.session_state.get("people_pick") else None
    st.session_state["people_pick"] = picked
    return new


def person_selector(ids: list[int], clicked: int | None) -> int:
    """The followed track id: a clicked table row, else the current choice, else ?track=, else the first."""
    if clicked in ids:
        st.session_state["track"] = clicked
    elif st.session_state.get("track") not in ids:
        want = query_value("track", int, ids[0])
        st.session_state["track"] = want if want in ids else ids[0]
    return int(st.selectbox("follow person (track id)", ids, key="track",
                            help="or click a person's row in the table above"))


def frame_selector(frames: tuple[int, int], keys: np.ndarray, cuts: np.ndarray, default: int) -> int:
    """Slider over the clip's frames with keyframe (and, when the video has cuts, shot) stepping buttons ->
    the chosen frame."""
    if "frame" not in st.session_state or not frames[0] <= st.session_state["frame"] <= frames[1]:
        st.session_state["frame"] = int(np.clip(default, *frames))
    starts = np.array([a for a, _ in browse.shot_spans(cuts, *frames)], np.int64)
    steps = {"prev_kf": ("◀ keyframe", keys, -1), "next_kf": ("keyframe ▶", keys, +1)}
    if len(starts) > 1:
        steps.update(prev_shot=("◀ shot", starts, -1), next_shot=("shot ▶", starts, +1))
    for col, (key, (label, where, step)) in zip(st.columns([1] * len(steps) + [8 - len(steps)]), steps.items(), strict=False):
        if col.button(label, key=key):
            st.session_state["frame"] = browse.step_keyframe(where, st.session_state["frame"], step)
    return int(st.slider("frame (30 fps from AVA second 900)", frames[0], frames[1], key="frame"))


# ---- drawing panels ------------------------------------------------------------------------------------

def video_frame(data: DataRoot, video: str, frame: int, size: tuple[int, int]):
    """(frame (H, W, 3) uint8 or None, note): the real video frame when the data root has the clip's video."""
    path = data.video(video)
    if path is None:
        return None, f"No video for {video} in `{data.path / 'videos'}`: meshes over a plain backdrop."
    try:
        rgb = frames_at(path, [schema.timestamp_of(frame)])[0]
    except (ValueError, FileNotFoundError) as e:
        return None, f"Video {path} not readable ({e}): meshes over a plain backdrop."
    if rgb.shape[:2] != tuple(size):
        rgb = np.asarray(Image.fromarray(rgb).resize((size[1], size[0]), Image.BILINEAR))
    return rgb, ""


def overlay(image: np.ndarray | None, people, labels: list[list[str]], gt: pd.DataFrame | None) -> np.ndarray:
    """GT boxes (dashed white) on `image` (None: the backdrop), then meshes, boxes, ids and the chips
    `labels` per person on top."""

    if gt is not None and len(gt):
        if image is None:
            image = np.empty((*people.frame_size, 3), np.uint8)
            image[:] = BACKDROP_RGB
        image = browse.draw_gt_boxes(image, gt)
    return renderer().overlay(image, replace(people, labels=labels))


def png_bytes(image: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="PNG")
    return buf.getvalue()


def mesh_bytes(people, suffix: str) -> bytes:
    """One frame's meshes as GLB or OBJ bytes (via `lartcore.render.export_meshes`)."""
    with tempfile.TemporaryDirectory() as tmp:
        return export_meshes(people, Path(tmp) / f"frame{suffix}").read_bytes()


def clip_mp4(frames) -> tuple[bytes, str]:
    """(bytes, file name) of an H.264 MP4 (VP9 WebM when no H.264 encoder) of overlay frames."""
    with tempfile.TemporaryDirectory() as tmp:
        path = write_video(Path(tmp) / "overlay.mp4", frames)
        return path.read_bytes(), path.name


def figure_downloads(fig, name: str, key: str) -> None:
    """HTML (interactive) download of a plotly figure."""
    st.download_button(f"{name} (HTML)", fig.to_html(include_plotlyjs="cdn"), f"{name}.html", "text/html",
                       key=key)


# ---- clip browser panels -------------------------------------------------------------------------------

def people_at(tracks: list, frame: int, body):
    """(People of the frame posed by `body`, their (track position, frame index) rows)."""
    return people_at_frame(tracks, frame, body), detected_at(tracks, frame)


def frame_labels(tracks, rows, scores, offsets, action_ids, k: int, threshold: float, pred: bool,
                 gt: bool) -> list[list[str]]:
    """Chip texts per visible person: GT labels ("GT name") and/or top-k predictions ("name 92%")."""
    out = []
    for pos, i in rows:
        chips = browse.gt_chips(tracks[pos], i) if gt else []
        if pred and scores is not None:
            chips = chips + browse.chips(scores[offsets[pos] + i], action_ids, k, threshold)
        out.append(chips)
    return out


def frame_gt(data: DataRoot, video: str, frame: int) -> pd.DataFrame | None:
    """GT boxes of the val/train CSVs at this frame (empty off keyframes; None without GT files)."""
    found = [p for p in (data.gt(split) for split in SPLITS) if p.is_file()]
    if not found:
        return None
    return pd.concat([browse.gt_boxes_at(gt_table(p), video, frame) for p in found])


def people_frame(tracks, rows, labels) -> pd.DataFrame:
    """One row per visible person: track id, colour, detector confidence, labels shown."""
    hexes = ["#{:02x}{:02x}{:02x}".format(*track_color(tracks[p].track_id)) for p, _ in rows]
    return pd.DataFrame({"track": [tracks[p].track_id for p, _ in rows], "colour": hexes,
                         "conf": [float(tracks[p].conf[i]) for p, i in rows],
                         "labels": [" · ".join(c) for c in labels]})


def exports(image: np.ndarray, people, table: pd.DataFrame, tracks, body, span, frame: int, video: str):
    """Downloads: frame PNG, people CSV, meshes GLB/OBJ, and an MP4 overlay of a stretch of the clip."""
    c1, c2, c3, c4 = st.columns(4)
    c1.download_button("frame (PNG)", png_bytes(image), f"{video}_{frame}.png", "image/png", key="dl_png")
    c2.download_button("people (CSV)", table.to_csv(index=False), f"{video}_{frame}.csv", "text/csv",
                       key="dl_csv")
    if len(people):
        c3.download_button("meshes (GLB)", mesh_bytes(people, ".glb"), f"{video}_{frame}.glb",
                           "model/gltf-binary", key="dl_glb")
        c4.download_button("meshes (OBJ)", mesh_bytes(people, ".obj"), f"{video}_{frame}.obj",
                           "text/plain", key="dl_obj")
    with st.expander("MP4 overlay of the clip"):
        seconds = st.slider("seconds from this frame", 1, 10, 2, key="mp4_seconds")
        if st.button("render MP4", key="mp4"):
            stop = min(span[1], frame + seconds * schema.FPS - 1)
            frames = (renderer().overlay(None, people_at_frame(tracks, f, body))
                      for f in range(frame, stop + 1))
            data, name = clip_mp4(frames)
            st.video(data)
            st.download_button("overlay (MP4)", data, f"{video}_{frame}_{name}", key="dl_mp4")


def play(slot, tracks, body, start: int, stop: int, step: int = 3) -> None:
    """Show frames start..stop (every `step`-th) in `slot`, as fast as they render."""
    for f in range(start, stop + 1, step):
        slot.image(renderer().overlay(None, people_at_frame(tracks, f, body)),
                   caption=f"frame {f}", width="stretch")


def follow_panel(track, scores: np.ndarray | None, action_ids, frame: int, cuts: np.ndarray) -> None:
    """Pose timeline, missing detections, prediction curves of chosen classes for one track."""
    options = [int(a) for a in action_ids] or [int(a) for a in schema.EVALUATED_IDS]
    default = browse.top_classes(scores, action_ids) if scores is not None else []
    chosen = st.multiselect("classes to plot", options, default=default, format_func=schema.short_name,
                            key="curve_classes")
    if scores is None:
        st.caption("No predictions (no run with a checkpoint): pose timeline only.")
    fig = viz.pose_timeline(track, scores, action_ids, chosen, frame, cuts)
    st.plotly_chart(fig, key="timeline")
    missing = browse.missing_spans(track)
    st.caption(f"{len(missing)} stretch(es) without detection, {int((~track.has_detection).sum())} frames "
               "in-filled by the mask token")
    figure_downloads(fig, f"track_{track.track_id}_timeline", "dl_timeline")


def view_3d(people) -> None:
    """Interactive plotly meshes of the frame's people."""
    if not len(people):
        st.caption("Nobody detected at this frame.")
        return
    mode = st.radio("layout", ["root", "depth"], horizontal=True, key="mode3d")
    fig = viz.meshes_3d(people, mode)
    st.plotly_chart(fig, key="view3d")
    figure_downloads(fig, "frame_3d", "dl_3d")


def track_position(tracks, track_id: int, frame: int) -> int:
    """The track file of `track_id` covering `frame` (else its first one)."""
    mine = [k for k, t in enumerate(tracks) if t.track_id == track_id]
    covering = [k for k in mine if tracks[k].frame[0] <= frame <= tracks[k].frame[-1]]
    return (covering or mine)[0]


# ---- per-class comparison panels -----------------------------------------------------------------------

def uploaded_pair():
    """(table A, table B, names) from two uploaded per_class.csv files, or (None, None, None)."""
    files = [st.sidebar.file_uploader(f"{k} per_class.csv", type="csv", key=f"up_{k}") for k in "AB"]
    if not all(files):
        return None, None, None
    try:
        return read_per_class(files[0]), read_per_class(files[1]), (files[0].name, files[1].name)
    except ValueError as e:
        st.error(f"Not a per-class table: {e}")
        return None, None, None


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
        st.caption(f"No class with |gain| > {min_gain} AP.")
        return
    gain = viz.class_gains(gains, *names, banner_text)
    st.plotly_chart(gain, key="gain_chart")
    figure_downloads(gain, "per_class_gain", "dl_gain")


def drilldown_panel(reg: Registry, run_a, run_b, both: pd.DataFrame, data: DataRoot) -> None:
    """A class -> its keyframes sorted by A's FPs / FNs / "A right, B wrong", linked to the clip browser."""
    st.subheader("Drill-down: a class's keyframes")
    gt_path = data.gt("ava_val")
    if not gt_path.is_file():
        st.info(f"No ground truth at `{gt_path}`: start with `-- --data-root` of the runs' data.")
        return
    ids = [int(i) for i in both.dropna(subset=["gain"])["id"]]
    if not ids:
        st.caption("No class with GT among the chosen types.")
        return
    c1, c2 = st.columns(2)
    action = c1.selectbox("class", ids, format_func=schema.short_name, key="drill_class")
    sort = c2.selectbox("sort by", browse.SORTS, key="drill_sort")
    paths_ab = [reg.predictions_path(r["dataset"], r["variant"]) for r in (run_a, run_b)]
    det_a, det_b = (detections(p) for p in paths_ab)
    rows = browse.drilldown(det_a, det_b, gt_table(gt_path), action, sort)
    rows["open"] = ["/" + browse.deep_link(v, t) for v, t in zip(rows["video_id"], rows["timestamp"], strict=True)]
    st.dataframe(rows, hide_index=True, key="drill",
                 column_config={"open": st.column_config.LinkColumn("clip browser", display_text="open")})
    st.download_button("keyframes (CSV)", rows.to_csv(index=False), f"drilldown_{action}.csv", "text/csv",
                       key="dl_drill")
