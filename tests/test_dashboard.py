"""The dashboard pages in Streamlit's AppTest (widgets present, a selection changes what is shown, what every
drawing and number is said to be, notes instead of tracebacks, one test per fix of issue #14 and per
evaluation view), and real-browser runs: `streamlit run` + headless Chromium via Playwright (clip and
person selection, the keyframe grid, a PR-curve click, an MP4 export whose decoded frames show the run's
predictions)."""
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from dashboard_fixture import VARIANTS, build

from lartcore import tables
from lartcore.paths import DataRoot
from lartcore.registry import Registry

ROOT = Path(__file__).resolve().parents[1]
DASHBOARD = ROOT / "dashboard"
RUN_A, RUN_B = (f"demo/{v}" for v in VARIANTS)


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    return build(tmp_path_factory.mktemp("dashboard"))


@pytest.fixture(scope="module", autouse=True)
def panels_importable():
    """dashboard/ on sys.path (what `streamlit run dashboard/app.py` does), for this module's tests."""
    sys.path.insert(0, str(DASHBOARD))
    yield
    sys.path.remove(str(DASHBOARD))


def page(name: str, data: Path, results: Path, **query):
    from streamlit.testing.v1 import AppTest
    at = AppTest.from_file(str(DASHBOARD / "views" / f"{name}.py"), default_timeout=120)
    at.session_state["data_root"] = str(data)
    at.session_state["results"] = str(results)
    for k, v in query.items():
        at.query_params[k.rstrip("_")] = v                       # class_= -> ?class=
    at.run()
    assert not at.exception, at.exception
    return at


def charts(at) -> list[dict]:
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


def chart(at, title: str) -> dict:
    """The plotly chart whose title starts with `title`."""
    return next(c for c in charts(at) if c["layout"].get("title", {}).get("text", "").startswith(title))


def image_caption(at) -> str:
    return at.image[0].proto.imgs[0].caption


def texts(elements) -> str:
    return "\n".join(e.value for e in elements)


def shown(frame) -> pd.DataFrame:
    """A table as the page shows it (missing values as '–', so such columns are text) back to numbers."""
    out = frame.value.replace("–", np.nan)
    for c in out.columns:
        try:
            out[c] = pd.to_numeric(out[c])
        except (ValueError, TypeError):
            pass
    return out


def test_app_entry_reads_command_line_and_navigates(demo, monkeypatch):
    from streamlit.testing.v1 import AppTest
    data, results = demo
    monkeypatch.setattr("sys.argv", ["app.py", "--data-root", str(data), "--results", str(results)])
    at = AppTest.from_file(str(DASHBOARD / "app.py"), default_timeout=120).run()
    assert not at.exception and [t.value for t in at.title] == ["Clip browser"]
    assert at.session_state["data_root"] == str(data) and at.session_state["results"] == str(results)
    for path, title in (("views/keyframes.py", "Keyframe grid"), ("views/per_class.py", "Per-class comparison"),
                        ("views/evaluation.py", "Precision-recall and label confusion"),
                        ("views/ablations.py", "Ablations")):
        at.switch_page(path).run()
        assert not at.exception and [t.value for t in at.title] == [title]


# ---- clip browser ---------------------------------------------------------------------------------------

def test_clip_browser_widgets_and_selections(demo):
    data, results = demo
    at = page("clip_browser", data, results)
    assert at.selectbox(key="video").value == "demo_va_000"
    assert at.selectbox(key="run").value == RUN_A and at.selectbox(key="run_b").value == "(none)"
    assert at.slider(key="frame").value == 60                       # first keyframe (AVA second 902)
    assert "demo_va_000 · t = 902.00 s" in image_caption(at) and "over the video frame" in image_caption(at)
    people = at.dataframe[0].value
    assert len(people) >= 1 and people["labels"].str.contains("%").all()     # predicted chips shown
    assert {"dl_png", "dl_csv", "dl_glb", "dl_obj"} <= {b.key for b in at.get("download_button")}
    facts = texts(at.caption)
    assert f"A: run **{RUN_A}** · paper protocol · predicts 80 classes, evaluated on 60" in facts   # what the run is
    assert "demo data (synthetic" in facts

    at.button(key="next_kf").click().run()
    assert at.slider(key="frame").value == 90 and "t = 903.00 s" in image_caption(at)
    at.selectbox(key="video").select("demo_va_001").run()
    assert not at.exception and "demo_va_001" in image_caption(at) and "no video" in image_caption(at)
    assert at.query_params["video"] == "demo_va_001"
    timeline = chart(at, "track #")
    tid = at.selectbox(key="track").options[-1]
    at.selectbox(key="track").select(int(tid)).run()
    assert chart(at, "track #")["layout"]["title"]["text"] != timeline["layout"]["title"]["text"]
    assert f"track #{tid}" in chart(at, "track #")["layout"]["title"]["text"]


def test_clip_browser_marks_and_steps_shot_changes(demo):
    """demo_va_001 (tiny data) cuts to a second scene at frame 135 (t = 904.5 s); demo_va_000 has no cut."""
    data, results = demo
    at = page("clip_browser", data, results)
    assert "prev_shot" not in {b.key for b in at.button} and "shot " not in image_caption(at)
    assert chart(at, "video timeline")["layout"]["title"]["text"].endswith(", 1 shot")
    at = page("clip_browser", data, results, video="demo_va_001", t="903")
    assert "shot 1/2" in image_caption(at)
    strip = chart(at, "video timeline")
    assert strip["layout"]["title"]["text"].endswith(", 2 shots")
    cut_lines = [sh for sh in strip["layout"]["shapes"] if sh.get("line", {}).get("dash") == "dash"]
    assert [sh["x0"] for sh in cut_lines] == [904.5]
    assert [a["text"] for a in strip["layout"]["annotations"]] == ["shot change"]
    lanes = dict(zip(strip["data"][0]["y"], strip["data"][0]["base"], strict=True))   # track lanes: start times
    assert min(lanes.values()) < 904.5 and max(lanes.values()) >= 904.5    # tracks on both sides of the cut
    at.button(key="next_shot").click().run()
    assert at.slider(key="frame").value == 135 and "shot 2/2" in image_caption(at)
    at.button(key="prev_shot").click().run()
    assert at.slider(key="frame").value == 0 and "shot 1/2" in image_caption(at)
    after = next(int(y[1:]) for y, t0 in lanes.items() if t0 == 904.5)     # a track that starts at the cut
    at = page("clip_browser", data, results, video="demo_va_001", t="905", track=str(after))
    assert at.selectbox(key="track").value == after
    assert chart(at, "track #")["layout"]["title"]["text"].endswith("dashed = shot change")


