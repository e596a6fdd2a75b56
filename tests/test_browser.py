"""lartcore/browse.py: the numbers the dashboard shows, against hand cases and independent computations."""
import math
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from dashboard_fixture import DATA, TINY

from lartcore import browse, schema, tables
from lartcore.body import StandInBody
from lartcore.data.store import TrackStore, VideoSource
from lartcore.data.tracks import detected_at
from lartcore.demodata.synthetic import build_demo
from lartcore.infer import track_scores
from lartcore.matches import match


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    root = build_demo(tmp_path_factory.mktemp("tiny") / "data", size="tiny")
    return TrackStore(root / "store" / "ava_val")


def test_time_conversions_and_keyframes():
    assert schema.frame_of(902) == 60 and schema.timestamp_of(60) == 902.0
    assert schema.frame_of(schema.timestamp_of(1234)) == 1234
    assert schema.keyframes(0, 209).tolist() == [60, 90, 120, 150, 180]
    assert schema.keyframes(61, 119).tolist() == [90]
    assert schema.keyframes(61, 89).tolist() == []
    assert schema.keyframes(26_900, 27_100).tolist() == [26_910, 26_940]   # 1797, 1798: the last annotated


def test_step_keyframe():
    keys = np.array([60, 90, 120])
    assert browse.step_keyframe(keys, 75, +1) == 90 and browse.step_keyframe(keys, 75, -1) == 60
    assert browse.step_keyframe(keys, 90, +1) == 120 and browse.step_keyframe(keys, 90, -1) == 60
    assert browse.step_keyframe(keys, 120, +1) == 120 and browse.step_keyframe(keys, 60, -1) == 60
    assert browse.step_keyframe(keys, 60, +2) == 120
    assert browse.step_keyframe(np.array([], int), 7, +1) == 7


def test_shots_and_track_lanes():
    cuts = np.array([100, 250])
    assert [browse.shot_of(cuts, f) for f in (0, 99, 100, 249, 250, 900)] == [0, 0, 1, 1, 2, 2]
    assert browse.shot_spans(cuts, 0, 400) == [(0, 99), (100, 249), (250, 400)]
    assert browse.shot_spans(cuts, 120, 200) == [(120, 200)]                   # no cut inside the range
    assert browse.shot_spans(np.zeros(0, int), 5, 9) == [(5, 9)]
    index = pd.DataFrame({"video": ["v", "w", "v"], "track_id": [2, 1, 1], "frame_start": [10, 0, 0],
                          "length": [5, 3, 20]})
    lanes = browse.track_lanes(index, "v")
    assert lanes.to_dict("list") == {"track_id": [1, 2], "first": [0, 10], "last": [19, 14]}


def test_video_source_matches_store(store):
    video = browse.videos(store.index)[1]
    src = VideoSource(store, video)
    rows = np.flatnonzero(store.index["video"] == video)
    assert len(src) == len(rows) > 0 and (src.index["track_id"].to_numpy() == store.index["track_id"].to_numpy()[rows]).all()
    assert src.track(0).equals(store.track(int(rows[0])))
    assert src.window(1, 5, 40).equals(store.window(int(rows[1]), 5, 40))
    first = store.index["frame_start"].to_numpy()[rows]
    assert src.span() == (int(first.min()), int((first + store.index["length"].to_numpy()[rows]).max() - 1))
    with pytest.raises(KeyError, match="no tracks of video 'nope'"):
        VideoSource(store, "nope")


