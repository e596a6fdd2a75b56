"""AVA frame-mAP evaluator: hand-computed cases, what the official evaluator accepts, the per-keyframe
heap cap, bad input, the CLI, result folders, and exact agreement with a deliberately simple loop
implementation of the official algorithm (written from its code) on random small files full of ties."""
import heapq
import itertools
import json
import math
import subprocess
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lartcore import cli, fileio
from lartcore import eval as ev
from lartcore.data import ava
from lartcore.eval import EvalResult, RowError, _heap_cap, _order_desc, class_rankings, frame_map

LABELS = {1: "a", 2: "b", 3: "c"}
BOX = (0.1, 0.1, 0.5, 0.9)
OTHER = (0.55, 0.1, 0.95, 0.9)            # disjoint from BOX


def gt_frame(rows, videos=None):
    """rows: (video, ts, box | None, action_id, person_id); box None = a 2-column empty keyframe row."""
    recs = [(v, float(t), *(b if b is not None else (np.nan,) * 4), a if b is not None else 0, p)
            for v, t, b, a, p in rows]
    df = pd.DataFrame(recs, columns=["video_id", "timestamp", "x1", "y1", "x2", "y2", "action_id", "person_id"])
    return _typed(df, videos)


def det_frame(rows, videos=None):
    """rows: (video, ts, box, action_id, score)."""
    recs = [(v, float(t), *b, a, s) for v, t, b, a, s in rows]
    df = pd.DataFrame(recs, columns=["video_id", "timestamp", "x1", "y1", "x2", "y2", "action_id", "score"])
    return _typed(df, videos)


def _typed(df, videos):
    cats = sorted(videos if videos is not None else set(df["video_id"]))
    df["video_id"] = pd.Categorical(df["video_id"], categories=cats)
    return df.astype({"action_id": "int64", df.columns[-1]: df.dtypes.iloc[-1]})


def ap_of(gt_rows, det_rows, **kw):
    return frame_map(gt_frame(gt_rows), det_frame(det_rows), labelmap=LABELS, **kw).per_class.set_index("id")


# ---------------------------------------------------------------- hand-computed cases


def test_perfect_predictions_score_one():
    gt = [("v1", 902, BOX, 1, 0), ("v1", 902, OTHER, 2, 1), ("v1", 903, BOX, 3, 0)]
    det = [(v, t, b, a, 0.7) for v, t, b, a, _ in gt]
    res = frame_map(gt_frame(gt), det_frame(det), labelmap=LABELS)
    assert res.map == 1.0 and list(res.per_class["ap"]) == [1.0, 1.0, 1.0]
    assert list(res.per_class["n_gt"]) == [1, 1, 1] and list(res.per_class["n_det"]) == [1, 1, 1]


def test_one_false_positive_ahead_of_the_true_positive():
    pc = ap_of([("v1", 902, BOX, 1, 0)], [("v1", 902, OTHER, 1, 0.9), ("v1", 902, BOX, 1, 0.8)])
    assert pc.loc[1, "ap"] == pytest.approx(0.5, abs=1e-15)       # recall 1 reached at precision 1/2


def test_ap_arithmetic_all_point_interpolation():
    gt = [("v1", 902, BOX, 1, 0), ("v1", 902, OTHER, 1, 1), ("v1", 903, BOX, 1, 0)]
    det = [("v1", 902, BOX, 1, 0.9), ("v1", 903, OTHER, 1, 0.8), ("v1", 902, OTHER, 1, 0.7)]
    assert ap_of(gt, det).loc[1, "ap"] == pytest.approx(1 / 3 + 1 / 3 * 2 / 3, abs=1e-15)


def test_duplicate_detection_is_a_false_positive():
    gt = [("v1", 902, BOX, 1, 0), ("v1", 903, BOX, 1, 0)]
    det = [("v1", 902, BOX, 1, 0.9), ("v1", 902, BOX, 1, 0.8), ("v1", 903, BOX, 1, 0.7)]
    # TP, FP (duplicate), TP over 2 GT: 1/2 * 1 + 1/2 * 2/3
    assert ap_of(gt, det).loc[1, "ap"] == pytest.approx(0.5 + 1 / 3, abs=1e-15)


def test_lower_scored_duplicate_first_in_file_order():
    gt = [("v1", 902, BOX, 1, 0)]
    det = [("v1", 902, BOX, 1, 0.4), ("v1", 902, BOX, 1, 0.9)]
    assert ap_of(gt, det).loc[1, "ap"] == 1.0                       # ActivityNet matches by score
    assert ap_of(gt, det, flavor="slowfast").loc[1, "ap"] == 0.5     # SlowFast in file order


def test_argmax_gt_already_matched_gives_false_positive():
    a, b = (0.0, 0.0, 1.0, 1.0), (0.1, 0.0, 1.0, 1.0)
    gt = [("v1", 902, a, 1, 0), ("v1", 902, b, 1, 1)]
    det = [("v1", 902, a, 1, 0.9), ("v1", 902, (0.0, 0.0, 0.8, 1.0), 1, 0.8)]   # IoU 0.8 with a, 0.7 with b
    assert ap_of(gt, det).loc[1, "ap"] == 0.5


def test_duplicate_gt_rows_cap_recall_at_half():
    gt = [("v1", 902, BOX, 1, 0), ("v1", 902, BOX, 1, 0)]
    det = [("v1", 902, BOX, 1, 0.9), ("v1", 902, BOX, 1, 0.8)]
    pc = ap_of(gt, det)
    assert pc.loc[1, "n_gt"] == 2 and pc.loc[1, "ap"] == 0.5


