"""Inference: `lart predict CHECKPOINT --store S [--boxes CSV] --out CSV [--protocol paper|official] [--seed N]`.
Letters: B batch, T frames, P people, C model classes, F frames of all tracks, K keyframe rows.

Two protocols. `official` is the released code's validation/test path, step for step; `paper` is ours: the
paper's evaluation, which departs from the official path on purpose where listed below.

`official`: brjathu/LART @9d33242 `lart/train.py` with `configs.test_type=track.fullframe@avg.6` (the README's
evaluation: Lightning `trainer.validate`), files `lart/datamodules/components/phalp_action_datatset.py` (D)
and `lart/evaluators/ava.py` (E), `lart/models/components/lart_transformer/transformer.py` (M):
 1. Items (D:105-131): the track files in file-name order (the official order is its cached `os.listdir`
    listing, `data/_TMP/*.npy`; sorted here). One item, hence at most one box, per file whose TRACK_LENGTH
    (the name's last field) is > 1 (D:127). The clip is `<dataset>_<video>_<KEY_FRAME>` (D:118); its other
    files, 1-frame files included, are the item's candidate other people, in listing order (D:119-123).
 2. Window (D:146-148, D:213-215): frames [0, end), end = min(length, 125), in a 125-row buffer with P
    person slots (slot 0 = the file's person); rows past `end` and empty slots are padding. P is
    `configs.max_people`, 5 in lart.yaml; here the checkpoint's DataConfig.max_people (`data_config_of`:
    5 for an imported official checkpoint, n for our n-people variants).
 3. Others (D:218-224): the candidates are shuffled with numpy's global RNG (`np.random.shuffle`) and the
    first P-1 are loaded; slot = 1 + position in the shuffled list (P = 1: no others, no draw, D:219). The
    official code seeds nothing (a seed in its config raises NameError, train.py:70-71), so its runs differ
    from run to run. Here
    `rng = np.random.RandomState(seed)` and one `rng.shuffle(candidates)` per item, in item order, which is
    exactly what the official code draws when numpy's global RNG is seeded with `seed` right before its
    first shuffle (one process, `test_num_workers=0`; with workers or DDP the draws also depend on the
    worker seeds and the split of items).
 4. Alignment by `fid` (D:288-308), ego fids e0..e1 over the window, other fids o0..o1 (its whole file):
    o0 > e1 or o1 < e0: skipped; o0 >= e0: its frames from the first, cut where it passes e1, at row o0-e0;
    o0 < e0 and o1 <= e1: its frames from fid e0 on, at row 0; o0 < e0 and o1 > e1 (it spans the window):
    skipped. A skipped other leaves its slot empty: slots are not compacted (`official_alignment`).
 5. Inputs (D:232-283, D:314-363): pose normalised by PHALP's mean/std (our model's pose_mean/pose_std,
    `lart import-official --pose-stats`), joints = 3d_joints + camera (135), appearance
    `apperance_dict[apperance_index]` (zeros for -1); undetected tokens (gaps, padding, empty slots) are
    replaced by the mask token (`mask_type_test=zero`, M:268-273) and never attended to (M:121-122).
 6. Key frame (E:127-146): kfid = the last frame of the window whose `frame_name` contains the file's
    6-digit KEY_FRAME (a substring test: a video id holding those digits matches every frame). Frame names
    are `release_frame_name(video, frame)` (PHALP numbering from 1), what lartcore reads and writes.
 7. A box only if kfid exists and the person is detected there (E:148-149), KEY_FRAME // 30 + 900 is in
    902..1798 (E:58-63, the second from the FILE NAME) and float32(conf at kfid) >= float32(0.8) (E:75).
 8. Score (E:161-167): the mean over frames [max(kfid-6, 0), min(kfid+6, end)) of sigmoid(slot-0 logits),
    in float32, for the 60 evaluated classes.
 9. Box (E:150-176, E:95): `frame_bbox` [x, y, w, h] px at kfid over `frame_size` [h, w]:
    x/W, y/H, (x+w)/W, (y+h)/H in float64, not clipped (a box past the border gives x2 > 1).
10. CSV (E:80-97): 60 rows per box, in descending score, `video, %04d second, x1, y1, x2, y2, class,
    score`; written by `ava.write_detections(exact_boxes=True)`: every box and score as the shortest text
    that reads back exactly (the same numbers as the official `str()` of float64 boxes and float32
    scores). The official mAP (E:22-39) is `lart eval`'s (lartcore/eval.py).
Departures of `official`, none of which changes a written number on files of the release layout:
 - rows in item order (official: `os.listdir` order of its per-item dump folder, which is never cleared,
   so stale files of an earlier run in the same folder are scored too); equal scores in class order
   (official: numpy's unstable argsort, reversed); LF line ends (official: CRLF);
 - x + w, y + h in float64 (official: in the collated tensor's dtype, float32 when every item of its batch
   of 8 has a float32 box at that frame index; then x2, y2 can differ by one float32 rounding of x + w,
   <= 6e-8 relative; in the oracle run every sum was float64);
 - any `<dataset>` prefix and video id (official: only `ava-val_` names with 11-character ids; its
   `AK-val_` branch, conf >= 0.9 and the raw KEY_FRAME as timestamp, is not reproduced);
 - frame names are rebuilt from the frames (identical for files in PHALP's naming); `fid` = frame -
   clip_start (a packed store keeps no clip_start: 0, identical when fid is one counter per clip, as in
   PHALP's output); an unreadable file raises (official: logged and replaced by item 0, D:152-157).

`paper` (ours), on purpose: every whole AVA second (0902..1798) inside a track is scored at frame
(ts - 900) * 30 (official: one per file, at the frame named with its KEY_FRAME, one frame earlier on
PHALP-numbered files); when several clips' files cover a second of a video, only the clip whose own key
frame is nearest is used, so each person is predicted once per keyframe; the whole track is scored in windows of the DataConfig's seq_len tiling it (official: only its first 125 frames); other
people are the most-overlapping tracks of the clip, spanning ones included, slots compacted, deterministic
(no RNG); the provided person boxes (`--boxes`, SlowFast style) are matched to the track boxes of that
keyframe by IoU (each provided box takes its best-IoU detected track box, if IoU >= MATCH_IOU) and get
every model class; **unmatched boxes get no rows** (a class prior there would only add false positives
with a constant score); provided boxes are used whatever their detector score. The score is the mean
sigmoid over frames [kf-6, kf+6) of the track (clipped to the track, not to its first 125 frames), as
`avg.6`.

Bad input (defined, never a crash): tracks shorter than the window are padded (padding rows ignored);
windows with no other people leave the other slots empty; windows with no detection at all get the
model's in-filled predictions (no box: nothing is detected at the keyframe); tokens with NaN/inf
features are treated as undetected (zeroed, in-filled) and counted in `PredictReport.bad_tokens`.
"""
from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import torch