def test_video_source_keeps_whole_clips_overlapping_frames(store, tmp_path):
    from lartcore.data.store import write_store
    video = browse.videos(store.index)[0]
    mine = [store.track(int(i), appearance=True) for i in np.flatnonzero(store.index["video"] == video)]
    later = [replace(t, keyframe=t.keyframe + 3000, frame=t.frame + 3000) for t in mine]
    two = TrackStore(write_store(mine + later, tmp_path / "two"))
    assert browse.video_span(two.index, video) == (0, 3000 + int(mine[0].frame[-1]))
    assert len(VideoSource(two, video)) == 2 * len(mine)
    early = VideoSource(two, video, (150, 250))         # overlaps the first clip's tracks only
    assert (early.index["keyframe"] == mine[0].keyframe).all() and len(early) == len(mine)
    late = VideoSource(two, video, browse.chunk_of(3100))
    assert (late.index["keyframe"] == mine[0].keyframe + 3000).all() and late.span()[0] == 3000
    with pytest.raises(KeyError, match="around frames"):
        VideoSource(two, video, (1000, 1100))
    assert browse.chunk_of(1799) == (0, 1799) and browse.chunk_of(1800) == (1800, 3599)


def test_scores_of_one_video_equal_whole_store_scores(store):
    """Predicting one video's tracks gives the rows the whole-store prediction gives those tracks."""
    import torch

    from lartcore.model import LART
    torch.manual_seed(0)
    model, cfg = LART(TINY).eval(), DATA
    full = track_scores(model, store, cfg)
    video = browse.videos(store.index)[0]
    src = VideoSource(store, video)
    part = track_scores(model, src, cfg)
    for i, row in enumerate(src.rows):
        np.testing.assert_allclose(part.scores[part.offsets[i]:part.offsets[i + 1]],
                                   full.scores[full.offsets[row]:full.offsets[row + 1]], atol=1e-6)


def test_detected_at_is_who_people_at_frame_draws(store):
    from lartcore.render import people_at_frame
    src = VideoSource(store, browse.videos(store.index)[0])
    tracks = [src.track(i) for i in range(len(src))]
    tracks.append(tracks[0])                                    # same id twice: drawn once
    for frame in (0, 60, 150, 209):
        rows = detected_at(tracks, frame)
        people = people_at_frame(tracks, frame, StandInBody())
        assert [tracks[k].track_id for k, _ in rows] == people.track_ids.tolist()
        assert all(tracks[k].frame[i] == frame and tracks[k].has_detection[i] for k, i in rows)


def test_gt_boxes_at_joins_labels():
    gt = pd.DataFrame({"video_id": ["v"] * 4, "timestamp": [902.0, 902.0, 902.0, 903.0],
                       "x1": [0.1, 0.1, 0.5, 0.1], "y1": [0.2] * 4, "x2": [0.3, 0.3, 0.7, 0.3], "y2": [0.9] * 4,
                       "action_id": [12, 80, 14, 12], "person_id": [0, 0, 1, 0]})
    out = browse.gt_boxes_at(gt, "v", 60)
    assert out["labels"].tolist() == ["stand, watch (person)", "walk"] and out["person_id"].tolist() == [0, 1]
    assert browse.gt_boxes_at(gt, "v", 61).empty and browse.gt_boxes_at(gt, "w", 60).empty


def test_joint_angles_and_missing_spans(store):
    t = store.track(0)
    rot90 = np.array([[0, -1, 0], [1, 0, 0], [0, 0, 1]], np.float32)
    pose = t.pose_shape.copy()
    pose[:, 9:216] = np.tile(np.eye(3, dtype=np.float32).ravel(), 23)
    pose[0, 9:18] = rot90.ravel()                               # joint 1 at frame 0: 90 degrees
    det = np.ones(len(t), bool)
    det[[3, 4, 5, 9]] = False
    t2 = replace(t, pose_shape=pose, has_detection=det)
    angles = browse.joint_angles(t2)
    assert angles.shape == (len(t), 23)
    assert angles[0, 0] == pytest.approx(90.0) and angles[0, 1] == pytest.approx(0.0)
    assert np.isnan(angles[[3, 4, 5, 9]]).all() and not np.isnan(angles[[0, 6, 10]]).any()
    f0 = int(t.frame[0])
    assert browse.missing_spans(t2) == [(f0 + 3, f0 + 5), (f0 + 9, f0 + 9)]
    det[-1] = False
    assert browse.missing_spans(replace(t, has_detection=det))[-1] == (f0 + len(t) - 1, f0 + len(t) - 1)


