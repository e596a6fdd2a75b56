"""lartcore.matches: the evaluator's per-box decisions reproduce its AP exactly (golden cases, random
files with score ties, the cap and odd boxes), PR curves and per-keyframe TP / FP / FN."""
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lartcore import eval as ev
from lartcore.data import ava
from lartcore.matches import match, outcomes_at, pr_curve

CASES = Path(__file__).resolve().parent / "data" / "ava" / "eval_cases"
EXPECTED = json.loads((CASES / "expected.json").read_text())


def check_consistent(m, gt, det, result):
    """m reproduces `result` (frame_map) exactly, and its outcomes are coherent."""
    pd.testing.assert_frame_equal(m.per_class, result.per_class)
    assert m.map == result.map or (math.isnan(m.map) and math.isnan(result.map))
    pc = result.per_class.set_index("id")
    for cid, d in m.detections.groupby("action_id"):
        d = d.sort_values("rank")
        assert d["rank"].tolist() == list(range(1, len(d) + 1))
        score = d["score"].to_numpy()
        nan = np.isnan(score)                                                 # the official ranks NaN first
        assert not (nan[1:] & ~nan[:-1]).any() and (np.diff(score[~nan]) <= 0).all()   # then descending
        ap = ev._average_precision(d["tp"].to_numpy(), int(pc.at[cid, "n_gt"]))
        assert ap == pc.at[cid, "ap"] or (math.isnan(ap) and math.isnan(pc.at[cid, "ap"]))
        assert len(d) == pc.at[cid, "n_det"]
    tps = m.detections[m.detections["tp"]]
    assert len(tps) == (m.gt["det_row"] >= 0).sum() and tps["gt_row"].is_unique
    assert (m.detections.loc[~m.detections["tp"], "gt_row"] == -1).all()
    g = gt.iloc[tps["gt_row"].to_numpy()]
    assert (g["video_id"].astype(str).to_numpy() == tps["video_id"].to_numpy()).all()
    assert (g["action_id"].to_numpy() == tps["action_id"].to_numpy()).all()
    iou = ev._iou(tps[ava.BOX].to_numpy(np.float64).T, g[ava.BOX].to_numpy(np.float64).T)   # (4, n) each
    assert (iou >= 0.5).all()
    assert np.array_equal(det.iloc[m.detections["row"].to_numpy()]["score"].to_numpy(), m.detections["score"].to_numpy(),
                          equal_nan=True)


@pytest.mark.parametrize("flavor", ["activitynet", "slowfast"])
@pytest.mark.parametrize("case", sorted(EXPECTED))
def test_golden_cases(case, flavor):
    """Read as `lart eval` reads (odd rows the official evaluator accepts are kept); where the evaluator
    stops (a case the official stops on too), match stops the same way."""
    gt = ava.read_gt(CASES / case / "gt.csv", oddities=[])
    det = ava.read_detections(CASES / case / "dets.csv", oddities=[])
    labels = ava.read_labelmap(CASES / case / "labelmap.pbtxt")
    try:
        result = ev.frame_map(gt, det, labels, flavor=flavor)
    except ev.RowError as e:
        with pytest.raises(ev.RowError, match=str(e.message)[:20]):
            match(gt, det, labels, flavor=flavor)
        return
    check_consistent(match(gt, det, labels, flavor=flavor), gt, det, result)


def random_files(seed: int, videos: int = 4, seconds: int = 12):
    """GT boxes (1-4 people, 1-3 classes each) and detections: jittered GT boxes and false boxes with every
    class, scores rounded to 2 decimals (many ties), some keyframes over the cap of 50, a few empty boxes."""
    rng = np.random.default_rng(seed)
    gt, det = [], []
    classes = [1, 2, 3, 4, 5]
    for v in range(videos):
        for ts in range(902, 902 + seconds):
            for pid in range(rng.integers(1, 5)):
                x, y = rng.uniform(0, 0.6), rng.uniform(0, 0.4)
                box = np.array([x, y, x + rng.uniform(0.1, 0.4), y + rng.uniform(0.3, 0.6)])
                for c in rng.choice(classes, rng.integers(1, 4), replace=False):
                    gt.append((f"vid_{v:07d}", ts, *box.round(3), int(c), pid))
                for _ in range(rng.integers(1, 4)):
                    b = (box + rng.normal(0, 0.04, 4)).clip(0, 1).round(3)
                    if rng.random() < 0.03:
                        b[2] = b[0]                                             # zero width: dropped
                    det += [(f"vid_{v:07d}", ts, *b, c, round(float(rng.random()), 2)) for c in classes]
    gt = pd.DataFrame(gt, columns=ava.GT_COLUMNS)
    det = pd.DataFrame(det, columns=ava.DET_COLUMNS)
    return gt, det


@pytest.mark.parametrize("seed", [0, 1])
def test_random_files_with_ties_and_cap(seed):
    gt, det = random_files(seed)
    labels = {c: f"c{c}" for c in range(1, 6)}
    result = ev.frame_map(gt, det, labels)
    assert (result.per_class["n_det"] < det["action_id"].value_counts().sort_index().to_numpy()).any()   # capped
    m = match(gt, det, labels)
    check_consistent(m, gt, det, result)
    assert 0 < m.detections["tp"].mean() < 1


def test_pr_curve_and_outcomes_at_a_keyframe():
    box = {"x1": 0.1, "y1": 0.1, "x2": 0.5, "y2": 0.9}
    far = {"x1": 0.6, "y1": 0.1, "x2": 0.9, "y2": 0.9}
    gt = pd.DataFrame([{"video_id": "v", "timestamp": 902.0, **box, "action_id": 12, "person_id": 0},
                       {"video_id": "v", "timestamp": 902.0, **far, "action_id": 12, "person_id": 1},
                       {"video_id": "v", "timestamp": 903.0, **box, "action_id": 12, "person_id": 0}])
    det = pd.DataFrame([{"video_id": "v", "timestamp": 902.0, **box, "action_id": 12, "score": 0.9},
                        {"video_id": "v", "timestamp": 902.0, **box, "action_id": 12, "score": 0.8},   # dup: FP
                        {"video_id": "v", "timestamp": 903.0, **box, "action_id": 12, "score": 0.3},
                        {"video_id": "v", "timestamp": 904.0, **box, "action_id": 12, "score": 0.99}])  # no GT
    m = match(gt, det, {12: "stand"})
    pr = pr_curve(m, 12)
    assert pr["score"].tolist() == [0.9, 0.8, 0.3] and pr["tp"].tolist() == [True, False, True]
    np.testing.assert_allclose(pr["precision"], [1, 0.5, 2 / 3])
    np.testing.assert_allclose(pr["recall"], [1 / 3, 1 / 3, 2 / 3])
    assert pr["row"].tolist() == [0, 1, 2]
    at = outcomes_at(m, "v", 902.0, 12, threshold=0.5)
    assert sorted(at["outcome"]) == ["FN", "FP", "TP"]
    assert at.loc[at["outcome"] == "FN", "person_id"].tolist() == [1]
    at = outcomes_at(m, "v", 903.0, 12, threshold=0.5)                 # the TP scores 0.3: missed at 0.5
    assert at["outcome"].tolist() == ["FN"]
    assert outcomes_at(m, "v", 903.0, 12, threshold=0.2)["outcome"].tolist() == ["TP"]
    assert pr_curve(m, 80).empty and outcomes_at(m, "w", 902.0, 12).empty