from lartcore.checkpoint import Checkpoint, load_checkpoint
from lartcore.data import ava
from lartcore.data.dataset import DataConfig, PickleTrackSource, TrackDataset, empty_sample, place
from lartcore.data.store import TrackStore
from lartcore.data.tracks import Track, keyframe_frame, release_frame_name
from lartcore.distributed import Dist, gather_to_main, process_group
from lartcore.model import LART, STREAM_KEYS
from lartcore.progress import progress
from lartcore.schema import EVALUATED_IDS, FIRST_SECOND, FPS, KEYFRAME_SECONDS, keyframe_seconds

Protocol = Literal["paper", "official"]
PROTOCOLS = ("paper", "official")
HALF_WINDOW = 6                  # keyframe window [kf - 6, kf + 6): 12 frames (official `avg.6`)
OFFICIAL_MIN_CONF = 0.8          # official write_ava_csv drops boxes below this detector confidence (E:75)
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
    keyframes: int               # paper: (track, keyframe) rows scored; official: items (files of > 1 frame)
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
                 device: str | torch.device = "cpu",
                 edit: Callable[[dict[str, torch.Tensor]], dict[str, torch.Tensor]] | None = None,
                 shard: Dist | None = None) -> FrameScores | None:
    """Sigmoid action scores of slot 0 for every frame of every track of `source` (TrackStore or
    PickleTrackSource), from the dataset's evaluation windows; batched, scattered in one step per batch.
    `edit`: a counterfactual edit applied to every (cleaned) batch before the model (lartcore.explain).
    `shard` (processes under torchrun): this process scores batches rank, rank + world, ... of the batches
    one process would score (so every number is the same) and rank 0 gathers them; other ranks get None."""
    model = model.to(device).eval()
    dataset = TrackDataset(source, data_cfg, train=False)
    offsets = source_offsets(source)
    scores = np.zeros((int(offsets[-1]), model.cfg.num_classes), np.float32)       # (F, C)
    rank, world = (shard.rank, shard.world) if shard is not None else (0, 1)
    bad_total, written = 0, []
    starts = range(rank * batch_size, len(dataset), world * batch_size)
    for a in progress(starts, desc="predict", unit="batches", disable=rank != 0):
        batch, bad = clean_batch(dataset.batch(range(a, min(a + batch_size, len(dataset)))), model.cfg.streams)
        bad_total += bad
        if edit is not None:
            batch = edit(batch)
        inputs = {k: v.to(device) for k, v in batch.items()}
        prob = torch.sigmoid(model.poi_logits(inputs).float()).cpu().numpy()       # (B, T, C)
        T = prob.shape[1]
        rows = (offsets[batch["track"].numpy()] + batch["start"].numpy())[:, None] + np.arange(T)  # (B, T)
        valid = batch["frame"].numpy() >= 0                                        # (B, T)
        scores[rows[valid]] = prob[valid]
        written.append(rows[valid])
    if world == 1:
        return FrameScores(scores, offsets, model.action_ids, bad_total)
    mine = np.concatenate(written) if written else np.zeros(0, np.int64)
    parts = gather_to_main((mine, scores[mine], bad_total), shard)
    if parts is None:
        return None
    for rows, values, _ in parts:
        scores[rows] = values
    return FrameScores(scores, offsets, model.action_ids, sum(bad for *_, bad in parts))


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
    clip_kf = keyframe_frame(index["keyframe"].to_numpy(np.int64)[track])       # the key frame's frame
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


