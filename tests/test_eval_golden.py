"""The evaluator against the official ActivityNet / SlowFast results: the ten golden cases in
tests/data/ava/eval_cases and the official mAP of the generator's 10% synthetic file (tests/data/README.md)."""
import json
import math
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from test_eval import reference_map  # tests/ is on sys.path (pytest rootdir-relative import)

from lartcore.data import ava
from lartcore.eval import evaluate_files, frame_map

DATA = Path(__file__).resolve().parent / "data" / "ava"
CASES = DATA / "eval_cases"
EXPECTED = json.loads((CASES / "expected.json").read_text())
OFFICIAL_MAP_10PCT = 0.348252                                   # data/ava/synth/README.md, seed 0


@pytest.mark.parametrize("flavor", ["activitynet", "slowfast"])
@pytest.mark.parametrize("case", sorted(EXPECTED))
def test_golden_case(case, flavor):
    want = EXPECTED[case][flavor]
    res = evaluate_files(CASES / case / "gt.csv", CASES / case / "dets.csv", CASES / case / "labelmap.pbtxt",
                         flavor=flavor)
    pc = res.per_class.set_index("id")
    for cid, ap in want["ap"].items():
        got = pc.loc[int(cid), "ap"]
        assert (ap is None and math.isnan(got)) or got == pytest.approx(ap, abs=1e-12), (cid, got, ap)
        assert pc.loc[int(cid), "n_gt"] == want["num_gt"][cid]
    assert res.map == pytest.approx(want["mAP"], abs=1e-12)


def _generate(out: Path, *flags) -> Path:
    subprocess.run([sys.executable, str(DATA / "synth" / "gen_ava_synth.py"), str(out), "--videos", "6",
                    *flags], check=True, capture_output=True)
    return out


@pytest.fixture(scope="module")
def synth_10pct(tmp_path_factory):
    return _generate(tmp_path_factory.mktemp("s010"))


def test_synthetic_10pct_reproduces_official_map(synth_10pct):
    d = synth_10pct
    res = evaluate_files(d / "gt.csv", d / "dets.csv", exclusions=d / "excluded.csv")
    assert abs(res.map - OFFICIAL_MAP_10PCT) < 1e-5
    assert (res.per_class["n_gt"] > 0).sum() == 60 and res.per_class["ap"].between(0, 1).all()
    # the official run removed the excluded keyframes' GT rows instead: same result
    gt = ava.read_gt(d / "gt.csv")
    excl = ava.read_keyframes(d / "excluded.csv")
    drop = gt.set_index(["video_id", "timestamp"]).index.isin(excl.set_index(["video_id", "timestamp"]).index)
    res2 = frame_map(gt[~drop], ava.read_detections(d / "dets.csv"))
    pd.testing.assert_frame_equal(res.per_class, res2.per_class)


def test_synthetic_unique_scores_one_video_equals_loop_reference(tmp_path):
    """Tie-free scores: the fast evaluator equals the one-box-at-a-time reference exactly (first video)."""
    d = _generate(tmp_path / "s010u", "--unique-scores")
    gt, det = ava.read_gt(d / "gt.csv"), ava.read_detections(d / "dets.csv")
    video = gt["video_id"].iloc[0]
    gt, det = gt[gt["video_id"] == video], det[det["video_id"] == video]
    labels = ava.read_labelmap(ava.LABELMAP_60)
    res = frame_map(gt, det, labelmap=labels)
    gt_rows = [(v, t, (x1, y1, x2, y2), a, p) for v, t, x1, y1, x2, y2, a, p in gt.itertuples(index=False)]
    det_rows = [(v, t, (x1, y1, x2, y2), a, s) for v, t, x1, y1, x2, y2, a, s in det.itertuples(index=False)]
    ref_aps, ref_map = reference_map(gt_rows, det_rows, labels)
    got = res.per_class.set_index("id")["ap"]
    for c, ap in ref_aps.items():
        assert (math.isnan(ap) and math.isnan(got[c])) or abs(got[c] - ap) < 1e-9, (c, got[c], ap)
    assert abs(res.map - ref_map) < 1e-9