def test_clip_browser_deep_link_and_label_toggles(demo):
    data, results = demo
    at = page("clip_browser", data, results, video="demo_va_001", t="904", track="2", run=RUN_B, b=RUN_A, class_="12")
    assert at.selectbox(key="video").value == "demo_va_001" and at.slider(key="frame").value == 120
    assert at.selectbox(key="run").value == RUN_B and at.selectbox(key="run_b").value == RUN_A
    assert at.selectbox(key="track").value == 2 and at.selectbox(key="outcome_class").value == 12
    assert not at.warning                                                        # every value was valid
    people = at.dataframe[0].value
    labels = people["labels"]
    assert labels.str.contains("GT ").any() and labels.str.contains("%").any()   # keyframe: GT + predictions
    assert {f"stand (A: {VARIANTS[1]})", f"stand (B: {VARIANTS[0]})"} <= set(people.columns)   # both runs
    want = {"video": "demo_va_001", "t": "904", "track": "2", "run": RUN_B, "b": RUN_A, "class": "12"}
    assert {k: at.query_params[k] for k in want} == want
    assert [d["name"] for d in chart(at, "track #")["data"] if d["type"] == "scatter"][-1].endswith(f"({RUN_A})")
    at.toggle(key="show_pred").set_value(False).run()                            # predicted labels off
    labels = at.dataframe[0].value["labels"]
    assert not labels.str.contains("%").any() and labels.str.contains("GT ").any()
    at.toggle(key="show_pseudo").set_value(True).run()
    at.slider(key="frame").set_value(125).run()                                 # off the keyframe: pseudo-labels
    labels = at.dataframe[0].value["labels"]
    assert labels.str.startswith("~").all() and not labels.str.contains("GT ").any()


def test_clip_browser_bad_deep_links_say_what_is_shown(demo):
    """Fix 6: ?t=inf and out-of-range, unknown video / run / track / class: no traceback; a note says what
    was asked and what is shown."""
    data, results = demo
    at = page("clip_browser", data, results, t="inf")
    assert at.slider(key="frame").value == 60
    assert "t='inf' is not a time in seconds: showing t = 902.00 s" in texts(at.warning)
    at = page("clip_browser", data, results, video="nope", t="99999", run="demo/nope", track="77", class_="999")
    warned = texts(at.warning)
    assert "video 'nope' is not one of this page's choices: showing demo_va_000" in warned
    assert "t = 99999 s is outside this video (900.00-906.97 s): showing t = 906.97 s" in warned
    assert f"run 'demo/nope' is not one of this page's choices: showing {RUN_A}" in warned
    assert "track '77' is not one of this page's choices: showing 1" in warned
    assert "class '999' is not one of this page's choices: showing (none)" in warned.replace("showing 0", "showing (none)")
    assert at.selectbox(key="video").value == "demo_va_000" and at.slider(key="frame").value == 209


def test_clip_browser_says_when_the_followed_person_is_not_detected(demo):
    """Fix 4: track 1 of demo_va_000 is missed at frames 89-101 (t = 902.97-903.37 s)."""
    data, results = demo
    at = page("clip_browser", data, results, video="demo_va_000", t="903", track="1")
    note = texts(at.warning)
    assert ("#1 not detected here (in-filled by the mask token); last seen at t = 902.93 s (frame 88, dashed box), "
            "next seen at t = 903.40 s") in note
    assert 1 not in at.dataframe[0].value["track"].tolist()
    at.button(key="go_last").click().run()
    assert at.slider(key="frame").value == 88 and not texts(at.warning)
    at = page("clip_browser", data, results, video="demo_va_000", t="902", track="1")
    assert "not detected" not in texts(at.warning)


def test_clip_browser_plays_every_frame_and_exports_the_runs_labels(demo):
    """Fix 1 (in the page): play shows every frame as drawn at this frame; the MP4 says its labels."""
    data, results = demo
    at = page("clip_browser", data, results)
    at.button(key="play").click().run()
    assert not at.exception
    assert "played frames 60-119: 60 frames (every frame)" in texts(at.caption)
    at.slider(key="mp4_seconds").set_value(1).run()
    assert f"Labels: labels: predictions of run {RUN_A} (top 3, score >= 20%)" in texts(at.caption)
    at.button(key="mp4").click().run()
    assert not at.exception
    assert "dl_mp4" in {b.key for b in at.get("download_button")}
    assert len(at.get("video")) == 1
    at.run()                        # any other rerun (a widget, a chart event): the rendered MP4 stays
    assert "dl_mp4" in {b.key for b in at.get("download_button")} and len(at.get("video")) == 1
    at.slider(key="frame").set_value(61).run()      # another frame: that MP4 no longer shows what is drawn
    assert "dl_mp4" not in {b.key for b in at.get("download_button")} and not at.get("video")


def clip_view(data: Path, results: Path, video: str = "demo_va_000", **kw):
    """A panels.ClipView of the fixture's first run, as the clip browser builds it (bare mode)."""
    import panels as pn

    from lartcore import browse
    from lartcore.body import StandInBody
    from lartcore.data.store import TrackStore
    spath = DataRoot(data).store("ava_val")
    store = TrackStore(spath)
    span = browse.video_span(store.index, video)
    chunk = browse.chunk_of(60)
    run = Registry(results).runs().iloc[0]
    view = pn.ClipView(DataRoot(data), "ava_val", video, 60, span, store.shot_changes(video), chunk,
                       pn.clip_tracks(spath, video, chunk), StandInBody(), run, **kw)
    return pn._with_predictions(view, spath)


