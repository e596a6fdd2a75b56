"""Data shaping for the dashboard (clip browser, per-class comparison, ablations): plain numpy / pandas,
no Streamlit, so every number a page shows is computed here and unit-tested.

Letters: T frames of a track, C model classes, N tracks, K keyframes. Frames are Track frames (the AVA time
axis of `lartcore.schema`). Boxes of AVA CSVs are normalised x1, y1, x2, y2; Track boxes are pixels
[x0, y0, w, h].
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from urllib.parse import urlencode

import numpy as np
import pandas as pd

from lartcore import tables
from lartcore.data import ava
from lartcore.data.store import frame_span
from lartcore.data.tracks import Track
from lartcore.explain import Edit, Explanation, label, parse_group
from lartcore.infer import MATCH_IOU, PROTOCOLS, keyframe_boxes, pair_iou
from lartcore.matches import Matches
from lartcore.schema import BODY_POSE, FIRST_SECOND, FPS, NUM_CLASSES, frame_of, short_name, timestamp_of

# ---- time ------------------------------------------------------------------------------------------------

def step_keyframe(frames: np.ndarray, frame: int, step: int) -> int:
    """The keyframe `step` positions after (step > 0) or before `frame` (clamped; `frame` if none)."""
    if not len(frames):
        return int(frame)
    pos = np.searchsorted(frames, frame, side="right" if step > 0 else "left")
    pos = pos + step - 1 if step > 0 else pos + step
    return int(frames[int(np.clip(pos, 0, len(frames) - 1))])


def shot_of(changes: np.ndarray, frame: int) -> int:
    """0-based shot number of `frame` given a video's sorted shot-change frames."""
    return int(np.searchsorted(changes, frame, side="right"))


def shot_spans(changes: np.ndarray, first: int, last: int) -> list[tuple[int, int]]:
    """The shots inside frames [first, last] as inclusive (start, end) frame pairs."""
    cuts = [int(c) for c in changes if first < c <= last]
    return list(zip([first, *cuts], [c - 1 for c in cuts] + [last], strict=True))


# ---- deep links: what was asked and what is shown ---------------------------------------------------------

def pick(asked: str | None, options: list, what: str, cast=str, default=None) -> tuple[object, str]:
    """The option a deep-link value asks for -> (option, note). Nothing asked: (default or the first
    option, ""). An unknown or malformed value: the default, and a note saying what was asked and what is
    shown instead."""
    fallback = default if default is not None else (options[0] if options else None)
    if asked is None:
        return fallback, ""
    try:
        value = cast(asked)
    except (TypeError, ValueError):
        value = None
    if value in options:
        return value, ""
    shown = f"showing {fallback}" if fallback is not None else "nothing to show"
    return fallback, f"{what} {asked!r} is not one of this page's choices: {shown}."


def parse_time(asked: str | None, span: tuple[int, int], default: int) -> tuple[int, str]:
    """?t= (AVA seconds) -> (frame, note): the frame of that time; a value that is not a finite number or
    lies outside the video's frames `span` gives `default` (or the nearest frame of the span) and a note."""
    if asked is None:
        return int(default), ""
    try:
        t = float(asked)
    except ValueError:
        t = math.nan
    lo, hi = timestamp_of(span[0]), timestamp_of(span[1])
    if not math.isfinite(t):
        return int(default), (f"t={asked!r} is not a time in seconds: showing t = {timestamp_of(default):.2f} s "
                              f"(this video spans {lo:.2f}-{hi:.2f} s).")
    frame = frame_of(t)
    if span[0] <= frame <= span[1]:
        return frame, ""
    near = int(np.clip(frame, *span))
    return near, (f"t = {t:g} s is outside this video ({lo:.2f}-{hi:.2f} s): showing t = "
                  f"{timestamp_of(near):.2f} s.")


# ---- one video of a store --------------------------------------------------------------------------------

CHUNK_FRAMES = 60 * FPS    # the clip browser loads tracks and predictions one minute of video at a time


def videos(index: pd.DataFrame) -> list[str]:
    """Video ids of a store index, sorted."""
    return sorted(index["video"].astype(str).unique())