def test_curves_and_top_classes(store):
    t = store.track(0)
    ids = (12, 14, 80)
    scores = np.random.default_rng(0).random((len(t), 3)).astype(np.float32)
    scores[:, 2] += 1.0
    df = browse.curves(t, scores, ids, [80, 12, 99])           # 99: not a model class, ignored
    assert len(df) == 2 * len(t) and df["action_id"].unique().tolist() == [80, 12]
    np.testing.assert_array_equal(df.loc[df["action_id"] == 12, "score"], scores[:, 0])
    assert df["timestamp"].iloc[0] == 900 + t.frame[0] / 30
    assert browse.top_classes(scores, ids, 2)[0] == 80


def per_class(aps: dict) -> pd.DataFrame:
    types = {12: "PM", 14: "PM", 17: "OM", 64: "PI"}
    return pd.DataFrame({"id": list(aps), "name": [schema.short_name(i) for i in aps],
                         "type": [types[i] for i in aps], "ap": list(aps.values()),
                         "n_gt": [10, 0, 5, 7][:len(aps)], "n_det": 3})


def test_side_by_side_gain_and_type_filter():
    a = per_class({12: 0.5, 14: np.nan, 17: 0.2, 64: 0.4})
    b = per_class({12: 0.6, 14: np.nan, 17: 0.1, 64: 0.7})
    out = browse.side_by_side(a, b)
    assert out["id"].tolist() == [64, 12, 17, 14]               # by gain, NaN last
    np.testing.assert_allclose(out["gain"].iloc[:3], [30.0, 10.0, -10.0])
    assert out["n_gt"].tolist() == [7, 10, 5, 0]
    assert browse.side_by_side(a, b, ("OM",))["id"].tolist() == [17]


BOX = {"x1": 0.1, "y1": 0.1, "x2": 0.5, "y2": 0.9}
FAR = {"x1": 0.6, "y1": 0.1, "x2": 0.9, "y2": 0.9}


def gt_rows(rows):
    return pd.DataFrame([{"video_id": "v", "timestamp": t, **box, "action_id": a, "person_id": p}
                         for t, box, a, p in rows])


def det_rows(rows):
    return pd.DataFrame([{"video_id": "v", "timestamp": t, **box, "action_id": a, "score": s}
                         for t, box, a, s in rows])


def test_ab_boxes_and_symmetric_drilldown():
    """GT: stand at 902 and 903 (person 0). A finds 902 (0.9), misses 903 (0.2), fires on a box without
    GT at 904 (0.7); B misses 902 (0.3), finds 903 (0.8), stays quiet at 904 (0.1)."""
    gt = gt_rows([(902.0, BOX, 12, 0), (903.0, BOX, 12, 0), (904.0, FAR, 14, 1)])
    a = det_rows([(902.0, BOX, 12, 0.9), (903.0, BOX, 12, 0.2), (904.0, BOX, 12, 0.7)])
    b = det_rows([(902.0, BOX, 12, 0.3), (903.0, BOX, 12, 0.8), (904.0, BOX, 12, 0.1)])
    labels = {12: "stand", 14: "walk"}
    boxes = browse.ab_boxes(match(gt, a, labels), match(gt, b, labels), 12, thresholds=0.5)
    assert len(boxes) == 3 and boxes["gt"].sum() == 2
    by_t = boxes.set_index("timestamp").sort_index()
    assert by_t.loc[904.0, "score_a"] == 0.7 and by_t.loc[904.0, "score_b"] == 0.1      # paired across runs
    assert list(by_t["right_a"]) == [True, False, False] and list(by_t["right_b"]) == [False, True, True]
    pick = lambda sort: browse.ab_drilldown(boxes, sort)["timestamp"].tolist()
    assert pick("A right, B wrong") == [902.0]
    assert pick("B right, A wrong") == [903.0, 904.0]                 # largest score difference first
    assert pick("false positives of A") == [904.0] and pick("false positives of B") == []
    assert pick("false negatives of A") == [903.0] and pick("false negatives of B") == [902.0]
    with pytest.raises(ValueError, match="sort expected one of"):
        browse.ab_drilldown(boxes, "best")
    # each run at its own operating point: A's n_gt-th (2nd) highest stand score is 0.7, B's 0.3
    ma, mb = match(gt, a, labels), match(gt, b, labels)
    assert browse.operating_point(ma, 12) == 0.7 and browse.operating_point(mb, 12) == 0.3
    assert browse.operating_point(ma, 14) == math.inf                          # no detection of walk
    own = browse.ab_boxes(ma, mb, 12, (0.7, 0.3)).set_index("timestamp").sort_index()
    assert list(own["right_a"]) == [True, False, False] and list(own["right_b"]) == [True, True, True]
    assert browse.ab_drilldown(boxes.iloc[:0], "A right, B wrong").empty   # no rows invented


