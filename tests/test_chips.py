"""lartcore.chips: one rule for what a chip says and how its source is marked; chip stacks that never
overlap; chip text keeps its word spacing; boxes by outcome and the legend band (lartcore.render)."""
import os

os.environ.setdefault("PYOPENGL_PLATFORM", "egl")

import numpy as np
import pytest

from lartcore import chips, schema
from lartcore.demodata import synthetic
from lartcore.render import OUTCOME_RGB, chip_font, draw_boxes, place_stacks, with_legend


@pytest.fixture(scope="module")
def track():
    """A demo track with GT keyframes and pseudo-labelled frames (generated in memory, no files)."""
    return synthetic.generate(synthetic.SPLITS[1], synthetic.SIZES["tiny"], seed=0)[0].tracks[0]


def test_predicted_chips_top_k_and_threshold():
    ids = (12, 14, 80)                                           # stand, walk, watch (person)
    assert chips.predicted(np.array([0.9, 0.05, 0.3]), ids, k=2) == ["stand 90%", "watch (person) 30%"]
    assert chips.predicted(np.array([0.9, 0.05, 0.3]), ids, k=3, threshold=0.5) == ["stand 90%"]
    assert chips.predicted(np.zeros(3), ids) == []


def test_dataset_chips_are_marked_gt_or_pseudo(track):
    i = int(np.flatnonzero(track.has_gt == schema.GT_LABEL)[0])
    expected = ["GT " + schema.short_name(int(c) + 1) for c in np.flatnonzero(track.labels[i] > 0.5)]
    assert chips.of_track(track, i) == expected and expected
    assert chips.of_track(track, i, gt=False) == []
    j = int(np.flatnonzero(track.has_gt == schema.PSEUDO_LABEL)[0])
    pseudo = chips.of_track(track, j, k=2)
    assert len(pseudo) == 2 and all(c.startswith("~") and c.endswith("%") for c in pseudo)
    assert chips.of_track(track, j, pseudo_labels=False) == []
    assert [chips.source(c) for c in ["GT stand", "~stand 80%", "stand 92%"]] == ["gt", "pseudo", "prediction"]


def test_for_people_puts_dataset_labels_before_predictions(track):
    i = int(np.flatnonzero(track.has_gt == schema.GT_LABEL)[0])
    scores = np.zeros((len(track), 3), np.float32)
    scores[i] = [0.2, 0.7, 0.0]
    got = chips.for_people([track], [(0, i)], scores, np.array([0, len(track)]), (12, 14, 80), k=3)
    assert got[0] == chips.of_track(track, i) + ["walk 70%", "stand 20%"]
    assert chips.for_people([track], [(0, i)], gt=False) == [[]]


def test_legend_names_every_source():
    legend = chips.Legend(run="run demo/lart", top_k=2, threshold=0.2, gt=True, gt_boxes=True, outcomes="stand")
    text = legend.text()
    assert "predictions of run demo/lart (top 2, score >= 20%)" in text and "GT name = ground truth" in text
    assert "dashed white = GT boxes" in text and "stand at IoU 0.5" in text and "(at keyframes)" in text
    both = "dataset labels: GT name = ground truth, ~name 80% = pseudo-label"
    assert chips.Legend(gt=True, pseudo=True).lines() == [both]
    assert chips.Legend().lines() == ["labels: none shown"]


def rect(corner, size):
    return np.array([corner[0], corner[1], corner[0] + size[0], corner[1] + size[1]])


def disjoint(rects) -> bool:
    for a in range(len(rects)):
        for b in range(a + 1, len(rects)):
            r, q = rects[a], rects[b]
            if min(r[2], q[2]) - max(r[0], q[0]) > 1e-9 and min(r[3], q[3]) - max(r[1], q[1]) > 1e-9:
                return False
    return True


def test_stacks_of_nearby_people_do_not_overlap():
    """Two people side by side (as #2 and #3 on the README's deep link) and one in front of them."""
    boxes = np.array([[300, 120, 60, 200], [330, 110, 60, 210], [250, 150, 120, 200], [0, 0, -1, 5]], float)
    sizes = np.array([[120, 60], [140, 60], [110, 45], [50, 20]], float)
    corners = place_stacks(boxes, sizes, (360, 640))
    assert np.isnan(corners[3]).all()                                  # an invalid box gets no stack
    rects = [rect(c, s) for c, s in zip(corners[:3], sizes[:3], strict=True)]
    assert disjoint(rects)
    assert all(r[0] >= 0 and r[1] >= 0 and r[2] <= 640 and r[3] <= 360 for r in rects)
    lone = place_stacks(boxes[:1], sizes[:1], (360, 640))
    np.testing.assert_allclose(lone[0], [300, 60])                     # alone: right above its box


@pytest.mark.parametrize("seed", range(20))
def test_random_crowds_get_disjoint_stacks(seed):
    rng = np.random.default_rng(seed)
    n = rng.integers(2, 7)
    xy = rng.uniform([0, 0], [560, 200], (n, 2))
    boxes = np.c_[xy, rng.uniform(30, 120, n), rng.uniform(80, 200, n)]
    sizes = np.c_[rng.uniform(40, 140, n), 17.0 * rng.integers(1, 5, n)]
    corners = place_stacks(boxes, sizes, (360, 640))
    assert disjoint([rect(c, s) for c, s in zip(corners, sizes, strict=True)])


def test_chip_text_keeps_word_spacing():
    """ "GT sit" renders with a visible gap between the words (Pillow's small default font drew "GTsit")."""
    from PIL import Image, ImageDraw
    font = chip_font(360)
    canvas = Image.new("L", (200, 40))
    ImageDraw.Draw(canvas).text((2, 2), "GT sit", font=font, fill=255)
    ink = np.flatnonzero(np.asarray(canvas).max(axis=0) > 60)
    gaps = np.diff(ink) - 1
    assert gaps.max() >= 3


def test_outcome_boxes_and_legend_band():
    image = np.zeros((120, 200, 3), np.uint8)
    out = draw_boxes(image, np.array([[0.1, 0.1, 0.4, 0.9], [0.6, 0.2, 0.9, 0.8]]), ["TP", "FN"])
    assert (image == 0).all()                                           # input untouched
    assert (out[60, 20] == OUTCOME_RGB["TP"]).all()                     # solid left side of the TP box
    left = out[24:95, 119]                                              # dashed left side of the FN box
    on = (left == OUTCOME_RGB["FN"]).all(-1)
    assert 0.3 < on.mean() < 0.8
    band = with_legend(out, ["labels: x", "boxes: y"])
    assert band.shape[0] > 120 and band.shape[1] == 200 and (band[:120] == out).all()