def video_span(index: pd.DataFrame, video: str) -> tuple[int, int]:
    """(first, last) frame covered by a video's tracks (inclusive), from the index alone."""
    rows = index[index["video"].astype(str) == video]
    if rows.empty:
        raise KeyError(f"no tracks of video {video!r} in the index")
    return frame_span(rows)


def track_lanes(index: pd.DataFrame, video: str) -> pd.DataFrame:
    """One row per track of `video` from the index alone: track_id, first, last (frames, inclusive)."""
    rows = index[index["video"].astype(str) == video]
    first = rows["frame_start"].to_numpy(np.int64)
    return pd.DataFrame({"track_id": rows["track_id"].to_numpy(np.int64), "first": first,
                         "last": first + rows["length"].to_numpy(np.int64) - 1}).sort_values(
        ["first", "track_id"], ignore_index=True)


def chunk_of(frame: int) -> tuple[int, int]:
    """(first, last) frames of the CHUNK_FRAMES-long stretch holding `frame`."""
    lo = int(frame) // CHUNK_FRAMES * CHUNK_FRAMES
    return lo, lo + CHUNK_FRAMES - 1


# ---- ground truth at a frame -------------------------------------------------------------------------------

def gt_boxes_at(gt: pd.DataFrame, video: str, frame: int) -> pd.DataFrame:
    """Ground-truth rows (ava.read_gt) of `video` at the keyframe `frame`, one row per box with its
    labels joined: x1, y1, x2, y2, person_id, labels ("a, b")."""
    ts = timestamp_of(frame)
    rows = gt[(gt["video_id"].astype(str) == video) & np.isclose(gt["timestamp"].astype(float), ts)]
    if rows.empty:
        return pd.DataFrame(columns=[*ava.BOX, "person_id", "labels"])
    names = rows["action_id"].map(lambda a: short_name(int(a)))
    keyed = rows.assign(name=names).groupby([*ava.BOX, "person_id"], sort=True)["name"]
    return keyed.agg(", ".join).rename("labels").reset_index()


# ---- one track's timelines --------------------------------------------------------------------------------

def joint_angles(track: Track) -> np.ndarray:
    """(T, 23) rotation angle (degrees) of each SMPL body joint per frame, NaN where not detected:
    the pose timeline."""
    rot = track.pose_shape[:, BODY_POSE].reshape(len(track), 23, 3, 3).astype(np.float64)
    cos = (np.trace(rot, axis1=-2, axis2=-1) - 1.0) / 2.0                    # (T, 23)
    angles = np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))
    angles[~track.has_detection] = np.nan
    return angles


def missing_spans(track: Track) -> list[tuple[int, int]]:
    """(first, last) frames (inclusive) of each run of undetected frames (in-filled by the mask token)."""
    miss = ~np.asarray(track.has_detection, bool)
    edges = np.diff(np.r_[0, miss.astype(np.int8), 0])
    starts, stops = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    first = int(track.frame[0]) if len(track) else 0
    return [(first + int(a), first + int(b) - 1) for a, b in zip(starts, stops, strict=True)]


def seen_near(track: Track, frame: int) -> tuple[int | None, int | None]:
    """(the last frame before `frame`, the first after it) where the track is detected, None where there
    is none: where an in-filled person was last / next seen."""
    det = np.flatnonzero(track.has_detection) + int(track.frame[0]) if len(track) else np.zeros(0, int)
    before, after = det[det < frame], det[det > frame]
    return (int(before[-1]) if len(before) else None), (int(after[0]) if len(after) else None)


def curves(track: Track, scores: np.ndarray, action_ids, classes: list[int]) -> pd.DataFrame:
    """Long table frame, timestamp, action_id, class, score for the chosen AVA ids; scores (T, C)."""
    col = {int(a): j for j, a in enumerate(action_ids)}
    chosen = [a for a in classes if a in col]
    return pd.DataFrame({
        "frame": np.tile(track.frame, len(chosen)),
        "timestamp": np.tile(FIRST_SECOND + track.frame / FPS, len(chosen)),
        "action_id": np.repeat(chosen, len(track)),
        "class": np.repeat([short_name(a) for a in chosen], len(track)),
        "score": np.concatenate([scores[:, col[a]] for a in chosen]) if chosen else np.zeros(0),
    })