def test_attach_tracks_and_deep_links():
    kf = pd.DataFrame({"video_id": ["v", "v"], "timestamp": [902.0, 902.0], "track_id": [3, 7],
                       **{k: [BOX[k], FAR[k]] for k in BOX}})
    rows = pd.DataFrame({"video_id": ["v", "v", "v"], "timestamp": [902.0, 902.0, 903.0],
                         **{k: [FAR[k], BOX[k] + 0.01, BOX[k]] for k in BOX}})
    np.testing.assert_array_equal(browse.attach_tracks(rows, kf).to_numpy(), [7, 3, np.nan])
    assert browse.deep_link("demo_va_000", 903.0) == "?video=demo_va_000&t=903"
    assert browse.deep_link("demo_va_000", 903.5, 2) == "?video=demo_va_000&t=903.5&track=2"
    assert browse.deep_link("v", 902, np.nan, "demo/lart", "demo/lart_pose_n5", 12) == \
        "?video=v&t=902&run=demo/lart&b=demo/lart_pose_n5&class=12"


def test_pick_and_parse_time_say_what_was_asked():
    assert browse.pick(None, ["a", "b"], "video") == ("a", "")
    assert browse.pick("b", ["a", "b"], "video") == ("b", "")
    value, note = browse.pick("zz", ["a", "b"], "video")
    assert value == "a" and note == "video 'zz' is not one of this page's choices: showing a."
    assert browse.pick("7", [1, 7], "track", int) == (7, "")
    assert browse.pick("x", [1, 7], "track", int)[1].startswith("track 'x' is not")
    assert browse.parse_time(None, (0, 300), 60) == (60, "")
    assert browse.parse_time("903", (0, 300), 60) == (90, "")
    frame, note = browse.parse_time("inf", (0, 300), 60)
    assert frame == 60 and note.startswith("t='inf' is not a time in seconds: showing t = 902.00 s")
    assert browse.parse_time("nan", (0, 300), 60)[0] == 60 and browse.parse_time("abc", (0, 300), 60)[0] == 60
    frame, note = browse.parse_time("2000", (0, 300), 60)
    assert frame == 300 and "outside this video (900.00-910.00 s): showing t = 910.00 s" in note


def test_seen_near(store):
    t = store.track(0)
    det = np.ones(len(t), bool)
    det[[4, 5, 6]] = False
    t2 = replace(t, has_detection=det)
    f0 = int(t.frame[0])
    assert browse.seen_near(t2, f0 + 5) == (f0 + 3, f0 + 7)
    assert browse.seen_near(t2, f0) == (None, f0 + 1)
    assert browse.seen_near(t2, f0 + len(t) - 1) == (f0 + len(t) - 2, None)