def test_iou_exactly_half_is_a_match_and_just_below_is_not():
    gt = [("v1", 902, (0.0, 0.0, 1.0, 1.0), 1, 0)]
    assert ap_of(gt, [("v1", 902, (0.0, 0.0, 0.5, 1.0), 1, 0.9)]).loc[1, "ap"] == 1.0
    assert ap_of(gt, [("v1", 902, (0.0, 0.0, 0.499, 1.0), 1, 0.9)]).loc[1, "ap"] == 0.0


def test_gt_person_id_order_breaks_iou_ties():
    left, right = (0.0, 0.0, 0.5, 1.0), (0.25, 0.0, 0.75, 1.0)
    det = [("v1", 902, (0.0, 0.0, 0.75, 1.0), 1, 0.9), ("v1", 902, left, 1, 0.8)]   # IoU 2/3 with both
    # the higher person_id is tried first: det 1 takes `right` (pid 5), det 2 then takes `left`
    assert ap_of([("v1", 902, left, 1, 0), ("v1", 902, right, 1, 5)], det).loc[1, "ap"] == 1.0
    # swapped ids: det 1 takes `left`, det 2's argmax is `left` again -> FP
    assert ap_of([("v1", 902, left, 1, 5), ("v1", 902, right, 1, 0)], det).loc[1, "ap"] == 0.5
    # a 7-column GT row (person_id -1) sorts as the official's default score 1.0, ahead of person 0
    assert ap_of([("v1", 902, left, 1, -1), ("v1", 902, right, 1, 0)], det).loc[1, "ap"] == 0.5


def test_exclusions_drop_keys_on_both_sides():
    gt = [("v1", 902, BOX, 1, 0), ("v1", 903, BOX, 1, 0)]
    det = [("v1", 903, OTHER, 1, 0.9), ("v1", 902, BOX, 1, 0.8)]
    assert ap_of(gt, det).loc[1, "ap"] == 0.25
    excl = pd.DataFrame({"video_id": pd.Categorical(["v1"]), "timestamp": [903.0]})
    pc = ap_of(gt, det, exclusions=excl)
    assert pc.loc[1, "ap"] == 1.0 and pc.loc[1, "n_gt"] == 1 and pc.loc[1, "n_det"] == 1


def test_classes_without_gt_are_nan_and_left_out_of_the_mean():
    gt = [("v1", 902, BOX, 1, 0), ("v1", 902, BOX, 2, 0)]
    det = [("v1", 902, BOX, 1, 0.9), ("v1", 902, BOX, 3, 0.9)]
    res = frame_map(gt_frame(gt), det_frame(det), labelmap=LABELS)
    ap = res.per_class.set_index("id")["ap"]
    assert ap[1] == 1.0 and ap[2] == 0.0 and math.isnan(ap[3])      # 2: GT, no detection -> counts as 0
    assert res.map == 0.5
    assert res.per_class["type"].tolist() == ["PM", "PM", "PM"]      # types from the AVA class table
    assert res.by_type["PM"] == 0.5 and math.isnan(res.by_type["OM"])


def test_detections_off_gt_keyframes_ignored_or_false_positive():
    gt = [("v1", 902, BOX, 1, 0), ("v1", 904, None, 0, -1)]          # 904: annotated, empty
    det = [("v1", 903, BOX, 1, 0.95), ("v1", 904, BOX, 1, 0.93), ("v1", 902, BOX, 1, 0.9)]
    # 903 is not a GT keyframe: ignored; 904 is (2-column row): its detection is a FP
    assert ap_of(gt, det).loc[1, "ap"] == 0.5
    with pytest.raises(ValueError, match="2-column"):
        ap_of(gt, det, flavor="slowfast")
    assert ap_of(gt[:1], det, flavor="slowfast").loc[1, "ap"] == pytest.approx(1 / 3)


def test_timestamps_are_numeric_keys_and_other_labels_do_not_count():
    gt = [("v1", 902, BOX, 1, 0), ("v1", 903.0000001, BOX, 1, 0), ("v1", 905, BOX, 42, 0)]
    det = [("v1", 902.0, BOX, 1, 0.9), ("v1", 903, BOX, 1, 0.8), ("v1", 905, BOX, 1, 0.85)]
    pc = ap_of(gt, det)   # 903.0000001 rounds to the same 1e-6 key; 905 is a keyframe with no class-1 GT
    assert pc.loc[1, "n_gt"] == 2 and pc.loc[1, "ap"] == pytest.approx(0.5 + 0.5 * 2 / 3)


def test_top50_cap_per_keyframe():
    gt = [("v1", 902, BOX, 1, 0)]
    fps = [("v1", 902, (0.9, 0.0, 0.95, 0.1 + i / 1000), 1 + i % 3, 0.2 + i / 100) for i in range(59)]
    det = fps + [("v1", 902, BOX, 1, 0.01)]                           # the TP is ranked 60th
    assert ap_of(gt, det).loc[1, "ap"] == 0.0
    assert ap_of(gt, det, flavor="slowfast").loc[1, "ap"] == pytest.approx(1 / 21)   # 21 class-1 rows
    # an invalid (zero-area) box still takes a slot: 49 FPs + 1 invalid push the TP (score 0.15) out
    invalid = [("v1", 902, (0.3, 0.1, 0.3, 0.9), 2, 0.99)]
    det = fps[:49] + invalid + [("v1", 902, BOX, 1, 0.15)]
    assert ap_of(gt, det).loc[1, "ap"] == 0.0
    assert ap_of(gt, fps[:49] + [("v1", 902, BOX, 1, 0.15)]).loc[1, "ap"] > 0


def test_empty_detections_give_zero_ap():
    res = frame_map(gt_frame([("v1", 902, BOX, 1, 0)]), det_frame([]), labelmap=LABELS)
    assert res.per_class["ap"].iloc[0] == 0.0 and res.map == 0.0 and res.per_class["n_det"].sum() == 0