def top_classes(scores: np.ndarray, action_ids, k: int = 3) -> list[int]:
    """AVA ids of the k classes with the highest mean score over a track's frames, (T, C) scores."""
    order = np.argsort(-scores.mean(axis=0), kind="stable")[:k]
    return [int(action_ids[c]) for c in order]


# ---- per-class comparison ----------------------------------------------------------------------------------

def side_by_side(a: pd.DataFrame, b: pd.DataFrame, types=("PM", "OM", "PI")) -> pd.DataFrame:
    """Per-class tables (registry per_class.csv) of runs A and B -> id, name, type, n_gt, ap_a, ap_b, gain
    in AP points (x100), classes of the chosen types, sorted by gain (largest first). NaN AP (no GT) kept."""
    both = a[["id", "name", "type", "n_gt", "ap"]].merge(b[["id", "ap"]], on="id", how="outer",
                                                         suffixes=("_a", "_b"), validate="one_to_one")
    both = both[both["type"].isin(types)].copy()
    both["ap_a"] *= 100.0
    both["ap_b"] *= 100.0
    both["gain"] = both["ap_b"] - both["ap_a"]
    return both.sort_values(["gain", "id"], ascending=[False, True], na_position="last").reset_index(drop=True)


def validate_per_class(df: pd.DataFrame, name: str = "per_class.csv") -> tuple[pd.DataFrame, str]:
    """An uploaded per-class table checked and put on the registry's scale -> (table with ap in [0, 1],
    a note saying how AP was read). Raises ValueError naming the problem: no rows, an id outside the AVA
    ids 1..80, a duplicated id, AP outside both [0, 1] and [0, 100]."""
    if df.empty:
        raise ValueError(f"{name}: no rows (a header only)")
    ids = df["id"].to_numpy()
    bad = [int(i) for i in ids if not 1 <= int(i) <= NUM_CLASSES]
    if bad:
        raise ValueError(f"{name}: class ids outside the AVA ids 1..{NUM_CLASSES}: {bad[:10]}")
    dup = sorted({int(i) for i in ids[pd.Series(ids).duplicated().to_numpy()]})
    if dup:
        raise ValueError(f"{name}: class ids listed more than once: {dup[:10]}")
    ap = df["ap"].to_numpy(np.float64)
    known = ap[np.isfinite(ap)]
    if len(known) and (known.min() < 0 or known.max() > 100):
        raise ValueError(f"{name}: AP must lie in [0, 1] (fractions) or [0, 100] (points), found "
                         f"{known.min():g}..{known.max():g}")
    if len(known) and known.max() > 1:
        return df.assign(ap=ap / 100.0), f"{name}: AP read as points in [0, 100]"
    return df, f"{name}: AP read as fractions in [0, 1]"


def protocol_of(run_dir) -> str:
    """"paper" or "official": the inference protocol of a registry run (its predict.json, written by
    `lartcore.pipeline`; else its name: `<variant>-official`), "not recorded" if neither says."""
    stamp = Path(run_dir) / "predict.json"
    kind = json.loads(stamp.read_text()).get("kind") if stamp.is_file() else None
    if kind in PROTOCOLS:
        return kind
    if kind == "class_prior":
        return "paper"                               # the baseline scores the provided boxes
    return "official" if Path(run_dir).name.endswith("-official") else "not recorded"


def run_facts(name: str, protocol: str, predicted_ids, evaluated: int, demo: bool) -> str:
    """One line saying what a run's numbers are: its protocol, the classes it predicts and the classes
    evaluated, and whether the data are the synthetic demo or real."""
    data = "demo data (synthetic, not comparable to the paper)" if demo else "real data"
    protocol = f"{protocol} protocol" if protocol in PROTOCOLS else f"protocol {protocol}"
    return (f"run **{name}** · {protocol} · predicts {len(set(predicted_ids))} classes, evaluated on "
            f"{evaluated} (AVA v2.2 label map) · {data}")


