"""AVA v2.2 frame-mAP@0.5, with the official ActivityNet evaluator's semantics, fully vectorised.

`frame_map(gt, det)` takes the DataFrames of `lartcore.data.ava.read_gt / read_detections` and returns
per-class AP, mAP and the PM/OM/PI means. The rules (measured on the official `get_ava_performance.py`):

- an image is (video_id, numeric timestamp to 1e-6 s): "0902", "902", "902.0" are the same keyframe;
- only label-map classes count; only keyframes present in the GT file are evaluated (any GT row,
  2-column "empty" rows and non-label-map classes included); detections elsewhere are ignored;
- per keyframe only the 50 best-scored detection rows are kept, as the official min-heap does: a row
  replaces the heap minimum only if its score is strictly greater, and among equal-score rows the heap
  evicts the smallest (action_id, y1, x1, y2, x2) tuple first; then zero/negative-area boxes are dropped;
- per image and class, detections in descending score are matched greedily: each one to its argmax-IoU
  GT box (first on ties, GT ordered by descending person_id); TP iff IoU >= 0.5 and that box is unmatched;
- AP is all-point VOC over the class's pooled detections; NaN without GT (left out of the mean), 0 with
  GT but no detections.

Vectorised greedy matching: a detection's candidate box (its argmax IoU) does not depend on what was
matched before, and a box becomes matched only through a detection whose candidate it is. So a detection
is a TP iff IoU(candidate) >= 0.5 and it is the FIRST such detection of that candidate in matching order:
one `np.unique(..., return_index=True)` over all groups at once.

Known deviation: equal-score detections of one class in one keyframe are matched in file order (the
official order is the heap array's, an artefact of heapq); this only matters if both overlap one GT box.
Scores tied across keyframes are ranked in a fixed order (the official quicksort order is machine-dependent).

flavor="slowfast" reproduces SlowFast's `ava_eval_helper` instead: key int(timestamp), no cap, matching in
file order, detections on keyframes without GT are false positives, 2-column GT rows rejected.
Shapes: N detection rows, M GT rows, K images, C label-map classes.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from lartcore.fileio import atomic_write_text

IOU_THRESHOLD = 0.5
TYPES = ("PM", "OM", "PI")
_TS_BITS = 42                     # image key = video code << 42 | timestamp in microseconds (< 50 days)


@dataclass(frozen=True)
class _Rules:
    cap: int                      # best-scored rows kept per keyframe (0 = all)
    score_order: bool             # match each keyframe's detections by descending score (else file order)
    gt_keys_only: bool            # ignore detections on keyframes absent from GT (else they are FPs)
    ts_scale: float               # timestamp -> integer key: round(ts * scale) (activitynet "%.6f")
    empty_rows_ok: bool           # accept 2-column "annotated but empty" GT rows


_FLAVORS = {"activitynet": _Rules(cap=50, score_order=True, gt_keys_only=True, ts_scale=1e6, empty_rows_ok=True),
            "slowfast": _Rules(cap=0, score_order=False, gt_keys_only=False, ts_scale=0.0, empty_rows_ok=False)}


@dataclass
class EvalResult:
    """per_class: id, name, type, ap (NaN = no GT), n_gt, n_det (detections evaluated, after the cap)."""
    per_class: pd.DataFrame
    map: float
    by_type: dict[str, float]
    flavor: str = "activitynet"

    def to_json(self) -> str:
        rows = [{k: _plain(v) for k, v in r.items()} for r in self.per_class.to_dict("records")]
        return json.dumps({"flavor": self.flavor, "mAP": _plain(self.map),
                           "by_type": {t: _plain(v) for t, v in self.by_type.items()},
                           "per_class": rows}, indent=1)

    def save(self, out_dir: str | Path) -> tuple[Path, Path]:
        """Write `per_class.csv` and `metrics.json` (atomically) into out_dir; return their paths."""
        out_dir = Path(out_dir)
        csv_path, json_path = out_dir / "per_class.csv", out_dir / "metrics.json"
        atomic_write_text(csv_path, self.per_class.to_csv(index=False, float_format="%.9g"))
        atomic_write_text(json_path, self.to_json() + "\n")
        return csv_path, json_path


def _plain(v):
    """JSON-safe scalar: numpy -> python, NaN -> null."""
    v = v.item() if isinstance(v, np.generic) else v
    return None if isinstance(v, float) and math.isnan(v) else v


# ---- inputs -------------------------------------------------------------------------------------------

def _require(df: pd.DataFrame, columns: list[str], what: str) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(f"{what}: missing columns {missing}; expected {columns}, found {list(df.columns)}")


def _require_finite(df: pd.DataFrame, columns: list[str], what: str) -> None:
    for c in columns:
        bad = np.flatnonzero(~np.isfinite(df[c].to_numpy(np.float64)))
        if len(bad):
            raise ValueError(f"{what}: column {c!r} is not finite in {len(bad)} rows, first at row "
                             f"{bad[0]} ({df[c].iloc[bad[0]]!r})")


def _video_codes(col: pd.Series, videos: pd.Index) -> np.ndarray:
    """(n,) int64 position of each video_id in `videos`."""
    cat = col.astype("category") if not isinstance(col.dtype, pd.CategoricalDtype) else col
    return videos.get_indexer(cat.cat.categories).astype(np.int64)[cat.cat.codes.to_numpy()]


def _image_keys(df: pd.DataFrame, videos: pd.Index, rules: _Rules, what: str) -> np.ndarray:
    """(n,) int64 key of (video_id, numeric timestamp): equal keys = same keyframe."""
    ts = df["timestamp"].to_numpy(np.float64)
    t = np.rint(ts * rules.ts_scale, out=ts * rules.ts_scale) if rules.ts_scale else np.trunc(ts)
    if len(t) and (t.min() < 0 or t.max() >= 2 ** _TS_BITS):
        raise ValueError(f"{what}: timestamps must lie in [0, {2 ** _TS_BITS / 1e6:.0f}) s, "
                         f"found {ts.min()}..{ts.max()}")
    key = _video_codes(df["video_id"], videos)
    key <<= _TS_BITS
    key |= t.astype(np.int64)
    return key


def _class_index(action_id: np.ndarray, class_ids: np.ndarray) -> np.ndarray:
    """(n,) position of each action_id in the sorted label-map ids, -1 if not in the label map."""
    top = int(class_ids.max(initial=0)) + 1
    lut = np.full(top + 1, -1, np.int16)                 # ids outside 0..top-1 land on the last slot
    lut[class_ids] = np.arange(len(class_ids))
    return lut[np.where((action_id >= 0) & (action_id < top), action_id, top)]


def _labelmap_table(labelmap: dict[int, str] | None) -> pd.DataFrame:
    """id, name, type of the evaluated classes (default: the 60 AVA v2.2 classes), ids ascending."""
    from lartcore.data import ava
    table = ava.classes()
    if labelmap is None:
        return table.loc[table["evaluated"], ["id", "name", "type"]].reset_index(drop=True)
    ids = sorted(int(i) for i in labelmap)
    types = dict(zip(table["id"], table["type"], strict=False))
    return pd.DataFrame({"id": ids, "name": [labelmap[i] for i in ids], "type": [types.get(i) for i in ids]})


# ---- the top-N cap of the official reader -------------------------------------------------------------

def _segments(sorted_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start offsets and lengths of the runs of equal consecutive values (the groups, if sorted)."""
    start = np.flatnonzero(np.r_[True, sorted_ids[1:] != sorted_ids[:-1]]) if len(sorted_ids) else \
        np.zeros(0, np.int64)
    return start, np.diff(np.r_[start, len(sorted_ids)])


