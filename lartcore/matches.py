"""What the AVA frame-mAP evaluator decided about each box: per-detection TP / FP, each matched GT box,
the false negatives, and per-class precision-recall curves, for the dashboard's box-level views.

`match(gt, det, ...)` runs the steps of `lartcore.eval.frame_map` itself (its image keys, the per-keyframe
cap, the GT tie order, `_true_positives`, the class pooling order and `_summarise`), none re-implemented,
and keeps what frame_map reduces away: which detection row each evaluated detection is, its TP flag, its
rank in its class's pooled list, and which GT row it matched. Its `per_class` is frame_map's result, and
the AP recomputed from its outcomes equals it exactly (tests/test_matches.py, on the golden cases and the
demo data). The one thing frame_map does not name is the GT row a TP detection matched: that is the
evaluator's rule restated for the TP detections only, the GT box of its image and class with the highest
IoU (`eval._iou`, first in the evaluator's GT order on ties). If frame_map's steps change, `match` follows
them here (the test compares the two).

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


def _evaluated_detections(det, d_img, class_ids, rules):
    """`eval._select_detections` keeping the detection rows: -> image, class, score rank, boxes (n, 4) and
    rows (n,) in matching order."""
    cls = ev._class_index(det["action_id"].to_numpy(np.int64), class_ids)
    row = np.flatnonzero((d_img >= 0) & (cls >= 0)).astype(np.int32)
    img, score = d_img[row], det["score"].to_numpy(np.float64)[row]
    desc, n_distinct = ev._dense_rank_desc(score)
    key = img.astype(np.int64) * n_distinct + desc if rules.score_order else img
    order = np.argsort(key, kind="stable")
    img, score, desc, row = img[order], score[order], desc[order], row[order]
    if rules.cap:
        keep = ev._heap_cap(img, score, row, det, rules.cap)
        img, desc, row = img[keep], desc[keep], row[keep]
    box = det[["x1", "y1", "x2", "y2"]].to_numpy(np.float64)[row]
    valid = (box[:, 0] < box[:, 2]) & (box[:, 1] < box[:, 3])
    return img[valid], cls[row[valid]], desc[valid], box[valid], row[valid]


def _matched_gt(tp, d_group, d_box, g_group, g_box) -> np.ndarray:
    """(n,) position in the ordered GT arrays of the box each TP detection matched (its highest-IoU GT box
    of the same image and class, first on ties), -1 for the others."""
    out = np.full(len(tp), -1, np.int64)
    d = np.flatnonzero(tp)
    if not len(d):
        return out
    lo = np.searchsorted(g_group, d_group[d], "left")
    n = np.searchsorted(g_group, d_group[d], "right") - lo                   # >= 1: a TP has GT
    first = np.cumsum(n) - n
    pair_d = np.repeat(np.arange(len(d)), n)
    pair_g = np.repeat(lo - first, n) + np.arange(n.sum())
    iou = ev._iou(d_box[d][pair_d], g_box[pair_g])
    best = np.repeat(np.maximum.reduceat(iou, first), n)
    top = np.flatnonzero(iou == best)
    top = top[np.r_[True, pair_d[top][1:] != pair_d[top][:-1]]]              # first best pair per detection
    out[d] = pair_g[top]
    return out


def match(gt: pd.DataFrame, det: pd.DataFrame, labelmap: dict[int, str] | None = None,
          exclusions: pd.DataFrame | None = None, flavor: str = "activitynet") -> Matches:
    """The evaluator's decisions for every box (see the module docstring); arguments as `eval.frame_map`."""
    if flavor not in ev._FLAVORS:
        raise ValueError(f"flavor must be one of {sorted(ev._FLAVORS)}, got {flavor!r}")
    rules = ev._FLAVORS[flavor]
    ev._require(gt, ["video_id", "timestamp", *ava.BOX, "action_id", "person_id"], "ground truth")
    ev._require(det, ["video_id", "timestamp", *ava.BOX, "action_id", "score"], "detections")
    ev._require_finite(gt, ["timestamp"], "ground truth")
    ev._require_finite(det, ["timestamp", *ava.BOX, "score"], "detections")
    table = ev._labelmap_table(labelmap)
    class_ids = table["id"].to_numpy(np.int64)
    frames = [gt, det] + ([exclusions] if exclusions is not None else [])
    videos = pd.Index(pd.unique(np.concatenate([ev._video_names(f["video_id"]) for f in frames])))
    gt_key, g_key, g_cls, g_box, g_tie = ev._prepare_gt(gt, videos, class_ids, rules)
    g_row = np.flatnonzero(ev._class_index(gt["action_id"].to_numpy(np.int64), class_ids) >= 0)   # (m,)
    d_key = ev._image_keys(det, videos, rules, "detections")
    excluded = np.zeros(0, np.int64)
    if exclusions is not None:
        ev._require(exclusions, ["video_id", "timestamp"], "exclusions")
        excluded = np.unique(ev._image_keys(exclusions, videos, rules, "exclusions"))
    images = np.setdiff1d(np.unique(gt_key if rules.gt_keys_only else np.r_[gt_key, d_key]), excluded)
    d_img = ev._lookup(images, d_key)
    g_img = ev._lookup(images, g_key).astype(np.int64)
    g_keep = np.flatnonzero(g_img >= 0)
    g_order = g_keep[np.lexsort((g_keep, g_tie[g_keep], g_cls[g_keep], g_img[g_keep]))]
    n_cls = len(class_ids)
    g_group = g_img[g_order] * n_cls + g_cls[g_order]
    n_gt = np.bincount(g_cls[g_order], minlength=n_cls)
    img, cls, desc, box, row = _evaluated_detections(det, d_img, class_ids, rules)
    d_group = img.astype(np.int64) * n_cls + cls
    tp = ev._true_positives(d_group, box, g_group, g_box[g_order])
    hit = _matched_gt(tp, d_group, box, g_group, g_box[g_order])
    result = ev._summarise(table, cls, desc, tp, n_gt, flavor)
    order = ev._argsort_pairs(cls, desc, int(desc.max(initial=0)) + 1)          # the pooled lists
    start = np.searchsorted(cls[order], np.arange(n_cls + 1))
    rank = np.empty(len(order), np.int64)
    rank[order] = np.arange(len(order)) - np.repeat(start[:-1], np.diff(start)) + 1
    gt_rows = np.where(hit >= 0, g_row[g_order][np.maximum(hit, 0)], -1)
    dets = det.iloc[row[order]][["video_id", "timestamp", *ava.BOX, "action_id", "score"]].reset_index(drop=True)
    dets = dets.assign(video_id=dets["video_id"].astype(str), row=row[order].astype(np.int64), tp=tp[order],
                       rank=rank[order], gt_row=gt_rows[order])
    found = np.full(len(g_order), -1, np.int64)
    found[hit[hit >= 0]] = row[hit >= 0]
    score = pd.Series(det["score"].to_numpy(np.float64)).reindex(found).to_numpy()
    gts = gt.iloc[g_row[g_order]][["video_id", "timestamp", *ava.BOX, "action_id", "person_id"]]
    gts = gts.reset_index(drop=True).assign(row=g_row[g_order], det_row=found, det_score=score)
    gts["video_id"] = gts["video_id"].astype(str)
    return Matches(dets[["row", *dets.columns[:-4], "tp", "rank", "gt_row"]], gts, result.per_class,
                   result.map, flavor)


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