def _pairs(a: pd.DataFrame, b: pd.DataFrame, min_iou: float) -> tuple[np.ndarray, np.ndarray]:
    """Boxes of a and b (columns video_id, timestamp, x1..y2) paired one-to-one within each keyframe,
    highest IoU first, IoU >= min_iou -> (rows of a, rows of b)."""
    left = a[["video_id", "timestamp"]].assign(ts=a["timestamp"].round(6), ra=np.arange(len(a)))
    right = b[["video_id", "timestamp"]].assign(ts=b["timestamp"].round(6), rb=np.arange(len(b)))
    pairs = left.drop(columns="timestamp").merge(right.drop(columns="timestamp"), on=["video_id", "ts"])
    ra, rb = pairs["ra"].to_numpy(np.int64), pairs["rb"].to_numpy(np.int64)
    iou = pair_iou(a[ava.BOX].to_numpy(np.float64)[ra], b[ava.BOX].to_numpy(np.float64)[rb])
    order = np.argsort(-iou, kind="stable")
    ra, rb, iou = ra[order], rb[order], iou[order]
    used_a, used_b, keep = set(), set(), []
    for k in np.flatnonzero(iou >= min_iou):
        if ra[k] not in used_a and rb[k] not in used_b:
            used_a.add(ra[k])
            used_b.add(rb[k])
            keep.append(k)
    return ra[keep], rb[keep]


def box_outcomes(m: Matches, action_id: int) -> pd.DataFrame:
    """Every box of one class for one run, from the evaluator's decisions (`lartcore.matches`): its GT
    boxes (gt True) with the score of the detection the evaluator matched to each (0 if none), then its
    unmatched detections (gt False) with their scores. Columns video_id, timestamp, x1..y2, gt, score,
    gt_row (-1 for unmatched detections), rank (NaN for GT boxes no detection matched)."""
    g = m.gt[m.gt["action_id"] == action_id]
    d = m.detections[m.detections["action_id"] == action_id]
    rank = d.set_index("row")["rank"]
    pos = g.assign(gt=True, score=g["det_score"].fillna(0.0), gt_row=g["row"],
                   rank=rank.reindex(g["det_row"]).to_numpy())
    neg = d[~d["tp"]].assign(gt=False, gt_row=-1)
    cols = ["video_id", "timestamp", *ava.BOX, "gt", "score", "gt_row", "rank"]
    return pd.concat([pos[cols], neg[cols]], ignore_index=True)


AB_SORTS = ("B right, A wrong", "A right, B wrong", "false positives of A", "false negatives of A",
            "false positives of B", "false negatives of B")      # first: where B (the new run) fixes A


def operating_point(m: Matches, action_id: int) -> float:
    """A run's score threshold for one class at its R-precision point: the score of its n_gt-th highest
    detection of the class (where precision equals recall; calibration-free, like AP), the lowest score when
    it has fewer detections, inf without any."""
    d = m.detections.loc[m.detections["action_id"] == action_id, "score"].sort_values(ascending=False)
    n_gt = int(m.per_class.set_index("id")["n_gt"].get(action_id, 0))
    if d.empty:
        return math.inf
    return float(d.iloc[min(max(n_gt, 1), len(d)) - 1])