def test_validate_per_class_uploads():
    good = pd.DataFrame({"id": [12, 14], "name": ["stand", "walk"], "type": ["PM", "PM"], "ap": [0.5, np.nan],
                         "n_gt": [3, 0], "n_det": [4, 1]})
    df, note = browse.validate_per_class(good, "a.csv")
    assert note == "a.csv: AP read as fractions in [0, 1]" and df["ap"].iloc[0] == 0.5
    df, note = browse.validate_per_class(good.assign(ap=[50.0, np.nan]), "a.csv")
    assert note == "a.csv: AP read as points in [0, 100]" and df["ap"].iloc[0] == 0.5
    for bad, msg in ((good.iloc[:0], "no rows"), (good.assign(id=[12, 12]), r"listed more than once: \[12\]"),
                     (good.assign(id=[12, 99]), r"outside the AVA ids 1..80: \[99\]"),
                     (good.assign(ap=[150.0, 1.0]), "AP must lie in")):
        with pytest.raises(ValueError, match=msg):
            browse.validate_per_class(bad, "a.csv")


def test_protocol_and_run_facts(tmp_path):
    (tmp_path / "lart").mkdir()
    (tmp_path / "lart" / "predict.json").write_text('{"kind": "official"}')
    (tmp_path / "lart_pose_n1-official").mkdir()
    (tmp_path / "other").mkdir()
    assert browse.protocol_of(tmp_path / "lart") == "official"
    assert browse.protocol_of(tmp_path / "lart_pose_n1-official") == "official"
    assert browse.protocol_of(tmp_path / "other") == "not recorded"
    line = browse.run_facts("demo/lart", "paper", [12, 14, 12], 60, True)
    assert line == ("run **demo/lart** · paper protocol · predicts 2 classes, evaluated on 60 (AVA v2.2 label map)"
                    " · demo data (synthetic, not comparable to the paper)")
    other = browse.run_facts("ava/x", "not recorded", [], 60, False)
    assert "· protocol not recorded ·" in other and other.endswith("· real data")


def test_label_confusion():
    """Person 0 stands (902) and walks (903); the run's box on them scores stand 0.9 / walk 0.6 at 902 and
    walk 0.8 at 903; person 1's GT box (walk, 902) has no detection box."""
    gt = gt_rows([(902.0, BOX, 12, 0), (903.0, BOX, 14, 0), (902.0, FAR, 14, 1)])
    det = det_rows([(902.0, BOX, 12, 0.9), (902.0, BOX, 14, 0.6), (903.0, BOX, 12, 0.1), (903.0, BOX, 14, 0.8)])
    conf = browse.label_confusion(gt, det, threshold=0.5).set_index(["gt_id", "pred_id"])
    assert conf.loc[(12, 12), "rate"] == 1.0 and conf.loc[(12, 14), "rate"] == 1.0
    assert conf.loc[(14, 14), "n_boxes"] == 2 and conf.loc[(14, 14), "rate"] == 0.5      # one box unpaired
    assert conf.loc[(14, 12), "rate"] == 0.0 and conf.loc[(14, 12), "mean_score"] == pytest.approx(0.05)