def test_clip_mp4_frames_show_the_runs_predictions(demo):
    """Fix 1: the MP4 export draws the selected run's predictions (with top-k, threshold, toggles, GT boxes)
    over the real video frames, every frame, and names its labels; not the dataset's labels."""
    import io

    import av
    import panels as pn

    from lartcore import chips
    from lartcore.video import frames_at
    data, results = demo
    view = clip_view(data, results, top_k=2, threshold=0.0)
    payload, _ = pn.clip_mp4(view, 60, 69, None)
    with av.open(io.BytesIO(payload)) as f:
        assert f.metadata["comment"] == view.legend().text()
        assert f"predictions of run {RUN_A} (top 2" in f.metadata["comment"]
        decoded = [fr.to_ndarray(format="rgb24") for fr in f.decode(video=0)]
    assert len(decoded) == 10
    shown = pn.compose(view, 60).astype(int)                               # the frame on screen
    first = decoded[0][:shown.shape[0]].astype(int)                        # (the MP4 pads to an even height)
    h = 360                                                                 # the frame above the legend band
    dataset = pn.compose(pn.replace(view, show_pred=False, show_pseudo=True), 60).astype(int)
    same, other = np.abs(first[:h] - shown[:h]).mean(), np.abs(first[:h] - dataset[:h]).mean()
    assert same < 3 and same < 0.5 * other, (same, other)
    people, _ = pn.frame_people(view, 60)
    assert all(sum(chips.source(c) == "prediction" for c in labels) == 2 for labels in people.labels)
    video = frames_at(DataRoot(data).video("demo_va_000"), [902.0])[0].astype(int)    # the real frame shows
    assert np.median(np.abs(first[:h, :40] - video[:, :40])) < 8


def test_clip_browser_draws_tp_fp_fn_boxes_of_a_class(demo):
    """Box-level TP / FP / FN of a class, the evaluator's matching, drawn with a legend."""
    import panels as pn

    from lartcore.matches import outcomes_at
    data, results = demo
    at = page("clip_browser", data, results, class_="12", t="902")
    assert "stand at IoU 0.5: green TP, red FP, dashed orange FN (at keyframes)" in texts(at.caption)
    view = clip_view(data, results, outcome_class=12, threshold=0.0)
    _, kinds, _ = pn._boxes(view, 60)
    expected = outcomes_at(view.matches, "demo_va_000", 902.0, 12, 0.0)
    assert sorted(k for k in kinds if k != "GT") == sorted(expected["outcome"]) and len(expected)
    assert {"FN"} <= set(kinds) or {"TP"} <= set(kinds)
    assert len(pn._boxes(view, 61)[0]) == 0                               # off the keyframe: none


def test_clip_browser_3d_views(demo):
    """Fix 7: camera / side / top views; ground paths in the depth layout."""
    data, results = demo
    at = page("clip_browser", data, results)
    assert not [c for c in charts(at) if "people (" in c["layout"].get("title", {}).get("text", "")]   # off
    at.toggle(key="show3d").set_value(True).run()
    view3d = chart(at, "2 people")
    assert "camera view" in view3d["layout"]["title"]["text"] and view3d["layout"]["scene"]["camera"]["eye"]["y"] < 0
    assert any(d["type"] == "scatter3d" for d in view3d["data"])                 # ground paths
    at.radio(key="view3d_angle").set_value("top").run()
    assert "top view" in chart(at, "2 people")["layout"]["title"]["text"]


def test_clip_browser_notes_instead_of_tracebacks(demo, tmp_path):
    data, _ = demo
    at = page("clip_browser", data, tmp_path / "no_results", video="demo_va_001")
    assert any("No results" in i.value for i in at.info)
    assert any("stand-in body" in c.value for c in at.caption)
    assert any("No video for demo_va_001" in c.value for c in at.caption)
    at = page("clip_browser", tmp_path / "no_data", tmp_path / "no_results")
    assert any("No track store" in w.value for w in at.warning)


# ---- the Explain panel (issue #17) ----------------------------------------------------------------------

def library_explanation(results: Path, data: Path, track_id: int, keyframe: int, action_id: int, edits=None,
                        video: str = "demo_va_000"):
    """What `lartcore.explain` says of run A's prediction, computed without the dashboard (the page's input:
    the clip's tracks)."""
    from lartcore import browse, explain
    from lartcore.data.store import TrackStore, VideoSource
    source = VideoSource(TrackStore(DataRoot(data).store("ava_val")), video, browse.chunk_of(keyframe))
    row = int(np.flatnonzero(source.index["track_id"].to_numpy() == track_id)[0])
    pred = explain.Predictor.from_run(Path(results) / RUN_A)
    return explain.explain(pred, source, row, keyframe, action_id, edits)


def frame_values(at, key_column: str) -> pd.DataFrame:
    """The panel's table with the column `key_column`."""
    return next(d.value for d in at.dataframe if key_column in d.value.columns)