def test_default_labelmap_is_the_60_evaluated_classes():
    res = frame_map(gt_frame([("v1", 902, BOX, 12, 0), ("v1", 902, BOX, 2, 0)]),
                    det_frame([("v1", 902, BOX, 12, 0.5)]))
    assert len(res.per_class) == 60 and 2 not in set(res.per_class["id"])
    assert res.map == 1.0 and res.per_class.set_index("id").loc[12, "name"] == "stand"


# ---------------------------------------------------------------- what the official accepts


def test_nan_inf_and_out_of_range_values_are_evaluated_as_the_official_does():
    gt = [("v1", 902, BOX, 1, 0), ("v1", 903, (-0.1, 0.0, 1.2, 1.1), 1, 0)]
    det = [("v1", 902, BOX, 1, np.inf), ("v1", 902, (0.1, np.nan, 0.5, 0.9), 1, 0.99),   # NaN box: dropped
           ("v1", 903, (-0.1, 0.0, 1.2, 1.1), 1, 0.5), ("v1", 903, OTHER, 1, np.nan)]    # NaN score
    # class 1 ranked NaN (FP), inf (TP), 0.5 (TP): precisions 0, 1/2, 2/3 at recalls 0, 1/2, 1 -> AP 2/3
    # (were NaN ranked last, AP would be 1)
    assert ap_of(gt, det).loc[1, "ap"] == pytest.approx(2 / 3, abs=1e-15)


def test_nan_gt_box_makes_its_class_false_positive_on_its_keyframe():
    """np.argmax picks the NaN IoU first (pie:279); NaN >= 0.5 is False."""
    gt = [("v1", 902, BOX, 1, 0), ("v1", 902, (np.nan, 0.1, 0.5, 0.9), 1, 5)]   # person 5 comes first
    pc = ap_of(gt, [("v1", 902, BOX, 1, 0.9)])
    assert pc.loc[1, "n_gt"] == 2 and pc.loc[1, "ap"] == 0.0
    assert ap_of(gt[:1], [("v1", 902, BOX, 1, 0.9)]).loc[1, "ap"] == 1.0


def test_reversed_gt_box_counts_unless_the_official_would_stop():
    reversed_box = (0.5, 0.1, 0.4, 0.9)
    gt = [("v1", 902, BOX, 1, 0), ("v1", 902, reversed_box, 2, 1)]
    pc = ap_of(gt, [("v1", 902, BOX, 1, 0.9)])          # no class-2 detection on 902: counted, never matched
    assert pc.loc[2, "n_gt"] == 1 and pc.loc[2, "ap"] == 0.0 and pc.loc[1, "ap"] == 1.0
    with pytest.raises(RowError, match=r"ground truth row 1: box with x1 > x2") as e:
        ap_of(gt, [("v1", 902, BOX, 2, 0.9)])
    assert e.value.row == 1 and e.value.what == "ground truth"
    # an invalid (reversed) detection does not count: it is dropped before matching
    assert ap_of(gt, [("v1", 902, reversed_box, 2, 0.9)]).loc[2, "ap"] == 0.0


def test_missing_columns_flavor_and_label_maps_are_rejected():
    with pytest.raises(ValueError, match=r"detections: missing columns \['score'\]"):
        frame_map(gt_frame([("v1", 902, BOX, 1, 0)]), det_frame([]).drop(columns="score"))
    with pytest.raises(ValueError, match="flavor must be one of"):
        frame_map(gt_frame([]), det_frame([]), flavor="voc")
    for labels, match in [({}, "label map is empty"), ({-1: "a"}, "1..80, found -1"), ({81: "a"}, "found 81")]:
        with pytest.raises(ValueError, match=match):
            frame_map(gt_frame([("v1", 902, BOX, 1, 0)]), det_frame([]), labelmap=labels)


# ---------------------------------------------------------------- results and CLI


def test_save_writes_csv_and_strict_json(tmp_path):
    res = frame_map(gt_frame([("v1", 902, BOX, 1, 0)]), det_frame([("v1", 902, BOX, 1, 0.5)]), labelmap=LABELS)
    csv_path, json_path = res.save(tmp_path / "out")
    back = pd.read_csv(csv_path)
    assert back.columns.tolist() == ["id", "name", "type", "ap", "n_gt", "n_det"]
    assert back["ap"].tolist()[0] == 1.0 and back["ap"].isna().sum() == 2
    data = json.loads(json_path.read_text())                          # strict JSON: NaN written as null
    assert data["mAP"] == 1.0 and data["per_class"][1]["ap"] is None and data["by_type"]["OM"] is None
    assert isinstance(res, EvalResult) and data["warnings"] == []