# ---------------------------------------------------------------- the official test path (module docstring)

OFFICIAL_FRAMES = 125            # configs.frame_length: the window of each track file
OFFICIAL_PEOPLE = 5              # configs.max_people of lart.yaml: the file's person + 4 others
OFFICIAL_MIN_LENGTH = 2          # files of 1 frame are never items (D:127), only others


def release_names(index: pd.DataFrame) -> list[str]:
    """The release file name of every track of a source index."""
    return [f"{d}_{v}_{int(k):06d}_{int(t)}_{int(n)}.pkl" for d, v, k, t, n in zip(
        index["dataset"], index["video"], index["keyframe"], index["track_id"], index["length"], strict=True)]


def official_items(index: pd.DataFrame, seed: int = 0, people: int = OFFICIAL_PEOPLE) -> list[tuple[int, list[int]]]:
    """(track, its others in slot order 1..P-1) of each item, items in file-name order (steps 1 and 3)."""
    names = release_names(index)
    order = sorted(range(len(names)), key=names.__getitem__)
    clip = ["_".join(n.split("_")[:-2]) for n in names]                # D:118
    members: dict[str, list[int]] = {}
    for i in order:
        members.setdefault(clip[i], []).append(i)
    rng = np.random.RandomState(seed)
    items = []
    for i in order:
        if int(index["length"].iat[i]) < OFFICIAL_MIN_LENGTH:
            continue
        others = [j for j in members[clip[i]] if j != i] if people > 1 else []
        rng.shuffle(others)                                             # D:219-222
        items.append((i, others[:people - 1]))
    return items


def official_alignment(ego: tuple[int, int], other: tuple[int, int]) -> tuple[int, int, int] | None:
    """Where another track goes in the window (step 4): (first, stop, row) = its frames [first, stop) at
    window rows [row, ...); None = skipped. `ego` = first and last fid of the window, `other` = of its file."""
    (e0, e1), (o0, o1) = ego, other
    n = o1 - o0 + 1
    if o0 > e1 or o1 < e0:
        return None
    if o0 >= e0:
        return 0, n - max(o1 - e1, 0), o0 - e0
    if o1 <= e1:
        return e0 - o0, n, 0
    return None                          # starts before and ends after the window: the official skips it


def _frames(t: Track, first: int, stop: int) -> Track:
    """Frames [first, stop) of an in-memory track."""
    return replace(t, **{f.name: getattr(t, f.name)[first:stop] for f in fields(Track)
                         if f.name != "appearance" and isinstance(getattr(t, f.name), np.ndarray)})


def official_sample(source, i: int, others: list[int], appearance_dim: int | None,
                    people: int = OFFICIAL_PEOPLE) -> tuple[dict, Track, list]:
    """The model input of item i (steps 2, 4, 5): (sample of 125 x P, the window's track, for each other
    its (first, stop, row) or None)."""
    end = min(int(source.index["length"].iat[i]), OFFICIAL_FRAMES)
    with_app = appearance_dim is not None
    ego = source.window(i, 0, end, appearance=with_app)
    sample = empty_sample(OFFICIAL_FRAMES, people, appearance_dim)
    place(sample, 0, 0, ego)
    fid = ego.frame - ego.clip_start
    spans = []
    for slot, j in enumerate(others, start=1):
        t = source.track(j, appearance=with_app)
        f = t.frame - t.clip_start
        span = official_alignment((int(fid[0]), int(fid[-1])), (int(f[0]), int(f[-1])))
        if span is not None:
            place(sample, slot, span[2], _frames(t, span[0], span[1]))
        spans.append(span)
    return sample, ego, spans