def test_explain_panel_heat_map_people_keyframe_and_totals(demo):
    """Opened by a deep link: the heat map's rows are the input's people (the person of interest first) in
    their track colours, the keyframe is marked, and every number is the library's."""
    from lartcore import schema
    from lartcore.render import track_color
    data, results = demo
    at = page("clip_browser", data, results, video="demo_va_000", t="902", track="1", xclass="12")
    assert at.toggle(key="explain").value and at.selectbox(key="x_class").value == 12
    assert at.radio(key="x_method").value == "integrated_gradients" and not at.warning
    exp = library_explanation(results, data, 1, 60, 12)
    heat = chart(at, "integrated gradients: stand")
    title = heat["layout"]["title"]["text"]
    assert f"stand {exp.score:.0%} for #1 at frame 60: prediction of run {RUN_A}" in title and "demo data" in title
    assert heat["data"][0]["y"] == ["#1 (person of interest)", "#2"] and heat["layout"]["yaxis"]["type"] == "category"
    bands = [sh for sh in heat["layout"]["shapes"] if sh.get("name", "").startswith("track colour")]
    assert [b["fillcolor"] for b in bands] == ["rgb({},{},{})".format(*track_color(t)) for t in (1, 2)]
    keyline = [sh for sh in heat["layout"]["shapes"] if sh.get("line", {}).get("dash") == "dot"]
    assert [(sh["x0"], sh["x1"]) for sh in keyline] == [(schema.timestamp_of(60),) * 2]
    assert "score frames" in [a["text"] for a in heat["layout"]["annotations"]]
    captions = texts(at.caption)
    assert (f"Explanation of the prediction of run {RUN_A} (run A) for #1 at the keyframe t = 902 s (frame 60)"
            in captions) and ":orange[demo data" in captions
    cues = texts(at.markdown)
    assert f"pose {exp.cues.at['integrated_gradients', 'pose']:+.4f}" in cues
    people = frame_values(at, "attention rollout").set_index("track")
    assert people.index.tolist() == [1, 2]
    for method, column in (("integrated_gradients", "integrated gradients"), ("rollout", "attention rollout")):
        np.testing.assert_allclose(people[column], exp.people_totals(method).loc[[1, 2]], atol=1e-6)
    order = exp.people_totals().abs().sort_values(ascending=False).index.tolist()
    assert people.loc[order, "top"].tolist() == [1, 2]                         # outlined on the frame, in order
    assert "Turn on an edit above" in captions and not [c for c in charts(at) if "What if" in str(c["layout"])]
    at.radio(key="x_method").set_value("rollout").run()
    assert chart(at, "attention rollout: stand")["data"][0]["y"][0] == "#1 (person of interest)"
    at.selectbox(key="x_class").select(int(exp.top_classes(1)[0])).run()
    assert at.query_params["xclass"] == str(exp.top_classes(1)[0])
    assert chart(at, "attention rollout: ")["layout"]["title"]["text"] != title


def test_explain_panel_whatif_toggles_recompute_and_deep_link_round_trip(demo):
    """Each toggle changes the bars and the table (the library's score changes: each edit alone, then all
    together); the URL carries the class and the edits, and opening it restores the panel."""
    from lartcore.explain import Edit
    data, results = demo
    at = page("clip_browser", data, results, video="demo_va_000", t="902", track="1", xclass="12")
    assert at.toggle(key="x_cue_appearance").disabled                        # a pose-only model
    at.toggle(key="x_others").set_value(True).run()
    bars = chart(at, "What if: stand")
    assert [d["name"] for d in bars["data"]] == ["drop others"] and at.query_params["edits"] == "drop others"
    table = frame_values(at, "drop others")
    exp = library_explanation(results, data, 1, 60, 12, [Edit("drop_others")])
    np.testing.assert_allclose(table["drop others"], exp.deltas.loc[table["class"].str.extract(r"\((\d+)\)$")[0]
                                                                    .astype(int), "drop others"], atol=1e-6)
    first = table["drop others"].to_numpy()
    at.toggle(key="x_cue_pose").set_value(True).run()
    names = [d["name"] for d in chart(at, "What if: stand")["data"]]
    assert names == ["drop others", "drop pose", "drop others + drop pose"]
    assert at.query_params["edits"] == "drop others + drop pose"
    table = frame_values(at, "drop others + drop pose")
    assert not np.allclose(table["drop others + drop pose"], first)            # the combination: its own forward
    at.toggle(key="x_span").set_value(True).run()
    assert at.slider(key="x_span_range").value == (54, 65)                    # the score frames to start with
    at.slider(key="x_span_range").set_value((40, 60)).run()
    at.toggle(key="x_span_poi").set_value(False).run()
    at.multiselect(key="x_drop").select(2).run()
    edits = "drop others + drop #2 + drop pose + hide 40-60"
    assert at.query_params["edits"] == edits and [d["name"] for d in chart(at, "What if")["data"]][-1] == edits
    link = {k: at.query_params[k] for k in ("video", "t", "track", "run", "xclass", "edits")}
    shown = frame_values(at, edits)

    again = page("clip_browser", data, results, **link)                       # the deep link round trip
    assert not again.warning and again.selectbox(key="x_class").value == 12
    assert [again.toggle(key=k).value for k in ("x_others", "x_cue_pose", "x_span", "x_span_poi", "x_keyframe")] == \
        [True, True, True, False, False]
    assert again.slider(key="x_span_range").value == (40, 60) and again.multiselect(key="x_drop").value == [2]
    assert again.query_params["edits"] == edits
    pd.testing.assert_frame_equal(frame_values(again, edits), shown)


