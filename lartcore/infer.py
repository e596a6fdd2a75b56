"""Inference: `lart predict CHECKPOINT --store S [--boxes CSV] --out CSV [--protocol paper|official]`.

Flow: every track of a store is cut into the dataset's evaluation windows (the track as slot 0 plus up to
P-1 other tracks of its clip, most-overlapping first); the model runs on batches of windows in eval mode
(undetected tokens are in-filled) and gives per-frame sigmoid scores of the person of interest
(`track_scores`). Keyframe scores are means over a 12-frame window, taken from a cumulative sum
(`keyframe_table`). Letters: B batch, T frames, P people, C model classes, F frames of all tracks,
K keyframe rows.

Keyframes: every whole AVA second (0902..1798, frame (ts - 900) * 30) inside a track. When tracks of
several clips (release files cut around different keyframes) cover the same second of a video, only the
clip whose own keyframe is nearest to it is used, so each person is predicted once per keyframe.

Protocols (the official one: lart/evaluators/ava.py of brjathu/LART, `test_type=track.fullframe@avg.6`):
- `paper`: score = mean sigmoid over frames [kf-6, kf+6) of the track (undetected frames in-filled). The
  provided person boxes (`--boxes`, SlowFast style) are matched to the track boxes of that keyframe by IoU
  (each provided box takes its best-IoU detected track box, if IoU >= MATCH_IOU); matched boxes get every
  model class; **unmatched boxes get no rows** (a class prior there would only add false positives with
  a constant score). Provided boxes are used whatever their detector score.
- `official` (the released code's `avg.6`): the track's own box at the keyframe, only where the person is
  detected there and its detector confidence >= OFFICIAL_MIN_CONF; score = mean sigmoid over
  [max(kf-6, 0), min(kf+6, len)); the 60 evaluated classes written per box. No `--boxes` needed.

Bad input (defined, never a crash): tracks shorter than the window are padded (padding rows ignored);
windows with no other people leave the other slots empty; windows with no detection at all get the
model's in-filled predictions (official: no box, since nothing is detected at the keyframe); tokens with
NaN/inf features are treated as undetected (zeroed, in-filled) and counted in `PredictReport.bad_tokens`.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader
from tqdm import tqdm

from lartcore.checkpoint import Checkpoint, load_checkpoint
from lartcore.data import ava
from lartcore.data.dataset import DataConfig, PickleTrackSource, TrackDataset
from lartcore.data.store import TrackStore
from lartcore.model import LART, STREAM_KEYS
from lartcore.schema import EVALUATED_IDS, FIRST_SECOND, FPS, keyframe_seconds

Protocol = Literal["paper", "official"]
PROTOCOLS = ("paper", "official")
HALF_WINDOW = 6                  # keyframe window [kf - 6, kf + 6): 12 frames (official `avg.6`)
OFFICIAL_MIN_CONF = 0.8          # official write_ava_csv drops boxes below this detector confidence
MATCH_IOU = 0.3                  # provided box <-> track box assignment threshold (paper protocol)


@dataclass(frozen=True)
class FrameScores:
    """Per-frame sigmoid scores of every track: rows offsets[i]:offsets[i+1] are track i's frames."""
    scores: np.ndarray           # (F, C) float32
    offsets: np.ndarray          # (N + 1,) int64
    action_ids: tuple[int, ...]  # AVA id of each column
    bad_tokens: int              # detected tokens with NaN/inf features (per window slot), treated as undetected


@dataclass(frozen=True)
class PredictReport:
    tracks: int
    frames: int
    keyframes: int               # (track, keyframe) rows scored
    boxes: int                   # boxes written
    unmatched: int               # provided boxes without a track (paper protocol)
    rows: int                    # CSV rows
    bad_tokens: int


# ---------------------------------------------------------------- per-frame scores

def clean_batch(batch: dict[str, torch.Tensor], streams: tuple[str, ...]) -> tuple[dict, int]:
    """Tokens with a NaN/inf feature in any of the model's streams become undetected with zero features.
    Returns a new batch dict (the input is not modified) and the number of such tokens among present ones."""
    keys = [STREAM_KEYS[s] for s in streams if STREAM_KEYS[s] in batch]
    bad = torch.zeros_like(batch["present"], dtype=torch.bool)                   # (B, T, P)
    for k in keys:
        bad |= ~torch.isfinite(batch[k]).all(-1)
    if not bad.any():
        return batch, 0
    out = dict(batch)
    for k in keys:
        out[k] = torch.where(bad[..., None], 0.0, batch[k])
    out["present"] = batch["present"] & ~bad
    return out, int((bad & batch["present"]).sum())


