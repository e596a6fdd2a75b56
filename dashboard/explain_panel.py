"""The clip browser's Explain panel (issue #17): why run A gave the followed person a class's score at a
keyframe, with `lartcore.explain`: the (frames x people) attribution heat map over the input's timeline
(people as rows in their track colours, the keyframe dotted), per-cue and per-person totals, the people who
moved the score most (outlined on the frame: a `panels.Highlight`), and what-if toggles whose score
changes on the top classes are recomputed live (all edits of one change scored in one batched forward).

Deep link: ?xclass=<action id>&edits=<the toggled edits, `explain.parse_group`'s text form, e.g.
"drop others + hide poi 54-65">; a value that does not fit says what was asked and what is shown.
Caches: the Predictor per run (`st.cache_resource`, keyed by the checkpoint's modification time), each
explanation per (run, store, person, keyframe, class, edits) (`st.cache_data`).
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import panels as pn
import streamlit as st

from lartcore import browse, explain, infer, schema, viz
from lartcore.data.store import VideoSource
from lartcore.data.tracks import detected_at
from lartcore.explain import Edit, Explanation, label
from lartcore.render import track_color

PARAMS = ("xclass", "edits")      # the panel's deep-link parameters
CUES = ("pose", "appearance", "joints")
TOP_PEOPLE = 3                    # outlined on the frame
BAR_CLASSES = 5                   # top classes in the what-if bars


# ---- cached model and explanations ----------------------------------------------------------------------

@st.cache_resource(max_entries=4, show_spinner="Loading run A's model for explanations ...")
def _predictor(run_dir: str, mtime: float) -> explain.Predictor:
    """`explain.Predictor.from_run`, loaded anew when the checkpoint's modification time changes."""
    del mtime                                                     # only keys the cache
    return explain.Predictor.from_run(run_dir)


@st.cache_data(max_entries=8)
def _scored_rows(store_path: str, store_mtime: float, video: str, chunk: tuple[int, int]) -> pd.DataFrame:
    """The (track row, keyframe) pairs `lart predict` scores in the clip browser's tracks (its nearest-clip
    rule): track (row of `panels.clip_tracks`), track_id, frame."""
    source = VideoSource(pn._store(store_path, store_mtime), video, chunk)
    rows = infer.keyframe_boxes(source)
    first = source.index["frame_start"].to_numpy()[rows["track"]]
    return pd.DataFrame({"track": rows["track"].to_numpy(), "frame": first + rows["local"].to_numpy(),
                         "track_id": source.index["track_id"].to_numpy()[rows["track"]]})


@st.cache_data(max_entries=64, show_spinner="Explaining the prediction ...")
def _explain(run_dir: str, mtime: float, store_path: str, store_mtime: float, video: str, chunk: tuple[int, int],
             row: int, keyframe: int, action_id: int | None, groups: tuple[str, ...],
             methods: tuple[str, ...]) -> Explanation:
    source = VideoSource(pn._store(store_path, store_mtime), video, chunk)
    return explain.explain(_predictor(run_dir, mtime), source, row, keyframe, action_id,
                           [explain.parse_group(g) for g in groups], methods)


def explanation(view: pn.ClipView, row: int, keyframe: int, action_id: int | None = None,
                groups: tuple[str, ...] = (), methods: tuple[str, ...] = ()) -> Explanation:
    """`explain.explain` of run A for clip-track `row` at `keyframe` (cached): edit groups by their labels;
    no methods = the scores only (one forward)."""
    run, spath = Path(view.run["path"]), view.data.store(view.split)
    return _explain(str(run), pn._mtime(run / "checkpoint.pt"), str(spath), pn._mtime(spath / "index.parquet"),
                    view.video, view.chunk, int(row), int(keyframe), action_id, tuple(groups), tuple(methods))


# ---- the panel ------------------------------------------------------------------------------------------