def test_explain_panel_bad_deep_links_and_where_it_cannot_explain(demo):
    """A class or edits that do not fit: a note says what was asked and what is shown. Off a keyframe: a note
    and a button to the nearest keyframe; a person without a track at the keyframe: a note; closing the
    panel drops its parameters from the URL."""
    data, results = demo
    at = page("clip_browser", data, results, video="demo_va_000", t="902", track="1", xclass="999",
              edits="drop #77 + drop appearance + keyframe only")
    from lartcore import schema
    warned = texts(at.warning)
    top = int(at.selectbox(key="x_class").value)
    assert (f"xclass '999' is not a class of run {RUN_A}: showing {schema.short_name(top)} ({top})." in warned)
    assert ("Deep link: edits 'drop #77 + drop appearance + keyframe only': 'drop #77': #77 is not one of the "
            "other people here (#2); 'drop appearance': the model has no appearance input; showing keyframe only."
            in warned)
    assert at.toggle(key="x_keyframe").value and at.query_params["edits"] == "keyframe only"
    at.toggle(key="x_others").set_value(True).run()
    assert not at.warning                                                      # notes on the first reading only
    at = page("clip_browser", data, results, video="demo_va_000", t="902", track="1", xclass="abc", edits="fly")
    warned = texts(at.warning)
    assert "xclass 'abc' is not a class of" in warned and "edits 'fly' are not edits (not an edit: 'fly'" in warned

    at = page("clip_browser", data, results, video="demo_va_000", t="902.5", track="1", xclass="12")
    assert ("frame 75 (t = 902.50 s) is not a keyframe. The nearest keyframe is t = 902 s (frame 60)."
            in texts(at.info)) and not [c for c in charts(at) if "integrated gradients:" in str(c["layout"])]
    at.button(key="x_go_keyframe").click().run()
    assert at.slider(key="frame").value == 60 and chart(at, "integrated gradients: stand")
    at.toggle(key="explain").set_value(False).run()
    assert "xclass" not in at.query_params and "edits" not in at.query_params
    at = page("clip_browser", data, results, video="demo_va_001", t="904", track="3", xclass="12")  # #3 from 904.5 s
    assert "#3 is not scored at t = 904 s (no track of theirs covers this keyframe)" in texts(at.info)
    at = page("clip_browser", data, results, video="demo_va_000", t="903", track="1", xclass="12")  # #1 missed here
    assert chart(at, "integrated gradients: stand") and "Not outlined (not detected at this frame): #1 (top " in \
        texts(at.caption)


def test_explain_outlines_on_the_frame(demo):
    """The top contributors are outlined (thick, in their track colour, tagged) by the frame's drawing code,
    under the chips, and the legend band says what the outlines mean."""
    import panels as pn

    from lartcore.data.tracks import detected_at
    from lartcore.render import track_color
    data, results = demo
    view = clip_view(data, results)
    h = pn.Highlight((1, 2), ("top 1 +0.100", "top 2 -0.050"), ("outlines: who moved the score", "(second line)"))
    drawn, plain = pn.compose(view, 60, highlight=h), pn.compose(view, 60)
    assert drawn.shape[0] > plain.shape[0]                                   # two more legend lines
    for k, i in detected_at(view.tracks, 60):
        t = view.tracks[k]
        x0, y0, w, hgt = t.box[i]
        edge = np.s_[int(y0 + 0.5 * hgt):int(y0 + 0.9 * hgt), int((x0 + w) / 640 * 639 + 0.5) - 2]   # right side
        near = [(np.abs(img[edge].astype(int) - track_color(t.track_id)).max(1) < 40).mean() for img in (drawn, plain)]
        assert near[0] > 0.9 and near[1] < 0.1, (t.track_id, near)


# ---- per-class comparison -------------------------------------------------------------------------------

def test_per_class_page_compares_two_runs(demo):
    data, results = demo
    at = page("per_class", data, results)
    reg = Registry(results)
    a, b = (reg.per_class("demo", v).set_index("id") for v in VARIANTS)
    assert "–" in at.dataframe[0].value["gain"].tolist() and "None" not in str(at.dataframe[0].value.to_numpy())
    table = shown(at.dataframe[0])
    row = table.dropna(subset=["gain"]).iloc[0]
    assert row["gain"] == pytest.approx(100 * (b.at[row["id"], "ap"] - a.at[row["id"], "ap"]), abs=1e-3)   # shown to 3 decimals
    assert table["gain"].dropna().is_monotonic_decreasing and "n_gt" in table
    side, gain_chart = chart(at, "Per-class AP"), chart(at, "Classes with |gain| > 1 AP")
    assert side["layout"]["legend"]["y"] > 1 and gain_chart["layout"]["legend"]["y"] > 1   # fix 5: above the names
    big = table[table["gain"].abs() > 1.0]
    assert gain_chart["data"][2]["x"] == big["name"].tolist() and len(big)
    at.slider(key="min_gain").set_value(2.5).run()
    assert chart(at, "Classes with |gain|")["layout"]["title"]["text"].startswith("Classes with |gain| > 2.5 AP")
    at.multiselect(key="types").set_value(["OM"]).run()
    assert set(at.dataframe[0].value["type"]) <= {"OM"}
    at.selectbox(key="run_b").select(RUN_A).run()                                   # B = A: no gains
    assert (shown(at.dataframe[0])["gain"].dropna() == 0).all()
    assert any(c.value.startswith("A: **demo/") for c in at.caption)          # provenance beside numbers
    assert f"A: run **{RUN_A}** · paper protocol" in texts(at.caption)


def test_per_class_drilldown_links_carry_both_runs_class_and_person(demo):
    """Fix 2 and the symmetric A/B drill-down: each link opens the clip browser with both runs, the class and
    the person, and that is what the clip browser shows."""
    data, results = demo
    at = page("per_class", data, results)
    at.selectbox(key="drill_class").select(12).run()
    seen = {}
    for sort in ("A right, B wrong", "B right, A wrong", "false positives of A", "false negatives of A",
                 "false positives of B", "false negatives of B"):
        at.selectbox(key="drill_sort").select(sort).run()
        seen[sort] = shown(at.dataframe[1])
    assert "predicts it at score >= " in texts(at.caption)                    # each run's operating point
    at.radio(key="drill_point").set_value("a fixed score").run()
    at.slider(key="drill_thr").set_value(0.5).run()
    at.selectbox(key="drill_sort").select("false negatives of A").run()
    seen["false negatives of A"] = shown(at.dataframe[1])
    rows = seen["false negatives of A"]
    assert len(rows) and rows["gt"].all() and (rows["score_a"] < 0.5).all()
    fps = seen["false positives of A"]
    assert (~fps["gt"].astype(bool)).all()
    assert rows["open"].str.contains(f"run={RUN_A}&b={RUN_B}&class=12").all()
    with_track = rows.dropna(subset=["track"])
    assert len(with_track) and with_track["open"].str.contains("&track=").all()
    link = with_track["open"].iloc[0]
    query = dict(kv.split("=") for kv in link.split("?", 1)[1].split("&"))
    clip = page("clip_browser", data, results, **{k + ("_" if k == "class" else ""): v for k, v in query.items()})
    assert clip.selectbox(key="run").value == RUN_A and clip.selectbox(key="run_b").value == RUN_B
    assert clip.selectbox(key="outcome_class").value == 12
    assert clip.selectbox(key="track").value == int(query["track"])
    assert clip.selectbox(key="video").value == query["video"] and not clip.warning


