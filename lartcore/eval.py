"""AVA v2.2 frame-mAP@0.5: the official ActivityNet evaluator's number, ties included, fully vectorised.

`frame_map(gt, det)` takes the DataFrames of `lartcore.data.ava.read_gt / read_detections` (or their
`ava.Table`s) and returns per-class AP, mAP and the PM/OM/PI means; `evaluate_files` reads the CSVs first,
as Tables: `lart eval` never imports pandas (~0.3 s of its ~2.5). The rules are those of
activitynet/ActivityNet @82304fa9 `Evaluation/` (gap = get_ava_performance.py, ode =
ava/object_detection_evaluation.py, pie = ava/per_image_evaluation.py, metrics = ava/metrics.py), read in
its code and checked by running it (tests/data/README.md):

- an image is (video_id, timestamp as "%.6f" of its Decimal) (gap:36-38): "0902", "902", "902.0" are one
  keyframe. Only the GT file's keyframes are evaluated, whatever their rows (2-column "empty" rows and
  classes outside the label map included, gap:72-78, 143, 160-164); detections elsewhere are ignored.
- rows whose action id is not in the label map are dropped, GT and detections alike (gap:81-82).
- each keyframe's rows pass through a heapq min-heap of tuples (score, action_id, y1, x1, y2, x2)
  (gap:83-89): detections with capacity 50, a row replacing the root only if its score is strictly greater;
  GT without limit, its "score" being the person id (1.0 for 7-column rows). Each heap is then sorted by
  descending score, stably (gap:92), so equal scores stay in heap ARRAY order: an artefact of heapq's sift
  steps, neither file order nor tuple order.
- keyframes are visited in the order of their first label-map detection row (dict order, gap:90, 160);
  detections with NOT (x1 < x2 and y1 < y2), NaN included, are dropped after the cap (pie:90-92, 365-366).
- per keyframe and class, in that order, each detection's candidate is np.argmax of its IoUs (np_box_ops.py
  63-78) with the class's GT boxes in their official order: the first maximum, a NaN counting as the
  maximum (pie:279); it is a TP iff that IoU >= 0.5 and the candidate is still unmatched (pie:281-287).
  Boxes are never clipped or checked against [0, 1].
- a GT box with x1 > x2 or y1 > y2 stops the official evaluator (np_box_list.py:131, via pie:208-212) when
  its keyframe has a kept detection of its class (without one, pie:252-253 returns first): frame_map raises
  `RowError` there; otherwise the box counts in num_gt and never matches.
- per class, the keyframes' (score, tp) lists are concatenated in visiting order (ode:612-627, 686-687) and
  ranked by np.argsort(scores)[::-1] (metrics:57-60): numpy's default, unstable sort, whose tie order we
  reproduce by calling it on the identical array. AP is all-point VOC (metrics:109-118); NaN for a class
  without GT (ode:680), 0.0 with GT but no detection; mAP = np.nanmean over ids 1..max label-map id (ode:708).

Vectorised: the heap's kept set has a closed form (`_heap_cap`), and a detection's candidate box does
not depend on the matching order, so TPs are "the first detection of each candidate in matching order"
(one np.unique). The heap's tie order has no closed form: the keyframes where it can change the result
(kept detections of one class with equal scores and different boxes whose outcomes differ or depend on
their order, see `_exact_ties`), and those holding a NaN, are replayed with heapq itself (`_heap_order`),
as are GT keyframes with tied person ids. On the AVA-val-sized synthetic file with 2-decimal scores that
is 2% of the keyframes (4% of the rows); with 6 decimals almost none. Keyframes are independent until the
per-class ranking, so large files are matched in two parts of whole keyframes, one thread each (`_parts`;
numpy sorts and loops without the GIL), concatenated in visiting order.

flavor="slowfast" reproduces SlowFast's `ava_eval_helper` instead: key int(timestamp), no cap, no heap
(file order in each keyframe, GT too), detections on keyframes without GT are false positives, 2-column GT
rows rejected. Shapes: N detection rows, M GT rows, K images, C label-map classes.
"""
from __future__ import annotations

import csv
import fcntl
import heapq
import io
import itertools
import json
import math
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from lartcore import schema
from lartcore.data import ava

if TYPE_CHECKING:
    import pandas as pd

IOU_THRESHOLD = 0.5
# Bump whenever a change can change a number this evaluator gives: cached evaluations (the registry's eval
# cache and the pipeline's evaluated runs) are keyed by it and are redone.
VERSION = 2
TYPES = ("PM", "OM", "PI")
DET_CAP = 50                      # detections kept per keyframe by the official reader (gap:158)
_THREADS = min(os.cpu_count() or 1, 8)   # threads of the decisions (measured on 2 cores; parts tested up to 5)
_PARALLEL_ROWS = 1 << 16          # rows from which the keyframes are matched in parallel parts
_TS_BITS = 42                     # image key = video code << 42 | timestamp in microseconds (< 50 days)
_OFFICIAL_COLUMNS = ("score", "action_id", "y1", "x1", "y2", "x2")   # the official reader's heap tuple


@dataclass(frozen=True)
class _Rules:
    cap: int                      # best-scored rows kept per keyframe (0 = all)
    heap_order: bool              # the official reader's heap order in each keyframe (else file order)
    gt_keys_only: bool            # ignore detections on keyframes absent from GT (else they are FPs)
    ts_scale: float               # timestamp -> integer key: round(ts * scale) (activitynet "%.6f")
    empty_rows_ok: bool           # accept 2-column "annotated but empty" GT rows


_FLAVORS = {"activitynet": _Rules(cap=DET_CAP, heap_order=True, gt_keys_only=True, ts_scale=1e6,
                                  empty_rows_ok=True),
            "slowfast": _Rules(cap=0, heap_order=False, gt_keys_only=False, ts_scale=0.0, empty_rows_ok=False)}


class RowError(ValueError):
    """Input the official evaluator stops on: `what` ("ground truth" / "detections") at DataFrame index
    label `row` (row position for a Table); `evaluate_files` turns it into FILE:LINE."""

    def __init__(self, what: str, row, message: str):
        super().__init__(f"{what} row {row}: {message}")
        self.what, self.row, self.message = what, row, message


