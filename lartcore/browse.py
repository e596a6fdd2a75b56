"""Data shaping for the dashboard (clip browser, per-class comparison, ablations): plain numpy / pandas,
no Streamlit, so every number a page shows is computed here and unit-tested.

Letters: T frames of a track, C model classes, N tracks, K keyframes. Frames are Track frames (the AVA time
axis of `lartcore.schema`). Boxes of AVA CSVs are normalised x1, y1, x2, y2; Track boxes are pixels
[x0, y0, w, h].
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from lartcore import tables
from lartcore.data import ava
from lartcore.data.store import frame_span
from lartcore.data.tracks import Track
from lartcore.schema import BODY_POSE, FIRST_SECOND, FPS, GT_LABEL, short_name, timestamp_of

GT_BOX_RGB = (255, 255, 255)           # ground-truth boxes: white, dashed (predictions: track colours)


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


# ---- label chips ------------------------------------------------------------------------------------------

def chips(scores: np.ndarray, action_ids, k: int = 3, threshold: float = 0.0) -> list[str]:
    """(C,) scores of the classes `action_ids` -> up to k "short name 92%" texts, best first, only scores
    >= threshold (and > 0)."""
    scores = np.asarray(scores, np.float64)
    order = np.argsort(-scores, kind="stable")[:k]
    return [f"{short_name(int(action_ids[c]))} {scores[c]:.0%}" for c in order
            if scores[c] >= threshold and scores[c] > 0]


def gt_chips(track: Track, i: int) -> list[str]:
    """Ground-truth labels of frame i (only where has_gt == 2, i.e. annotated keyframes), as "GT name"."""
    if track.has_gt[i] != GT_LABEL:
        return []
    return ["GT " + short_name(int(c) + 1) for c in np.flatnonzero(track.labels[i] > 0.5)]


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


def draw_gt_boxes(image: np.ndarray, boxes: pd.DataFrame, dash: int = 8) -> np.ndarray:
    """Dashed white ground-truth boxes (normalised x1, y1, x2, y2) over an (H, W, 3) uint8 image (copy)."""
    out = image.copy()
    h, w = out.shape[:2]
    for x1, y1, x2, y2 in boxes[ava.BOX].to_numpy(np.float64):
        c0, c1 = int(np.clip(x1 * w, 0, w - 1)), int(np.clip(x2 * w, 0, w - 1))
        r0, r1 = int(np.clip(y1 * h, 0, h - 1)), int(np.clip(y2 * h, 0, h - 1))
        on_r = (np.arange(r1 - r0 + 1) // dash) % 2 == 0             # dashes start at the corners
        on_c = (np.arange(c1 - c0 + 1) // dash) % 2 == 0
        for r in (r0, r1):
            out[r, c0:c1 + 1][on_c] = GT_BOX_RGB
        for c in (c0, c1):
            out[r0:r1 + 1, c][on_r] = GT_BOX_RGB
    return out


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


def keyframe_outcomes(det: pd.DataFrame, gt: pd.DataFrame, action_id: int) -> pd.DataFrame:
    """Per keyframe (video_id, timestamp) of the GT or the detections: has_gt (a GT box has the class),
    score (highest detection score for the class, 0 if none), fp = score where no GT, fn = 1 - score
    where GT. A keyframe-level view for the drill-down (the AP itself is box-level)."""
    key = ["video_id", "timestamp"]
    d = det[det["action_id"] == action_id].groupby(key)["score"].max()
    g = gt[gt["action_id"] == action_id].groupby(key).size().rename("n_gt")
    frames = pd.concat([det[key], gt[key]]).drop_duplicates().set_index(key)
    out = frames.join(d).join(g).fillna({"score": 0.0, "n_gt": 0}).reset_index()
    out["has_gt"] = out["n_gt"] > 0
    out["fp"] = np.where(out["has_gt"], 0.0, out["score"])
    out["fn"] = np.where(out["has_gt"], 1.0 - out["score"], 0.0)
    return out.astype({"n_gt": "int64"})


SORTS = ("false positives", "false negatives", "A right, B wrong")


def drilldown(det_a: pd.DataFrame, det_b: pd.DataFrame, gt: pd.DataFrame, action_id: int, sort: str,
              threshold: float = 0.5, limit: int = 50) -> pd.DataFrame:
    """Keyframes of one class, worst first by `sort` (SORTS): A's false positives / negatives, or
    keyframes where A is right and B wrong at `threshold` (score >= threshold means "has the class")."""
    a = keyframe_outcomes(det_a, gt, action_id)
    b = keyframe_outcomes(det_b, gt, action_id)[["video_id", "timestamp", "score"]]
    both = a.merge(b, on=["video_id", "timestamp"], how="left", suffixes=("_a", "_b")).fillna({"score_b": 0.0})
    both = both.rename(columns={"fp": "fp_a", "fn": "fn_a"})
    if sort == SORTS[0]:
        out = both[both["fp_a"] > 0].sort_values("fp_a", ascending=False)
    elif sort == SORTS[1]:
        out = both[both["fn_a"] > 0].sort_values("fn_a", ascending=False)
    elif sort == SORTS[2]:
        right_a = (both["score_a"] >= threshold) == both["has_gt"]
        right_b = (both["score_b"] >= threshold) == both["has_gt"]
        out = both[right_a & ~right_b].assign(margin=lambda x: (x["score_a"] - x["score_b"]).abs())
        out = out.sort_values("margin", ascending=False)
    else:
        raise ValueError(f"drilldown: sort expected one of {SORTS}, found {sort!r}")
    cols = ["video_id", "timestamp", "has_gt", "n_gt", "score_a", "score_b"]
    return out[cols].head(limit).reset_index(drop=True)


def deep_link(video: str, timestamp: float, track: int | None = None) -> str:
    """Query string of the clip browser for a frame: ?video=...&t=...[&track=...]."""
    link = f"?video={video}&t={float(timestamp):g}"
    return link + (f"&track={int(track)}" if track is not None else "")


# ---- ablations: paper tables next to reproduced numbers ----------------------------------------------------

NOT_RUN = "not run yet (`make demo` / `lartcore.pipeline.ensure_run`)"
ABLATIONS = ("table2", "table5", "table6", "figure6")


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
