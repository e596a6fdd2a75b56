"""Deterministic small dataset in the LART release per-track format (oracle input, numpy-seeded).

    python make_release_data.py OUT_DIR [--seed 0] [--gt GT_CSV] [--arrays]

Copied from the oracle harness (tests/data/README.md) with two changes, neither touching the files written:
the 60 evaluated ids are read from ../ava/ next to this file (a byte-identical copy of the label map the
oracle read), and the body of main() is `write(out, seed, gt, arrays, arrays_flat)` so tests can call it.

Writes OUT_DIR/ava-val_<VIDEO11>_<KEYFRAME6>_<TID>_<LEN>.pkl (joblib, uncompressed) and, with --gt, the
ground-truth CSV (AVA format, 8 columns: video,timestamp,x1,y1,x2,y2,action_id,person_id) for these keys.

Conventions (what PHALP's create_fast_tracklets / get_tracks produce, phalp/utils/utils_tracks.py):
  - a clip = one PHALP run over the absolute frames [clip_start, clip_end] of a video (30 fps, absolute
    frame a counted from AVA second 900, so AVA second s starts at frame (s - 900) * 30);
  - fid (T,1,1) float64 = a - clip_start: the frame counter of that run, shared by all tracks of the clip;
  - frame_name[i] = f"{video}/{video}_{a + 1:06d}.jpg" (extracted frames numbered from 1);
  - the file's KEYFRAME6 is the number written in the key frame's name, i.e. absolute frame KEYFRAME - 1;
  - frame_size / frame_bbox / frame_conf are Python LISTS with one entry per frame:
      detected:   np.array([h, w]) (int64) | np.float32 (4,) [x0, y0, w, h] pixels | np.float32 scalar
      undetected: np.array([0, 0])         | np.array([0., 0., 0., 0.])            | int 0
    (--arrays instead writes them as (T,1,2) / (T,1,4) / (T,1,1) float arrays, the DATASET.md shapes,
    --arrays-flat as (T,2) / (T,4) / (T,) arrays, to show what the official loader does with arrays);
  - pose_shape (T,1,229), 3d_joints (T,1,45,3), camera (T,1,3), camera_bbox (T,1,3), has_detection
    (T,1,1) float64; zeros where undetected;
  - has_gt (T,1,1) float64: 2 at the key frame (when detected) with action_label_gt (T,1,80) multi-hot
    there, 1 on other detected frames (pseudo labels), 0 where undetected;
  - apperance_index (T,1,1) int64 = one key per 6-frame chunk of detected frames (-1 undetected);
    apperance_dict {key: (1, 2048) float32} (Hiera width); action_label_psudo {key: (1, 80) float32}.
"""
from __future__ import annotations

import argparse
import csv
import os

import joblib
import numpy as np

APPEARANCE_DIM = 2048
EVALUATED = None  # filled from the 60-class pbtxt


def evaluated_ids():
    ids = []
    here = os.path.dirname(os.path.abspath(__file__))
    for line in open(os.path.join(here, "..", "ava", "ava_action_list_v2.2_for_activitynet_2019.pbtxt")):
        if line.strip().startswith("id:"):
            ids.append(int(line.split(":")[1]))
    return ids