def _heap_cap(img: np.ndarray, score: np.ndarray, row: np.ndarray, det: pd.DataFrame, cap: int) -> np.ndarray:
    """Keep mask (n,) of the official per-keyframe min-heap of capacity `cap`.

    Inputs are sorted by (img, -score, row); row = file row of `det`, whose (action_id, y1, x1, y2, x2)
    is the heap tuple after the score.
    The heap keeps every row scored above v (the cap-th best score) and k = cap - #above rows scored v:
    the v-rows read before the cap-th row scoring >= v (in file order), minus their smallest tuples.
    """
    start, count = _segments(img)
    v = np.where(count > cap, score[start + np.minimum(count, cap) - 1], -np.inf)   # (K,)
    v_row = np.repeat(v, count)
    keep = score > v_row
    tie = score == v_row
    n_tie = np.add.reduceat(tie.astype(np.int64), start) if len(start) else np.zeros(0, np.int64)
    k = cap - (np.add.reduceat(keep.astype(np.int64), start) if len(start) else n_tie)
    hard = np.repeat(n_tie > k, count)                     # more v-rows than free slots: heap order decides
    keep |= tie & ~hard
    if hard.any():
        r = row[hard]
        tup = np.column_stack([det[c].to_numpy()[r] for c in ("action_id", "y1", "x1", "y2", "x2")])
        keep[np.flatnonzero(hard)] |= _heap_ties(img[hard], score[hard] >= v_row[hard], tie[hard],
                                                 r, tup, np.repeat(k, count)[hard], cap)
    return keep