def test_keyframe_grid_filters_and_pages():
    gt = gt_rows([(902.0, BOX, 12, 0), (903.0, BOX, 12, 0), (904.0, FAR, 14, 1), (905.0, FAR, 14, 1)])
    det = det_rows([(902.0, BOX, 12, 0.9), (902.0, FAR, 12, 0.6), (903.0, BOX, 12, 0.2), (904.0, FAR, 14, 0.7),
                    (904.0, FAR, 12, 0.3)])
    m = match(gt, det, {12: "stand", 14: "walk"})
    grid = browse.keyframe_grid(m, gt, det, 12, threshold=0.5)
    assert grid["timestamp"].tolist() == [902.0, 903.0, 904.0, 905.0]
    assert grid[["tp", "fp", "fn"]].to_numpy().tolist() == [[1, 1, 0], [0, 0, 1], [0, 0, 0], [0, 0, 0]]
    assert grid["score"].tolist() == [0.9, 0.2, 0.3, 0.0]
    pick = lambda **kw: browse.keyframe_grid(m, gt, det, 12, 0.5, **kw)["timestamp"].tolist()
    assert pick(outcome="FP") == [902.0] and pick(outcome="FN") == [903.0] and pick(outcome="TP") == [902.0]
    assert pick(gt_label=14) == [904.0, 905.0] and pick(pred_label=14) == [904.0]
    assert pick(score_range=(0.1, 0.5)) == [903.0, 904.0]
    page, pages = browse.page_of(grid, 2, 3)
    assert pages == 2 and page["timestamp"].tolist() == [905.0]
    assert browse.page_of(grid, 9, 3)[0]["timestamp"].tolist() == [905.0]          # clamped to the last page
    with pytest.raises(ValueError, match="outcome expected"):
        browse.keyframe_grid(m, gt, det, 12, outcome="all")


def test_ablation_and_runs_display():
    t5 = pd.DataFrame({"model": ["MViT"], "tracking": [True], "variant": ["lart"], "OM": [1.0], "OM_paper": [2.0],
                       "mAP": [3.0], "mAP_paper": [4.0], "status": ["reproduced"], "git_commit": ["0123456789abcdef"]})
    t5.attrs["title"] = "Table 5"
    shown = browse.ablation_display(t5)
    assert list(shown.columns) == ["model", "tracking", "mAP", "mAP_paper", "OM", "OM_paper", "variant", "status",
                                   "git_commit"]
    assert shown["git_commit"].iloc[0] == "0123456789" and shown.attrs["title"] == "Table 5"
    runs = pd.DataFrame({"dataset": ["demo"], "variant": ["lart"], "mAP": [0.45], "PM": [0.5], "OM": [0.4],
                         "PI": [0.3], "demo": [True], "created": ["x"], "git_commit": [None], "path": ["/nope/lart"]})
    out = browse.runs_display(runs)
    assert out["mAP"].iloc[0] == pytest.approx(45.0) and out["protocol"].iloc[0] == "not recorded"


def test_ablation_table_reads_recorded_runs_only(tmp_path):
    """Registry numbers beside the paper's (via lartcore.tables); a missing run is NaN + a note, never trained."""
    from lartcore.eval import EvalResult
    from lartcore.registry import Registry
    reg = Registry(tmp_path / "results")
    pred = tmp_path / "pred.csv"
    pred.write_text("v,0902,0.1,0.1,0.5,0.5,12,0.9\n")
    for variant, m in (("lart_pose_n5", 0.2), ("lart", 0.3)):
        per_class = pd.DataFrame({"id": [12, 64], "name": ["stand", "hug"], "type": ["PM", "PI"],
                                  "ap": [m, m], "n_gt": [1, 1], "n_det": [1, 1]})
        reg.save_eval("demo", variant, EvalResult(per_class, m, {"PM": m, "OM": m / 2, "PI": m}, "activitynet"),
                      pred, demo=True)
    results = tables.Results(data_root=tmp_path, results_dir=reg.root, read_only=True, dataset="demo")
    t2 = browse.ablation_table("table2", results).set_index("variant")
    assert t2.at["lart_pose_n5", "mAP"] == pytest.approx(20.0) and t2.at["lart_pose_n5", "mAP_paper"] == 24.1
    assert t2.at["lart_pose_n5", "git_commit"] == reg.provenance("demo", "lart_pose_n5")["git_commit"]
    assert np.isnan(t2.at["lart_pose_n1", "mAP"]) and t2.at["lart_pose_n1", "status"] == browse.NOT_RUN
    assert not (reg.root / "demo" / "lart_pose_n1").exists()                     # nothing trained
    t5 = browse.ablation_table("table5", results).set_index("variant")
    assert t5.at["lart", "OM"] == pytest.approx(15.0) and t5.at["lart", "status"].startswith("reproduced")
    f6 = browse.ablation_table("figure6", results).set_index("n_people")
    assert f6.at[5, "mAP"] == pytest.approx(20.0) and np.isnan(f6.at[2, "mAP"])
    assert t2.attrs["banner"] and t2.attrs["title"].startswith("Table 2")