def test_per_class_page_deep_link(demo):
    data, results = demo
    at = page("per_class", data, results, a=RUN_B, b=RUN_A)
    assert at.selectbox(key="run_a").value == RUN_B and at.selectbox(key="run_b").value == RUN_A
    assert f"A = {VARIANTS[1]}, B = {VARIANTS[0]}" in texts(at.caption)
    assert at.query_params["a"] == RUN_B
    at = page("per_class", data, results, a="demo/nope")
    assert f"run 'demo/nope' is not one of this page's choices: showing {RUN_A}" in texts(at.warning)


def test_per_class_uploads_are_validated(demo):
    """Fix 6: uploaded per_class.csv files: duplicated ids, unknown ids and header-only files give an error
    (no traceback); AP in points is read as points and says so."""
    data, results = demo
    head = "id,name,type,ap,n_gt,n_det\n"
    good = head + "12,stand,PM,0.5,3,4\n14,walk,PM,0.25,2,4\n"
    points = head + "12,stand,PM,60,3,4\n14,walk,PM,20,2,4\n"
    at = page("per_class", data, results)
    at.sidebar.radio(key="source").set_value("per_class.csv files").run()
    at.file_uploader(key="up_A").upload("a.csv", good.encode(), "text/csv")
    at.file_uploader(key="up_B").upload("b.csv", points.encode(), "text/csv").run()
    assert not at.exception and not at.error
    assert "b.csv: AP read as points in [0, 100]" in texts(at.caption)
    table = at.dataframe[0].value.set_index("id")
    assert table.at[12, "gain"] == pytest.approx(10.0) and table.at[14, "gain"] == pytest.approx(-5.0)
    for content, message in ((head + "12,stand,PM,0.5,3,4\n12,stand,PM,0.4,3,4\n", "listed more than once: [12]"),
                             (head + "99,x,PM,0.5,3,4\n", "outside the AVA ids 1..80: [99]"),
                             (head, "no rows (a header only)"), (head + "12,stand,PM,250,3,4\n", "AP must lie in")):
        at.file_uploader(key="up_B").upload("b.csv", content.encode(), "text/csv").run()
        assert not at.exception and message in texts(at.error), message


def test_per_class_page_without_runs(demo, tmp_path):
    data, _ = demo
    at = page("per_class", data, tmp_path / "empty")
    assert any("No results" in i.value for i in at.info)


# ---- the evaluation views -------------------------------------------------------------------------------

def test_keyframe_grid_filters_pages_and_links(demo):
    data, results = demo
    at = page("keyframes", data, results, run=RUN_A, class_="12")
    assert at.selectbox(key="grid_class").value == 12
    assert f"run **{RUN_A}** · paper protocol · predicts 80 classes, evaluated on 60" in texts(at.caption)
    assert "8 keyframes match" in texts(at.caption)                   # the tiny val GT has 8 keyframes
    assert len(at.image) == 8
    links = [m.value for m in at.markdown if "](/?video=" in m.value]
    assert len(links) == 8 and all(f"run={RUN_A}" in v and "class=12" in v for v in links)
    at.selectbox(key="grid_outcome").select("FN").run()
    fn_links = [m.value for m in at.markdown if "](/?video=" in m.value]
    assert fn_links and all(":orange[FN 0]" not in v for v in fn_links)
    at.selectbox(key="grid_outcome").select("any").run()
    at.select_slider(key="grid_size").set_value(8).run()
    at.selectbox(key="grid_gt").select(17).run()                      # has a GT 'carry/hold' box
    assert "keyframes match" in texts(at.caption) and len(at.image) <= 8
    at.selectbox(key="grid_gt").select(0).run()
    at.slider(key="grid_range").set_value((0.95, 1.0)).run()
    assert "0 keyframes match" in texts(at.caption) and not at.image


def test_evaluation_page_pr_curves_open_a_detection_and_confusion(demo):
    data, results = demo
    at = page("evaluation", data, results, run=RUN_A, b=RUN_B, class_="12")
    pr = chart(at, "Precision-recall: stand")
    assert [d["name"].split(" (AP")[0] for d in pr["data"]] == [RUN_A, RUN_B]
    custom = pr["data"][0]["customdata"]                                         # rank, row, score per point
    assert (custom["shape"].replace(" ", "").endswith(",3") if isinstance(custom, dict) else len(custom[0]) == 3)
    assert "A: run **" in texts(at.caption) and "B: run **" in texts(at.caption)
    at.number_input(key="pr_rank").set_value(1).run()
    card = texts(at.markdown)
    assert f"**rank 1** of {RUN_A}" in card and f"run={RUN_A}" in card and "class=12" in card
    assert any("the detection: thick yellow outline" in c for c in at.image[0].captions)
    bars = chart(at, "Predicted on the")
    assert [d["name"] for d in bars["data"]] == [RUN_A, RUN_B]


def test_evaluation_pages_without_runs_or_predictions(demo, tmp_path):
    import shutil
    data, results = demo
    for name in ("evaluation", "keyframes"):
        at = page(name, data, tmp_path / "empty")
        assert any("No results" in i.value for i in at.info)
    copy = shutil.copytree(results, tmp_path / "results")
    (copy / RUN_A / "predictions.csv").unlink()
    for name in ("evaluation", "keyframes"):
        at = page(name, data, copy, run=RUN_A)
        assert any(f"Run {RUN_A} has no predictions to show" in i.value for i in at.info)


