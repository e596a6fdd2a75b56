"""Inference: per-frame scores vs a direct forward, keyframe windows vs a loop, box assignment, both
protocols' rows, the CSV round trip through the evaluator, bad input, the CLI."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import torch

from lartcore import infer
from lartcore.checkpoint import Metadata, save_checkpoint
from lartcore.cli import main as lart_main
from lartcore.data import ava
from lartcore.data.dataset import DataConfig, TrackDataset
from lartcore.data.store import TrackStore, write_store
from lartcore.data.tracks import Track
from lartcore.eval import frame_map
from lartcore.model import LART, ModelConfig
from lartcore.schema import EVALUATED_IDS

H, W = 360, 640
TINY = ModelConfig(streams=("pose",), pose_mlp=(32, 32), dim=32, depth=1, heads=2, dim_head=16, mlp_dim=32,
                   max_frames=128, max_people=3, drop_path=0.0)      # the official window: 125 frames
DATA = DataConfig(seq_len=16, max_people=3, appearance=False)


def make_track(video="vid_0000001", track_id=1, keyframe=60, start=0, length=80, detected=None, x0=100.0,
               conf=0.9, seed=0) -> Track:
    """A track at pixel box [x0, 50, 60, 200] (moving 1 px a frame), detector confidence `conf`."""
    rng = np.random.default_rng(seed)
    det = np.ones(length, bool) if detected is None else np.asarray(detected, bool)
    box = np.stack([x0 + np.arange(length), np.full(length, 50.0), np.full(length, 60.0),
                    np.full(length, 200.0)], 1)
    zero = lambda x: np.where(det.reshape(-1, *[1] * (x.ndim - 1)), x, 0).astype(np.float32)
    return Track(dataset="ava-val", video=video, track_id=track_id, keyframe=keyframe,
                 frame=np.arange(start, start + length, dtype=np.int64),
                 pose_shape=zero(rng.standard_normal((length, 229))),
                 joints_3d=zero(rng.uniform(-1, 1, (length, 45, 3))),
                 camera=zero(np.tile([0.0, 0.0, 80.0], (length, 1))), camera_bbox=np.zeros((length, 3), np.float32),
                 box=zero(box), frame_size=np.tile(np.array([[H, W]], np.int32), (length, 1)),
                 conf=zero(np.full(length, conf)), has_detection=det, has_gt=np.zeros(length, np.int8),
                 labels=np.zeros((length, 80), np.float32), appearance_index=np.full(length, -1, np.int64))


def tiny_model(seed=0) -> LART:
    torch.manual_seed(seed)
    return LART(TINY).eval()


def norm_box(t: Track, i: int) -> list[float]:
    x0, y0, w, h = t.box[i].astype(np.float64)
    return [x0 / W, y0 / H, (x0 + w) / W, (y0 + h) / H]


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    """Video A: 3 people over seconds 902..903 (frames 60..90+); video B: a lone, short track."""
    tracks = [make_track("vid_aaaaaaa", 1, x0=50, length=100, seed=1),
              make_track("vid_aaaaaaa", 2, x0=250, start=10, length=85, seed=2, conf=0.7),
              make_track("vid_aaaaaaa", 3, x0=450, start=55, length=40, seed=3,
                         detected=np.arange(40) != 5),                           # missed at frame 60
              make_track("vid_bbbbbbb", 1, keyframe=90, start=85, length=10, seed=4)]  # shorter than a window
    root = write_store(tracks, tmp_path_factory.mktemp("infer") / "store")
    return TrackStore(root), tracks


# ---------------------------------------------------------------- per-frame scores

def test_track_scores_equal_a_direct_forward_per_window(clip):
    source, tracks = clip
    model = tiny_model()
    fs = infer.track_scores(model, source, DATA, batch_size=3)
    assert fs.scores.shape == (sum(len(t) for t in tracks), 80) and fs.bad_tokens == 0
    dataset = TrackDataset(source, DATA, train=False)
    for k in range(len(dataset)):                                   # independent: one window at a time
        s = dataset[k]
        batch = {key: torch.as_tensor(v)[None] for key, v in s.items()}
        with torch.no_grad():
            prob = torch.sigmoid(model(batch).action_logits[0, :, 0]).numpy()   # (T, C)
        n = int((s["frame"] >= 0).sum())
        row = fs.offsets[s["track"]] + s["start"]
        np.testing.assert_allclose(fs.scores[row:row + n], prob[:n], rtol=1e-5, atol=1e-6)


def test_keyframe_rows_cover_whole_seconds_inside_tracks():
    first = np.array([0, 31, 59, 0, 27000])
    length = np.array([90, 29, 2, 0, 60])        # frames [0,90), [31,60), [59,61), empty, past 1798
    track, ts = infer._keyframe_rows(first, length)
    # seconds 902 (frame 60) and 901 are not annotated: 900 + 60/30 = 902 is inside [0, 90) and [59, 61)
    assert list(zip(track, ts, strict=True)) == [(0, 902), (2, 902)]


def test_window_means_match_a_loop():
    rng = np.random.default_rng(0)
    lengths = np.array([30, 5, 13])
    offsets = np.r_[0, np.cumsum(lengths)]
    fs = infer.FrameScores(rng.random((offsets[-1], 4)).astype(np.float32), offsets, (1, 2, 3, 4), 0)
    track = np.array([0, 0, 0, 1, 2, 2])
    local = np.array([0, 6, 29, 2, 12, 7])
    got = infer.window_means(fs, track, local, lengths)
    for r, (i, k) in enumerate(zip(track, local, strict=True)):
        frames = fs.scores[offsets[i]:offsets[i + 1]]
        want = frames[max(k - 6, 0):min(k + 6, lengths[i])].mean(0)      # official [kf-6, kf+6), clipped
        np.testing.assert_allclose(got[r], want, rtol=1e-6)


def test_nearest_clip_keeps_one_clip_per_second():
    index = pd.DataFrame({"video": ["v", "v", "v"], "keyframe": [61, 61, 121]})   # images 61, 121: frames 60, 120
    track = np.array([0, 1, 2, 0, 2])
    ts = np.array([902, 902, 902, 904, 904])      # frames 60 and 120
    # second 902 is clip 61's own keyframe; second 904 is clip 121's
    assert infer._nearest_clip(index, track, ts).tolist() == [True, True, False, False, True]


# ---------------------------------------------------------------- boxes

def test_pair_iou_by_hand():
    a = np.array([[0, 0, 2, 2], [0, 0, 1, 1], [0, 0, 1, 1], [0, 0, 0, 0]], float)
    b = np.array([[1, 1, 3, 3], [0, 0, 1, 1], [2, 2, 3, 3], [0, 0, 0, 0]], float)
    np.testing.assert_allclose(infer.pair_iou(a, b), [1 / 7, 1.0, 0.0, 0.0])


def _table(rows):
    return pd.DataFrame(rows, columns=["video_id", "timestamp", "x1", "y1", "x2", "y2", "detected", "conf"])


def test_match_boxes_takes_best_iou_same_second_detected_only():
    table = _table([("v", 902.0, 0.0, 0.0, 0.4, 0.4, True, 0.9),      # 0
                    ("v", 902.0, 0.1, 0.1, 0.5, 0.5, True, 0.9),      # 1
                    ("v", 903.0, 0.0, 0.0, 0.4, 0.4, True, 0.9),      # 2
                    ("v", 902.0, 0.6, 0.6, 0.9, 0.9, False, 0.0)])    # 3: not detected
    boxes = pd.DataFrame({"video_id": pd.Categorical(["v", "v", "v", "w", "v"]),
                          "timestamp": [902.0, 902.0, 903.0, 902.0, 902.0],
                          "x1": [0.11, 0.0, 0.0, 0.0, 0.6], "y1": [0.1, 0.0, 0.0, 0.0, 0.6],
                          "x2": [0.5, 0.39, 0.4, 0.4, 0.9], "y2": [0.5, 0.4, 0.4, 0.4, 0.9],
                          "score": 0.9})
    # box 0 -> row 1 (IoU ~0.97 vs 0.47), box 1 -> row 0, box 2 -> row 2 (same place, other second),
    # box 3: other video; box 4: only an undetected track box there
    assert infer.match_boxes(boxes, table).tolist() == [1, 0, 2, -1, -1]
    assert infer.match_boxes(boxes, table, min_iou=0.99).tolist() == [-1, -1, 2, -1, -1]


def test_official_decision_filters_and_box_rows():
    t = make_track(keyframe=60, start=40, length=30, conf=0.8, detected=np.arange(30) != 20)
    k = infer.official_keyframe(t)
    assert t.frame[k] == 59                                   # the image numbered 60 (PHALP numbers from 1)
    assert infer._official_decision(t, k) == ""              # conf exactly 0.8 (float32) is kept
    assert "not detected" in infer._official_decision(t, 20) and "window" in infer._official_decision(t, None)
    t.conf[k] = np.nextafter(np.float32(0.8), np.float32(0))
    assert "< 0.8" in infer._official_decision(t, k)
    for keyframe, ok in ((59, False), (60, True), (26969, True), (26970, False)):   # seconds 901, 902, 1798, 1799
        assert ("outside" in infer._official_decision(replace(t, keyframe=keyframe, conf=t.conf * 0 + 1), k)) != ok
    t.box[k] = [600.25, 10.5, 80.0, 200.0]                    # past the right border (W = 640)
    score = np.linspace(0.1, 0.7, 60, dtype=np.float32)[::-1].copy()
    score[[3, 5]] = 0.9
    rows = infer._official_box_rows(t, k, score)
    assert rows["x2"][0] == (600.25 + 80) / 640 > 1 and rows["y1"][0] == 10.5 / 360   # not clipped
    assert list(rows["action_id"][:2]) == [EVALUATED_IDS[3], EVALUATED_IDS[5]]        # descending, ties by class
    assert sorted(rows["action_id"]) == list(EVALUATED_IDS) and (np.diff(rows["score"]) <= 0).all()
    assert rows["timestamp"][0] == 902.0 and rows["score"].dtype == np.float32


def test_paper_rows_use_provided_box_and_matched_scores():
    table = _table([("v", 902.0, 0.1, 0.1, 0.3, 0.5, True, 0.5)])
    scores = np.array([[0.25, 0.75]], np.float32)
    boxes = pd.DataFrame({"video_id": ["v", "v"], "timestamp": [902.0, 902.0], "x1": [0.11, 0.7],
                          "y1": [0.1, 0.7], "x2": [0.3, 0.8], "y2": [0.5, 0.8], "score": [0.3, 0.9]})
    rows, unmatched = infer.paper_detections(table, scores, (12, 80), boxes)
    assert unmatched == 1
    assert rows[["action_id", "score"]].values.tolist() == [[12, 0.25], [80, 0.75]]
    assert rows["x1"].tolist() == [0.11, 0.11]            # the provided box, not the track's


# ---------------------------------------------------------------- end to end

def test_protocols_end_to_end_and_csv_scores_in_evaluator(clip, tmp_path):
    source, tracks = clip
    model = tiny_model()
    a1, a2, a3, _ = tracks
    official, rep = infer.predict_source(model, DATA, source, "official")
    # one item per track; key frame = the image numbered KEY_FRAME: frame 59 (video A), 89 (video B):
    # track 1 (conf 0.9), track 3 (detected at 59), video B's track; track 2 has conf 0.7 (dropped)
    assert rep.keyframes == 4 and rep.boxes == 3 and rep.rows == 3 * 60
    first = official[official["x1"] == norm_box(a1, 59)[0]]
    np.testing.assert_array_equal(first[["x1", "y1", "x2", "y2"]].iloc[0], norm_box(a1, 59))
    items = dict(infer.official_items(source.index, people=DATA.max_people))  # P = the DataConfig's 3
    sample, _, _ = infer.official_sample(source, 0, items[0], None, DATA.max_people)   # a direct forward
    with torch.no_grad():
        logits = model({k: torch.as_tensor(v)[None] for k, v in sample.items()}).action_logits[0, :, 0]
    want = torch.sigmoid(logits[53:65]).mean(0).numpy()[np.array(EVALUATED_IDS) - 1]
    got = first.set_index("action_id").loc[list(EVALUATED_IDS), "score"].to_numpy()
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    # paper: provided boxes = exact track boxes (+ one nowhere near anyone)
    fs = infer.track_scores(model, source, DATA)
    boxes = pd.DataFrame([("vid_aaaaaaa", 902.0, *norm_box(a2, 50), 0.95), ("vid_aaaaaaa", 902.0, *norm_box(a3, 6), 0.8),
                          ("vid_aaaaaaa", 902.0, 0.9, 0.0, 0.99, 0.05, 0.6)], columns=ava.PERSON_BOX_COLUMNS)
    paper, rep = infer.predict_source(model, DATA, source, "paper", boxes)
    assert rep.unmatched == 2 and rep.rows == 80         # track 3 is undetected at 902: no match
    np.testing.assert_allclose(paper["score"], fs.scores[100 + 44:100 + 56].mean(0), rtol=1e-5)
    path = tmp_path / "pred.csv"
    ava.write_detections(official, path, exact_boxes=True)
    back = ava.read_detections(path)
    assert len(back) == len(official) and (back[["x1", "x2"]].to_numpy() == official[["x1", "x2"]].to_numpy()).all()
    top = int(first["action_id"].iloc[0])                # the box's best class: inside the evaluator's top 50
    gt = pd.DataFrame([("vid_aaaaaaa", 902.0, *np.round(norm_box(a1, 59), 3), top, 0)], columns=ava.GT_COLUMNS)
    result = frame_map(gt, back)
    assert result.per_class.set_index("id").at[top, "ap"] == 1.0  # track 1 outranks track 3 there


def test_bad_input_nan_features_are_treated_as_undetected(clip):
    source, _ = clip

    class NaNSource:                                     # the store, with NaN poses on frames 20..29 of track 0
        index = source.index

        def others(self, *a):
            return source.others(*a)

        def window(self, i, start, stop, appearance=False):
            t = source.window(i, start, stop, appearance)
            if i == 0:
                bad = (t.frame >= 20) & (t.frame < 30)
                t.pose_shape[bad] = np.nan
            return t

    class MissingSource(NaNSource):                      # the same frames simply undetected
        def window(self, i, start, stop, appearance=False):
            t = source.window(i, start, stop, appearance)
            if i == 0:
                t.has_detection[(t.frame >= 20) & (t.frame < 30)] = False
            return t

    model = tiny_model()
    nan = infer.track_scores(model, NaNSource(), DATA)
    missing = infer.track_scores(model, MissingSource(), DATA)
    # frames 20..29 of track 0 count in its own window and as the other person in track 1's window
    assert nan.bad_tokens == 20 and missing.bad_tokens == 0
    assert np.isfinite(nan.scores).all()
    np.testing.assert_allclose(nan.scores, missing.scores, rtol=1e-5, atol=1e-6)


def test_bad_input_all_missing_short_and_alone_give_finite_scores(tmp_path):
    tracks = [make_track("vid_ccccccc", 1, start=55, length=9, detected=np.zeros(9, bool)),   # never detected
              make_track("vid_ddddddd", 1, start=58, length=4)]                               # short, alone
    source = TrackStore(write_store(tracks, tmp_path / "store"))
    model = tiny_model()
    fs = infer.track_scores(model, source, DATA)
    assert fs.scores.shape == (13, 80) and np.isfinite(fs.scores).all()
    rows, rep = infer.predict_source(model, DATA, source, "official")
    assert rep.keyframes == 2 and rep.boxes == 1      # the undetected track has no box at its keyframe
    assert rows["video_id"].unique().tolist() == ["vid_ddddddd"]
    got = rows.set_index("action_id").loc[list(EVALUATED_IDS), "score"].to_numpy()
    np.testing.assert_allclose(got, fs.scores[9:13][:, np.array(EVALUATED_IDS) - 1].mean(0), rtol=1e-5)


def test_clean_batch_does_not_modify_its_input():
    batch = {"pose_shape": torch.ones(1, 2, 1, 229), "present": torch.ones(1, 2, 1, dtype=torch.bool)}
    batch["pose_shape"][0, 1, 0, 3] = float("inf")
    out, bad = infer.clean_batch(batch, ("pose",))
    assert bad == 1 and out["present"].tolist() == [[[True], [False]]]
    assert torch.isinf(batch["pose_shape"]).any() and batch["present"].all()
    assert (out["pose_shape"][0, 1] == 0).all()


def test_cli_predict_writes_csv_and_needs_boxes_for_paper(clip, tmp_path, capsys):
    source, _ = clip
    model = tiny_model()
    ckpt = tmp_path / "m.pt"
    save_checkpoint(ckpt, model, Metadata(TINY, DataConfig(seq_len=16, max_people=3, appearance=False)))
    out = tmp_path / "pred.csv"
    assert lart_main(["predict", str(ckpt), "--store", str(source.root), "--out", str(out),
                      "--protocol", "official"]) == 0
    assert len(ava.read_detections(out)) == 180 and "3 boxes" in capsys.readouterr().out
    assert lart_main(["predict", str(ckpt), "--store", str(source.root), "--out", str(out)]) == 2
    assert "needs the provided person boxes" in capsys.readouterr().err


def test_no_keyframe_inside_any_track_writes_an_empty_csv(tmp_path):
    source = TrackStore(write_store([make_track("vid_eeeeeee", 1, start=0, length=50)], tmp_path / "store"))
    boxes = pd.DataFrame([("vid_eeeeeee", 902.0, 0.1, 0.1, 0.2, 0.2, 0.9)], columns=ava.PERSON_BOX_COLUMNS)
    for protocol in infer.PROTOCOLS:
        rows, rep = infer.predict_source(tiny_model(), DATA, source, protocol, boxes)
        assert rep.keyframes == (protocol == "official") and rep.rows == 0 and rep.unmatched == (protocol == "paper")
        ava.write_detections(rows, tmp_path / f"{protocol}.csv")
        assert (tmp_path / f"{protocol}.csv").read_text() == ""


def test_cli_predict_disk_full_is_one_line_naming_the_csv_and_keeps_the_old_one(clip, tmp_path, monkeypatch,
                                                                                capsys):
    from disk_full import fill_disk
    source, _ = clip
    ckpt = tmp_path / "m.pt"
    save_checkpoint(ckpt, tiny_model(), Metadata(TINY, DataConfig(seq_len=16, max_people=3, appearance=False)))
    out = tmp_path / "pred.csv"
    out.write_text("the previous predictions\n")
    fill_disk(monkeypatch, tmp_path, name_contains="pred.csv")
    assert lart_main(["predict", str(ckpt), "--store", str(source.root), "--out", str(out),
                      "--protocol", "official"]) == 2
    assert capsys.readouterr().err == f"lart: error: {out}: No space left on device\n"
    assert out.read_text() == "the previous predictions\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.pt", "pred.csv"]   # no temp file left