def test_explain_panel_helpers():
    """The Explain panel's keyframe offer, top people, what-if groups and its ?edits= deep link."""
    from lartcore.explain import Edit, Explanation, label
    keys = schema.keyframes(0, 209)
    assert browse.nearest_keyframe(keys, 74) == 60 and browse.nearest_keyframe(keys, 76) == 90
    assert browse.nearest_keyframe(keys, 75) == 60 and browse.nearest_keyframe(np.array([]), 5) is None
    grid = np.array([[0.5, -0.1, 0.2, 0.0], [-0.9, -0.2, np.nan, 0.0]])     # frames x people #4, #7, #9, #5
    exp = Explanation("run x", "", 0, 60, 12, (54, 65), np.array([59, 60]), np.array([4, 7, 9, 5]),
                      np.ones((2, 4), bool), {"integrated_gradients": grid, "rollout": np.abs(grid)},
                      pd.DataFrame(), pd.Series(dtype=float), pd.DataFrame(), np.nan)
    top = browse.top_people(exp, "integrated_gradients")
    assert top["track_id"].tolist() == [4, 7, 9] and top["rank"].tolist() == [1, 2, 3]   # by |total|
    assert top["total"].tolist() == pytest.approx([-0.4, -0.3, 0.2])                    # signed
    assert browse.top_people(exp, "rollout", k=2)["track_id"].tolist() == [4, 7]
    assert 5 not in browse.top_people(exp, "rollout", k=9)["track_id"].tolist()          # 0: not a contributor

    others, pose = Edit("drop_others"), Edit("drop_cue", cue="pose")
    assert browse.whatif_groups([]) == [] and browse.whatif_groups([others]) == [others]
    assert browse.whatif_groups([others, pose]) == [others, pose, (others, pose)]
    assert label(browse.whatif_groups([others, pose])[-1]) == "drop others + drop pose"

    people, frames, streams = [4, 7, 9], np.arange(32, 96), ("pose",)
    assert browse.whatif_link(None, people, frames, streams) == ((), "")
    assert browse.whatif_link("drop others + drop pose + drop others", people, frames, streams) == ((others, pose), "")
    edits, note = browse.whatif_link("drop #7 + hide poi 54-65 + keyframe only", people, frames, streams)
    assert [str(e) for e in edits] == ["drop #7", "hide poi 54-65", "keyframe only"] and note == ""
    edits, note = browse.whatif_link("drop #4 + drop #99 + drop appearance + swap pose #7 + hide 20-40 + hide 0-10",
                                     people, frames, streams)
    assert [str(e) for e in edits] == ["hide 32-40"]
    assert note == ("edits 'drop #4 + drop #99 + drop appearance + swap pose #7 + hide 20-40 + hide 0-10': "
                    "'drop #4': #4 is not one of the other people here (#7, #9); "
                    "'drop #99': #99 is not one of the other people here (#7, #9); "
                    "'drop appearance': the model has no appearance input; 'swap pose #7': no toggle for it; "
                    "'hide 20-40' clipped to the input's frames 32-95; "
                    "'hide 0-10': outside the input's frames 32-95; showing hide 32-40.")
    edits, note = browse.whatif_link("drop others", [4], frames, streams)
    assert edits == () and "nobody else is in this input; showing no edit." in note
    edits, note = browse.whatif_link("fly away", people, frames, streams)
    assert edits == () and note.startswith("edits 'fly away' are not edits (not an edit: 'fly away' (forms: ")
    assert note.endswith("showing no edit.")
