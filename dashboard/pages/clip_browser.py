"""Clip browser: a frame with tracked meshes, boxes, ids, predicted vs GT labels; follow one person."""
from pathlib import Path

import panels as pn
import streamlit as st

from lartcore import browse, schema, viz
from lartcore.registry import Registry

st.title("Clip browser")
cfg = pn.settings()
data = cfg["data"]
split = st.sidebar.selectbox("split", [s for s in pn.SPLITS if s in data.stores()])
if split is None:
    st.warning(f"No track store under `{data.path / 'store'}`. Build the demo data with "
               "`lart data build-demo` or start with `-- --data-root ROOT`.")
    st.stop()
spath = data.store(split)
vids = browse.videos(pn.store(spath).index)
want = pn.query_value("video", str, vids[0])
video = st.sidebar.selectbox("video", vids, index=vids.index(want) if want in vids else 0, key="video")
run = pn.run_selector(pn.runs(str(cfg["results"])), "predictions of run", "run", with_ckpt=True,
                      where=st.sidebar, prefer=pn.query_value("run", str, None))
top_k = st.sidebar.slider("top-k labels", 1, 5, 3)
threshold = st.sidebar.slider("score threshold", 0.0, 1.0, 0.2, 0.05)
show_pred, show_gt = st.sidebar.toggle("predicted labels", True), st.sidebar.toggle("ground truth", True)

store = pn.store(spath)
first, last = browse.video_span(store.index, video)
keys, cuts = schema.keyframes(first, last), store.shot_changes(video)
frame = pn.frame_selector((first, last), keys, cuts,
                          pn.query_value("t", schema.frame_of, int(keys[0]) if len(keys) else first))
timeline = st.empty()     # filled once the followed person is known
chunk = browse.chunk_of(frame)
tracks = pn.clip_tracks(spath, video, chunk)
if not tracks:
    st.info(f"No tracks of {video} between frames {chunk[0]} and {chunk[1]}: pick another time.")
    st.stop()
st.query_params.update(video=video, t=f"{schema.timestamp_of(frame):g}")
if run is not None:
    st.query_params["run"] = f"{run['dataset']}/{run['variant']}"
body, note = pn.body(None if cfg["smpl_dir"] is None else str(cfg["smpl_dir"]))
scores = None
if run is None:
    pn.no_runs_note(cfg["results"])
else:
    ckpt = Path(run["path"]) / "checkpoint.pt"
    scores, offsets, action_ids = pn.clip_scores(ckpt, spath, video, chunk)
    pn.provenance(Registry(cfg["results"]), run["dataset"], run["variant"], "predictions: ")
people, rows = pn.people_at(tracks, frame, body)
labels = pn.frame_labels(tracks, rows, scores, offsets if scores is not None else None,
                         action_ids if scores is not None else (), top_k, threshold, show_pred, show_gt)
gt = pn.frame_gt(data, video, frame) if show_gt else None
image, vnote = pn.video_frame(data, video, frame, people.frame_size)
for n in (note, vnote):
    if n:
        st.caption(n)
rendered = pn.overlay(image, people, labels, gt)
slot = st.empty()
if st.button("▶ play 2 s", key="play"):
    pn.play(slot, tracks, body, frame, min(last, frame + 59))
shot = f"shot {browse.shot_of(cuts, frame) + 1}/{len(cuts) + 1} · " if len(cuts) else ""
slot.image(rendered, caption=f"{video} · t = {schema.timestamp_of(frame):.2f} s · frame {frame} · {shot}"
         f"{len(people)} people (dashed white: GT boxes)", width="stretch")
table = pn.people_frame(tracks, rows, labels)
clicked = pn.people_table(table)
pn.exports(rendered, people, table, tracks, body, (first, min(last, chunk[1])), frame, video)

ids = sorted({t.track_id for t in tracks})
tid = pn.person_selector(ids, clicked)
st.query_params["track"] = str(tid)
timeline.plotly_chart(viz.video_timeline(browse.track_lanes(store.index, video), cuts, (first, last), frame, tid),
                      key="video_timeline")
pos = pn.track_position(tracks, tid, frame)
pn.follow_panel(tracks[pos], None if scores is None else scores[offsets[pos]:offsets[pos + 1]],
                action_ids if scores is not None else (), frame, cuts)
with st.expander("3D view of the frame"):
    pn.view_3d(people)