def ab_boxes(m_a: Matches, m_b: Matches, action_id: int, thresholds=0.5) -> pd.DataFrame:
    """The boxes of one class under runs A and B side by side: GT boxes (the same GT rows for both) and
    the unmatched detections of either run, paired across runs by IoU >= 0.5 in their keyframe (unpaired:
    the other run scores 0 there). right_x: run x's score reaches its threshold (`thresholds`: one for both
    or (A's, B's), e.g. each run's `operating_point`) on a GT box, or stays below it on a box without GT."""
    t_a, t_b = thresholds if isinstance(thresholds, tuple) else (thresholds, thresholds)
    a, b = box_outcomes(m_a, action_id), box_outcomes(m_b, action_id)
    pos = a[a["gt"]].merge(b.loc[b["gt"], ["gt_row", "score", "rank"]], on="gt_row", how="outer",
                           suffixes=("_a", "_b"))
    pos = pos.fillna({"score_a": 0.0, "score_b": 0.0}).assign(gt=True)
    na, nb = a[~a["gt"]].reset_index(drop=True), b[~b["gt"]].reset_index(drop=True)
    ra, rb = _pairs(na, nb, 0.5)
    paired = na.iloc[ra].reset_index(drop=True).assign(score_b=nb["score"].to_numpy()[rb],
                                                       rank_b=nb["rank"].to_numpy()[rb])
    only_a = na.drop(index=ra).assign(score_b=0.0, rank_b=np.nan)
    only_b = nb.drop(index=rb).rename(columns={"score": "score_b", "rank": "rank_b"}).assign(score=0.0, rank=np.nan)
    neg = pd.concat([paired, only_a, only_b], ignore_index=True).rename(columns={"score": "score_a",
                                                                                 "rank": "rank_a"})
    out = pd.concat([pos, neg.assign(gt=False)], ignore_index=True)
    for x, t in (("a", t_a), ("b", t_b)):
        reached = out[f"score_{x}"] >= t
        out[f"right_{x}"] = np.where(out["gt"], reached, ~reached)
    cols = ["video_id", "timestamp", *ava.BOX, "gt", "score_a", "score_b", "right_a", "right_b", "rank_a",
            "rank_b"]
    return out[cols].astype({"gt": bool, "right_a": bool, "right_b": bool})


def ab_drilldown(boxes: pd.DataFrame, sort: str, limit: int = 50) -> pd.DataFrame:
    """Rows of `ab_boxes` chosen by `sort` (AB_SORTS), worst first: where one run is right and the other
    wrong (largest score difference first), or one run's false positives (a box without GT scored at its
    threshold or above, highest first) / false negatives (a GT box scored below it, lowest first)."""
    if sort not in AB_SORTS:
        raise ValueError(f"ab_drilldown: sort expected one of {AB_SORTS}, found {sort!r}")
    if sort.startswith(("A right", "B right")):
        x, y = ("a", "b") if sort.startswith("A") else ("b", "a")
        out = boxes[boxes[f"right_{x}"] & ~boxes[f"right_{y}"]]
        out = out.assign(margin=(out["score_a"] - out["score_b"]).abs()).sort_values("margin", ascending=False)
    else:
        x = sort[-1].lower()
        wrong = boxes[~boxes[f"right_{x}"]]
        if sort.startswith("false positives"):
            out = wrong[~wrong["gt"]].sort_values(f"score_{x}", ascending=False)
        else:
            out = wrong[wrong["gt"]].sort_values(f"score_{x}")
    return out.head(limit).reset_index(drop=True).drop(columns="margin", errors="ignore")


def attach_tracks(rows: pd.DataFrame, kf_boxes: pd.DataFrame, min_iou: float = MATCH_IOU) -> pd.Series:
    """The track id (person) of each box of `rows` (video_id, timestamp, x1..y2): the detected track
    whose box at that keyframe overlaps it most (IoU >= min_iou), from `keyframe_tracks`; NaN if none."""
    if rows.empty or kf_boxes.empty:
        return pd.Series(np.nan, index=rows.index, dtype="float64")
    left = rows[["video_id", "timestamp"]].assign(ts=rows["timestamp"].astype(float).round(6), r=np.arange(len(rows)))
    right = kf_boxes[["video_id", "timestamp", "track_id"]].assign(ts=kf_boxes["timestamp"].round(6),
                                                                   k=np.arange(len(kf_boxes)))
    pairs = left.drop(columns="timestamp").merge(right.drop(columns="timestamp"), on=["video_id", "ts"])
    r, k = pairs["r"].to_numpy(np.int64), pairs["k"].to_numpy(np.int64)
    iou = pair_iou(rows[ava.BOX].to_numpy(np.float64)[r], kf_boxes[ava.BOX].to_numpy(np.float64)[k])
    best = pd.DataFrame({"r": r, "iou": iou, "track": pairs["track_id"].to_numpy()})
    best = best[best["iou"] >= min_iou].sort_values(["r", "iou"], ascending=[True, False]).drop_duplicates("r")
    out = np.full(len(rows), np.nan)
    out[best["r"].to_numpy()] = best["track"].to_numpy(np.float64)
    return pd.Series(out, index=rows.index)