# ---- ablations ------------------------------------------------------------------------------------------

def test_ablations_page_shows_paper_and_registry_numbers(demo, tmp_path):
    data, results = demo
    at = page("ablations", data, results)
    t2 = shown(at.dataframe[0])
    row = t2[t2["variant"] == "lart_pose_n5"].iloc[0]
    assert row["mAP_paper"] == 24.1                                            # the paper's value
    assert row["mAP"] == pytest.approx(100 * Registry(results).metrics("demo", "lart_pose_n5")["mAP"], abs=0.05)
    assert len(at.dataframe) == 6                       # tables 2, 5, 6, figure 6, findings + all runs
    t5 = at.dataframe[1].value
    cols = list(t5.columns)
    assert cols.index("mAP_paper") == cols.index("mAP") + 1 and cols.index("mAP") < cols.index("variant")   # fix 5
    f6 = shown(at.dataframe[3]).set_index("n_people")
    assert f6.at[1, "mAP"] == pytest.approx(100 * Registry(results).metrics("demo", "lart_pose_n1")["mAP"], abs=0.05)
    found = shown(at.dataframe[4]).set_index("key")
    assert list(found.index) == list(tables.CLAIMS)
    assert found.loc["multi_person_pi", "result"] in (tables.PASS, tables.FAIL)   # n1, n5 recorded
    assert found.loc["tracking", "result"] == tables.NOT_RUN                        # the others not
    assert found.at["multi_person_pi", "value_a"] == pytest.approx(
        100 * Registry(results).metrics("demo", "lart_pose_n5")["PI"], abs=0.05)
    runs = shown(at.dataframe[5]).set_index("variant")
    assert runs.at["lart_pose_n1", "mAP"] == pytest.approx(f6.at[1, "mAP"], abs=0.05)   # all runs in AP points too
    assert runs.at["lart_pose_n1", "protocol"] == "paper"
    assert [d["name"] for d in charts(at)[0]["data"]] == ["reproduced", "paper"]   # Figure 6 plot
    assert any("Demo data" in w.value for w in at.warning)
    empty = page("ablations", data, tmp_path / "empty")
    assert any("No results" in i.value for i in empty.info)
    assert shown(empty.dataframe[0])["mAP"].isna().all() and (empty.dataframe[0].value["mAP"] == "–").all()
    assert (empty.dataframe[4].value["result"] == tables.NOT_RUN).all()


# ---- real browser ---------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def server(demo, tmp_path_factory):
    import screenshots
    with screenshots.serve(*demo, tmp_path_factory.mktemp("server") / "streamlit.log") as url:
        yield url


@pytest.fixture(scope="module")
def browser_page():
    import screenshots
    if not Path(screenshots.CHROMIUM).is_file():
        pytest.skip(f"{screenshots.CHROMIUM} missing: `.ci/run` installs Debian's chromium "
                    "(apt-get install -y chromium)")
    sync_playwright = pytest.importorskip("playwright.sync_api").sync_playwright
    with sync_playwright() as p:
        browser = screenshots.launch(p)
        try:
            yield browser.new_page(viewport={"width": 1400, "height": 2600}, accept_downloads=True)
        finally:
            browser.close()


def open_page(pg, url: str) -> None:
    import screenshots
    pg.goto(url, wait_until="networkidle")
    pg.get_by_test_id("stMainBlockContainer").get_by_role("heading").first.wait_for(timeout=120_000)
    screenshots.settle(pg)


@pytest.mark.browser
@pytest.mark.slow
def test_real_browser_mp4_export_then_clip_and_person(demo, server, browser_page, tmp_path):
    """The MP4 a user downloads: its comment names the run's predictions, it has every frame, and its first
    decoded frame is the frame drawn with that run's predictions, not with the dataset's labels. Then a
    clip and a person are selected as a user does (selectbox, a click on the people table)."""
    import av
    import panels as pn
    import screenshots
    data, results = demo
    pg = browser_page
    open_page(pg, server + f"/?video=demo_va_000&t=902&run={RUN_A}")
    pg.get_by_text("MP4 of the clip, drawn as above").click()
    render = pg.get_by_role("button", name="render MP4")
    render.wait_for(timeout=120_000)
    render.click()
    button = pg.get_by_role("button", name="overlay (MP4)")
    button.wait_for(timeout=120_000)
    with pg.expect_download() as info:
        button.click()
    path = tmp_path / "export.mp4"
    info.value.save_as(path)
    with av.open(str(path)) as f:
        assert f"predictions of run {RUN_A} (top 3, score >= 20%)" in f.metadata["comment"]
        frames = [fr.to_ndarray(format="rgb24") for fr in f.decode(video=0)]
    assert len(frames) == 60                                                    # 2 s, every frame
    view = clip_view(data, results)
    first = frames[0][:360].astype(int)                                         # the frame above the legend
    same = np.abs(first - pn.compose(view, 60)[:360].astype(int)).mean()
    other = np.abs(first - pn.compose(pn.replace(view, show_pred=False, show_pseudo=True), 60)[:360].astype(int)).mean()
    assert same < 3 and same < 0.5 * other, (same, other)

    screenshots.choose(pg, "video", "demo_va_001")
    pg.get_by_test_id("stImage").get_by_text("demo_va_001").wait_for(timeout=120_000)
    screenshots.choose(pg, "follow person (track id)", "1")
    table = pg.get_by_test_id("stDataFrame").first.bounding_box()      # people at this frame
    pg.mouse.click(table["x"] + 12, table["y"] + 36 + 35 + 17)          # 2nd row's selector: track 2
    screenshots.settle(pg)
    assert "track=2" in pg.url and "track #2" in plot_title(pg)
    assert "video=demo_va_001" in pg.url
    caption = pg.get_by_test_id("stImage").first.inner_text()
    assert "t = 902.00 s" in caption and "2 people" in caption
    assert pg.get_by_test_id("stException").count() == 0
    reports = ROOT / "reports"
    reports.mkdir(exist_ok=True)
    pg.screenshot(path=str(reports / "dashboard_browser.png"), full_page=True)