def source_offsets(source) -> np.ndarray:
    """(N + 1,) first row of each track in the flat per-frame arrays."""
    return np.concatenate([[0], np.cumsum(source.index["length"].to_numpy(np.int64))])


@torch.inference_mode()
def track_scores(model: LART, source, data_cfg: DataConfig, batch_size: int = 8,
                 device: str | torch.device = "cpu") -> FrameScores:
    """Sigmoid action scores of slot 0 for every frame of every track of `source` (TrackStore or
    PickleTrackSource), from the dataset's evaluation windows; batched, scattered in one step per batch."""
    model = model.to(device).eval()
    dataset = TrackDataset(source, data_cfg, train=False)
    offsets = source_offsets(source)
    scores = np.zeros((int(offsets[-1]), model.cfg.num_classes), np.float32)       # (F, C)
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=0)
    bad_total = 0
    for batch in tqdm(loader, desc="predict", disable=None, leave=False):
        batch, bad = clean_batch(batch, model.cfg.streams)
        bad_total += bad
        inputs = {k: v.to(device) for k, v in batch.items()}
        prob = torch.sigmoid(model.poi_logits(inputs).float()).cpu().numpy()       # (B, T, C)
        T = prob.shape[1]
        rows = (offsets[batch["track"].numpy()] + batch["start"].numpy())[:, None] + np.arange(T)  # (B, T)
        valid = batch["frame"].numpy() >= 0                                        # (B, T)
        scores[rows[valid]] = prob[valid]
    return FrameScores(scores, offsets, model.action_ids, bad_total)


# ---------------------------------------------------------------- keyframes

def _keyframe_rows(first: np.ndarray, length: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(track, timestamp) of every whole AVA second inside each track, (K,) each, tracks in order."""
    lo, hi = keyframe_seconds(first, first + length - 1)                             # (N,) each
    count = np.where(length > 0, np.maximum(hi - lo + 1, 0), 0)
    track = np.repeat(np.arange(len(first)), count)                                  # (K,)
    within = np.arange(len(track)) - np.repeat(np.cumsum(count) - count, count)
    return track, lo[track] + within


def _nearest_clip(index: pd.DataFrame, track: np.ndarray, ts: np.ndarray) -> np.ndarray:
    """(K,) bool: the row's clip keyframe is the nearest one (ties: the earlier) among the clips covering
    that (video, second)."""
    clip_kf = index["keyframe"].to_numpy(np.int64)[track]
    df = pd.DataFrame({"video": index["video"].to_numpy(object)[track], "ts": ts, "kf": clip_kf,
                       "dist": np.abs(clip_kf - (ts - FIRST_SECOND) * FPS)})
    best = df.sort_values(["dist", "kf"], kind="stable").groupby(["video", "ts"], sort=False)["kf"].first()
    return clip_kf == best.reindex(pd.MultiIndex.from_frame(df[["video", "ts"]])).to_numpy()


def window_means(fs: FrameScores, track: np.ndarray, local: np.ndarray, length: np.ndarray) -> np.ndarray:
    """(K, C) mean score over frames [local - 6, local + 6) clipped to the track, from a cumulative sum."""
    cum = np.concatenate([np.zeros((1, fs.scores.shape[1])), np.cumsum(fs.scores, 0, dtype=np.float64)])
    lo = fs.offsets[track] + np.maximum(local - HALF_WINDOW, 0)                      # (K,)
    hi = fs.offsets[track] + np.minimum(local + HALF_WINDOW, length[track])          # (K,)
    return ((cum[hi] - cum[lo]) / (hi - lo)[:, None]).astype(np.float32)


def _track_boxes(source, track: np.ndarray, local: np.ndarray) -> dict[str, np.ndarray]:
    """Normalised box (K, 4) x1, y1, x2, y2, detector conf (K,) and detected (K,) at each keyframe row;
    one read per track (rows are grouped by track)."""
    box, conf, det = np.zeros((len(track), 4)), np.zeros(len(track)), np.zeros(len(track), bool)
    starts = np.flatnonzero(np.r_[True, track[1:] != track[:-1]]) if len(track) else np.zeros(0, int)
    for a, b in zip(starts, np.r_[starts[1:], len(track)][:len(starts)], strict=True):   # none: no rows
        lo, hi = int(local[a]), int(local[b - 1]) + 1
        t = source.window(int(track[a]), lo, hi)
        k = local[a:b] - lo
        h, w = t.frame_size[k, 0].astype(np.float64), t.frame_size[k, 1].astype(np.float64)
        x0, y0, bw, bh = t.box[k].astype(np.float64).T
        box[a:b] = np.clip(np.stack([x0 / w, y0 / h, (x0 + bw) / w, (y0 + bh) / h], 1), 0.0, 1.0)
        conf[a:b], det[a:b] = t.conf[k], t.has_detection[k]
    return {"box": box, "conf": conf, "detected": det & (box[:, 2] > box[:, 0]) & (box[:, 3] > box[:, 1])}


def keyframe_table(source, fs: FrameScores) -> tuple[pd.DataFrame, np.ndarray]:
    """One row per (track, AVA keyframe second) after the nearest-clip rule (`keyframe_boxes`), and the
    (K, C) keyframe scores."""
    table = keyframe_boxes(source)
    length = source.index["length"].to_numpy(np.int64)
    return table, window_means(fs, table["track"].to_numpy(), table["local"].to_numpy(), length)


def keyframe_boxes(source) -> pd.DataFrame:
    """One row per (track, AVA keyframe second) after the nearest-clip rule: video_id, timestamp, track,
    local (frame index in the track), x1, y1, x2, y2 (normalised track box), conf, detected."""
    index = source.index
    first = index["frame_start"].to_numpy(np.int64)
    length = index["length"].to_numpy(np.int64)
    track, ts = _keyframe_rows(first, length)
    keep = _nearest_clip(index, track, ts) if len(track) else np.zeros(0, bool)
    track, ts = track[keep], ts[keep]
    local = (ts - FIRST_SECOND) * FPS - first[track]
    boxes = _track_boxes(source, track, local)
    table = pd.DataFrame({"video_id": index["video"].to_numpy(object)[track], "timestamp": ts.astype(np.float64),
                          "track": track, "local": local,
                          **dict(zip(ava.BOX, boxes["box"].T, strict=True)), "conf": boxes["conf"], "detected": boxes["detected"]})
    return table


# ---------------------------------------------------------------- boxes -> detection rows

def pair_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of paired boxes a[i], b[i] (n, 4) x1, y1, x2, y2 -> (n,)."""
    w = np.clip(np.minimum(a[:, 2], b[:, 2]) - np.maximum(a[:, 0], b[:, 0]), 0, None)
    h = np.clip(np.minimum(a[:, 3], b[:, 3]) - np.maximum(a[:, 1], b[:, 1]), 0, None)
    inter = w * h
    area = lambda x: (x[:, 2] - x[:, 0]) * (x[:, 3] - x[:, 1])
    union = area(a) + area(b) - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)