def keyframe_tracks(source) -> pd.DataFrame:
    """Each track's detected box at each keyframe it covers: video_id, timestamp, track_id, x1..y2
    (`lartcore.infer.keyframe_boxes` of a store or VideoSource)."""
    table = keyframe_boxes(source)
    table = table[table["detected"]]
    return table.assign(track_id=source.index["track_id"].to_numpy(np.int64)[table["track"].to_numpy()])[
        ["video_id", "timestamp", "track_id", *ava.BOX]].reset_index(drop=True)


def deep_link(video: str, timestamp: float, track: int | None = None, run: str | None = None,
              b: str | None = None, action_id: int | None = None) -> str:
    """Query string of the clip browser: ?video=...&t=...[&track=...][&run=...][&b=...][&class=...]."""
    query = {"video": video, "t": f"{float(timestamp):g}"}
    if track is not None and np.isfinite(track):
        query["track"] = str(int(track))
    query.update({k: v for k, v in (("run", run), ("b", b)) if v})
    if action_id is not None:
        query["class"] = str(int(action_id))
    return "?" + urlencode(query, safe="/")


# ---- the Explain panel: one prediction (lartcore.explain) ------------------------------------------------

def nearest_keyframe(keys: np.ndarray, frame: int) -> int | None:
    """The keyframe closest to `frame` (the earlier one on a tie); None without keyframes."""
    if not len(keys):
        return None
    keys = np.asarray(keys, np.int64)
    return int(keys[np.argmin(np.abs(keys - int(frame)))])


def top_people(exp: Explanation, method: str, k: int = 3) -> pd.DataFrame:
    """The people who moved the explained score most: the k largest |totals| of `method`'s map
    (`Explanation.people_totals`; integrated gradients: > 0 raised the score, < 0 lowered it), rank 1
    first; people with a total of 0 are left out. Columns: track_id, rank, total (signed)."""
    totals = exp.people_totals(method)
    totals = totals[totals != 0]
    totals = totals.iloc[np.argsort(-np.abs(totals.to_numpy()), kind="stable")].head(k)
    return pd.DataFrame({"track_id": totals.index.to_numpy(np.int64), "rank": np.arange(1, len(totals) + 1),
                         "total": totals.to_numpy(np.float64)})


def whatif_groups(edits) -> list:
    """What the what-if bars compare for the toggled edits: each edit alone and, with two or more, their
    combination (one `explain.EditGroup`, applied in order) last."""
    edits = tuple(edits)
    return [*edits, edits] if len(edits) > 1 else list(edits)


def whatif_link(asked: str | None, people, frames, streams) -> tuple[tuple[Edit, ...], str]:
    """?edits= (the combined toggles in `explain.parse_group`'s text form, e.g. "drop others + drop pose")
    -> (the edits that apply to this input, note). Left out, each named in the note: a person who is not one
    of the other people of the input (`people`: track ids, the person of interest first), a cue the model
    does not take (`streams`), an edit without a toggle (swap pose); a hidden span is clipped to the input's
    `frames` (left out when outside them). A value that does not parse: no edit. Duplicates count once."""
    if not asked:
        return (), ""
    try:
        group = parse_group(asked)
    except ValueError as e:
        return (), f"edits {asked!r} are not edits ({e}): showing no edit."
    others = [int(p) for p in people[1:]]
    lo, hi = int(np.min(frames)), int(np.max(frames))
    kept, problems = [], []
    for e in dict.fromkeys(group):
        why = ""
        if e.kind == "swap_pose":
            why = "no toggle for it"
        elif e.kind == "drop_person" and e.track_id not in others:
            why = f"#{e.track_id} is not one of the other people here ({', '.join(f'#{p}' for p in others) or 'none'})"
        elif e.kind == "drop_others" and not others:
            why = "nobody else is in this input"
        elif e.kind == "drop_cue" and e.cue not in streams:
            why = f"the model has no {e.cue} input"
        elif e.kind == "hide_span":
            a, b = max(e.span[0], lo), min(e.span[1], hi)
            if a > b:
                why = f"outside the input's frames {lo}-{hi}"
            elif (a, b) != tuple(e.span):
                problems.append(f"'{e}' clipped to the input's frames {lo}-{hi}")
                e = Edit("hide_span", span=(a, b), poi_only=e.poi_only)
        if why:
            problems.append(f"'{e}': {why}")
        else:
            kept.append(e)
    kept = tuple(dict.fromkeys(kept))
    note = f"edits {asked!r}: {'; '.join(problems)}; showing {label(kept) or 'no edit'}." if problems else ""
    return kept, note