# clip: (video id (11 chars), KEYFRAME (int), clip_start abs frame, clip_end abs frame, (H, W), tracks)
# track: (tid, first abs frame, last abs frame, extra options)
#   options: gaps = list of abs frames undetected; kf_conf = detector conf at the key frame;
#            kf_undetected = True -> undetected at the key frame; big_box = box past the image border
CLIPS = [
    # A: 7 tracks, many others (6) -> the shuffle decides which 4 are used. KEYFRAME 150 -> ts 905,
    # key frame = abs frame 149. clip frames 40..320.
    ("vidAAAAAAA1", 150, 40, 320, (720, 1280), [
        (1, 60, 239, {}),                            # len 180 (>125): kf idx 89 in window [0,125)
        (2, 100, 199, {"gaps": [120, 121, 122]}),    # len 100 (<125): kf idx 49
        (3, 140, 160, {"kf_undetected": True}),      # len 21: not detected at kf -> no row
        (4, 120, 300, {"kf_conf": 0.5}),             # len 181: conf 0.5 < 0.8 -> no row (dropped in write_ava_csv)
        (5, 40, 140, {}),                            # len 101: ends before the key frame -> kfid None
        (6, 40, 300, {}),                            # len 261: kf idx 109 (inside the window)
        (7, 45, 320, {"big_box": True}),             # len 276: kf idx 104; box past the right border
    ]),
    # B: key frame past the 125-frame window for one track; short tracks; conf exactly 0.8
    ("vidBBBBBBB2", 900, 760, 1000, (480, 640), [
        (1, 760, 1000, {}),                          # len 241: kf abs 899 -> idx 139 >= 125 -> no row
        (2, 850, 920, {"kf_conf": 0.8}),             # len 71: idx 49, conf exactly 0.8 -> kept
        (3, 893, 905, {}),                           # len 13: idx 6
        (4, 899, 899, {}),                           # len 1: NOT in the dataset (official needs len > 1)
        (5, 896, 910, {}),                           # len 15: idx 3 -> window start clamps to 0
    ]),
    # C: KEYFRAME 59 -> ts 901: outside 902..1798 -> no rows although detected
    ("vidCCCCCCC3", 59, 0, 120, (720, 1280), [
        (1, 0, 120, {}),
        (2, 30, 90, {}),
    ]),
    # D: KEYFRAME 60 -> ts 902 (first valid second)
    ("vidDDDDDDD4", 60, 0, 150, (360, 640), [
        (1, 0, 150, {}),                             # idx 59
        (2, 55, 70, {}),                             # len 16, idx 4
    ]),
    # E: KEYFRAME 26969 -> ts 1798 (last valid); KEYFRAME 26970 -> ts 1799 (invalid), same video
    ("vidEEEEEEE5", 26969, 26900, 27000, (720, 1280), [
        (1, 26900, 27000, {}),                       # idx 68
        (2, 26950, 26990, {}),                       # idx 18
    ]),
    ("vidEEEEEEE5", 26970, 26900, 27000, (720, 1280), [
        (1, 26900, 27000, {}),                       # idx 69, ts 1799 -> dropped
    ]),
    # F: the video id contains the 6 key-frame digits: every frame name matches -> kfid = LAST frame of
    # the window (the rule is "last frame in [0, min(len,125)) whose name contains KEYFRAME6")
    ("x000330abcF", 330, 250, 480, (720, 1280), [
        (1, 300, 360, {}),                           # len 61: every name matches -> kfid 60 (abs 360)
        (2, 250, 480, {}),                           # len 231: kfid 124 (abs 374)
        (3, 320, 340, {}),                           # len 21: kfid 20
    ]),
]


def rand_rot(rng, n):
    q = rng.normal(size=(n, 4))
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    w, x, y, z = q.T
    R = np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w),
                  2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w),
                  2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)], 1)
    return R.reshape(n, 3, 3)


def make_track(rng, video, kf, clip_start, size, tid, a0, a1, opt, evaluated):
    H, W = size
    T = a1 - a0 + 1
    abs_frames = np.arange(a0, a1 + 1)
    kf_abs = kf - 1
    det = np.ones(T, bool)
    for g in opt.get("gaps", []):
        det[g - a0] = False
    if opt.get("kf_undetected") and a0 <= kf_abs <= a1:
        det[kf_abs - a0] = False
    d = {}
    d["fid"] = (abs_frames - clip_start).astype(np.float64).reshape(T, 1, 1)
    R = rand_rot(rng, T * 24).reshape(T, 24 * 9)
    betas = rng.normal(scale=0.5, size=(T, 10))
    cam = np.stack([rng.normal(scale=0.3, size=T), rng.normal(scale=0.3, size=T), rng.uniform(50, 150, T)], 1)
    loc = cam * np.array([1, 1, 1 / 200.0])
    pose = np.concatenate([R, betas, loc], 1) * det[:, None]
    d["pose_shape"] = pose.reshape(T, 1, 229)
    joints = rng.normal(scale=0.4, size=(T, 45, 3))
    joints[:, 44] = 0
    d["3d_joints"] = (joints * det[:, None, None]).reshape(T, 1, 45, 3)
    d["camera"] = (cam * det[:, None]).reshape(T, 1, 3)
    d["camera_bbox"] = (np.stack([rng.uniform(0.5, 1.5, T), rng.normal(scale=0.1, size=T),
                                  rng.normal(scale=0.1, size=T)], 1) * det[:, None]).reshape(T, 1, 3)
    has_gt = np.where(det, 1.0, 0.0)
    gt = np.zeros((T, 1, 80))
    if a0 <= kf_abs <= a1 and det[kf_abs - a0]:
        has_gt[kf_abs - a0] = 2.0
        k = rng.randint(1, 4)
        for c in rng.choice(evaluated, size=k, replace=False):
            gt[kf_abs - a0, 0, c - 1] = 1.0
    d["action_label_gt"] = gt
    d["has_gt"] = has_gt.reshape(T, 1, 1)
    d["has_detection"] = det.astype(np.float64).reshape(T, 1, 1)
    chunk = np.arange(T) // 6
    index = np.where(det, chunk, -1).astype(np.int64)
    d["apperance_index"] = index.reshape(T, 1, 1)
    keys = sorted(set(int(i) for i in index if i >= 0))
    d["apperance_dict"] = {k: rng.normal(size=(1, APPEARANCE_DIM)).astype(np.float32) for k in keys}
    d["action_label_psudo"] = {k: rng.uniform(0, 1, size=(1, 80)).astype(np.float32) for k in keys}
    d["frame_name"] = [f"{video}/{video}_{a + 1:06d}.jpg" for a in abs_frames]
    # boxes: a person box drifting over time
    cx = rng.uniform(0.2, 0.8) * W + np.cumsum(rng.normal(scale=2.0, size=T))
    cy = rng.uniform(0.3, 0.7) * H + np.cumsum(rng.normal(scale=1.0, size=T))
    bw = rng.uniform(0.08, 0.2) * W + rng.normal(scale=1.0, size=T)
    bh = rng.uniform(0.3, 0.6) * H + rng.normal(scale=1.0, size=T)
    if opt.get("big_box"):
        cx = np.full(T, W - 10.0) + rng.normal(scale=0.5, size=T)   # box runs past the right border
    conf = rng.uniform(0.81, 0.999, size=T)
    if "kf_conf" in opt and a0 <= kf_abs <= a1:
        conf[kf_abs - a0] = opt["kf_conf"]
    sizes, boxes, confs = [], [], []
    for t in range(T):
        if det[t]:
            sizes.append(np.array([H, W]))
            boxes.append(np.array([cx[t] - bw[t] / 2, cy[t] - bh[t] / 2, bw[t], bh[t]], np.float32))
            confs.append(np.float32(conf[t]))
        else:
            sizes.append(np.array([0, 0]))
            boxes.append(np.array([0.0, 0.0, 0.0, 0.0]))
            confs.append(0)
    d["frame_size"], d["frame_bbox"], d["frame_conf"] = sizes, boxes, confs
    return d