def explain_panel(view: pn.ClipView, track_id: int) -> pn.Highlight | None:
    """The Explain panel for the followed person (see the module docstring), opened by its toggle or a deep
    link -> the outlines of the people who moved the score most, for the frame (None when closed)."""
    st.subheader(f"Explain #{track_id}'s prediction")
    opened = any(pn.query(k) is not None for k in PARAMS)
    if not st.toggle(f"explain run A's keyframe score of #{track_id} (attribution, what-if)", opened,
                     key="explain"):
        for k in PARAMS:
            if k in st.query_params:
                del st.query_params[k]
        return None
    if view.run is None:
        st.info("No run with a checkpoint: nothing to explain.")
        return None
    keyframe = _keyframe_or_offer(view)
    if keyframe is None:
        return None
    row = _scored_row(view, track_id, keyframe)
    if row is None:
        return None
    try:
        return _explained(view, track_id, keyframe, row)
    except ValueError as e:                                     # what lartcore.explain cannot do here
        st.warning(f"Cannot explain #{track_id} at frame {keyframe}: {e}")
        return None


def _explained(view: pn.ClipView, track_id: int, keyframe: int, row: int) -> pn.Highlight | None:
    """The panel's body for clip-track `row` at `keyframe` -> the outlines for the frame."""
    base = explanation(view, row, keyframe)                     # scores, the input's people and frames
    st.caption(f"Explanation of the prediction of {base.name} (run A) for #{track_id} at the keyframe t = "
               f"{schema.timestamp_of(keyframe):g} s (frame {keyframe}): its keyframe score as `lart predict` "
               f"computes it (the mean over frames {base.span[0]}-{base.span[1]}).")
    if base.banner:
        st.caption(f":orange[{base.banner}]")
    first = not st.session_state.get("x_link_read")            # deep-link notes on the first reading only
    st.session_state["x_link_read"] = True
    notes = []
    c1, c2 = st.columns([3, 2])
    action = _class_choice(base, view, notes, c1)
    method = c2.radio("attribution", explain.METHODS, index=explain.METHODS.index("integrated_gradients"),
                      format_func=viz.METHOD_NAMES.get, horizontal=True, key="x_method",
                      help="integrated gradients: signed, red raises the class's score; attention rollout: where "
                      "the score frames draw from (class-agnostic, sums to 1)")
    exp = explanation(view, row, keyframe, action, methods=explain.METHODS)
    st.plotly_chart(viz.attribution_map(exp, method), key="x_map")
    st.caption(f"Rows: the people in the model's input (track ids, #{track_id} on top; the band is the track's "
               "colour on the frame); columns: the input's frames; dotted: the keyframe; yellow: the 12 frames "
               "whose mean is the keyframe score; x: missed detection (in-filled by the mask token); blank: not "
               "in the input.")
    top = _totals(exp, method, view)
    edits = _whatif_toggles(base, track_id, notes)
    _whatif(view, row, keyframe, action, edits)
    if first:
        pn.link_notes(notes)
    st.query_params["xclass"] = str(action)
    if edits:
        st.query_params["edits"] = label(tuple(edits))
    elif "edits" in st.query_params:
        del st.query_params["edits"]
    return _highlight(exp, method, top, view)


def _keyframe_or_offer(view: pn.ClipView) -> int | None:
    """The frame when it is a keyframe; else a note and a button to the nearest keyframe (None)."""
    keys = schema.keyframes(*view.span)
    if view.frame in keys:
        return int(view.frame)
    near = browse.nearest_keyframe(keys, view.frame)
    where = f"frame {view.frame} (t = {schema.timestamp_of(view.frame):.2f} s)"
    if near is None:
        st.info(f"Explanations are of keyframe scores; {view.video} has no keyframe.")
        return None
    t = schema.timestamp_of(near)
    st.info(f"Explanations are of keyframe scores (as `lart predict` scores a person at an AVA keyframe), and "
            f"{where} is not a keyframe. The nearest keyframe is t = {t:g} s (frame {near}).")
    st.button(f"go to the keyframe t = {t:g} s", key="x_go_keyframe", on_click=pn.go_to, args=(near,))
    return None


def _scored_row(view: pn.ClipView, track_id: int, keyframe: int) -> int | None:
    """The clip-track row `lart predict` scores #track_id from at this keyframe; else a note (None)."""
    spath = view.data.store(view.split)
    rows = _scored_rows(str(spath), pn._mtime(spath / "index.parquet"), view.video, view.chunk)
    hit = rows[(rows["track_id"] == track_id) & (rows["frame"] == keyframe)]
    if hit.empty:
        st.info(f"#{track_id} is not scored at t = {schema.timestamp_of(keyframe):g} s (no track of theirs "
                "covers this keyframe): follow another person or pick another keyframe.")
        return None
    return int(hit["track"].iloc[0])