def plot_title(pg) -> str:
    """Title of the followed person's pose timeline (the figure after the video timeline strip)."""
    return pg.locator(".js-plotly-plot .gtitle").filter(has_text="track #").first.text_content()


@pytest.mark.browser
@pytest.mark.slow
def test_real_browser_keyframe_grid_and_pr_curve_click(server, browser_page):
    """The grid shows the filtered keyframes as thumbnails linked to the clip browser; a click on a point of
    a PR curve opens that detection."""
    pg = browser_page
    open_page(pg, server + f"/keyframes?run={RUN_A}&class=12")
    assert pg.get_by_test_id("stImage").count() == 8
    href = pg.get_by_role("link", name="demo_va_000 · 903 s").get_attribute("href")
    assert href.startswith("/?video=demo_va_000&t=903&run=") and "class=12" in href
    open_page(pg, server + f"/evaluation?run={RUN_A}&class=12")
    box = pg.locator(".js-plotly-plot .scatterlayer .trace .points path").first.bounding_box()
    pg.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)     # plotly's click selects it
    pg.mouse.down()
    pg.mouse.up()
    card = pg.get_by_test_id("stMarkdown").filter(has_text=f"of {RUN_A}: ")
    card.first.wait_for(timeout=60_000)
    text = card.first.inner_text()
    assert text.startswith("rank ") and "open in the clip browser" in text
    assert pg.get_by_test_id("stException").count() == 0


WHATIF_BARS = """() => [...document.querySelectorAll('.js-plotly-plot')]
  .filter(p => ((p.layout.title || {}).text || '').includes('What if: '))
  .flatMap(p => p._fullData.map(d => [d.name, Array.from(d.y)]))"""


@pytest.mark.browser
@pytest.mark.slow
def test_real_browser_explain_panel_toggles_change_the_bars(server, browser_page):
    """The Explain panel opened as a user does: the heat map appears and the frame is redrawn with the
    outlines; toggling an edit draws its score-change bars, a second one adds its bars and the combination,
    and the URL carries the class and the edits."""
    pg = browser_page
    open_page(pg, server + f"/?video=demo_va_000&t=902&track=1&run={RUN_A}")
    frame_src = pg.get_by_test_id("stImage").first.locator("img").get_attribute("src")
    switch(pg, "explain run A's keyframe score of #1")
    assert pg.locator(".js-plotly-plot .gtitle").filter(has_text="integrated gradients: ").count() == 1
    assert pg.get_by_test_id("stImage").first.locator("img").get_attribute("src") != frame_src   # outlines
    assert pg.evaluate(WHATIF_BARS) == [] and "xclass=" in pg.url
    switch(pg, "drop others")
    first = pg.evaluate(WHATIF_BARS)
    assert [name for name, _ in first] == ["drop others"] and "edits=drop+others" in pg.url
    switch(pg, "drop pose")
    bars = dict(pg.evaluate(WHATIF_BARS))
    assert list(bars) == ["drop others", "drop pose", "drop others + drop pose"]
    assert bars["drop others"] == first[0][1] and bars["drop pose"] != bars["drop others"]
    assert "edits=drop+others+%2B+drop+pose" in pg.url
    assert pg.get_by_test_id("stException").count() == 0
    reports = ROOT / "reports"
    reports.mkdir(exist_ok=True)
    pg.screenshot(path=str(reports / "dashboard_explain_browser.png"), full_page=True)


def switch(pg, label: str) -> None:
    """Flip the toggle whose label contains `label` (a click on the switch's input lands on its label)."""
    import screenshots
    pg.get_by_test_id("stCheckbox").filter(has_text=label).click()
    screenshots.settle(pg)


def test_chromium_install_step_in_ci():
    ci = (ROOT / ".ci" / "run").read_text()
    assert "apt-get install -y chromium" in ci and "apt-get update" in ci


def test_video_frame_reads_the_frame_shown_at_that_time(tmp_path):
    """A real video under <root>/videos is read at the frame's AVA time and resized to the tracks' size."""
    import panels

    from lartcore.video import write_video
    frames = [np.full((180, 320, 3), 5 * k, np.uint8) for k in range(50)]      # frame k: grey 5k
    write_video(tmp_path / "videos" / "vid_0000001.mp4", frames, fps=30)
    rgb, note = panels.video_frame(DataRoot(tmp_path), "vid_0000001", 30, (360, 640))
    assert note == "" and rgb.shape == (360, 640, 3)
    assert abs(float(rgb.mean()) - 150) < 3
    rgb, note = panels.video_frame(DataRoot(tmp_path), "other_video", 30, (360, 640))
    assert rgb is None and "No video for other_video" in note


def test_loaders_reload_a_file_that_changed(demo, tmp_path):
    """The cached loaders key by the file's modification time: a rewritten checkpoint is read again (a
    cache argument named with a leading underscore would be left out of Streamlit's key: it was once)."""
    import os
    import shutil

    import panels
    data, results = demo
    ckpt = tmp_path / "checkpoint.pt"
    shutil.copyfile(results / "demo" / VARIANTS[0] / "checkpoint.pt", ckpt)
    first, again = panels.checkpoint(ckpt), panels.checkpoint(ckpt)
    assert again is first                                                # cached while the file is unchanged
    os.utime(ckpt, (ckpt.stat().st_atime, ckpt.stat().st_mtime + 10))
    assert panels.checkpoint(ckpt) is not first                           # changed: loaded again
    store = panels.store(data / "store" / "ava_val")
    index = data / "store" / "ava_val" / "index.parquet"
    os.utime(index, (index.stat().st_atime, index.stat().st_mtime + 10))
    assert panels.store(data / "store" / "ava_val") is not store