def official_keyframe(t: Track) -> int | None:
    """Step 6: index of the last frame of `t` whose name contains the 6-digit KEY_FRAME, or None."""
    key = f"{t.keyframe:06d}"
    hits = [k for k, f in enumerate(t.frame) if key in release_frame_name(t.video, int(f))]
    return hits[-1] if hits else None


def _official_decision(t: Track, k: int | None) -> str:
    """Step 7: "" = a box is written, else why not."""
    second = t.keyframe // FPS + FIRST_SECOND
    if k is None:
        return "no frame of the window is named with the key frame"
    if not t.has_detection[k]:
        return "not detected at the key frame"
    if not KEYFRAME_SECONDS[0] <= second <= KEYFRAME_SECONDS[1]:
        return f"KEY_FRAME // 30 + 900 = {second} is outside 902..1798"
    if np.float32(t.conf[k]) < np.float32(OFFICIAL_MIN_CONF):
        return f"detector confidence {float(t.conf[k]):.6g} < 0.8"
    return ""


def _official_box_rows(t: Track, k: int, score: np.ndarray) -> dict:
    """Steps 8-10 for one box: score (60,) float32 of the evaluated classes, ascending ids."""
    preds = np.concatenate([np.zeros(1, np.float32), score])           # column 0: no class (E:167)
    order = np.argsort(-preds, kind="stable")
    order = order[order != 0]
    x, y, w, h = t.box[k].astype(np.float64)
    H, W = (float(v) for v in t.frame_size[k])
    n = len(order)
    return {"video_id": [t.video] * n, "timestamp": np.full(n, float(t.keyframe // FPS + FIRST_SECOND)),
            "x1": np.full(n, x / W), "y1": np.full(n, y / H), "x2": np.full(n, (x + w) / W),
            "y2": np.full(n, (y + h) / H), "action_id": np.asarray(EVALUATED_IDS, np.int64)[order - 1],
            "score": preds[order]}


def _official_batch(model: LART, source, batch: list[tuple[int, list[int]]], names: list[str], people: int,
                    device) -> tuple[list[dict], list[dict], int]:
    """Steps 2-10 for one batch of items: (box rows, decision rows, bad tokens)."""
    cfg = model.cfg
    cols = [j for j, a in enumerate(model.action_ids) if a in EVALUATED_IDS]
    dim = cfg.appearance_dim if "appearance" in cfg.streams else None
    built = [official_sample(source, i, others, dim, people) for i, others in batch]
    inputs, bad = clean_batch({key: torch.as_tensor(np.stack([x[0][key] for x in built])) for key in built[0][0]},
                              cfg.streams)
    logits = model.poi_logits({key: v.to(device) for key, v in inputs.items()}).float().cpu()  # (B, T, C)
    rows, decisions = [], []
    for (i, others), (_, ego, spans), z in zip(batch, built, logits, strict=True):
        k = official_keyframe(ego)
        why = _official_decision(ego, k)
        decisions.append({"file": names[i], "others": [names[j] for j in others], "placed": spans,
                          "kfid": k, "why_no_box": why})
        if not why:
            s, e = max(k - HALF_WINDOW, 0), min(k + HALF_WINDOW, len(ego))
            score = torch.sigmoid(z[s:e][:, cols]).mean(0).numpy()   # (60,) float32 (E:165-166)
            rows.append(_official_box_rows(ego, k, score))
    return rows, decisions, bad


@torch.inference_mode()
def official_predictions(model: LART, source, seed: int = 0, batch_size: int = 8,
                         device: str | torch.device = "cpu", people: int = OFFICIAL_PEOPLE,
                         shard: Dist | None = None) -> tuple[pd.DataFrame, pd.DataFrame, int] | None:
    """The official test path (module docstring): (detection rows, one decision row per item: file, others
    (slot order), placed (rows of each other or None), kfid, why no box ("" = a box), bad tokens).
    `shard`: as in `track_scores` (batches rank, rank + world, ...; the result on rank 0, None elsewhere)."""
    cfg = model.cfg
    if cfg.max_frames < OFFICIAL_FRAMES or not 1 <= people <= cfg.max_people:
        raise ValueError(f"protocol 'official' feeds {OFFICIAL_FRAMES} frames x {people} people; this "
                         f"model allows at most {cfg.max_frames} x {cfg.max_people}")
    model = model.to(device).eval()
    names, items = release_names(source.index), official_items(source.index, seed, people)
    rank, world = (shard.rank, shard.world) if shard is not None else (0, 1)
    starts = range(rank * batch_size, len(items), world * batch_size)
    done = [(b, *_official_batch(model, source, items[b:b + batch_size], names, people, device))
            for b in progress(starts, desc="predict (official)", unit="batches", disable=rank != 0)]
    parts = gather_to_main(done, shard) if world > 1 else [done]
    if parts is None:
        return None
    done = sorted((x for part in parts for x in part), key=lambda x: x[0])    # batches in item order
    rows = [r for _, batch_rows, _, _ in done for r in batch_rows]
    decisions = [d for _, _, batch_decisions, _ in done for d in batch_decisions]
    columns = {c: np.concatenate([r[c] for r in rows]) if rows else np.zeros(0) for c in ava.DET_COLUMNS}
    det = pd.DataFrame(columns).astype({"video_id": object, "action_id": np.int64, "score": np.float32})
    table = pd.DataFrame({c: pd.Series([d[c] for d in decisions], dtype=object)   # kfid stays int / None
                          for c in ("file", "others", "placed", "kfid", "why_no_box")})
    return det, table, sum(x[3] for x in done)


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
                   boxes: pd.DataFrame | None = None, batch_size: int = 8, device: str | torch.device = "cpu",
                   seed: int = 0, shard: Dist | None = None) -> tuple[pd.DataFrame, PredictReport] | None:
    """Detection rows (ava.DET_COLUMNS) of `model` on every track of `source`, and counts. `official`
    uses its own window (125 frames x data_cfg.max_people) and draws the other people with `seed`.
    `shard` (under torchrun): the model runs on this process's share of the batches, rank 0 gathers the
    scores and returns the result (identical to one process's); the other ranks return None."""
    if protocol not in PROTOCOLS:
        raise ValueError(f"protocol: expected one of {PROTOCOLS}, found {protocol!r}")
    if protocol == "paper" and boxes is None:
        raise ValueError("protocol 'paper' needs the provided person boxes (--boxes CSV)")
    frames = int(source.index["length"].sum())
    if protocol == "official":
        out = official_predictions(model, source, seed, batch_size, device, data_cfg.max_people, shard)
        if out is None:
            return None
        rows, decisions, bad = out
        report = PredictReport(tracks=len(source.index), frames=frames, keyframes=len(decisions),
                               boxes=int((decisions["why_no_box"] == "").sum()), unmatched=0, rows=len(rows),
                               bad_tokens=bad)
        return rows, report
    fs = track_scores(model, source, data_cfg, batch_size, device, shard=shard)
    if fs is None:
        return None
    table, kf_scores = keyframe_table(source, fs)
    rows, unmatched = paper_detections(table, kf_scores, fs.action_ids, boxes)
    n_boxes = len(rows) // max(len(pd.unique(rows["action_id"])), 1) if len(rows) else 0
    report = PredictReport(tracks=len(fs.offsets) - 1, frames=frames, keyframes=len(table),
                           boxes=n_boxes, unmatched=unmatched, rows=len(rows), bad_tokens=fs.bad_tokens)
    return rows, report


def predict(checkpoint: str | Path, store: str | Path, out: str | Path, boxes: str | Path | None = None,
            protocol: Protocol = "paper", batch_size: int = 8, device: str | None = None,
            seed: int = 0) -> PredictReport | None:
    """Load a checkpoint, predict every track of `store`, write the AVA detection CSV `out` (atomically;
    `official`: boxes unclipped at full precision). Under torchrun (`torchrun --nproc_per_node K -m
    lartcore.cli predict ...`) the K processes share the batches and rank 0 writes the same CSV one process
    writes, and returns the report; the other ranks return None."""
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        with process_group(device) as d:
            return _predict(checkpoint, store, out, boxes, protocol, batch_size, d.device, seed, d)
    return _predict(checkpoint, store, out, boxes, protocol, batch_size,
                    device or ("cuda" if torch.cuda.is_available() else "cpu"), seed)


def _predict(checkpoint, store, out, boxes, protocol, batch_size, device, seed, shard=None) -> PredictReport | None:
    ckpt = load_checkpoint(checkpoint)
    box_df = ava.read_person_boxes(boxes) if boxes is not None else None
    result = predict_source(ckpt.model, data_config_of(ckpt), open_source(store), protocol, box_df,
                            batch_size, device, seed, shard)
    if result is None:
        return None
    rows, report = result
    ava.write_detections(rows, out, exact_boxes=protocol == "official")
    return report