# ---- evaluation views: PR curves, label confusion, keyframe grid ------------------------------------------

def label_confusion(gt: pd.DataFrame, det: pd.DataFrame, threshold: float = 0.5,
                    min_iou: float = 0.5) -> pd.DataFrame:
    """What a run predicts on the GT boxes of each class. Each GT box (its labels joined) takes the run's
    detection box of its keyframe that overlaps it most (IoU >= min_iou; none: it predicts nothing).
    Rows: gt_id (a GT class), pred_id (a class the run scores), n_boxes (GT boxes of gt_id), rate (share of
    them where pred_id scores >= threshold), mean_score."""
    g = gt[gt["action_id"] > 0]
    key = ["video_id", "timestamp", *ava.BOX, "person_id"]
    gboxes = g[key].drop_duplicates().reset_index(drop=True)
    gboxes["video_id"] = gboxes["video_id"].astype(str)
    dkey = ["video_id", "timestamp", *ava.BOX]
    dets = det.assign(video_id=det["video_id"].astype(str))
    dboxes = dets[dkey].drop_duplicates().reset_index(drop=True)
    ids = np.sort(dets["action_id"].unique()).astype(np.int64)
    box_of = dets.merge(dboxes.reset_index(names="box"), on=dkey)["box"].to_numpy()
    scores = np.zeros((len(dboxes), len(ids)))
    scores[box_of, np.searchsorted(ids, dets["action_id"].to_numpy())] = dets["score"].to_numpy(np.float64)
    rg, rd = _pairs(gboxes, dboxes, min_iou)
    per_box = np.zeros((len(gboxes), len(ids)))                         # (m, C) the run's scores per GT box
    per_box[rg] = scores[rd]
    box_index = g.merge(gboxes.reset_index(names="box").astype({"video_id": object}),
                        on=key)[["box", "action_id"]].drop_duplicates()
    rows = []
    for a, boxes in box_index.groupby("action_id")["box"]:
        s = per_box[boxes.to_numpy()]
        rows.append(pd.DataFrame({"gt_id": int(a), "pred_id": ids, "n_boxes": len(s),
                                  "rate": (s >= threshold).mean(0), "mean_score": s.mean(0)}))
    cols = ["gt_id", "pred_id", "n_boxes", "rate", "mean_score"]
    return pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(columns=cols)


OUTCOMES = ("any", "TP", "FP", "FN")


