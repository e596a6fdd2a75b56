"""Clip browser: a frame with tracked meshes, boxes, ids and labels (run A's predictions, GT, pseudo-labels,
each marked), box-level TP / FP / FN of a class; follow one person over time; explain their prediction."""
import explain_panel as xp
import panels as pn
import streamlit as st

from lartcore.registry import Registry

st.title("Clip browser")
cfg = pn.settings()
view = pn.clip_selector(cfg)
if view.run is None:
    pn.no_runs_note(cfg["results"])
pn.run_captions(Registry(cfg["results"]), {"A: ": view.run, "B: ": view.run_b})
for note in pn.media_notes(cfg, view):
    st.caption(note)
timeline = st.empty()                     # filled once the followed person is known
slot = st.empty()
below_frame = st.container()              # where the followed person is, when not detected here
play = st.button("▶ play 2 s", key="play")
people, rows = pn.frame_people(view, view.frame)
table = pn.people_frame(view, rows, people)
clicked = pn.people_table(table)
tid, note = pn.person_selector(sorted({t.track_id for t in view.tracks}), clicked)
pn.link_notes([note])
pn.update_link(view, tid)
exports = st.container()                  # the frame's downloads, once it is drawn
strip = pn.video_timeline_figure(str(view.data.store(view.split)), view.video, view.cuts, view.span, tid)
pn.timeline_chart(strip, view.frame, "video_timeline", where=timeline)
st.subheader(f"Follow #{tid}")
pn.follow_panel(view, tid)
top = xp.explain_panel(view, tid)         # outlines its top contributors on the frame
image = pn.compose(view, view.frame, follow=tid, highlight=top)
if play:
    pn.play(slot, view, view.frame, min(view.span[1], view.chunk[1], view.frame + 59), tid)
slot.image(image, caption=pn.frame_caption(view, len(people)), width="stretch")
with below_frame:
    pn.not_detected_note(view, tid)
with exports:
    pn.exports(view, image, people, table, tid)
pn.view_3d(view, people)
