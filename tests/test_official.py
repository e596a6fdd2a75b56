"""`lart predict --protocol official` against the unedited official LART validation loop (tests/data/README.md,
"official/"): the same release files (make_release_data.py), the same weights (formula_weights.py, a
2-layer transformer), the same numpy seed -> the same per-file decisions, every row equal (video, second,
box, class exactly; scores to 1e-6) and the same mAP."""
from __future__ import annotations

import json
import re
import runpy
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from lartcore import checkpoint as C
from lartcore import infer
from lartcore.cli import main as lart_main
from lartcore.data import ava
from lartcore.data.dataset import PickleTrackSource
from lartcore.eval import frame_map
from lartcore.model import lart_official

DATA = Path(__file__).resolve().parent / "data"
OFFICIAL = DATA / "official"
OFFICIAL_MAP = 5.0925925925925934     # the official run's "mAP : " (x 100) on these rows and gt_ava_val.csv
DEPTH = 2                             # configs.transformer.depth=2 in the official run
KEY = ["video_id", "timestamp", *ava.BOX, "action_id"]
INT_KEYS = {"smpl.faces_tensor", "smpl.parents", "smpl.joint_map", "smpl.vertex_joint_selector.extra_joints_idxs"}


@pytest.fixture(scope="module")
def release(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("official") / "ava_val"
    runpy.run_path(str(OFFICIAL / "make_release_data.py"))["write"](str(out), seed=0)
    return out


@pytest.fixture(scope="module")
def ours(tmp_path_factory) -> Path:
    """The official run's weights (formula of key and index), imported by `lart import-official`."""
    value = runpy.run_path(str(OFFICIAL / "formula_weights.py"))["value"]
    state = {}
    for line in (DATA / "formats" / "lart_official_state_dict.tsv").read_text().splitlines():
        key, shape = line.split("\t")
        shape = tuple(int(x) for x in shape.strip("[]").split(","))
        layer = re.match(r"encoder\.transformer\.layers\.(\d+)\.", key)
        if layer and int(layer.group(1)) >= DEPTH:
            continue
        if key.startswith("encoder.") and key != "encoder.pe":
            state[key] = torch.from_numpy(value(key, shape))
        else:                 # SMPL body buffers: not used by the action scores (kept aside on import)
            state[key] = torch.zeros(shape, dtype=torch.int64 if key in INT_KEYS else torch.float32)
    state["encoder.pe"] = state["encoder.pos_embedding"]     # one tensor registered twice by the official code
    folder = tmp_path_factory.mktemp("ckpt")
    torch.save({"state_dict": state}, folder / "formula.ckpt")
    res = C.import_official(folder / "formula.ckpt", folder / "ours.pt")
    assert res.config == lart_official(depth=DEPTH)
    return folder / "ours.pt"


def official_rows() -> pd.DataFrame:
    return ava.read_detections(OFFICIAL / "official_rows_formula_depth2.csv", oddities=[])   # unclipped boxes


def test_official_rows_and_map_equal_the_official_validation_loop(release, ours, tmp_path, capsys):
    out = tmp_path / "ours.csv"
    assert lart_main(["predict", str(ours), "--store", str(release), "--protocol", "official", "--seed", "0",
                      "--out", str(out), "--device", "cpu"]) == 0
    assert "22 tracks, 2366 frames, 21 track files of > 1 frame (one key frame each) -> 14 boxes, 840 rows" in \
        capsys.readouterr().out
    mine, theirs = ava.read_detections(out, oddities=[]), official_rows()
    assert len(mine) == len(theirs) == 840
    both = theirs.merge(mine, on=KEY, how="outer", suffixes=("_official", "_ours"), indicator=True)
    assert (both["_merge"] == "both").all(), both[both["_merge"] != "both"][KEY]   # every row, exactly
    diff = np.abs(both["score_official"] - both["score_ours"]).max()
    assert diff <= 1e-6, diff
    assert (theirs["x2"] > 1).any()                                # the box past the border, not clipped
    # per box: rows in descending score, as the official writes them
    for _, box in mine.groupby(["video_id", *ava.BOX], observed=True, sort=False):
        assert (np.diff(box["score"].to_numpy()) <= 0).all()
    gt = ava.read_gt(OFFICIAL / "gt_ava_val.csv")
    assert frame_map(gt, theirs).map * 100 == pytest.approx(OFFICIAL_MAP, abs=1e-9)
    assert frame_map(gt, mine).map * 100 == pytest.approx(OFFICIAL_MAP, abs=1e-9)


def test_official_decisions_per_file_equal_the_official_loop(release, ours):
    """Which others fill which slots at which rows, the key frame, and whether a box is written."""
    want = json.loads((OFFICIAL / "official_decisions.json").read_text())["items"]
    model = C.load_checkpoint(ours).model
    rows, decisions, bad = infer.official_predictions(model, PickleTrackSource(release), seed=0)
    assert bad == 0 and len(rows) == 840 and list(decisions["file"]) == sorted(want)
    for d in decisions.itertuples():
        w = want[d.file]
        placed = [None if s is None else [s[2], s[2] + s[1] - s[0] - 1] for s in d.placed]   # rows [first, last]
        assert (d.others, placed, d.kfid, d.why_no_box == "") == (w["others"], w["rows"], w["kfid"], w["box"]), d
    reasons = set(decisions["why_no_box"])
    for why in ("not detected", "outside 902..1798", "< 0.8", "no frame of the window"):
        assert any(why in r for r in reasons), why


def test_official_alignment_branches():
    ego = (10, 20)                                                     # fids of the window
    cases = {(21, 30): None, (0, 9): None,                             # after / before the window
             (12, 18): (0, 7, 2), (10, 20): (0, 11, 0),                # inside (edges inclusive)
             (15, 40): (0, 6, 5),                                      # starts inside, cut at the window end
             (5, 12): (5, 8, 0),                                       # starts before: front cut
             (5, 25): None}                                            # spans the window: skipped (official)
    for other, want in cases.items():
        assert infer.official_alignment(ego, other) == want, other


def test_official_draw_is_numpy_shuffle_per_item_in_name_order():
    index = pd.DataFrame({"dataset": "ava-val", "video": ["v" * 11] * 5 + ["w" * 11] * 2,
                          "keyframe": [150] * 5 + [60] * 2, "track_id": [3, 1, 2, 4, 5, 1, 2],
                          "length": [9, 8, 1, 7, 6, 5, 4]})
    names = infer.release_names(index)
    items = infer.official_items(index, seed=7)
    assert [names[i] for i, _ in items] == sorted(n for n, L in zip(names, index["length"], strict=True) if L > 1)
    rng = np.random.RandomState(7)
    for i, others in items:
        clip = sorted(n for n in names if n.rsplit("_", 2)[0] == names[i].rsplit("_", 2)[0] and n != names[i])
        rng.shuffle(clip)                      # the official list of paths: the same draws as a list of ints
        assert [names[j] for j in others] == clip[:4]
    assert infer.official_items(index, seed=8) != items
    assert infer.official_items(index, seed=7, people=1) == [(i, []) for i, _ in items]   # P = 1: no others