def _class_choice(base: Explanation, view: pn.ClipView, notes: list[str], where) -> int:
    """The explained class (run A's classes by keyframe score, ?xclass=, default the clip browser's class
    when set, else the top class)."""
    ids = [int(a) for a in base.scores.sort_values(ascending=False).index]
    default = view.outcome_class if view.outcome_class in ids else ids[0]
    asked = pn.query("xclass")
    want, note = browse.pick(asked, ids, "class", int, default=default)
    if note:
        notes.append(f"xclass {asked!r} is not a class of {base.name}: showing {schema.short_name(want)} ({want}).")
    if st.session_state.get("x_class") not in ids:
        st.session_state["x_class"] = want
    return int(where.selectbox("class explained (run A's keyframe score)", ids, key="x_class",
                               format_func=lambda a: f"{schema.short_name(a)} ({a}) · {base.scores[a]:.0%}"))


def _totals(exp: Explanation, method: str, view: pn.ClipView) -> pd.DataFrame:
    """Per-cue totals and per-person totals (who drove the score) -> the top people of `method`."""
    top = browse.top_people(exp, method, TOP_PEOPLE)
    c1, c2 = st.columns(2)
    ig = exp.cues.loc["integrated_gradients"]
    c1.markdown("**Per-cue totals** (integrated gradients: " + " · ".join(f"{c} {v:+.4f}" for c, v in ig.items())
                + ")")
    c1.caption(f"The map sums to score - score with zero features (completeness gap {exp.ig_delta:.1e}); "
               "attention rollout moves whole tokens: no cue split.")
    people = pd.DataFrame({"track": exp.people,
                           "colour": ["#{:02x}{:02x}{:02x}".format(*track_color(int(p))) for p in exp.people],
                           "integrated gradients": exp.people_totals("integrated_gradients").reindex(exp.people).values,
                           "attention rollout": exp.people_totals("rollout").reindex(exp.people).values})
    people["top"] = people["track"].map(dict(zip(top["track_id"], top["rank"], strict=True)))
    with c2:
        st.markdown(f"**Per person** (outlined on the frame: top {TOP_PEOPLE} by {viz.METHOD_NAMES[method]})")
        pn.table(people, key="x_people", precision=4)
        seen = {view.tracks[k].track_id for k, _ in detected_at(view.tracks, view.frame)}
        unseen = [f"#{t} (top {r})" for t, r in zip(top["track_id"], top["rank"], strict=True) if t not in seen]
        if unseen:
            st.caption(f"Not outlined (not detected at this frame): {', '.join(unseen)}.")
    return top


def _highlight(exp: Explanation, method: str, top: pd.DataFrame, view: pn.ClipView) -> pn.Highlight | None:
    if top.empty:
        return None
    value = "{:+.3f}" if method == "integrated_gradients" else "{:.0%}"
    tags = tuple(f"top {r} {value.format(v)}" for r, v in zip(top["rank"], top["total"], strict=True))
    how = ("integrated gradients total: + raised it, - lowered it" if method == "integrated_gradients"
           else "attention rollout: share of what the score frames draw from")
    name = schema.short_name(exp.action_id)
    legend = (f"thick outlines 'top k': who moved run A's {name} score of #{exp.people[0]} most",
              f"  ({how}; run A = {pn.run_name(view.run)})")
    return pn.Highlight(tuple(int(t) for t in top["track_id"]), tags, legend)


# ---- what-if toggles ------------------------------------------------------------------------------------

def _state_of(edits, span: tuple[int, int]) -> dict:
    """Toggle states (session keys) showing `edits`."""
    state = {"x_others": False, "x_drop": [], "x_span": False, "x_span_range": tuple(span), "x_span_poi": True,
             "x_keyframe": False, **{f"x_cue_{c}": False for c in CUES}}
    for e in edits:
        if e.kind == "drop_others":
            state["x_others"] = True
        elif e.kind == "drop_person":
            state["x_drop"].append(e.track_id)
        elif e.kind == "drop_cue":
            state[f"x_cue_{e.cue}"] = True
        elif e.kind == "hide_span":
            state.update(x_span=True, x_span_range=tuple(e.span), x_span_poi=e.poi_only)
        elif e.kind == "keyframe_only":
            state["x_keyframe"] = True
    return state


