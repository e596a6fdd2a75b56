"""lartcore/browse.py: the numbers the dashboard shows, against hand cases and independent computations."""
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from dashboard_fixture import DATA, TINY

from lartcore import browse, schema, tables
from lartcore.body import StandInBody
from lartcore.data.store import TrackStore, VideoSource
from lartcore.data.synthetic import build_demo
from lartcore.data.tracks import detected_at
from lartcore.infer import track_scores


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


def test_chips_top_k_and_threshold():
    ids = (12, 14, 80)                                           # stand, walk, watch (person)
    assert browse.chips(np.array([0.9, 0.05, 0.3]), ids, k=2) == ["stand 90%", "watch (person) 30%"]
    assert browse.chips(np.array([0.9, 0.05, 0.3]), ids, k=3, threshold=0.5) == ["stand 90%"]
    assert browse.chips(np.zeros(3), ids) == []


def test_gt_chips_only_on_ground_truth_frames(store):
    t = store.track(0)
    gt_rows = np.flatnonzero(t.has_gt == schema.GT_LABEL)
    i = int(gt_rows[0])
    expected = ["GT " + schema.short_name(int(c) + 1) for c in np.flatnonzero(t.labels[i] > 0.5)]
    assert browse.gt_chips(t, i) == expected and expected
    other = int(np.flatnonzero(t.has_gt != schema.GT_LABEL)[0])
    assert browse.gt_chips(t, other) == []


def test_gt_boxes_at_joins_labels():
    gt = pd.DataFrame({"video_id": ["v"] * 4, "timestamp": [902.0, 902.0, 902.0, 903.0],
                       "x1": [0.1, 0.1, 0.5, 0.1], "y1": [0.2] * 4, "x2": [0.3, 0.3, 0.7, 0.3], "y2": [0.9] * 4,
                       "action_id": [12, 80, 14, 12], "person_id": [0, 0, 1, 0]})
    out = browse.gt_boxes_at(gt, "v", 60)
    assert out["labels"].tolist() == ["stand, watch (person)", "walk"] and out["person_id"].tolist() == [0, 1]
    assert browse.gt_boxes_at(gt, "v", 61).empty and browse.gt_boxes_at(gt, "w", 60).empty


def test_draw_gt_boxes_dashed_outline():
    image = np.zeros((100, 200, 3), np.uint8)
    boxes = pd.DataFrame({"x1": [0.1], "y1": [0.2], "x2": [0.5], "y2": [0.8]})
    out = browse.draw_gt_boxes(image, boxes, dash=4)
    assert (image == 0).all()                                    # input untouched
    top = out[20, 20:101, 0]                                     # columns 20..100 of row 20
    assert (top[:4] == 255).all() and (top[4:8] == 0).all() and (top[8:12] == 255).all()
    assert out[50, 60].sum() == 0 and out[21:80, 21:100].sum() == 0   # inside stays clear
    assert set(np.unique(out[80, 20:101, 1])) == {0, 255}


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


def test_keyframe_outcomes_and_drilldown():
    key = {"x1": 0.1, "y1": 0.1, "x2": 0.5, "y2": 0.9}
    gt = pd.DataFrame([{"video_id": "v", "timestamp": t, **key, "action_id": 12, "person_id": 0}
                       for t in (902.0, 903.0)])
    det_a = pd.DataFrame([{"video_id": "v", "timestamp": t, **key, "action_id": 12, "score": s}
                          for t, s in ((902.0, 0.9), (903.0, 0.2), (904.0, 0.7), (904.0, 0.4), (905.0, 0.1))])
    det_b = det_a.assign(score=[0.3, 0.1, 0.2, 0.2, 0.8])
    out = browse.keyframe_outcomes(det_a, gt, 12).set_index("timestamp")
    assert out.loc[904.0, "score"] == 0.7 and out.loc[904.0, "fp"] == 0.7 and out.loc[902.0, "fp"] == 0
    assert out.loc[903.0, "fn"] == pytest.approx(0.8) and out.loc[902.0, "n_gt"] == 1
    fp = browse.drilldown(det_a, det_b, gt, 12, "false positives")
    assert fp["timestamp"].tolist() == [904.0, 905.0]
    fn = browse.drilldown(det_a, det_b, gt, 12, "false negatives")
    assert fn["timestamp"].tolist() == [903.0, 902.0]
    a_right = browse.drilldown(det_a, det_b, gt, 12, "A right, B wrong")
    assert a_right["timestamp"].tolist() == [905.0, 902.0]       # 905: A says no (right), B 0.8 (wrong)
    with pytest.raises(ValueError, match="sort expected one of"):
        browse.drilldown(det_a, det_b, gt, 12, "best")


def test_deep_link():
    assert browse.deep_link("demo_va_000", 903.0) == "?video=demo_va_000&t=903"
    assert browse.deep_link("demo_va_000", 903.5, 2) == "?video=demo_va_000&t=903.5&track=2"


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