def match_boxes(boxes: pd.DataFrame, table: pd.DataFrame, min_iou: float = MATCH_IOU) -> np.ndarray:
    """For each provided box (rows of `ava.read_person_boxes`), the row of `table` (keyframe_table) whose
    detected track box has the highest IoU in the same (video, second), or -1 if none reaches min_iou.
    Vectorised: one merge on (video, second) gives all candidate pairs."""
    left = pd.DataFrame({"video_id": boxes["video_id"].astype(str).to_numpy(object),
                         "timestamp": np.round(boxes["timestamp"].to_numpy(np.float64)), "box_row": np.arange(len(boxes))})
    cand = table.loc[table["detected"], ["video_id", "timestamp"]].reset_index(names="kf_row")
    cand = cand.astype({"video_id": object})
    pairs = left.merge(cand, on=["video_id", "timestamp"], how="inner")
    b, k = pairs["box_row"].to_numpy(np.int64), pairs["kf_row"].to_numpy(np.int64)
    iou = pair_iou(boxes[ava.BOX].to_numpy(np.float64)[b], table[ava.BOX].to_numpy(np.float64)[k])  # (n,)
    ok = iou >= min_iou
    b, k, iou = b[ok], k[ok], iou[ok]
    order = np.lexsort((k, -iou, b))                       # per box: best IoU first, ties to the lower row
    b, k = b[order], k[order]
    first = np.r_[True, b[1:] != b[:-1]] if len(b) else np.zeros(0, bool)
    match = np.full(len(boxes), -1, np.int64)
    match[b[first]] = k[first]
    return match


def detection_rows(video, ts, box: np.ndarray, scores: np.ndarray, action_ids) -> pd.DataFrame:
    """Every (box, class) as one AVA detection row. box (n, 4), scores (n, C) -> (n * C) rows."""
    n, C = scores.shape
    return pd.DataFrame({"video_id": np.repeat(np.asarray(video, object), C),
                         "timestamp": np.repeat(np.asarray(ts, np.float64), C),
                         **{c: np.repeat(box[:, j], C) for j, c in enumerate(ava.BOX)},
                         "action_id": np.tile(np.asarray(action_ids, np.int64), n),
                         "score": scores.reshape(-1).astype(np.float64)})