def _heap_ties(img, at_least_v, tie, row, tup, k, cap) -> np.ndarray:
    """Which v-rows survive, for keyframes with more v-rows than free heap slots (all arrays (h,))."""
    o = np.lexsort((row, ~at_least_v, img))               # rows scoring >= v first, in file order
    start, count = _segments(img[o])
    t0 = np.empty(len(o), row.dtype)
    t0[o] = np.repeat(row[o][start + cap - 1], count)     # file position where the heap's minimum became v
    cand = tie & (row <= t0)
    keys = [-tup[:, j] for j in range(tup.shape[1] - 1, -1, -1)]
    o = np.lexsort((*keys, ~cand, img))                   # candidates by descending tuple
    start, count = _segments(img[o])
    rank = np.arange(len(o)) - np.repeat(start, count)
    keep = np.zeros(len(o), bool)
    keep[o] = cand[o] & (rank < k[o])
    return keep


# ---- matching and AP ----------------------------------------------------------------------------------

def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(n,) IoU of paired boxes a, b (n, 4) as x1, y1, x2, y2, in the official order of operations."""
    h = np.maximum(0.0, np.minimum(a[:, 3], b[:, 3]) - np.maximum(a[:, 1], b[:, 1]))
    w = np.maximum(0.0, np.minimum(a[:, 2], b[:, 2]) - np.maximum(a[:, 0], b[:, 0]))
    inter = h * w
    area_a = (a[:, 3] - a[:, 1]) * (a[:, 2] - a[:, 0])
    area_b = (b[:, 3] - b[:, 1]) * (b[:, 2] - b[:, 0])
    return inter / (area_a + area_b - inter)


def _true_positives(d_group, d_box, g_group, g_box) -> np.ndarray:
    """(N,) TP flags. Detections in matching order; g_group sorted, GT in official tie order."""
    lo = np.searchsorted(g_group, d_group, "left")
    n = np.searchsorted(g_group, d_group, "right") - lo
    dets = np.flatnonzero(n)                               # detections with GT of their class in their image
    n = n[dets]
    first = np.cumsum(n) - n                               # first pair of each such detection
    pair_det = np.repeat(dets, n)                          # (P,)
    pair_gt = np.repeat(lo[dets] - first, n) + np.arange(n.sum())
    iou = _iou(d_box[pair_det], g_box[pair_gt])
    best = np.maximum.reduceat(iou, first) if len(first) else iou[:0]
    hit = np.flatnonzero(iou == np.repeat(best, n))        # pairs reaching the max; take the first per det
    hit = hit[np.r_[True, pair_det[hit][1:] != pair_det[hit][:-1]]] if len(hit) else hit
    ok = best >= IOU_THRESHOLD
    cand_det, cand_gt = dets[ok], pair_gt[hit][ok]
    _, first_use = np.unique(cand_gt, return_index=True)   # first detection of each candidate box wins
    tp = np.zeros(len(d_group), bool)
    tp[cand_det[first_use]] = True
    return tp


def _average_precision(tp: np.ndarray, n_gt: int) -> float:
    """All-point VOC AP of one class's pooled TP flags (n,) in descending score order; NaN if n_gt == 0,
    0 without detections."""
    if n_gt == 0:
        return math.nan
    if len(tp) == 0:
        return 0.0
    ctp = np.cumsum(tp)
    precision = ctp / np.arange(1, len(tp) + 1)
    recall = np.r_[0.0, ctp / n_gt, 1.0]
    precision = np.maximum.accumulate(np.r_[0.0, precision, 0.0][::-1])[::-1]
    step = np.flatnonzero(recall[1:] != recall[:-1]) + 1
    return float(np.sum((recall[step] - recall[step - 1]) * precision[step]))


# ---- frame_map ----------------------------------------------------------------------------------------

def _prepare_gt(gt, videos, class_ids, rules) -> tuple[np.ndarray, ...]:
    """-> keys (M,) of every GT row, then for label-map rows only: key, class index, boxes (m, 4) and a
    tie key giving the official order within (image, class): descending person_id (7-column rows = 1)."""
    key = _image_keys(gt, videos, rules, "ground truth")
    aid = gt["action_id"].to_numpy(np.int64)
    if not rules.empty_rows_ok and (aid == 0).any():
        raise ValueError("ground truth: 2-column (empty keyframe) rows are not accepted by the slowfast "
                         f"flavor, first at row {np.flatnonzero(aid == 0)[0]}")
    cls = _class_index(aid, class_ids)
    sel = np.flatnonzero(cls >= 0)
    box = gt[["x1", "y1", "x2", "y2"]].to_numpy(np.float64)[sel]        # (m, 4)
    _require_finite(gt.iloc[sel], ["x1", "y1", "x2", "y2"], "ground truth")
    bad = np.flatnonzero((box[:, 0] > box[:, 2]) | (box[:, 1] > box[:, 3]))
    if len(bad):
        raise ValueError(f"ground truth: box with x1 > x2 or y1 > y2 at row {sel[bad[0]]}: {box[bad[0]]}")
    pid = gt["person_id"].to_numpy(np.int64)[sel]
    tie = -np.where(pid == -1, 1, pid) if rules.score_order else np.zeros_like(pid)
    return key, key[sel], cls[sel], box, tie


def frame_map(gt: pd.DataFrame, det: pd.DataFrame, labelmap: dict[int, str] | None = None,
              exclusions: pd.DataFrame | None = None, flavor: str = "activitynet") -> EvalResult:
    """Frame-mAP@0.5 of detections `det` against `gt` (columns of `ava.read_gt / read_detections`).

    labelmap {id: name} (None = the 60 evaluated AVA v2.2 classes); exclusions: video_id, timestamp rows
    dropped from both sides; flavor "activitynet" (official, LART) or "slowfast".
    """
    if flavor not in _FLAVORS:
        raise ValueError(f"flavor must be one of {sorted(_FLAVORS)}, got {flavor!r}")
    rules = _FLAVORS[flavor]
    _require(gt, ["video_id", "timestamp", "x1", "y1", "x2", "y2", "action_id", "person_id"], "ground truth")
    _require(det, ["video_id", "timestamp", "x1", "y1", "x2", "y2", "action_id", "score"], "detections")
    _require_finite(gt, ["timestamp"], "ground truth")
    _require_finite(det, ["timestamp", "x1", "y1", "x2", "y2", "score"], "detections")
    table = _labelmap_table(labelmap)
    class_ids = table["id"].to_numpy(np.int64)
    frames = [gt, det] + ([exclusions] if exclusions is not None else [])
    videos = pd.Index(pd.unique(np.concatenate([_video_names(f["video_id"]) for f in frames])))
    gt_key, g_key, g_cls, g_box, g_tie = _prepare_gt(gt, videos, class_ids, rules)
    d_key = _image_keys(det, videos, rules, "detections")
    excluded = np.zeros(0, np.int64)
    if exclusions is not None:
        _require(exclusions, ["video_id", "timestamp"], "exclusions")
        excluded = np.unique(_image_keys(exclusions, videos, rules, "exclusions"))
    images = np.setdiff1d(np.unique(gt_key if rules.gt_keys_only else np.r_[gt_key, d_key]), excluded)
    d_img = _lookup(images, d_key)
    del d_key                                                            # (N,) int64: free it early
    g_img = _lookup(images, g_key).astype(np.int64)
    g_keep = np.flatnonzero(g_img >= 0)
    g_order = g_keep[np.lexsort((g_keep, g_tie[g_keep], g_cls[g_keep], g_img[g_keep]))]
    n_cls = len(class_ids)
    g_group = g_img[g_order] * n_cls + g_cls[g_order]
    n_gt = np.bincount(g_cls[g_order], minlength=n_cls)
    d_img, d_cls, d_desc, d_box = _select_detections(det, d_img, class_ids, rules)
    tp = _true_positives(d_img.astype(np.int64) * n_cls + d_cls, d_box, g_group, g_box[g_order])
    return _summarise(table, d_cls, d_desc, tp, n_gt, flavor)


def _video_names(col: pd.Series) -> np.ndarray:
    return np.asarray(col.cat.categories if isinstance(col.dtype, pd.CategoricalDtype) else pd.unique(col),
                      dtype=object)


def _lookup(images: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """(n,) int32 index of each key in the sorted `images`, -1 where absent. Rows of one keyframe are
    usually contiguous in a file: each run of equal keys is looked up once."""
    start, count = _segments(keys)
    head = keys[start]
    pos = np.searchsorted(images, head).clip(0, max(len(images) - 1, 0))
    found = images[pos] == head if len(images) else np.zeros(len(head), bool)
    pos = np.where(found, pos, -1).astype(np.int32)
    return np.repeat(pos, count)


def _dense_rank_desc(score: np.ndarray) -> tuple[np.ndarray, int]:
    """(n,) int32 rank of each score among the distinct scores, 0 = highest; and the number distinct."""
    perm = np.argsort(score)
    s = score[perm]
    new = np.empty(len(s), bool)
    new[:1] = True
    np.not_equal(s[1:], s[:-1], out=new[1:])
    del s
    dense = np.cumsum(new, dtype=np.int32)                               # 1.. ascending
    n_distinct = int(dense[-1]) if len(dense) else 0
    rank = np.empty(len(score), np.int32)
    rank[perm] = n_distinct - dense
    return rank, n_distinct


def _select_detections(det, d_img, class_ids, rules):
    """-> image index, class index, descending score rank (n,) and boxes (n, 4) of the evaluated
    detections, in matching order: by image, then descending score (activitynet) or file order (slowfast)."""
    cls = _class_index(det["action_id"].to_numpy(np.int64), class_ids)
    row = np.flatnonzero((d_img >= 0) & (cls >= 0)).astype(np.int32)    # (n,) file order
    img, score = d_img[row], det["score"].to_numpy(np.float64)[row]
    desc, n_distinct = _dense_rank_desc(score)
    key = img.astype(np.int64) * n_distinct + desc if rules.score_order else img
    order = np.argsort(key, kind="stable")
    del key
    img, score, desc, row = img[order], score[order], desc[order], row[order]
    del order
    if rules.cap:
        keep = _heap_cap(img, score, row, det, rules.cap)
        img, desc, row = img[keep], desc[keep], row[keep]
    del score
    box = np.empty((4, len(row)))                                         # (4, n)
    for j, c in enumerate(("x1", "y1", "x2", "y2")):
        np.take(det[c].to_numpy(np.float64), row, out=box[j])
    valid = (box[0] < box[2]) & (box[1] < box[3])                        # invalid rows took cap slots
    return img[valid], cls[row[valid]], desc[valid], box[:, valid].T


def _argsort_pairs(major: np.ndarray, minor: np.ndarray, n_minor: int) -> np.ndarray:
    """Stable argsort by (major, minor): an unstable sort of a unique int64 key (major, minor, position)
    when it fits, which is ~2x faster than a stable sort of random keys."""
    n = len(major)
    key = major.astype(np.int64) * n_minor + minor
    if n == 0 or (int(major.max()) + 1) * n_minor * n >= 2 ** 63:
        return np.argsort(key, kind="stable")
    key *= n
    key += np.arange(n)
    return np.argsort(key)


def _summarise(table, d_cls, d_desc, tp, n_gt, flavor) -> EvalResult:
    """Per-class AP over each class's detections in descending score (ties: image, then matching order)."""
    order = _argsort_pairs(d_cls, d_desc, int(d_desc.max(initial=0)) + 1)
    start = np.searchsorted(d_cls[order], np.arange(len(table) + 1))
    ap = [_average_precision(tp[order[start[c]:start[c + 1]]], int(n_gt[c])) for c in range(len(table))]
    n_det = np.diff(start)
    per_class = table.assign(ap=np.array(ap, np.float64), n_gt=n_gt.astype(np.int64),
                             n_det=np.array(n_det, np.int64))
    has_gt = per_class[per_class["n_gt"] > 0]
    by_type = {t: float(has_gt.loc[has_gt["type"] == t, "ap"].mean()) for t in TYPES}
    m = float(has_gt["ap"].mean()) if len(has_gt) else math.nan
    return EvalResult(per_class=per_class, map=m, by_type=by_type, flavor=flavor)