def _whatif_toggles(base: Explanation, track_id: int, notes: list[str]) -> list[Edit]:
    """The row of what-if toggles (set from ?edits= when they were not on screen) -> the toggled edits, in
    the order they are applied."""
    streams = tuple(c for c in CUES if c in base.cues.columns)            # the model's input streams
    others = [int(p) for p in base.people[1:]]
    s = st.session_state
    if "x_others" not in s:                                     # not on screen last run: from the link
        edits, note = browse.whatif_link(pn.query("edits"), base.people, base.frames, streams)
        notes.append(note)
        s.update(_state_of(edits, base.span))
        s["x_span_for"] = (track_id, base.keyframe)
    if s.get("x_span_for") != (track_id, base.keyframe):       # another person or keyframe: its score frames
        s["x_span_range"], s["x_span_for"] = tuple(base.span), (track_id, base.keyframe)
    s["x_drop"] = [t for t in s.get("x_drop", []) if t in others]
    lo, hi = int(base.frames.min()), int(base.frames.max())
    a, b = s.get("x_span_range", (hi, lo))
    if not lo <= a <= b <= hi:                                 # also when forgotten while off screen
        s["x_span_range"] = tuple(base.span)
    s.setdefault("x_span_poi", True)
    st.markdown("**What if** the input were edited? Each edit hides or zeroes part of what the model sees "
                "(hidden = a missed detection, in-filled by the mask token).")
    cues = [c for c in CUES if c != "joints" or c in streams]        # joints: official models only
    cols = st.columns(3 + len(cues))
    on = {"drop_others": cols[0].toggle("drop others", key="x_others", disabled=not others,
                                        help="hide every other person: the n=1 view of the scene")}
    for col, cue in zip(cols[1:], cues, strict=False):
        on[cue] = col.toggle(f"drop {cue}", key=f"x_cue_{cue}", disabled=cue not in streams,
                             help=f"{cue} features zeroed for everyone (the cue absent)" if cue in streams
                             else f"this model has no {cue} input")
    span = cols[-2].toggle("hide a time span", key="x_span", help="hide a stretch of frames (the slider below)")
    only_kf = cols[-1].toggle("keyframe only", key="x_keyframe",
                              help="everyone hidden except at the keyframe: one frame, no tracking")
    left, right = st.columns([3, 2])
    drop = right.multiselect("drop person", others, key="x_drop", format_func=lambda t: f"#{t}",
                             help="hide one other person in every frame", placeholder="nobody")
    edits = [Edit("drop_others")] if on["drop_others"] and others else []   # (a toggle left on elsewhere)
    edits += [Edit("drop_person", track_id=int(t)) for t in drop]
    edits += [Edit("drop_cue", cue=c) for c in CUES if on.get(c) and c in streams]
    if span:
        a, b = left.slider("hidden frames (the input's frames; yellow on the map: the score frames)", lo, hi,
                           key="x_span_range")
        poi = left.toggle(f"only #{track_id} (else everyone)", key="x_span_poi")
        edits.append(Edit("hide_span", span=(int(a), int(b)), poi_only=poi))
    if only_kf:
        edits.append(Edit("keyframe_only"))
    return edits


def _whatif(view: pn.ClipView, row: int, keyframe: int, action: int, edits: list[Edit]) -> None:
    """The score changes of the top classes under each toggled edit and, with several, all of them."""
    groups = browse.whatif_groups(edits)
    if not groups:
        st.caption("Turn on an edit above to see how run A's scores of the top classes change.")
        return
    w = explanation(view, row, keyframe, action, groups=tuple(label(g) for g in groups))
    st.plotly_chart(viz.whatif_bars(w, BAR_CLASSES), key="x_bars")
    classes = list(dict.fromkeys([w.action_id, *w.top_classes(BAR_CLASSES)]))
    deltas = w.deltas.loc[classes]
    table = pd.DataFrame({"class": [f"{schema.short_name(a)} ({a})" for a in classes],
                          "score": w.scores.loc[classes].to_numpy(), **{c: deltas[c].to_numpy() for c in deltas}})
    pn.table(table, key="x_deltas", precision=4)
    st.caption("Score change = edited - original keyframe score of run A"
               + (f"; each edit alone, then all {len(edits)} together (last)" if len(edits) > 1 else "")
               + ". The URL carries the class and the edits.")