class EvalResult:
    """per_class: id, name, type, ap (NaN = no GT), n_gt, n_det (detections evaluated, after the cap), a
    DataFrame (given as one, or as {column: (C,) values} and built when first read: saving and printing
    do not need pandas); warnings: one line per kind of input the official evaluator reads but AVA's rules
    do not allow."""

    def __init__(self, per_class, map: float, by_type: dict[str, float], flavor: str = "activitynet",
                 warnings: tuple[str, ...] = ()):
        self._per_class = per_class
        self.map, self.by_type, self.flavor, self.warnings = map, by_type, flavor, warnings

    @property
    def per_class(self) -> pd.DataFrame:
        if isinstance(self._per_class, dict):
            import pandas as pd  # noqa: PLC0415  (only when asked for: see the module docstring)
            self._per_class = pd.DataFrame(self._per_class)
        return self._per_class

    def columns(self) -> dict[str, list]:
        """per_class as {column: list of Python values}, in column order."""
        pc = self._per_class
        if isinstance(pc, dict):
            return {c: v.tolist() if isinstance(v, np.ndarray) else list(v) for c, v in pc.items()}
        return {c: pc[c].tolist() for c in pc.columns}

    def to_json(self) -> str:
        cols = self.columns()
        rows = [{c: _plain(v) for c, v in zip(cols, values, strict=True)} for values in zip(*cols.values(), strict=True)]
        return json.dumps({"flavor": self.flavor, "mAP": _plain(self.map),
                           "by_type": {t: _plain(v) for t, v in self.by_type.items()},
                           "warnings": list(self.warnings), "per_class": rows}, indent=1)

    def to_csv(self) -> str:
        """per_class.csv's text: as pandas' `to_csv(index=False, float_format="%.9g")` writes it (NaN and
        None empty, minimal quoting), without pandas."""
        cols = self.columns()
        out = io.StringIO()
        w = csv.writer(out, lineterminator="\n")
        w.writerow(cols)
        text = lambda v: "" if v is None or (isinstance(v, float) and math.isnan(v)) else \
            (f"{v:.9g}" if isinstance(v, float) else v)
        w.writerows(zip(*([text(v) for v in col] for col in cols.values()), strict=True))
        return out.getvalue()

    def save(self, out_dir: str | Path) -> tuple[Path, Path]:
        """Write `per_class.csv` and `metrics.json` into out_dir as one unit: each file atomically, both
        under an exclusive lock on the folder, so concurrent saves leave the two files of one run."""
        out_dir = Path(out_dir)
        if out_dir.exists() and not out_dir.is_dir():
            raise ValueError(f"{out_dir}: expected a folder for the results, found a file")
        out_dir.mkdir(parents=True, exist_ok=True)
        csv_path, json_path = out_dir / "per_class.csv", out_dir / "metrics.json"
        from lartcore.fileio import atomic_write_text  # noqa: PLC0415  (only when saving)
        fd = os.open(out_dir, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            atomic_write_text(csv_path, self.to_csv())
            atomic_write_text(json_path, self.to_json() + "\n")
        finally:
            os.close(fd)                                     # releases the lock
        return csv_path, json_path


def _plain(v):
    """JSON-safe scalar: numpy -> python, NaN -> null."""
    v = v.item() if isinstance(v, np.generic) else v
    return None if isinstance(v, float) and math.isnan(v) else v


# ---- inputs -------------------------------------------------------------------------------------------

def _segments(sorted_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start offsets and lengths of the runs of equal consecutive values (the groups, if sorted)."""
    if not len(sorted_ids):
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    start = np.flatnonzero(np.r_[True, sorted_ids[1:] != sorted_ids[:-1]])
    return start, np.diff(np.r_[start, len(sorted_ids)])


def _keyframe_runs(t: ava.Table, position: np.ndarray, rules: _Rules, what: str) -> tuple[np.ndarray, ...]:
    """(start, key): the runs of consecutive rows with equal (video_id, timestamp), the layout of AVA
    files, and each run's int64 key of (video, numeric timestamp); equal keys = same keyframe. position:
    (videos,) int64 the global video number of each of t.videos."""
    code = t.codes
    ts = t["timestamp"]
    if not np.isfinite(ts.min(initial=0.0)) or not np.isfinite(ts.max(initial=0.0)):
        bad = int(np.flatnonzero(~np.isfinite(ts))[0])
        raise RowError(what, t.label(bad), f"timestamp {float(ts[bad])!r} is not a finite number")
    change = code[1:] != code[:-1]
    change |= ts[1:] != ts[:-1]
    start = np.r_[0, np.flatnonzero(change) + 1] if len(ts) else np.zeros(0, np.int64)
    stamp = np.rint(ts[start] * rules.ts_scale) if rules.ts_scale else np.trunc(ts[start])
    out = np.flatnonzero((stamp < 0) | (stamp >= 2 ** _TS_BITS))
    if len(out):
        raise RowError(what, t.label(start[out[0]]), f"timestamp {float(ts[start[out[0]]])!r} outside "
                       f"[0, {2 ** _TS_BITS / 1e6:.0f}) s")
    return start, (position[code[start]] << _TS_BITS) | stamp.astype(np.int64)


def _image_of_runs(key: np.ndarray, images: np.ndarray) -> np.ndarray:
    """(R,) int32 index of each run's keyframe (`_keyframe_runs`) in the sorted `images`, -1 where absent."""
    pos = np.searchsorted(images, key).clip(0, max(len(images) - 1, 0))
    found = images[pos] == key if len(images) else np.zeros(len(key), bool)
    return np.where(found, pos, -1).astype(np.int32)


def _run_lengths(start: np.ndarray, n: int) -> np.ndarray:
    return np.diff(np.r_[start, n])


def _class_index(action_id: np.ndarray, class_ids: np.ndarray) -> np.ndarray:
    """(n,) position of each action_id in the sorted label-map ids, -1 if not in the label map."""
    top = int(class_ids.max(initial=0)) + 1
    lut = np.full(top + 1, -1, np.int16)                 # ids above top-1 land on the last slot
    lut[class_ids] = np.arange(len(class_ids))
    return np.take(lut, action_id, mode="clip")          # no temporary; ids < 0 land on slot 0 (not a class)


@dataclass(frozen=True)
class Classes:
    """The label-map classes evaluated (C), ids ascending."""
    id: np.ndarray                # (C,) int64
    name: list[str]
    type: list[str]               # PM / OM / PI

    def __len__(self) -> int:
        return len(self.name)


def _classes(labelmap: dict[int, str] | None) -> Classes:
    """The evaluated classes: the label map's, default the 60 AVA v2.2 ones."""
    if labelmap is None:
        labelmap = {i: schema.CLASS_NAMES[i] for i in sorted(schema.EVALUATED_IDS)}
    if not labelmap:
        raise ValueError("label map is empty: no class to evaluate")
    bad = [i for i in labelmap if not (isinstance(i, (int, np.integer)) and 1 <= i <= schema.NUM_CLASSES)]
    if bad:
        raise ValueError(f"label map: expected AVA action ids in 1..{schema.NUM_CLASSES}, found {bad[0]!r}")
    ids = sorted(int(i) for i in labelmap)
    return Classes(np.array(ids, np.int64), [labelmap[i] for i in ids], [schema.class_type(i) for i in ids])


# ---- the official reader's heaps ----------------------------------------------------------------------

def _heap_order(rows: list[tuple], cap: int) -> list[int]:
    """Which of one keyframe's rows the official reader keeps, in the order it leaves them: heappush of
    the tuple (score, action_id, y1, x1, y2, x2) while the heap holds fewer than `cap` (0 = no limit), else
    heapreplace if the score beats the root's (gap:86-89); then sorted by descending score, stably
    (gap:92). Rows (their tuples, file order) -> their indices. Plain heapq on the official tuples: exact,
    NaN included."""
    heap: list[tuple] = []
    index: dict[int, int] = {}              # id of each tuple in the heap -> its row (equal tuples differ)
    push, replace = heapq.heappush, heapq.heapreplace
    cap = cap if cap > 0 else len(rows)
    for i, t in enumerate(rows):
        if len(heap) < cap:
            push(heap, t)
        elif t[0] > heap[0][0]:
            replace(heap, t)
        else:
            continue
        index[id(t)] = i
    return [index[id(t)] for t in sorted(heap, key=lambda t: -t[0])]


def _heap_orders(group: np.ndarray, cols: list[np.ndarray], cap: int) -> tuple[np.ndarray, np.ndarray]:
    """`_heap_order` of each group. group (n,) and cols (the official tuple's columns, n each) in file
    order -> (indices of the kept rows, their rank in their group's official order)."""
    order = np.argsort(group, kind="stable")
    start, count = _segments(group[order])
    rows = list(zip(*(c[order].tolist() for c in cols), strict=True))   # one tuple object per row
    kept: list[int] = []
    rank: list[int] = []
    for s, n in zip(start.tolist(), count.tolist(), strict=True):
        ranked = _heap_order(rows[s:s + n], cap)
        kept += [s + i for i in ranked]
        rank += range(len(ranked))
    return order[np.array(kept, np.int64)], np.array(rank, np.int64)


def _heap_cap(order: np.ndarray, visit: np.ndarray, key: np.ndarray, tup, cap: int) -> np.ndarray:
    """Positions (ascending) of the rows the official per-keyframe heap of capacity `cap` keeps, among rows
    sorted by (keyframe, -score) with ties in any order (`_order_desc`): `order` their file positions,
    `visit` their keyframe, `key` their sort key (equal within a keyframe iff equal scores; no NaN);
    tup(file positions) -> (len, 5) action_id (< 128: label-map ids), y1, x1, y2, x2.

    The heap keeps every row scored above v (its keyframe's cap-th best score) and k = cap - #above rows
    scored v: those read before the cap-th row scoring >= v, minus their smallest tuples (a v-row can only
    enter while the heap's minimum is below v, and once it is v the smallest tuples are evicted first).
    Per keyframe the kept rows are a prefix of its sorted rows, plus, when more v-rows than free slots
    ("hard" keyframes), some of the v-rows after it.
    """
    start, count = _segments(visit)
    big = np.flatnonzero(count > cap)
    v = key[start[big] + cap - 1]                                    # the cap-th row's key: score v
    above, tie_end = np.searchsorted(key, v, "left"), np.searchsorted(key, v, "right")   # v-rows
    k = cap - (above - start[big])                                   # free slots for v-rows
    hard = tie_end - above > k
    stop = start + count                                             # end of the kept prefix
    stop[big] = np.where(hard, above, tie_end)
    kept = _ranges(start, stop - start)
    if not hard.any():
        return kept
    h = big[hard]                                                    # keyframes where heap order decides
    length = tie_end[hard] - start[h]
    rows = _ranges(start[h], length)                                 # their rows scoring >= v
    seg = np.repeat(np.arange(len(h), dtype=np.int64), length)
    is_v = rows >= np.repeat(above[hard], length)
    inverse = np.empty(len(order), order.dtype)                     # file position -> position in order
    inverse[order[rows]] = rows
    packed = np.sort((seg * len(order) + order[rows]) * 2 + is_v)   # by (keyframe, file position): a plain sort
    seg, file_pos, is_v = packed // (2 * len(order)), packed // 2 % len(order), (packed & 1).astype(bool)
    first, n = _segments(seg)
    t0 = np.repeat(file_pos[first + cap - 1], n)                    # where the heap's minimum became v
    cand = np.flatnonzero(is_v & (file_pos <= t0))                  # the v-rows read until then
    pos, seg = file_pos[cand], seg[cand]
    many = np.bincount(seg, minlength=len(h))[seg] > k[hard][seg]   # more of them than free slots
    t = tup(pos[many])                                               # action_id (label-map ids < 128), boxes
    o = np.lexsort((*(-t[:, j] for j in range(4, 0, -1)), seg[many] * 128 + (127 - t[:, 0])))   # descending tuple
    ranked, ranked_seg = pos[many][o], seg[many][o]
    first, n = _segments(ranked_seg)
    rank = np.arange(len(ranked)) - np.repeat(first, n)
    chosen = np.r_[pos[~many], ranked[rank < k[hard][ranked_seg]]]  # file positions
    return np.sort(np.r_[kept, inverse[chosen]])


def _ranges(start: np.ndarray, length: np.ndarray) -> np.ndarray:
    """(sum(length),) int32 concatenation of arange(start[i], start[i] + length[i])."""
    offset = np.repeat((start - (np.cumsum(length) - length)).astype(np.int32), length)
    offset += np.arange(len(offset), dtype=np.int32)
    return offset


def _order_desc(group: np.ndarray, score: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(order, key): the permutation sorting rows by (group, descending score), ties in any order, and the
    sorted keys, ascending, equal within a group iff the scores are. One unstable float sort of
    group*2 - score (scaled to [0, 1]), which is fast, checked: if rounding merged two distinct scores of a
    group (closer than ~1e-10 of the score range) or a score is infinite, an exact integer key instead."""
    lo, hi = score.min(initial=0.0), score.max(initial=0.0)
    if np.isfinite(lo) and np.isfinite(hi):
        key = group * 2.0
        key -= score if 0 <= lo and hi <= 1 else (score - lo) / (hi - lo if hi > lo else 1.0)
        order = np.argsort(key).astype(np.int32)
        key = key[order]
        tie = np.flatnonzero(key[1:] == key[:-1])                   # equal keys must be equal scores
        if not (score[order[tie]] != score[order[tie + 1]]).any():
            return order, key
    distinct, rank = np.unique(score, return_inverse=True)
    key = group.astype(np.int64) * (len(distinct) + 1) + (len(distinct) - rank)
    order = np.argsort(key).astype(np.int32)
    return order, key[order]


# ---- ground truth -------------------------------------------------------------------------------------

class _GT(NamedTuple):
    group: np.ndarray             # (m,) image * C + class, ascending; in a group: the official GT order
    box: np.ndarray               # (m, 4) x1, y1, x2, y2
    row: np.ndarray               # (m,) row position in gt
    n_gt: np.ndarray              # (C,) GT boxes per class


def _ground_truth(gt: ava.Table, g_img: np.ndarray, class_ids: np.ndarray, rules: _Rules) -> _GT:
    """Label-map GT boxes of the evaluated images in matching order: by image and class, then as the
    official reader leaves them (descending person id, ties in heap order) or file order (slowfast)."""
    aid = gt["action_id"]
    box_all = np.column_stack([gt[c] for c in ava.BOX])                        # (M, 4)
    empty = (aid == 0) & np.isnan(box_all).all(1)                              # 2-column rows
    if not rules.empty_rows_ok and empty.any():
        raise RowError("ground truth", gt.label(np.flatnonzero(empty)[0]), "2-column (empty keyframe) rows "
                       "are not accepted by the slowfast flavor")
    cls = _class_index(aid, class_ids)
    sel = np.flatnonzero((cls >= 0) & (g_img >= 0))                            # (m,) file order
    img, c, box = g_img[sel], cls[sel], box_all[sel]
    pid = gt["person_id"][sel]
    within = np.zeros(len(sel))                                                # file order (slowfast)
    if rules.heap_order:
        score = np.where(pid == -1, 1.0, pid.astype(np.float64))              # official "score" of a GT row
        within = -score
        replay = _gt_tie_images(img, c, score, box)
        if replay.any():
            i = np.flatnonzero(replay[img])
            cols = [score[i], aid[sel][i], box[i, 1], box[i, 0], box[i, 3], box[i, 2]]
            kept, rank = _heap_orders(img[i], cols, cap=0)
            within[i[kept]] = rank
    order = np.lexsort((within, c, img))                                       # stable: ties in file order
    group = img[order] * len(class_ids) + c[order]
    return _GT(group, box[order], sel[order], np.bincount(c, minlength=len(class_ids)))


def _gt_tie_images(img, cls, score, box) -> np.ndarray:
    """(K,) bool: images whose GT order needs the heap: two boxes of one class with equal person ids and
    different boxes, or a NaN coordinate."""
    replay = np.zeros(int(img.max(initial=-1)) + 1, bool)
    replay[img[np.isnan(box).any(1)]] = True
    order = np.lexsort((score, cls, img))
    same = (img[order][1:] == img[order][:-1]) & (cls[order][1:] == cls[order][:-1]) & \
        (score[order][1:] == score[order][:-1]) & (box[order][1:] != box[order][:-1]).any(1)
    replay[img[order][1:][same]] = True
    return replay


# ---- detections ---------------------------------------------------------------------------------------

class _Rows(NamedTuple):
    """The label-map detection rows on evaluated images, file order."""
    row: np.ndarray | None        # (n,) int32 row position in det; None: all rows, row i = position i
    visit: np.ndarray             # (n,) rank of the row's keyframe in the official visiting order
    img: np.ndarray               # (n,) int32 index of the row's keyframe among the evaluated ones
    cls: np.ndarray               # (n,) class index
    score: np.ndarray             # (n,)


def _label_map_rows(det: ava.Table, start: np.ndarray, run_img: np.ndarray, class_ids: np.ndarray) -> _Rows:
    """The rows of `det` that count: start (R,) its runs of rows of one keyframe, run_img (R,) their
    `_image_of_runs`."""
    cls = _class_index(det["action_id"], class_ids)
    score = det["score"]
    length = _run_lengths(start, len(det))
    if cls.min(initial=0) >= 0:                     # every row of a label-map class: whole runs count or not
        if run_img.min(initial=0) >= 0:             # every row counts: no copies
            return _Rows(None, np.repeat(_visit_rank(run_img)[run_img], length), np.repeat(run_img, length),
                         cls, score)
        keep = run_img >= 0                         # the runs on evaluated keyframes
        img, length = run_img[keep], length[keep]
        row = _ranges(start[keep], length)
        return _Rows(row, np.repeat(_visit_rank(img)[img], length), np.repeat(img, length), cls[row], score[row])
    img = np.repeat(run_img, length)
    row = np.flatnonzero((cls >= 0) & (img >= 0)).astype(np.int32)
    img, cls, score = img[row], cls[row], score[row]
    return _Rows(row, _visit_rank(img)[img], img, cls, score)


def _visit_rank(img: np.ndarray) -> np.ndarray:
    """(K,) int32 rank of each image in the order of its first row in `img` (the official dict order)."""
    start, _ = _segments(img)
    heads, first = np.unique(img[start], return_index=True)
    rank = np.full(int(img.max(initial=-1)) + 1, -1, np.int32)
    rank[heads[np.argsort(first)]] = np.arange(len(heads))
    return rank


def _det_boxes(det: ava.Table, rows: np.ndarray) -> np.ndarray:
    """(4, n) x1, y1, x2, y2 of det at row positions rows."""
    out = np.empty((4, len(rows)))
    for j, name in enumerate(("x1", "y1", "x2", "y2")):
        np.take(det[name], rows, out=out[j])
    return out


class _Whole(NamedTuple):
    """What holds for all the detections, found once for all the parts (`_whole`)."""
    boxes_valid: bool             # every row of det has x1 < x2 and y1 < y2 (so no NaN coordinate)
    nan: bool                     # a NaN score among the label-map rows or a NaN coordinate in det


def _whole(det: ava.Table, d: _Rows) -> _Whole:
    """One pass over each column of det (reductions and comparisons, no gathers)."""
    x1, y1, x2, y2 = (det[c] for c in ava.BOX)
    valid = bool(np.less(x1, x2).all() and np.less(y1, y2).all())          # NaN compares False
    nan = any(np.isnan(c.min(initial=0.0)) for c in [d.score] + ([] if valid else [x1, y1, x2, y2]))
    return _Whole(valid, bool(nan))


def _valid_boxes(det: ava.Table, rows: np.ndarray, whole: _Whole) -> np.ndarray | None:
    """(n,) bool: x1 < x2 and y1 < y2 (the official evaluator drops the other detections) at row
    positions rows; None if every row of det has such a box (the usual case: no gathers)."""
    if whole.boxes_valid:
        return None
    x1, y1, x2, y2 = (det[c] for c in ava.BOX)
    return np.less(x1[rows], x2[rows]) & np.less(y1[rows], y2[rows])


def _position(d: _Rows, i: np.ndarray) -> np.ndarray:
    """Row positions in det of rows i of d."""
    return i if d.row is None else d.row[i]


def _official_cols(det: ava.Table, d: _Rows, i: np.ndarray) -> list[np.ndarray]:
    """The official heap tuple's columns (score, action_id, y1, x1, y2, x2) of rows i of d."""
    r = _position(d, i)
    return [d.score[i], det["action_id"][r], *(det[c][r] for c in _OFFICIAL_COLUMNS[2:])]


def _nan_keyframes(det: ava.Table, d: _Rows, whole: _Whole) -> np.ndarray | None:
    """(K,) bool: keyframes with a NaN score or coordinate among their label-map rows; None if none."""
    if not whole.nan:
        return None
    nan = np.isnan(d.score)
    for c in ava.BOX:
        nan |= np.isnan(det[c] if d.row is None else det[c][d.row])
    replay = np.zeros(int(d.visit.max(initial=-1)) + 1, bool)
    replay[d.visit[nan]] = True
    return replay


def _kept(det: ava.Table, d: _Rows, rules: _Rules, whole: _Whole) -> np.ndarray:
    """Positions into d of the rows the official reader keeps, in matching order: by visiting order, then
    descending score (activitynet; ties provisional, see `_exact_ties`) or file order (slowfast)."""
    if not rules.heap_order:
        return np.argsort(d.visit, kind="stable")
    replay = _nan_keyframes(det, d, whole)                          # heaps holding a NaN: heapq itself
    fast = np.flatnonzero(~replay[d.visit]) if replay is not None else None
    visit, score = (d.visit, d.score) if fast is None else (d.visit[fast], d.score[fast])
    order, key = _order_desc(visit, score)
    visit = visit[order]
    if fast is not None:
        order = fast[order]
    tup = lambda pos: np.column_stack(_official_cols(det, d, pos)[1:])
    kept = order[_heap_cap(order, visit, key, tup, rules.cap)]      # (n,) positions into d
    if replay is None:
        return kept
    slow = np.flatnonzero(replay[d.visit])
    k, _ = _heap_orders(d.visit[slow], _official_cols(det, d, slow), rules.cap)
    both = np.r_[kept, slow[k]]
    return both[np.argsort(d.visit[both], kind="stable")]          # a keyframe is all fast or all slow


# ---- matching and AP ----------------------------------------------------------------------------------

def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(n,) IoU of paired boxes a, b (4, n) as x1, y1, x2, y2, in the official order of operations
    (np_box_ops.py:34-78, a = the detection)."""
    h = np.maximum(0.0, np.minimum(a[3], b[3]) - np.maximum(a[1], b[1]))
    w = np.maximum(0.0, np.minimum(a[2], b[2]) - np.maximum(a[0], b[0]))
    inter = h * w
    area_a = (a[3] - a[1]) * (a[2] - a[0])
    area_b = (b[3] - b[1]) * (b[2] - b[0])
    with np.errstate(invalid="ignore", divide="ignore"):
        return inter / (area_a + area_b - inter)


def _candidates(d_group: np.ndarray, d_box, g: _GT) -> tuple[np.ndarray, np.ndarray]:
    """Each detection's candidate GT box (index into g, -1 if its image has no GT of its class) and the
    IoU with it: np.argmax over the GT boxes in official order, NaN counting as the maximum (pie:279).
    d_box(i) -> (4, len(i)) the boxes of detections i (only those with GT of their class are read)."""
    size = int(max(g.group.max(initial=-1), d_group.max(initial=-1))) + 1
    if size <= 1 << 23:                                    # a table by group (<= 64 MB): two gathers
        n = np.bincount(g.group, minlength=size).astype(np.int32)
        lo = np.cumsum(n, dtype=np.int32) - n
        lo, n = lo[d_group], n[d_group]
    else:
        lo = np.searchsorted(g.group, d_group, "left")
        n = np.searchsorted(g.group, d_group, "right") - lo
    dets = np.flatnonzero(n)                               # detections with GT of their class in their image
    n = n[dets].astype(np.int64)
    first = np.cumsum(n) - n                               # first pair of each such detection
    pair_det = np.repeat(dets, n)                          # (P,)
    pair_gt = np.repeat(lo[dets] - first, n) + np.arange(n.sum())
    iou = _iou(np.repeat(d_box(dets), n, axis=1), g.box.T[:, pair_gt])
    rank = np.where(np.isnan(iou), np.inf, iou)            # argmax: NaN is the maximum
    best = np.maximum.reduceat(rank, first) if len(first) else rank[:0]
    hit = np.flatnonzero(rank == np.repeat(best, n))       # pairs reaching the max; the first per detection
    hit = hit[np.r_[True, pair_det[hit][1:] != pair_det[hit][:-1]]] if len(hit) else hit
    cand = np.full(len(d_group), -1, np.int32)
    cand_iou = np.full(len(d_group), np.nan)
    cand[dets], cand_iou[dets] = pair_gt[hit], iou[hit]
    return cand, cand_iou


def _exact_ties(det: ava.Table, d: _Rows, kept: np.ndarray, outcome: np.ndarray, rules: _Rules) -> np.ndarray:
    """Permutation of `kept` (valid kept rows in matching order, their `_outcome`)
    that puts the keyframes whose tie order can change the result into the official order, replayed with
    heapq: those with detections of one class with equal scores, different boxes and not all the same
    outcome (or an outcome that depends on the order). None if there are none (the order stays)."""
    visit, score, cls = d.visit[kept], d.score[kept], d.cls[kept]
    run = np.cumsum(np.r_[True, (visit[1:] != visit[:-1]) | (score[1:] != score[:-1])], dtype=np.int32)
    flagged = np.zeros(run[-1] + 1 if len(run) else 0, bool)
    flagged[run[outcome > 0]] = True                         # runs with a (possible) TP: the others are all FP
    flagged &= np.bincount(run, minlength=len(flagged)) > 1
    i = np.flatnonzero(flagged[run])
    key = run[i].astype(np.int64) * 128 + cls[i]             # (keyframe, score, class); class index < 80
    o = np.argsort(key, kind="stable")
    i, key = i[o], key[o]
    start, count = _segments(key)
    tie = np.repeat(np.arange(len(start)), count)            # (t,) tie group of each row
    box = _det_boxes(det, _position(d, kept[i]))             # (4, t)
    differs = (box != box[:, np.repeat(start, count)]).any(0)
    lo, hi = (np.minimum.reduceat(outcome[i], start), np.maximum.reduceat(outcome[i], start)) if len(i) else \
        (np.zeros(0, np.int8),) * 2
    bad = (np.bincount(tie, differs, len(start)) > 0) & ((lo != hi) | (lo == 2))
    replay = np.zeros(int(d.visit.max(initial=-1)) + 1, bool)
    replay[visit[i[start[bad]]]] = True
    if not replay.any():
        return None
    perm = np.arange(len(kept))
    rows = np.flatnonzero(replay[d.visit])                  # all label-map rows of those keyframes
    k, rank = _heap_orders(d.visit[rows], _official_cols(det, d, rows), rules.cap)
    official = np.full(len(d.visit), -1, np.int64)
    official[rows[k]] = rank
    pos = np.flatnonzero(replay[visit])                     # contiguous blocks, one per keyframe
    if not (official[kept[pos]] >= 0).all():
        _swap_equal_rows(det, d, official, heap_rows=rows[k], mine=kept[pos])
    perm[pos] = pos[np.lexsort((official[kept[pos]], visit[pos]))]
    return perm


def _swap_equal_rows(det: ava.Table, d: _Rows, official: np.ndarray, heap_rows: np.ndarray, mine: np.ndarray) -> None:
    """The official heap holds tuples, not rows: of several rows with the same (keyframe, score, action_id,
    y1, x1, y2, x2), which ones heapq keeps depends on its sift steps, while `_heap_cap` keeps the first in
    file order. Both keep the same tuples, so give `mine` (_heap_cap's rows) the official ranks of the
    copies heapq kept, copy for copy (in file order on both sides); `official` is rewritten in place.
    Raises if the kept tuples themselves differ (that would be a bug, not a tie)."""
    def tuples(r: np.ndarray) -> np.ndarray:
        """(7, len(r)) keyframe, score, action_id, y1, x1, y2, x2 of rows r."""
        return np.stack([d.visit[r].astype(np.float64), *_official_cols(det, d, r)])

    def by_tuple(r: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        o = np.lexsort((r, *t[::-1]))                      # by (keyframe, tuple), then file order
        return r[o], t[:, o]
    t = tuples(heap_rows)
    with np.errstate(invalid="ignore"):
        valid = (t[4] < t[6]) & (t[3] < t[5])              # x1 < x2, y1 < y2: `mine` lost invalid boxes after the cap
    a, ta = by_tuple(heap_rows[valid], t[:, valid])
    b, tb = by_tuple(mine, tuples(mine))
    if ta.shape != tb.shape or not np.array_equal(ta, tb, equal_nan=True):
        raise AssertionError("heapq kept other tuples than _heap_cap")
    ranks = official[a]
    official[heap_rows] = -1
    official[b] = ranks                                    # the invalid kept rows are never looked up


def _outcome(cand: np.ndarray, can_match: np.ndarray, score: np.ndarray) -> np.ndarray:
    """(n,) int8 what each detection will be whatever the order of equal scores: 0 = FP, 1 = TP, 2 = it
    depends (it shares the best score among the detections of its candidate box with another one)."""
    i = np.flatnonzero(can_match)
    best = np.full(int(cand.max(initial=-1)) + 1, -np.inf)
    with np.errstate(invalid="ignore"):
        np.maximum.at(best, cand[i], score[i])
    i = i[score[i] >= best[cand[i]]]                        # the candidate's best-scored detections
    shared = np.bincount(cand[i], minlength=len(best))[cand[i]] > 1
    out = np.zeros(len(cand), np.int8)
    out[i] = np.where(shared, 2, 1)
    return out


def _first_use(cand: np.ndarray, ok: np.ndarray) -> np.ndarray:
    """(n,) TP flags: the first detection (in matching order) of each candidate box with IoU >= 0.5."""
    i = np.flatnonzero(ok)
    _, first = np.unique(cand[i], return_index=True)
    tp = np.zeros(len(cand), bool)
    tp[i[first]] = True
    return tp


def class_rankings(cls: np.ndarray, score: np.ndarray, n_cls: int) -> list[np.ndarray]:
    """Per class index, its evaluated detections (indices into cls/score, which are in matching order) in
    the official ranking: pooled in matching order (the official concatenation, ode:612-627), then
    np.argsort(score)[::-1] of that pooled list (metrics.py:57-58)."""
    return _per_class(cls, n_cls, lambda _, pooled: _ranked(score, pooled))


def _ranked(score: np.ndarray, pooled: np.ndarray) -> np.ndarray:
    """The official ranking of one class's pooled detections: np.argsort of their scores, reversed."""
    return pooled[np.argsort(score[pooled])[::-1]]


def _per_class(cls: np.ndarray, n_cls: int, work) -> list:
    """[work(c, pooled) for each class index c], pooled = (n_c,) the indices of its detections in matching
    order. The classes are independent and numpy sorts without the GIL: `_THREADS` threads, classes in
    turn (AVA-val ranking and AP on 2 cores: 0.12 -> 0.07 s); each class's argsort sees the same array as in
    one thread, so the same order, ties included."""
    order = np.argsort(cls.astype(np.int16), kind="stable")              # radix sort: keeps matching order
    start = np.searchsorted(cls[order], np.arange(n_cls + 1)).tolist()
    out: list = [None] * n_cls
    threads = _THREADS if len(cls) >= _PARALLEL_ROWS else 1              # small: not worth a thread

    def run(first: int) -> None:
        for c in range(first, n_cls, threads):
            out[c] = work(c, order[start[c]:start[c + 1]])
    if threads == 1:
        run(0)
    else:
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(run, range(threads)))                         # re-raises a thread's error
    return out


def _average_precision(tp: np.ndarray, n_gt: int) -> float:
    """All-point VOC AP of one class's TP flags in ranking order (`class_rankings`); NaN if n_gt == 0, 0.0
    without detections."""
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


def summarise(d: Decisions) -> EvalResult:
    """Per-class AP over each class's detections in the official ranking, the mAP and PM/OM/PI means."""
    classes, n_gt = d.classes, d.n_gt.astype(np.int64)

    def ap_of(c: int, pooled: np.ndarray) -> float:
        return _average_precision(d.tp[_ranked(d.score, pooled)], int(n_gt[c]))
    ap = np.array(_per_class(d.cls, len(classes), ap_of), np.float64)
    per_class = {"id": classes.id, "name": classes.name, "type": classes.type, "ap": ap, "n_gt": n_gt,
                 "n_det": np.bincount(d.cls, minlength=len(classes)).astype(np.int64)}
    by_id = np.full(int(classes.id.max()), np.nan)                       # the official mean (ode:708)
    by_id[classes.id - 1] = ap
    m = float(np.nanmean(by_id)) if (n_gt > 0).any() else math.nan
    types = np.array(classes.type)
    by_type = {t: _mean(ap[(n_gt > 0) & (types == t)]) for t in TYPES}  # over the classes with GT
    return EvalResult(per_class=per_class, map=m, by_type=by_type, flavor=d.flavor)


def _mean(v: np.ndarray) -> float:
    """Mean as pandas' Series.mean computes it (sum / count; NaN if empty)."""
    return float(np.add.reduce(v) / len(v)) if len(v) else math.nan


# ---- frame_map ----------------------------------------------------------------------------------------

class Decisions(NamedTuple):
    """What the evaluator decided: per evaluated detection (n, in matching order; detections of one keyframe
    with equal scores in an order of no consequence, see `_exact_ties`) and evaluated GT box (m)."""
    classes: Classes              # the label-map classes (C), ids ascending
    det_row: np.ndarray           # (n,) position in `det` of each evaluated detection
    cls: np.ndarray               # (n,) class index into classes
    score: np.ndarray             # (n,)
    tp: np.ndarray                # (n,) bool
    gt_row: np.ndarray            # (n,) position in `gt` of the GT box a TP matched, -1 for a false positive
    gt_rows: np.ndarray           # (m,) positions in `gt` of the evaluated GT boxes (label-map class, evaluated
                                  #      keyframe), in the evaluator's GT order
    n_gt: np.ndarray              # (C,) evaluated GT boxes per class
    flavor: str


def frame_map(gt: pd.DataFrame | ava.Table, det: pd.DataFrame | ava.Table, labelmap: dict[int, str] | None = None,
              exclusions: pd.DataFrame | ava.Table | None = None, flavor: str = "activitynet") -> EvalResult:
    """Frame-mAP@0.5 of detections `det` against `gt` (columns of `ava.read_gt / read_detections`, as
    DataFrames or `ava.Table`s).

    labelmap {id: name} with ids in 1..80 (None = the 60 evaluated AVA v2.2 classes); exclusions:
    video_id, timestamp rows dropped from both sides; flavor "activitynet" (official, LART) or "slowfast".
    Values are taken as the official evaluator takes them (any coordinates, NaN, reversed boxes); raises
    `RowError` where it would stop.
    """
    return summarise(decisions(gt, det, labelmap, exclusions, flavor))


def decisions(gt: pd.DataFrame | ava.Table, det: pd.DataFrame | ava.Table, labelmap: dict[int, str] | None = None,
              exclusions: pd.DataFrame | ava.Table | None = None, flavor: str = "activitynet") -> Decisions:
    """The evaluator's decision about every detection and GT box (`frame_map` summarises them into AP);
    arguments as `frame_map`."""
    if flavor not in _FLAVORS:
        raise ValueError(f"flavor must be one of {sorted(_FLAVORS)}, got {flavor!r}")
    rules = _FLAVORS[flavor]
    gt = ava.Table.of(gt, ava.GT_COLUMNS, "ground truth")
    det = ava.Table.of(det, ava.DET_COLUMNS, "detections")
    classes = _classes(labelmap)
    class_ids = classes.id
    frames = [gt, det]
    if exclusions is not None:
        frames.append(ava.Table.of(exclusions, ava.KEYFRAME_COLUMNS, "exclusions"))
    number = {v: i for i, v in enumerate(dict.fromkeys(v for f in frames for v in f.videos))}   # first seen first
    position = [np.array([number[v] for v in f.videos], np.int64) for f in frames]
    g_start, g_key = _keyframe_runs(gt, position[0], rules, "ground truth")
    d_start, d_key = _keyframe_runs(det, position[1], rules, "detections")
    excluded = np.zeros(0, np.int64)
    if exclusions is not None:
        excluded = _keyframe_runs(frames[2], position[2], rules, "exclusions")[1]
    images = np.setdiff1d(np.unique(g_key if rules.gt_keys_only else np.r_[g_key, d_key]), excluded)
    g_img = np.repeat(_image_of_runs(g_key, images), _run_lengths(g_start, len(gt)))   # (M,)
    with ThreadPoolExecutor(_THREADS) as pool:              # numpy drops the GIL in its loops and sorts
        g_future = pool.submit(_ground_truth, gt, g_img, class_ids, rules)
        d = _label_map_rows(det, d_start, _image_of_runs(d_key, images), class_ids)
        whole = _whole(det, d)
        g = g_future.result()
        parts = list(pool.map(lambda part: _match(det, g, part, len(class_ids), rules, whole), _parts(d, _THREADS)))
    stops = [p.gt_stop for p in parts if p.gt_stop >= 0]
    if stops:
        raise RowError("ground truth", gt.label(min(stops)), "box with x1 > x2 or y1 > y2 on a keyframe with a "
                       "detection of its class: the official evaluator stops on it ('Invalid box data')")
    joined = lambda name: getattr(parts[0], name) if len(parts) == 1 else np.concatenate([getattr(p, name) for p in parts])
    row, cls, score, tp, cand = (joined(name) for name in ("row", "cls", "score", "tp", "cand"))
    gt_row = np.where(tp, g.row[np.maximum(cand, 0)], -1) if len(g.row) else np.full(len(tp), -1)
    return Decisions(classes, row, cls, score, tp, gt_row, g.row, g.n_gt, flavor)


def _parts(d: _Rows, n: int) -> list[_Rows]:
    """d cut into up to n parts of whole keyframes, consecutive in visiting order, of about equal rows (one
    part if d is small): the keyframes are matched independently, and the parts' results, concatenated,
    are in matching order. Slices (no copies) when each keyframe's rows are consecutive, as in AVA files."""
    if n < 2 or len(d.visit) < _PARALLEL_ROWS:
        return [d]
    if (d.visit[1:] >= d.visit[:-1]).all():                 # sorted: parts are row ranges
        cut = np.searchsorted(d.visit, d.visit[np.arange(1, n) * len(d.visit) // n])   # keyframes' first rows
        at = np.unique(np.r_[0, cut, len(d.visit)]).tolist()
        pick = [slice(a, b) for a, b in itertools.pairwise(at)]
        rows = [d.row[s] if d.row is not None else np.arange(s.start, s.stop, dtype=np.int32) for s in pick]
    else:
        counts = np.cumsum(np.bincount(d.visit))
        bounds = np.unique(np.r_[0, np.searchsorted(counts, np.arange(1, n) * len(d.visit) // n, "right"),
                                 len(counts)])              # visit ranks where the parts start
        pick = [np.flatnonzero((d.visit >= lo) & (d.visit < hi)) for lo, hi in itertools.pairwise(bounds.tolist())]
        rows = [_position(d, i).astype(np.int32) for i in pick]
    return [_Rows(r, d.visit[i], d.img[i], d.cls[i], d.score[i]) for r, i in zip(rows, pick, strict=True)]


class _Matched(NamedTuple):
    """`_match`'s decisions about the detections of some keyframes, in matching order."""
    row: np.ndarray               # (n,) position in det
    cls: np.ndarray               # (n,) class index
    score: np.ndarray             # (n,)
    tp: np.ndarray                # (n,) bool
    cand: np.ndarray              # (n,) candidate GT box (index into g, -1 = none)
    gt_stop: int                  # the first row of gt the official evaluator stops on (`_gt_stop`), -1 = none


def _match(det: ava.Table, g: _GT, d: _Rows, n_cls: int, rules: _Rules, whole: _Whole) -> _Matched:
    """The decisions about the rows d (whole keyframes): the detections evaluated, in matching order."""
    kept = _kept(det, d, rules, whole)
    valid = _valid_boxes(det, _position(d, kept), whole)                           # pie:365-366
    if valid is not None:
        kept = kept[valid]
    group = d.img[kept] * n_cls + d.cls[kept]                                     # (n,) image * C + class
    gt_stop = _gt_stop(g, group)
    cand, cand_iou = _candidates(group, lambda i: _det_boxes(det, _position(d, kept[i])), g)
    del group
    with np.errstate(invalid="ignore"):
        can_match = cand_iou >= IOU_THRESHOLD                                      # NaN: never
    del cand_iou
    if rules.heap_order:
        perm = _exact_ties(det, d, kept, _outcome(cand, can_match, d.score[kept]), rules)
        if perm is not None:
            kept, cand, can_match = kept[perm], cand[perm], can_match[perm]
    return _Matched(_position(d, kept), d.cls[kept], d.score[kept], _first_use(cand, can_match), cand, gt_stop)


def _gt_stop(g: _GT, d_group: np.ndarray) -> int:
    """A GT box with x1 > x2 or y1 > y2 on a keyframe with a kept detection of its class stops the official
    evaluator (np_box_list.py:131): the first such row in the file, -1 if none."""
    reversed_ = (g.box[:, 0] > g.box[:, 2]) | (g.box[:, 1] > g.box[:, 3])
    if reversed_.any():
        stop = reversed_ & np.isin(g.group, d_group)
        if stop.any():
            return int(g.row[stop].min())
    return -1


# ---- lart eval ----------------------------------------------------------------------------------------

def evaluate_files(gt_csv, pred_csv, labelmap=None, exclusions=None, flavor="activitynet",
                   strict: bool = False) -> EvalResult:
    """`frame_map` of CSV files (label map pbtxt path or None = the 60 evaluated classes).

    Rows the official evaluator reads although AVA's rules do not allow them (coordinates outside [0, 1],
    reversed boxes, action ids outside 1..80, NaN, quoted fields, a BOM) are evaluated as the official
    does and summarised in `result.warnings`, one line per kind; strict=True makes them errors.
    """
    labels = ava.read_labelmap(labelmap) if labelmap is not None else None
    excl = ava.read_keyframes(exclusions, pandas=False) if exclusions is not None else None
    odd: tuple[list | None, list | None] = (None, None) if strict else ([], [])

    def ground_truth() -> ava.Table:
        gt = gt_future.result()                             # its error first, as if read before the detections
        if not len(gt):
            raise ava.AvaFormatError(f"{gt_csv}: the ground-truth CSV has no rows: nothing to evaluate")
        return gt
    with ThreadPoolExecutor(1) as pool:                     # the small GT file beside the large one
        gt_future = pool.submit(ava.read_gt, gt_csv, odd[0], False)
        try:
            det = ava.read_detections(pred_csv, oddities=odd[1], pandas=False)
        except Exception:
            ground_truth()
            raise
        gt = ground_truth()
    oddities = None if strict else odd[0] + odd[1]
    try:
        result = frame_map(gt, det, labels, excl, flavor=flavor)
    except RowError as e:
        path = gt_csv if e.what == "ground truth" else pred_csv
        raise ava.AvaFormatError(f"{ava.line_of(path, e.row, e.what)}: {e.message}") from None
    result.warnings = tuple(str(o) for o in oddities or ())
    return result


def summary(result: EvalResult) -> str:
    """Two lines: mAP over the classes with GT, and the PM / OM / PI means."""
    cols = result.columns()
    n: dict[str, int] = {}
    for t, k in zip(cols["type"], cols["n_gt"], strict=True):
        if k > 0 and isinstance(t, str):
            n[t] = n.get(t, 0) + 1
    parts = [f"{t} {result.by_type[t]:.4f} ({n.get(t, 0)})" for t in TYPES]
    return (f"frame-mAP@{IOU_THRESHOLD} ({result.flavor}): {result.map:.6f} over {int(sum(n.values()))} "
            f"classes with GT\n" + "  ".join(parts))
