"""What a label chip says and how its source is marked: the one rule every drawing follows (the clip
browser's frame, *play*, the MP4 and PNG exports, the keyframe grid and `lart render`).

A drawing shows labels of one or more sources, each marked so no chip can be mistaken for another:

    prediction of a run / checkpoint   "stand 92%"      the model's sigmoid score
    ground truth of the dataset        "GT stand"       an annotated keyframe's label
    pseudo-label of the dataset        "~stand 80%"     a teacher's probability (LART's Kinetics labels)

and names them in a legend (`Legend.lines`), drawn beside it: "labels: predictions of run demo/lart
(top 3, score >= 20%)", "GT name: ground truth", "~name p%: pseudo-label of the dataset".
Scores are (C,) arrays over the classes `action_ids` (AVA ids); a track frame's dataset labels are (80,)
over AVA ids 1..80 (`Track.labels`, state `Track.has_gt`).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lartcore.data.tracks import Track
from lartcore.schema import GT_LABEL, NUM_CLASSES, PSEUDO_LABEL, short_name

GT_MARK = "GT "          # ground-truth chips start with it
PSEUDO_MARK = "~"        # pseudo-label chips start with it
ALL_IDS = tuple(range(1, NUM_CLASSES + 1))


def _top(scores, action_ids, k: int, threshold: float) -> list[tuple[int, float]]:
    """(AVA id, score) of up to k classes, best first, score >= threshold and > 0."""
    scores = np.asarray(scores, np.float64)
    order = np.argsort(-scores, kind="stable")[:k]
    return [(int(action_ids[c]), float(scores[c])) for c in order if scores[c] >= threshold and scores[c] > 0]


def predicted(scores, action_ids, k: int = 3, threshold: float = 0.0) -> list[str]:
    """A model's top-k classes as "stand 92%" chips."""
    return [f"{short_name(a)} {s:.0%}" for a, s in _top(scores, action_ids, k, threshold)]


def ground_truth(labels) -> list[str]:
    """(80,) multi-hot GT labels (AVA id - 1) -> "GT stand" chips, in id order."""
    return [GT_MARK + short_name(int(c) + 1) for c in np.flatnonzero(np.asarray(labels) > 0.5)]


def pseudo(probabilities, k: int = 3, threshold: float = 0.0) -> list[str]:
    """(80,) pseudo-label probabilities (AVA id - 1) -> "~stand 80%" chips, best first."""
    return [f"{PSEUDO_MARK}{short_name(a)} {s:.0%}" for a, s in _top(probabilities, ALL_IDS, k, threshold)]


def of_track(track: Track, i: int, k: int = 3, gt: bool = True, pseudo_labels: bool = True) -> list[str]:
    """The dataset's labels of frame i of a track: GT chips on annotated keyframes, pseudo-label chips
    where the frame carries a teacher's probabilities, none elsewhere."""
    if track.has_gt[i] == GT_LABEL:
        return ground_truth(track.labels[i]) if gt else []
    if track.has_gt[i] == PSEUDO_LABEL and pseudo_labels:
        return pseudo(track.labels[i], k)
    return []


def for_people(tracks: list[Track], rows, scores=None, offsets=None, action_ids=(), k: int = 3,
               threshold: float = 0.0, gt: bool = True, pseudo_labels: bool = False) -> list[list[str]]:
    """The chips of each person drawn at a frame, rows = (track position, frame index) as
    `lartcore.data.tracks.detected_at` gives them: the dataset's GT (and, if asked, pseudo-label) chips
    first, then the top-k predictions when per-frame scores (F, C) of the tracks are given (track i's
    frames are rows offsets[i]:offsets[i + 1], `lartcore.infer.FrameScores`)."""
    out = []
    for pos, i in rows:
        labels = of_track(tracks[pos], i, k, gt, pseudo_labels)
        if scores is not None:
            labels = labels + predicted(scores[offsets[pos] + i], action_ids, k, threshold)
        out.append(labels)
    return out


def source(chip: str) -> str:
    """"gt", "pseudo" or "prediction": which source a chip text comes from."""
    if chip.startswith(GT_MARK):
        return "gt"
    return "pseudo" if chip.startswith(PSEUDO_MARK) else "prediction"


@dataclass(frozen=True)
class Legend:
    """What the chips (and boxes) of a drawing show. run: the run or checkpoint whose predictions are
    drawn (None: none); gt / pseudo: the dataset's GT / pseudo-label chips are drawn; gt_boxes: dashed GT
    boxes; outcomes: the class whose TP / FP / FN boxes are drawn ("" for none)."""
    run: str | None = None
    top_k: int = 3
    threshold: float = 0.0
    gt: bool = False
    pseudo: bool = False
    gt_boxes: bool = False
    outcomes: str = ""

    def lines(self) -> list[str]:
        """The legend, one source per line, in the order chips are stacked (GT first, then predictions)."""
        out = []
        if self.run:
            out.append(f"labels: predictions of {self.run} (top {self.top_k}, score >= {self.threshold:.0%}): "
                       "name 92%")
        if self.gt or self.pseudo:
            marks = [m for m, on in (("GT name = ground truth", self.gt),
                                     (f"{PSEUDO_MARK}name 80% = pseudo-label", self.pseudo)) if on]
            out.append("dataset labels: " + ", ".join(marks))
        if not out:
            out.append("labels: none shown")
        boxes = (["dashed white = GT boxes"] if self.gt_boxes else []) + (
            [f"{self.outcomes} at IoU 0.5: green TP, red FP, dashed orange FN"] if self.outcomes else [])
        if boxes:
            boxes[-1] += " (at keyframes)"
        if boxes:
            out.append("boxes: " + "; ".join(boxes))
        return out

    def text(self) -> str:
        return " | ".join(self.lines())