def test_concurrent_saves_leave_the_files_of_one_run(tmp_path, monkeypatch):
    """Two saves into one folder at once: the lock makes each write its two files back to back, so the
    folder holds the pair of one run (without it they interleave: metrics of one, per-class of the other)."""
    events = []

    def slow_write(path, text):
        events.append((threading.current_thread().name, Path(path).name))
        time.sleep(0.05)
        real_write(path, text)

    real_write = fileio.atomic_write_text
    monkeypatch.setattr(fileio, "atomic_write_text", slow_write)
    runs = {name: frame_map(gt_frame([("v1", 902, BOX, 1, 0)]), det_frame([("v1", 902, box, 1, 0.5)]),
                            labelmap=LABELS) for name, box in (("A", BOX), ("B", OTHER))}
    threads = [threading.Thread(target=runs[n].save, args=(tmp_path / "out",), name=n) for n in runs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [e[0] for e in events] in (list("AABB"), list("BBAA"))
    last = events[-1][0]
    assert json.loads((tmp_path / "out" / "metrics.json").read_text())["mAP"] == runs[last].map
    assert pd.read_csv(tmp_path / "out" / "per_class.csv")["ap"][0] == runs[last].map


def test_save_into_a_file_is_one_clear_error(tmp_path):
    (tmp_path / "f").write_text("")
    res = frame_map(gt_frame([("v1", 902, BOX, 1, 0)]), det_frame([]), labelmap=LABELS)
    with pytest.raises(ValueError, match="expected a folder for the results, found a file"):
        res.save(tmp_path / "f")


def test_cli_prints_and_writes(tmp_path, capsys):
    (tmp_path / "gt.csv").write_text("vid_a,0902,0.1,0.1,0.5,0.9,12,0\nvid_a,0903,0.1,0.1,0.5,0.9,80,0\n")
    (tmp_path / "pred.csv").write_text("vid_a,902,0.1,0.1,0.5,0.9,12,0.9\nvid_a,0903,0.6,0.1,0.9,0.9,80,0.9\n")
    rc = cli.main(["eval", "--gt", str(tmp_path / "gt.csv"), "--pred", str(tmp_path / "pred.csv"),
                   "--out", str(tmp_path / "out")])
    out = capsys.readouterr()
    assert rc == 0 and "0.500000 over 2 classes" in out.out and "PM 1.0000 (1)" in out.out
    assert "PI 0.0000 (1)" in out.out and out.err == ""
    pc = pd.read_csv(tmp_path / "out" / "per_class.csv").set_index("id")
    assert len(pc) == 60 and pc.loc[12, "ap"] == 1.0 and pc.loc[80, "n_det"] == 1


def test_cli_warns_once_per_kind_and_strict_makes_it_an_error(tmp_path, capsys):
    (tmp_path / "gt.csv").write_text("vid_a,0902,0.1,0.1,0.5,0.9,12,0\n")
    (tmp_path / "pred.csv").write_text("vid_a,0902,-0.01,0.1,0.5,1.1,12,0.9\n"     # outside [0, 1], counted once
                                       "vid_a,0902,0.1,0.1,0.5,0.9,99,0.9\n"       # id outside 1..80: ignored
                                       "vid_a,0902,0.1,0.1,1.5,0.9,12,0.8\n"       # outside [0, 1] again
                                       "vid_a,0902,0.1,0.1,0.5,0.9,12,nan\n")      # NaN score: ranked first
    args = ["eval", "--gt", str(tmp_path / "gt.csv"), "--pred", str(tmp_path / "pred.csv")]
    assert cli.main(args) == 0
    out = capsys.readouterr()
    warnings = out.err.strip().splitlines()
    assert len(warnings) == 3 and all(w.startswith("lart: warning: ") for w in warnings)
    assert any("pred.csv:1: 2 rows with box coordinates outside [0, 1]" in w for w in warnings)
    assert any("pred.csv:2: 1 row with action ids outside 1..80" in w for w in warnings)
    assert any("pred.csv:4: 1 row with non-finite scores" in w for w in warnings)
    assert "0.500000 over 1 classes" in out.out                      # NaN (FP) ranked before the TP
    assert cli.main(args + ["--strict"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "pred.csv:1: column x1: expected a box coordinate in [0, 1]" in err


@pytest.mark.parametrize("gt_text, pred_text, words", [
    ("vid_a,0902,0.1,0.1,0.5,0.9,12,0\n", "vid_a,0902,0.1,0.1,0.5,0.9,12,0.9\nvid_a,0902,0.1,0.x,0.5,0.9,9,1\n",
     "pred.csv:2: column y1: expected a number"),
    ("", "vid_a,0902,0.1,0.1,0.5,0.9,12,0.9\n", "gt.csv: the ground-truth CSV has no rows"),
    ("vid_a,0902,0.1,0.1,0.5,0.9,12,0\n", "vid_a,09\xff2,0.1,0.1,0.5,0.9,12,0.9\n", "pred.csv:1: expected UTF-8"),
    ("vid_a,0902,0.1,0.1,0.5,0.9,12,0\nvid_a,0902,0.6,0.1,0.5,0.9,12,1\n", "vid_a,0902,0.1,0.1,0.5,0.9,12,0.9\n",
     "gt.csv:2: box with x1 > x2 or y1 > y2 on a keyframe with a detection of its class"),
])
def test_cli_bad_input_gives_one_clear_error(tmp_path, capsys, gt_text, pred_text, words):
    (tmp_path / "gt.csv").write_bytes(gt_text.encode("latin-1"))
    (tmp_path / "pred.csv").write_bytes(pred_text.encode("latin-1"))
    assert cli.main(["eval", "--gt", str(tmp_path / "gt.csv"), "--pred", str(tmp_path / "pred.csv")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("lart: error: ") and err.count("\n") == 1 and words in err and "Traceback" not in err


def test_cli_directories_and_label_maps_give_one_clear_error(tmp_path, capsys):
    (tmp_path / "gt.csv").write_text("vid_a,0902,0.1,0.1,0.5,0.9,12,0\n")
    (tmp_path / "empty.csv").write_text("")
    base = ["eval", "--gt", str(tmp_path / "gt.csv"), "--pred", str(tmp_path / "empty.csv")]
    assert cli.main(base) == 0                                        # no detections: AP 0, as the official
    assert "0.000000 over 1 classes" in capsys.readouterr().out
    assert cli.main(["eval", "--gt", str(tmp_path), "--pred", str(tmp_path / "empty.csv")]) == 2
    assert f"{tmp_path}: expected a file, found a directory" in capsys.readouterr().err
    label_maps = [("", "found none"),
                  ('item {\n  name: "a"\n  id: -1\n}\n', "lm.pbtxt:3: id: expected an AVA action id in 1..80, found -1"),
                  ('item {\n  name: "a"\n  id: 1e30\n}\n', "lm.pbtxt:3: id: expected an integer, found '1e30'")]
    for text, words in label_maps:
        (tmp_path / "lm.pbtxt").write_text(text)
        assert cli.main(base + ["--labelmap", str(tmp_path / "lm.pbtxt")]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and words in err, err


# ---------------------------------------------------------------- the official algorithm, straightforwardly


def _ref_iou(d, g):
    """d, g: (y1, x1, y2, x2), as np_box_ops.iou computes it (numpy's NaN-propagating max/min)."""
    h = np.maximum(0.0, np.minimum(d[2], g[2]) - np.maximum(d[0], g[0]))
    w = np.maximum(0.0, np.minimum(d[3], g[3]) - np.maximum(d[1], g[1]))
    inter = h * w
    with np.errstate(invalid="ignore", divide="ignore"):
        return inter / ((d[2] - d[0]) * (d[3] - d[1]) + (g[2] - g[0]) * (g[3] - g[1]) - inter)


def _ref_read(rows, labels, cap):
    """The official reader: rows (key, box | None, action, score) in file order -> {key: tuples (score,
    action, y1, x1, y2, x2) kept by a heapq heap of capacity cap (0 = all), sorted by -score, stably},
    keys in order of their first label-map row; and the set of all keys."""
    heaps, keys = {}, set()
    for key, box, action, score in rows:
        keys.add(key)
        if box is None or action not in labels:
            continue
        x1, y1, x2, y2 = box
        row = (float(score), action, y1, x1, y2, x2)
        heap = heaps.setdefault(key, [])
        if cap < 1 or len(heap) < cap:
            heapq.heappush(heap, row)
        elif row[0] > heap[0][0]:
            heapq.heapreplace(heap, row)
    return {key: sorted(heap, key=lambda t: -t[0]) for key, heap in heaps.items()}, keys


def _ref_ap(scores, tps, n_gt):
    """metrics.py: np.argsort(scores)[::-1], cumulative TP/FP, the VOC all-point loop."""
    if n_gt == 0:
        return math.nan
    if not scores:
        return 0.0
    order = np.argsort(np.array(scores, dtype=float))[::-1]
    tp = np.array(tps, dtype=int)[order]
    ctp, cfp = np.cumsum(tp), np.cumsum(1 - tp)
    precision = np.concatenate([[0], ctp.astype(float) / (ctp + cfp), [0]])
    recall = np.concatenate([[0], ctp.astype(float) / n_gt, [1]])
    for i in range(len(precision) - 2, -1, -1):
        precision[i] = np.maximum(precision[i], precision[i + 1])
    i = np.where(recall[1:] != recall[:-1])[0] + 1
    return float(np.sum((recall[i] - recall[i - 1]) * precision[i]))


def reference_map(gt_rows, det_rows, labels, cap=50):
    """The official ActivityNet evaluator, one box at a time. gt_rows (video, ts, box | None, action,
    person_id (-1 = 7-column row)), det_rows (video, ts, box, action, score). Raises ValueError where the
    official stops (a reversed GT box on a keyframe with a valid detection of its class)."""
    gt, gt_keys = _ref_read([((v, t), b, a, 1.0 if p == -1 else p) for v, t, b, a, p in gt_rows], labels, 0)
    det, _ = _ref_read([((v, t), b, a, s) for v, t, b, a, s in det_rows], labels, cap)
    n_gt = {c: sum(g[1] == c for rows in gt.values() for g in rows) for c in labels}
    scores, tps = defaultdict(list), defaultdict(list)
    for key, rows in det.items():                                  # the official visiting order
        if key not in gt_keys:
            continue
        rows = [r for r in rows if r[2] < r[4] and r[3] < r[5]]     # _remove_invalid_boxes
        for c in sorted(labels):
            dets = [r for r in rows if r[1] == c]
            boxes = [g[2:] for g in gt.get(key, []) if g[1] == c]
            if dets and any(b[0] > b[2] or b[1] > b[3] for b in boxes):
                raise ValueError("Invalid box data")
            matched = [False] * len(boxes)
            for r in dets:
                tp = False
                if boxes:
                    j = int(np.argmax([_ref_iou(r[2:], b) for b in boxes]))
                    if _ref_iou(r[2:], boxes[j]) >= 0.5 and not matched[j]:
                        matched[j] = tp = True
                scores[c].append(r[0])
                tps[c].append(tp)
    aps = {c: _ref_ap(scores[c], tps[c], n_gt[c]) for c in sorted(labels)}
    by_id = np.full(max(labels), np.nan)
    for c, ap in aps.items():
        by_id[c - 1] = ap
    return aps, (float(np.nanmean(by_id)) if not np.isnan(by_id).all() else math.nan)


COORD = st.sampled_from([0.0, 0.25, 0.5, 0.75, 1.0])               # few values: IoU ties, IoU == 0.5
CLASS = st.sampled_from([1, 1, 1, 2, 3, 4])                        # 4 is not in the label map
SCORE = st.sampled_from([0.3, 0.5, 0.5, 0.7])                      # ties everywhere


@st.composite
def random_case(draw):
    """Small files full of ties: scores from 5 values, boxes on a 0.25 grid, 7-column GT rows and equal
    person ids, > 50 rows on one keyframe, keyframes out of order; sometimes NaN or reversed boxes."""
    keys = draw(st.lists(st.tuples(st.sampled_from(["va", "vb"]), st.integers(902, 905)), min_size=1,
                         max_size=4, unique=True))
    odd = draw(st.booleans())

    def box(may_reverse):
        x = sorted(draw(st.lists(COORD, min_size=2, max_size=2)))
        y = sorted(draw(st.lists(COORD, min_size=2, max_size=2)))
        if odd and draw(st.integers(0, 9)) == 0:
            return (np.nan, y[0], x[1], y[1])
        return (x[1], y[0], x[0], y[1]) if may_reverse and draw(st.integers(0, 3)) == 0 else (x[0], y[0], x[1], y[1])

    gt = [(v, t, box(odd), draw(CLASS), draw(st.sampled_from([-1, -1, 0, 1, 1, 2])))
          for v, t in keys for _ in range(draw(st.integers(0, 4)))]
    gt += [(v, t, None, 0, -1) for v, t in keys if not any(g[:2] == (v, t) for g in gt)]
    det_keys = keys + [("vb", 906)]
    n = draw(st.sampled_from([3, 8, 20, 58]))
    key = [draw(st.sampled_from(det_keys)) if i < 8 else keys[0] for i in range(n)]   # > 50 on keys[0]
    score = [draw(SCORE) if not (odd and draw(st.integers(0, 19)) == 0) else np.nan for _ in range(n)]
    gt_boxes = [g[2] for g in gt if g[2] is not None]

    def det_box():                                                 # often a GT box: many TPs compete
        return draw(st.sampled_from(gt_boxes)) if gt_boxes and draw(st.booleans()) else box(True)
    det = [(*key[i], det_box(), draw(CLASS), score[i]) for i in range(n)]
    order = draw(st.permutations(range(n)))
    return gt, [det[i] for i in order]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(random_case())
def test_fast_equals_straightforward_official_algorithm(case):
    """Tied scores, tied IoUs, the cap, NaN, reversed boxes: frame_map gives exactly the numbers of the
    loop implementation above (same heapq, same np.argsort call on the same arrays), or stops where it does."""
    gt_rows, det_rows = case
    labels = {1: "a", 2: "b", 3: "c"}
    try:
        ref_aps, ref_map = reference_map(gt_rows, det_rows, labels)
    except ValueError:
        with pytest.raises(RowError, match="box with x1 > x2"):
            frame_map(gt_frame(gt_rows, {"va", "vb"}), det_frame(det_rows, {"va", "vb"}), labelmap=labels)
        return
    res = frame_map(gt_frame(gt_rows, {"va", "vb"}), det_frame(det_rows, {"va", "vb"}), labelmap=labels)
    got = res.per_class.set_index("id")["ap"].to_dict()
    for c in labels:
        assert (math.isnan(got[c]) and math.isnan(ref_aps[c])) or got[c] == ref_aps[c], (c, got, ref_aps)
    assert (math.isnan(res.map) and math.isnan(ref_map)) or res.map == ref_map


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 2), st.sampled_from([0.1, 0.2, 0.3]), st.integers(1, 3),
                          st.sampled_from([0.0, 0.5])), max_size=40), st.integers(1, 6))
def test_heap_cap_equals_heapq(rows, cap):
    """Cap with many score ties: the kept set equals heapq's, for every keyframe."""
    visit = np.array([r[0] for r in rows], np.int64)
    score = np.array([r[1] for r in rows])
    tup = np.array([(r[2], r[3], 0.0, 1.0, 1.0 - r[3]) for r in rows]).reshape(-1, 5)    # action, y1, x1, y2, x2
    order, key = _order_desc(visit, score)
    kept = _heap_cap(order, visit[order], key, lambda pos: tup[pos], cap)
    got = sorted(order[kept].tolist())
    want = []
    for k in range(3):
        heap = []
        for i, r in enumerate(rows):
            if r[0] == k:
                item = (r[1], *tup[i], i)
                if len(heap) < cap:
                    heapq.heappush(heap, item)
                elif item[0] > heap[0][0]:
                    heapq.heapreplace(heap, item)
        want += [item[-1] for item in heap]
    # identical tuples are interchangeable: compare the kept tuples, not the row indices
    assert sorted(rows[i][1:] + (rows[i][0],) for i in got) == sorted(rows[i][1:] + (rows[i][0],) for i in want)


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_class_rankings_in_threads_equal_one_pooled_argsort_per_class(monkeypatch, threads):
    """Above 65536 detections the per-class sorts run in `_THREADS` threads: the same order as the official
    pooled np.argsort(score)[::-1] per class (ties included: 2-decimal scores)."""
    monkeypatch.setattr(ev, "_THREADS", threads)
    rng = np.random.default_rng(0)
    n, n_cls = 200_000, 7
    cls = rng.integers(0, n_cls - 1, n).astype(np.int16)          # the last class has no detection
    score = np.round(rng.random(n), 2)
    got = class_rankings(cls, score, n_cls)
    for c in range(n_cls):
        pooled = np.flatnonzero(cls == c)
        np.testing.assert_array_equal(got[c], pooled[np.argsort(score[pooled])[::-1]])


def test_equal_rows_at_the_cap_whichever_copies_heapq_keeps():
    """A case hypothesis found (58 rows on one keyframe, cap 50, most tied at 0.3, exact duplicates and invalid
    boxes among them): heapq keeps other copies of equal tuples than `_heap_cap` (the first in file order).
    The official evaluator holds tuples, not rows, so both are right: frame_map gave an AssertionError;
    it now gives the loop implementation's AP."""
    boxes = dict(zip("ABCDE", [(0.0, 0.0, 0.0, 0.0), (0.0, 0.0, 0.25, 0.25), (0.0, 0.0, 0.25, 0.5),
                               (0.0, 0.25, 0.0, 0.25), (0.25, 0.0, 0.0, 0.0)], strict=True))
    gt_rows = [("va", 902, boxes[t[0]], int(t[1]), -1) for t in ["C1", "A1", "A1", "A1"]]
    dets = ("D1@0.3 C1@0.3 C1@0.3 C1@0.3 A2@0.3 C1@0.3 C1@0.3 C1@0.3 C1@0.3 A1@0.5 D1@0.3 C1@0.3 C1@0.3 C1@0.3 "
            "A2@0.3 C1@0.3 A2@0.3 A2@0.3 C1@0.3 C1@0.3 D1@0.3 D1@0.3 A2@0.3 E1@0.3 A2@0.3 C1@0.3 C1@0.3 A2@0.3 "
            "A2@0.3 A2@0.3 C1@0.3 C1@0.3 D1@0.3 C1@0.3 C1@0.3 A2@0.3 A2@0.3 C1@0.3 A1@0.3 D1@0.3 A2@0.3 B1@0.7 "
            "C1@0.3 D1@0.3 D1@0.3 C1@0.3 C1@0.3 D1@0.3 A2@0.3 A2@0.3 C1@0.7 A1@0.3 A1@0.3 A1@0.3 A1@0.3 A1@0.3 "
            "C1@0.3 A1@0.5")
    det_rows = [("va", 902, boxes[t[0]], int(t[1]), float(t[3:])) for t in dets.split()]
    labels = {1: "a", 2: "b", 3: "c"}
    ref_aps, ref_map = reference_map(gt_rows, det_rows, labels)
    res = frame_map(gt_frame(gt_rows, {"va"}), det_frame(det_rows, {"va"}), labelmap=labels)
    assert res.per_class.set_index("id")["ap"].to_dict()[1] == ref_aps[1] == 0.125
    assert res.map == ref_map


# ---------------------------------------------------------------- lart eval without pandas


def test_to_csv_writes_what_pandas_to_csv_writes():
    """per_class.csv is written without pandas: byte for byte what DataFrame.to_csv(index=False,
    float_format="%.9g") writes, NaN/None empty, names needing quotes quoted."""
    cols = {"id": np.array([1, 2, 3, 4], np.int64), "name": ["a, b", 'say "hi"', "plain", "multi\nline"],
            "type": ["PM", None, "OM", "PI"], "ap": np.array([0.123456789012, np.nan, 1.0, 1e-12]),
            "n_gt": np.array([3, 0, 1, 2], np.int64), "n_det": np.array([5, 0, 1, 0], np.int64)}
    lazy = EvalResult(dict(cols), 0.5, {"PM": 0.1, "OM": 1.0, "PI": math.nan})
    eager = EvalResult(pd.DataFrame(cols), 0.5, {"PM": 0.1, "OM": 1.0, "PI": math.nan})
    want = pd.DataFrame(cols).to_csv(index=False, float_format="%.9g")
    assert lazy.to_csv() == want and eager.to_csv() == want
    assert lazy.to_json() == eager.to_json()
    assert json.loads(lazy.to_json())["per_class"][1] == {"id": 2, "name": 'say "hi"', "type": None, "ap": None,
                                                           "n_gt": 0, "n_det": 0}
    pd.testing.assert_frame_equal(lazy.per_class, pd.DataFrame(cols))


def test_tables_and_frames_give_the_same_decisions(tmp_path):
    """frame_map of ava.Tables (what `lart eval` reads) equals frame_map of the DataFrames, errors included
    (a Table names row positions, as its file's lines)."""
    gt = gt_frame([("v1", 902, BOX, 1, 0), ("v1", 903, BOX, 2, 1), ("v2", 902, OTHER, 1, 0)])
    det = det_frame([("v2", 902, OTHER, 1, 0.4), ("v1", 902, BOX, 1, 0.9), ("v1", 903, OTHER, 2, 0.8)])
    ava.write_gt(gt, tmp_path / "gt.csv")
    ava.write_detections(det, tmp_path / "det.csv")
    tables = [ava.read_gt(tmp_path / "gt.csv", pandas=False), ava.read_detections(tmp_path / "det.csv", pandas=False)]
    assert isinstance(tables[0], ava.Table) and len(tables[1]) == 3
    a, b = frame_map(*tables, labelmap=LABELS), frame_map(gt, det, labelmap=LABELS)
    pd.testing.assert_frame_equal(a.per_class, b.per_class)
    assert a.map == b.map == 0.5                                     # class 1: AP 1, class 2: AP 0
    pd.testing.assert_frame_equal(tables[1].to_pandas(), ava.read_detections(tmp_path / "det.csv"))
    bad = gt.assign(timestamp=[902.0, np.inf, 902.0])
    bad.index = [10, 11, 12]
    with pytest.raises(RowError, match="row 11: timestamp inf"):
        frame_map(bad, det, labelmap=LABELS)
    with pytest.raises(RowError, match="row 1: timestamp inf"):
        frame_map(ava.Table.of(bad.reset_index(drop=True), ava.GT_COLUMNS, "gt"), det, labelmap=LABELS)


def test_lart_eval_never_imports_pandas(tmp_path):
    """`lart eval --out` reads, scores and writes without importing pandas (~0.3 s of a full-scale run)."""
    (tmp_path / "gt.csv").write_text("vid_a,0902,0.1,0.1,0.5,0.9,12,0\nvid_a,0903,0.1,0.1,0.5,0.9,80,0\n")
    (tmp_path / "pred.csv").write_text("vid_a,902,0.1,0.1,0.5,0.9,12,0.9\nvid_a,0903,0.6,0.1,0.9,0.9,80,0.9\n")
    code = ("import sys\nfrom lartcore.cli import main\n"
            f"rc = main(['eval', '--gt', {str(tmp_path / 'gt.csv')!r}, '--pred', {str(tmp_path / 'pred.csv')!r}, "
            f"'--out', {str(tmp_path / 'out')!r}])\n"
            "print(rc, sorted(m for m in sys.modules if m.split('.')[0] in ('pandas', 'torch')))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[1]).stdout
    assert out.splitlines()[-1] == "0 []", out
    back = pd.read_csv(tmp_path / "out" / "per_class.csv").set_index("id")
    assert back.loc[12, "ap"] == 1.0 and back.loc[80, "ap"] == 0.0 and len(back) == 60


def _decided(gt, det, labels):
    """The decisions as a set of (det_row, tp, gt_row), their sequence of (keyframe, score) (the matching
    order up to equal scores in a keyframe, whose order is provisional), the APs; or the error."""
    try:
        d = ev.decisions(gt, det, labels)
    except RowError as e:
        return str(e)
    aps = ev.summarise(d).per_class["ap"].to_numpy()
    keyframes = det[["video_id", "timestamp"]].to_numpy()[d.det_row].tolist()
    return (set(zip(d.det_row.tolist(), d.tp.tolist(), d.gt_row.tolist(), strict=True)),
            [(*k, s) for k, s in zip(keyframes, np.nan_to_num(d.score, nan=-1).tolist(), strict=True)],
            aps.tobytes())


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(random_case(), st.sampled_from([2, 3, 5]))
def test_keyframes_matched_in_parallel_parts_decide_as_one(case, threads):
    """Large files are matched in parts of whole keyframes, one thread each: forced on small files full of
    ties, NaN, reversed GT boxes (the first stopping row of all parts) and interleaved keyframes, every
    decision, AP and error is that of one part."""
    gt_rows, det_rows = case
    gt, det = gt_frame(gt_rows, {"va", "vb"}), det_frame(det_rows, {"va", "vb"})
    labels = {1: "a", 2: "b", 3: "c"}
    one = _decided(gt, det, labels)
    for rows in (det, det.sort_values(["video_id", "timestamp"], kind="stable").reset_index(drop=True)):
        with pytest.MonkeyPatch.context() as m:
            m.setattr(ev, "_PARALLEL_ROWS", 1)
            m.setattr(ev, "_THREADS", threads)
            many = _decided(gt, rows, labels)
        ref = one if rows is det else _decided(gt, rows, labels)
        assert many == ref


@pytest.mark.parametrize("interleaved", [False, True])
def test_parts_are_whole_keyframes_in_visiting_order(interleaved):
    """`_parts` cuts the rows into parts of whole keyframes, consecutive in visiting order, of about equal
    size: row ranges when each keyframe's rows are consecutive, else gathered rows."""
    rng = np.random.default_rng(0)
    visit = np.repeat(np.arange(40), rng.integers(1, 30, 40)).astype(np.int32)          # (n,) sorted
    if interleaved:
        visit = np.r_[visit[::2], visit[1::2]]                                          # keyframes split
    n = len(visit)
    d = ev._Rows(None, visit, visit + 100, np.zeros(n, np.int16), rng.random(n))
    for k in (2, 3, 7):
        with pytest.MonkeyPatch.context() as m:
            m.setattr(ev, "_PARALLEL_ROWS", 1)
            parts = ev._parts(d, k)
        assert 2 <= len(parts) <= k
        rows = np.concatenate([p.row for p in parts])
        np.testing.assert_array_equal(np.sort(rows), np.arange(n))                     # every row once
        for p in parts:
            np.testing.assert_array_equal(p.visit, visit[p.row])
            np.testing.assert_array_equal(p.img, visit[p.row] + 100)
        spans = [(p.visit.min(), p.visit.max()) for p in parts]
        assert all(a[1] < b[0] for a, b in itertools.pairwise(spans))                  # whole, in order
        assert max(len(p.row) for p in parts) <= n / len(parts) + 30                    # balanced
        assert all((np.diff(p.row) > 0).all() for p in parts)                           # file order kept


def test_files_read_side_by_side_report_as_if_read_in_turn(tmp_path):
    """evaluate_files reads the GT beside the detections: when both are bad the GT's error is the one
    given (an empty GT included), and the warnings list the GT's kinds first."""
    good_gt, good_det = "v,0902,0.1,0.1,0.5,0.9,1,0\n", "v,0902,0.1,0.1,0.5,0.9,1,0.9\n"
    files = {"bad_gt.csv": "v,0902,0.1,0.1,0.5,0.9,x,0\n", "empty.csv": "", "bad_det.csv": "v,0902,0.1\n",
             "odd_gt.csv": "v,0902,0.1,0.1,0.5,1.5,1,0\n", "odd_det.csv": "v,0902,0.1,0.1,0.5,0.9,99,0.9\n" + good_det,
             "gt.csv": good_gt, "det.csv": good_det}
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    p = lambda name: str(tmp_path / name)
    with pytest.raises(ava.AvaFormatError, match=r"bad_gt.csv:1: column action_id"):
        ev.evaluate_files(p("bad_gt.csv"), p("bad_det.csv"))
    with pytest.raises(ava.AvaFormatError, match=r"empty.csv: the ground-truth CSV has no rows"):
        ev.evaluate_files(p("empty.csv"), p("bad_det.csv"))
    with pytest.raises(ava.AvaFormatError, match=r"bad_det.csv:1: expected 8 or 7 comma-separated columns"):
        ev.evaluate_files(p("gt.csv"), p("bad_det.csv"))
    res = ev.evaluate_files(p("odd_gt.csv"), p("odd_det.csv"))
    assert [w.split(":")[0] for w in res.warnings] == [p("odd_gt.csv"), p("odd_det.csv")], res.warnings