def keyframe_grid(m: Matches, gt: pd.DataFrame, det: pd.DataFrame, action_id: int, threshold: float = 0.5,
                  gt_label: int | None = None, pred_label: int | None = None,
                  score_range: tuple[float, float] = (0.0, 1.0), outcome: str = "any") -> pd.DataFrame:
    """The evaluated keyframes (those of the GT) filtered for the keyframe grid, one row each: video_id,
    timestamp, score (the run's highest score for `action_id` there, 0 if none), n_gt, tp, fp, fn (boxes
    of `action_id` at `threshold`, the evaluator's matching). Filters: a GT box labelled `gt_label`; a
    detection scoring `pred_label` >= threshold; score within `score_range`; at least one box of the
    `outcome` (OUTCOMES). Sorted by video and time."""
    if outcome not in OUTCOMES:
        raise ValueError(f"keyframe_grid: outcome expected one of {OUTCOMES}, found {outcome!r}")
    key = ["video_id", "timestamp"]
    frames = gt[key].assign(video_id=gt["video_id"].astype(str), timestamp=gt["timestamp"].astype(float).round(6))
    frames = frames.drop_duplicates().set_index(key)
    d = m.detections[(m.detections["action_id"] == action_id)].assign(timestamp=lambda x: x["timestamp"].round(6))
    above = d[d["score"] >= threshold]
    g = m.gt[m.gt["action_id"] == action_id].assign(timestamp=lambda x: x["timestamp"].round(6))
    out = frames.join(d.groupby(key)["score"].max()).join(g.groupby(key).size().rename("n_gt"))
    out = out.join(above.groupby(key)["tp"].agg(tp="sum", n="size"))
    out = out.join((g["det_score"] >= threshold).groupby([g["video_id"], g["timestamp"]]).sum().rename("found"))
    out = out.fillna({"score": 0.0, "n_gt": 0, "tp": 0, "n": 0, "found": 0})
    out = out.assign(fp=out["n"] - out["tp"], fn=out["n_gt"] - out["found"]).astype(
        {"n_gt": "int64", "tp": "int64", "fp": "int64", "fn": "int64"})
    keep = out["score"].between(*score_range)
    if gt_label is not None:
        has = gt.loc[gt["action_id"] == gt_label, key].astype({"video_id": str})
        keep &= out.index.isin(pd.MultiIndex.from_frame(has.assign(timestamp=has["timestamp"].astype(float).round(6))))
    if pred_label is not None:
        hit = det.loc[(det["action_id"] == pred_label) & (det["score"] >= threshold), key].astype({"video_id": str})
        keep &= out.index.isin(pd.MultiIndex.from_frame(hit.assign(timestamp=hit["timestamp"].astype(float).round(6))))
    if outcome != "any":
        keep &= out[outcome.lower()] > 0
    cols = ["video_id", "timestamp", "score", "n_gt", "tp", "fp", "fn"]
    return out[keep].reset_index().sort_values(key, ignore_index=True)[cols]


def page_of(rows: pd.DataFrame, page: int, size: int) -> tuple[pd.DataFrame, int]:
    """(rows of 1-based `page` of `size` rows (clamped to the pages there are), number of pages)."""
    pages = max(1, -(-len(rows) // size))
    page = int(np.clip(page, 1, pages))
    return rows.iloc[(page - 1) * size:page * size], pages


# ---- ablations: paper tables next to reproduced numbers ----------------------------------------------------

NOT_RUN = "not run yet (`make demo` / `lartcore.pipeline.ensure_run`)"
ABLATIONS = ("table2", "table5", "table6", "figure6")


METRICS = ("mAP", "PM", "OM", "PI")


def ablation_display(table: pd.DataFrame) -> pd.DataFrame:
    """An ablation table laid out to read: what identifies a row (model, method, n_people ...), then each
    metric beside the paper's (mAP, mAP_paper, PM, ...), then the variant and the notes; git commits
    shortened."""
    numbers = [c for m in METRICS for c in (m, f"{m}_paper") if c in table.columns]
    tail = [c for c in ("variant", "status", "paper_note", "git_commit") if c in table.columns]
    ident = [c for c in table.columns if c not in numbers and c not in tail]
    out = table[ident + numbers + tail].copy()
    if "git_commit" in out:
        out["git_commit"] = out["git_commit"].astype("string").str.slice(0, 10)
    out.attrs = table.attrs
    return out


def runs_display(runs: pd.DataFrame) -> pd.DataFrame:
    """The registry's runs table in AP points (as every other table), with each run's protocol."""
    out = runs.copy()
    out[list(METRICS)] = 100.0 * out[list(METRICS)]
    out.insert(2, "protocol", [protocol_of(p) for p in out["path"]])
    out["git_commit"] = out["git_commit"].astype("string").str.slice(0, 10)
    return out


def ablation_table(name: str, results: tables.Results) -> pd.DataFrame:
    """`lartcore.tables.<name>` (paper values beside reproduced ones) of read-only `results` (recorded runs
    only); rows whose run is missing say so in `status`, and `git_commit` names the commit behind each
    reproduced number."""
    out = getattr(tables, name)(results)
    missing = (out["variant"] != "") & out["mAP"].isna()
    out.loc[missing, "status"] = NOT_RUN
    commits = {v: results.provenance(v).get("git_commit")
               for v in out.loc[~missing & (out["variant"] != ""), "variant"].unique()}
    out["git_commit"] = out["variant"].map(commits)
    return out