# ---- lart eval ----------------------------------------------------------------------------------------

def evaluate_files(gt_csv, pred_csv, labelmap=None, exclusions=None, flavor="activitynet") -> EvalResult:
    """`frame_map` of CSV files (label map pbtxt path or None = the 60 evaluated classes)."""
    from lartcore.data import ava
    labels = ava.read_labelmap(labelmap) if labelmap is not None else None
    excl = ava.read_keyframes(exclusions) if exclusions is not None else None
    return frame_map(ava.read_gt(gt_csv), ava.read_detections(pred_csv), labels, excl, flavor)


def summary(result: EvalResult) -> str:
    """Two lines: mAP over the classes with GT, and the PM / OM / PI means."""
    pc = result.per_class
    n = pc[pc["n_gt"] > 0].groupby("type")["id"].count().to_dict()
    parts = [f"{t} {result.by_type[t]:.4f} ({n.get(t, 0)})" for t in TYPES]
    return (f"frame-mAP@{IOU_THRESHOLD} ({result.flavor}): {result.map:.6f} over {int(sum(n.values()))} "
            f"classes with GT\n" + "  ".join(parts))


def cli_eval(args) -> int:
    """`lart eval --gt CSV --pred CSV [--labelmap PBTXT] [--exclusions CSV] [--flavor] [--out DIR]`."""
    result = evaluate_files(args.gt, args.pred, args.labelmap, args.exclusions, args.flavor)
    print(summary(result))
    if args.out:
        csv_path, json_path = result.save(args.out)
        print(f"wrote {csv_path} and {json_path}")
    return 0