def as_arrays(d, flat=False):
    T = len(d["frame_name"])
    d = dict(d)
    d["frame_size"] = np.array(d["frame_size"], np.float64).reshape((T, 2) if flat else (T, 1, 2))
    d["frame_bbox"] = np.array(d["frame_bbox"], np.float64).reshape((T, 4) if flat else (T, 1, 4))
    d["frame_conf"] = np.array(d["frame_conf"], np.float64).reshape((T,) if flat else (T, 1, 1))
    return d


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--gt", default=None)
    ap.add_argument("--arrays", action="store_true")
    ap.add_argument("--arrays-flat", action="store_true", help="(T,2)/(T,4)/(T,) arrays instead")
    args = ap.parse_args()
    write(args.out, args.seed, args.gt, args.arrays, args.arrays_flat)


def write(out_dir, seed=0, gt=None, arrays=False, arrays_flat=False):
    evaluated = evaluated_ids()
    rng = np.random.RandomState(seed)
    os.makedirs(out_dir, exist_ok=True)
    gt_rows = []
    for video, kf, c0, c1, size, tracks in CLIPS:
        for tid, a0, a1, opt in tracks:
            d = make_track(rng, video, kf, c0, size, tid, a0, a1, opt, evaluated)
            T = len(d["frame_name"])
            name = f"ava-val_{video}_{kf:06d}_{tid}_{T}.pkl"
            out = as_arrays(d, flat=arrays_flat) if (arrays or arrays_flat) else d
            joblib.dump(out, os.path.join(out_dir, name))
            # GT: the person's box at the key frame with its GT classes (has_gt == 2), 60 evaluated only
            k = kf - 1 - a0
            if 0 <= k < T and d["has_gt"][k, 0, 0] == 2:
                H, W = d["frame_size"][k]
                x, y, w, h = [float(v) for v in d["frame_bbox"][k]]
                ts = kf // 30 + 900
                for c in np.flatnonzero(d["action_label_gt"][k, 0]) + 1:
                    gt_rows.append([video, "%04d" % ts, "%.3f" % min(max(x / W, 0), 1), "%.3f" % min(max(y / H, 0), 1),
                                    "%.3f" % min(max((x + w) / W, 0), 1), "%.3f" % min(max((y + h) / H, 0), 1),
                                    int(c), tid])
    if gt:
        with open(gt, "w", newline="") as f:
            csv.writer(f).writerows(gt_rows)
    print(f"wrote {sum(len(c[5]) for c in CLIPS)} track files to {out_dir}; {len(gt_rows)} GT rows")


if __name__ == "__main__":
    main()
