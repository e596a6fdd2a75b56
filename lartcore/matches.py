"""What the AVA frame-mAP evaluator decided about each box: per-detection TP / FP, each matched GT box,
the false negatives, and per-class precision-recall curves, for the dashboard's box-level views.

`match(gt, det, ...)` lays out `lartcore.eval.decisions` (the evaluator's own per-box outcome, which
`frame_map` summarises into AP) as tables: which detection row each evaluated detection is, its TP flag,
its rank in its class's official ranking (`eval.class_rankings`) and the GT row it matched, and for each
evaluated GT box the TP detection that matched it. Its `per_class` is frame_map's result, and the AP
recomputed from its outcomes equals it exactly (tests/test_matches.py).

Letters: N detection rows of the file, n evaluated detections, M GT rows, m evaluated GT rows.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from lartcore import eval as ev
from lartcore.data import ava


@dataclass(frozen=True)
class Matches:
    """detections: one row per evaluated detection, in the evaluator's matching order within each class's
        pooled list: row (position in `det`), video_id, timestamp, x1, y1, x2, y2, action_id, score,
        tp (bool), rank (1 = highest-scored of its class), gt_row (position in `gt` of the matched GT row,
        -1 for a false positive).
    gt: one row per evaluated GT row (label-map class, evaluated keyframe): row (position in `gt`),
        video_id, timestamp, x1, y1, x2, y2, action_id, person_id, det_row (the TP detection that matched
        it, -1 = a false negative at every threshold), det_score (its score, NaN if none).
    per_class: frame_map's per-class table (id, name, type, ap, n_gt, n_det); map: its mAP; flavor."""
    detections: pd.DataFrame
    gt: pd.DataFrame
    per_class: pd.DataFrame
    map: float
    flavor: str


def match(gt: pd.DataFrame, det: pd.DataFrame, labelmap: dict[int, str] | None = None,
          exclusions: pd.DataFrame | None = None, flavor: str = "activitynet") -> Matches:
    """The evaluator's decisions for every box (`lartcore.eval.decisions`, as tables); arguments as
    `eval.frame_map`."""
    d = ev.decisions(gt, det, labelmap, exclusions, flavor)
    result = ev.summarise(d)
    rank = np.zeros(len(d.tp), np.int64)
    for ranked in ev.class_rankings(d.cls, d.score, len(d.classes)):
        rank[ranked] = np.arange(1, len(ranked) + 1)
    dets = det.iloc[d.det_row][["video_id", "timestamp", *ava.BOX, "action_id", "score"]].reset_index(drop=True)
    dets = dets.assign(video_id=dets["video_id"].astype(str), row=d.det_row.astype(np.int64), tp=d.tp, rank=rank,
                       gt_row=d.gt_row.astype(np.int64))
    found = pd.Series(d.det_row[d.tp], index=d.gt_row[d.tp]).reindex(d.gt_rows)      # the TP of each GT box
    gts = gt.iloc[d.gt_rows][["video_id", "timestamp", *ava.BOX, "action_id", "person_id"]].reset_index(drop=True)
    det_row = found.fillna(-1).to_numpy(np.int64)
    score = pd.Series(det["score"].to_numpy(np.float64)).reindex(det_row).to_numpy()  # NaN for -1
    gts = gts.assign(video_id=gts["video_id"].astype(str), row=d.gt_rows.astype(np.int64), det_row=det_row,
                     det_score=score)
    cols = ["row", "video_id", "timestamp", *ava.BOX, "action_id", "score", "tp", "rank", "gt_row"]
    return Matches(dets[cols], gts, result.per_class, result.map, flavor)


def pr_curve(matches: Matches, action_id: int) -> pd.DataFrame:
    """One class's precision-recall curve from the evaluator's pooled list: one row per detection in rank
    order with rank, score, tp, precision and recall after it, and the detection's row, video_id,
    timestamp and box. Empty when the class has no evaluated detection."""
    d = matches.detections[matches.detections["action_id"] == int(action_id)].sort_values("rank")
    pc = matches.per_class.set_index("id")
    n_gt = int(pc.at[int(action_id), "n_gt"]) if int(action_id) in pc.index else 0
    ctp = np.cumsum(d["tp"].to_numpy())
    return d.assign(precision=ctp / np.arange(1, len(d) + 1),
                    recall=ctp / n_gt if n_gt else np.full(len(d), np.nan)).reset_index(drop=True)


def outcomes_at(matches: Matches, video: str, timestamp: float, action_id: int,
                threshold: float = 0.0) -> pd.DataFrame:
    """The boxes of one class at one keyframe with their outcome at a score threshold: TP (a detection
    the evaluator matched, score >= threshold), FP (a detection it did not match, score >= threshold),
    FN (a GT box not matched by a detection scoring >= threshold). Columns: outcome, x1, y1, x2, y2,
    score (NaN for FN), rank (NaN for FN), person_id (GT boxes), row."""
    d, g = matches.detections, matches.gt
    at = lambda df: (df["video_id"] == video) & np.isclose(df["timestamp"].astype(float), float(timestamp))
    d = d[at(d) & (d["action_id"] == int(action_id)) & (d["score"] >= threshold)]
    g = g[at(g) & (g["action_id"] == int(action_id))]
    missed = g[~(g["det_score"] >= threshold)]
    cols = ["outcome", *ava.BOX, "score", "rank", "person_id", "row"]
    dets = d.assign(outcome=np.where(d["tp"], "TP", "FP"), person_id=np.nan)
    fns = missed.assign(outcome="FN", score=np.nan, rank=np.nan)
    parts = [p[cols] for p in (dets, fns) if len(p)]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=cols)