def paper_detections(table: pd.DataFrame, kf_scores: np.ndarray, action_ids, boxes: pd.DataFrame
                     ) -> tuple[pd.DataFrame, int]:
    """Paper protocol: provided boxes with the scores of their matched track (all model classes);
    returns the rows and the number of unmatched boxes (which get no rows)."""
    match = match_boxes(boxes, table)
    hit = np.flatnonzero(match >= 0)
    rows = detection_rows(boxes["video_id"].astype(str).to_numpy(object)[hit], boxes["timestamp"].to_numpy()[hit],
                          boxes[ava.BOX].to_numpy(np.float64)[hit], kf_scores[match[hit]], action_ids)
    return rows, int((match < 0).sum())


def official_detections(table: pd.DataFrame, kf_scores: np.ndarray, action_ids) -> pd.DataFrame:
    """Official `avg.6` protocol: the track's own box where detected at the keyframe with conf >= 0.8;
    the 60 evaluated classes (those the model predicts) per box."""
    keep = np.flatnonzero(table["detected"].to_numpy() & (table["conf"].to_numpy() >= OFFICIAL_MIN_CONF))
    cols = [j for j, a in enumerate(action_ids) if a in EVALUATED_IDS]
    return detection_rows(table["video_id"].to_numpy(object)[keep], table["timestamp"].to_numpy()[keep],
                          table[ava.BOX].to_numpy(np.float64)[keep], kf_scores[np.ix_(keep, cols)],
                          [action_ids[j] for j in cols])


# ---------------------------------------------------------------- entry points

def data_config_of(ckpt: Checkpoint) -> DataConfig:
    """The evaluation window of a checkpoint: its training DataConfig when it has one (our trainer stores
    it), else 128 frames x min(5, model people) with appearance iff the model has that stream."""
    if ckpt.data is not None:
        return ckpt.data
    m = ckpt.config
    return DataConfig(seq_len=min(128, m.max_frames), max_people=min(5, m.max_people),
                      appearance="appearance" in m.streams, appearance_dim=m.appearance_dim)


def open_source(path: str | Path):
    """A packed store folder (index.parquet) or a folder of release track pickles."""
    path = Path(path)
    if (path / "index.parquet").is_file():
        return TrackStore(path)
    if not path.is_dir():
        raise FileNotFoundError(f"track source not found: {path} (expected a packed store or a folder of .pkl)")
    return PickleTrackSource(path)


def predict_source(model: LART, data_cfg: DataConfig, source, protocol: Protocol = "paper",
                   boxes: pd.DataFrame | None = None, batch_size: int = 8,
                   device: str | torch.device = "cpu") -> tuple[pd.DataFrame, PredictReport]:
    """Detection rows (ava.DET_COLUMNS) of `model` on every track of `source`, and counts."""
    if protocol not in PROTOCOLS:
        raise ValueError(f"protocol: expected one of {PROTOCOLS}, found {protocol!r}")
    if protocol == "paper" and boxes is None:
        raise ValueError("protocol 'paper' needs the provided person boxes (--boxes CSV)")
    fs = track_scores(model, source, data_cfg, batch_size, device)
    table, kf_scores = keyframe_table(source, fs)
    if protocol == "paper":
        rows, unmatched = paper_detections(table, kf_scores, fs.action_ids, boxes)
    else:
        rows, unmatched = official_detections(table, kf_scores, fs.action_ids), 0
    n_boxes = len(rows) // max(len(pd.unique(rows["action_id"])), 1) if len(rows) else 0
    report = PredictReport(tracks=len(fs.offsets) - 1, frames=len(fs.scores), keyframes=len(table),
                           boxes=n_boxes, unmatched=unmatched, rows=len(rows), bad_tokens=fs.bad_tokens)
    return rows, report


def predict(checkpoint: str | Path, store: str | Path, out: str | Path, boxes: str | Path | None = None,
            protocol: Protocol = "paper", batch_size: int = 8, device: str | None = None) -> PredictReport:
    """Load a checkpoint, predict every track of `store`, write the AVA detection CSV `out` (atomically)."""
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    ckpt = load_checkpoint(checkpoint)
    box_df = ava.read_person_boxes(boxes) if boxes is not None else None
    rows, report = predict_source(ckpt.model, data_config_of(ckpt), open_source(store), protocol, box_df,
                                  batch_size, device)
    ava.write_detections(rows, out)
    return report
