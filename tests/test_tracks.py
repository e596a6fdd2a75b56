"""Release per-track pickles and PHALP results: round trips, tolerant reading, strict errors, skip-bad."""
import errno
import os
import re

import joblib
import numpy as np
import pytest
import release_invariants
import torch

from lartcore.cli import main as lart_main
from lartcore.data import tracks as tracks_mod
from lartcore.data.tracks import (
    ReadReport,
    Track,
    TrackError,
    iter_release_tracks,
    keyframe_frame,
    parse_release_name,
    read_phalp_results,
    read_release_track,
    release_dict,
    release_frame_name,
    write_release_track,
)
from lartcore.fileio import CorruptFileError, UnsafePickleError
from lartcore.schema import GT_LABEL, NUM_CLASSES, POSE_DIM, PSEUDO_LABEL

VIDEO = "a_b-c_d1234"   # 11 characters with '_' and '-', like an AVA id


def make_track(T=7, appearance=True, seed=0, dataset="ava-train", video=VIDEO) -> Track:
    rng = np.random.default_rng(seed)

    def f32(*shape):
        return rng.standard_normal((T, *shape)).astype(np.float32)
    labels = np.zeros((T, NUM_CLASSES), np.float32)
    has_gt = np.array([0, 1, 1, 2, 0, 1, 1] * T, np.int8)[:T]
    labels[has_gt == PSEUDO_LABEL] = rng.random(((has_gt == PSEUDO_LABEL).sum(), NUM_CLASSES))
    labels[has_gt == GT_LABEL] = rng.random(((has_gt == GT_LABEL).sum(), NUM_CLASSES)) > 0.9
    index = np.array([0, 1, -1, 2, 2, -1, -1] * T, np.int64)[:T] if appearance else np.full(T, -1)
    return Track(
        dataset=dataset, video=video, track_id=3, keyframe=150, frame=np.arange(140, 140 + T),
        pose_shape=f32(POSE_DIM), joints_3d=f32(45, 3), camera=f32(3), camera_bbox=f32(3),
        box=(rng.random((T, 4)) * 100).astype(np.float32), frame_size=np.tile([[720, 1280]], (T, 1)).astype(np.int32),
        conf=rng.random(T).astype(np.float32), has_detection=np.arange(T) % 3 != 2, has_gt=has_gt,
        labels=labels, appearance_index=index,
        appearance=rng.standard_normal((3, 1152)).astype(np.float32) if appearance else None)


# ---- names ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("name, expected", [
    ("ava-train_053oq2xB3oU_000150_3_128.pkl", ("ava-train", "053oq2xB3oU", 150, 3, 128)),
    ("kinetics-train_a_b-c_d1234_001020_12_5.pkl", ("kinetics-train", "a_b-c_d1234", 1020, 12, 5)),
    ("/some/dir/ava-val_-_x_y_z_000000_0_1", ("ava-val", "-_x_y_z", 0, 0, 1)),
])
def test_parse_release_name(name, expected):
    assert parse_release_name(name) == expected


@pytest.mark.parametrize("name", ["ava-train_053oq2xB3oU_000150_3.pkl", "ava-train__000150_3_12.pkl",
                                  "ava-train_vid_000150_x_12.pkl", "ava-train_vid_000150_3_0.pkl",
                                  "_vid_000150_3_2.pkl", "ava-train_vid_000150_-3_2.pkl"])
def test_parse_release_name_rejects(name):
    with pytest.raises(TrackError, match="expected <dataset>_<video>_<keyframe:06d>"):
        parse_release_name(name)


# ---- release round trip -----------------------------------------------------------------------------

@pytest.mark.parametrize("compress", [0, 3])
@pytest.mark.parametrize("appearance", [True, False])
def test_release_round_trip_is_exact(tmp_path, compress, appearance):
    track = make_track(appearance=appearance)
    path = write_release_track(track, tmp_path, compress=compress)
    assert path.name == f"ava-train_{VIDEO}_000150_3_7.pkl"
    back = read_release_track(path)
    assert back.equals(track)
    assert back.frame.dtype == np.int64 and back.pose_shape.dtype == np.float32


def test_release_file_has_the_release_keys_shapes_and_spellings(tmp_path):
    track = make_track()
    d = joblib.load(write_release_track(track, tmp_path))   # our own file: plain joblib is fine here
    T = len(track)
    shapes = {"fid": (T, 1, 1), "pose_shape": (T, 1, 229), "3d_joints": (T, 1, 45, 3), "camera": (T, 1, 3),
              "camera_bbox": (T, 1, 3), "action_label_gt": (T, 1, 80), "has_gt": (T, 1, 1),
              "has_detection": (T, 1, 1), "apperance_index": (T, 1, 1)}
    lists = {"frame_size", "frame_bbox", "frame_conf", "frame_name"}
    assert set(d) == set(shapes) | lists | {"apperance_dict", "action_label_psudo"}
    assert {k: d[k].shape for k in shapes} == shapes
    np.testing.assert_array_equal(d["fid"][:, 0, 0], track.frame)             # clip_start 0: fid = frame
    assert d["fid"].dtype == np.float64
    assert d["frame_name"][0] == f"{VIDEO}/{VIDEO}_000141.jpg" == release_frame_name(VIDEO, 140)
    # frame_size / frame_bbox / frame_conf: Python lists with PHALP's entry types (undetected: frames 2, 5)
    assert all(type(d[k]) is list and len(d[k]) == T for k in lists)
    for t in range(T):
        assert d["frame_size"][t].dtype == np.int64 and d["frame_size"][t].tolist() == [720, 1280]
        assert d["frame_bbox"][t].dtype == (np.float32 if track.has_detection[t] else np.float64)
        conf = d["frame_conf"][t]                      # a 0-d array (not a numpy scalar, see release_invariants)
        assert type(conf) is np.ndarray and conf.dtype == np.float32 and conf.shape == () and conf == track.conf[t]
        np.testing.assert_array_equal(d["frame_bbox"][t], track.box[t])
    # appearance rows are keys 0..K-1 with a leading axis; pseudo frame 2 (no appearance) gets key K=3 with
    # a zero feature; every key used is in both dicts (the official loader reads both for every index)
    np.testing.assert_array_equal(d["apperance_index"][:, 0, 0], [0, 1, 3, 2, 2, 4, 5])
    assert sorted(d["apperance_dict"]) == sorted(d["action_label_psudo"]) == [0, 1, 2, 3, 4, 5]
    assert d["apperance_dict"][1].shape == (1, 1152) and not d["apperance_dict"][3].any()
    np.testing.assert_array_equal(d["action_label_psudo"][3][0], track.labels[2])
    assert not d["action_label_psudo"][0].any() and not d["action_label_psudo"][2].any()   # has_gt 0 / 2 only
    np.testing.assert_array_equal(d["action_label_gt"][3, 0], track.labels[3])
    assert not d["action_label_gt"][[0, 1, 2, 4, 5, 6]].any()
    assert release_invariants.official_loader_problems(tmp_path) == []


def phalp_layout_file(folder, clip_start=40, first=60, T=9, video="vidAAAAAAA1", keyframe=62):
    """A release file as PHALP + LART write it (no lartcore involved): fid counts the frames of the clip's
    PHALP run that started at frame `clip_start`, images are numbered from 1, lists per frame."""
    rng = np.random.default_rng(5)
    frames = np.arange(first, first + T)
    det = np.arange(T) != 4
    d = {"fid": (frames - clip_start).astype(float).reshape(T, 1, 1),
         "pose_shape": rng.standard_normal((T, 1, 229)) * det[:, None, None],
         "3d_joints": rng.standard_normal((T, 1, 45, 3)), "camera": rng.standard_normal((T, 1, 3)),
         "camera_bbox": rng.standard_normal((T, 1, 3)), "has_detection": det.astype(float).reshape(T, 1, 1),
         "has_gt": np.where(det, 1.0, 0.0).reshape(T, 1, 1), "action_label_gt": np.zeros((T, 1, 80)),
         "apperance_index": np.where(det, np.arange(T) // 3, -1).reshape(T, 1, 1),
         "apperance_dict": {k: rng.standard_normal((1, 2048)).astype(np.float32) for k in range(3)},
         "action_label_psudo": {k: rng.random((1, 80)).astype(np.float32) for k in range(3)},
         "frame_name": [f"{video}/{video}_{f + 1:06d}.jpg" for f in frames],
         "frame_size": [np.array([720, 1280]) if x else np.array([0, 0]) for x in det],
         "frame_bbox": [np.array([10.5, 20.25, 50, 100 + t], np.float32) if x else np.array([0.0, 0.0, 0.0, 0.0])
                        for t, x in enumerate(det)],
         "frame_conf": [np.float32(0.9) if x else 0 for x in det]}
    path = folder / f"ava-val_{video}_{keyframe:06d}_2_{T}.pkl"
    joblib.dump(d, path)
    return path, d


def test_phalp_layout_file_round_trips_fid_names_and_key_frame(tmp_path):
    src, d = phalp_layout_file(tmp_path)
    d["apperance_dict"][-1] = np.ones((1, 2048), np.float32)    # PHALP keeps an entry for index -1 too
    d["action_label_psudo"][-1] = np.ones((1, 80), np.float32)
    joblib.dump(d, src)
    track = read_release_track(src)
    assert len(track.appearance) == 3                                         # key -1 is not a feature row
    np.testing.assert_array_equal(track.frame, np.arange(60, 69))            # from the names: image n = frame n-1
    assert track.clip_start == 40 and track.keyframe == 62 and keyframe_frame(track.keyframe) == 61
    assert track.has_gt[4] == 0 and track.appearance_index[4] == -1 and track.conf[4] == 0
    out = tmp_path / "out"
    out.mkdir()
    again = joblib.load(write_release_track(track, out))
    assert (out / src.name).is_file()                                          # same name: the key frame kept
    np.testing.assert_array_equal(again["fid"], d["fid"])
    assert again["frame_name"] == d["frame_name"]
    for key in ("frame_size", "frame_bbox", "frame_conf"):
        assert [np.asarray(v).dtype for v in again[key]] == [np.asarray(v).dtype for v in d[key]], key
        np.testing.assert_array_equal(np.array(again[key], float), np.array(d[key], float))
    assert read_release_track(out / src.name).equals(track)
    # the official key-frame rule (last frame of the first 125 whose name holds KEY_FRAME) -> frame 61
    hits = [i for i, n in enumerate(again["frame_name"][:125]) if f"{track.keyframe:06d}" in n]
    assert track.frame[hits[-1]] == 61


def test_frames_from_fid_when_names_carry_no_number_and_disagreements_refused(tmp_path):
    path, d = phalp_layout_file(tmp_path)
    joblib.dump(dict(d, frame_name=[f"frame{chr(97 + i)}.jpg" for i in range(9)]), path)
    track = read_release_track(path)
    np.testing.assert_array_equal(track.frame, np.arange(20, 29))              # fid
    assert track.clip_start == 0
    names = list(d["frame_name"])
    names[3] = names[2]
    joblib.dump(dict(d, frame_name=names), path)
    with pytest.raises(TrackError, match="'frame_name' numbers must be consecutive"):
        read_release_track(path)
    fid = d["fid"].copy()
    fid[5:] += 1
    joblib.dump(dict(d, fid=fid), path)
    with pytest.raises(TrackError, match="'fid' and 'frame_name' disagree: frame 5"):
        read_release_track(path)


def test_pseudo_labels_conflicting_on_one_appearance_row_are_refused(tmp_path):
    track = make_track()
    track.has_gt[3:5] = PSEUDO_LABEL             # frames 3 and 4 share appearance row 2
    track.labels[3], track.labels[4] = 0.25, 0.75
    with pytest.raises(TrackError, match="sharing appearance row 2"):
        write_release_track(track, tmp_path)


def _rewrite(tmp_path, track, **changes):
    """A release dict of `track` with keys changed (value None = deleted), written under its name."""
    path = write_release_track(track, tmp_path)
    d = joblib.load(path)
    for key, value in changes.items():
        if value is None:
            del d[key]
        else:
            d[key] = value
    joblib.dump(d, path)
    return path


def test_reader_is_tolerant_of_real_file_variants(tmp_path):
    track = make_track()
    T = len(track)
    d_app = {1000 * k: track.appearance[k] for k in range(3)}             # (D,) values, sparse keys
    d_psu = {1000: track.labels[1], 3000: track.labels[2][None], 4000: track.labels[5][None],
             5000: track.labels[6]}
    index = np.array([0, 1000, 3000, 2000, 2000, 4000, 5000], float).reshape(T, 1, 1)
    path = _rewrite(tmp_path, track, camera_bbox=None, frame_size=track.frame_size.tolist(),
                    frame_bbox=track.box.tolist(), frame_conf=track.conf.tolist(), apperance_dict=d_app,
                    action_label_psudo=d_psu, apperance_index=index, has_gt=track.has_gt.astype(float))
    back = read_release_track(path)
    track.camera_bbox[:] = 0
    assert back.equals(track)


@pytest.mark.parametrize("change, message", [
    ({"pose_shape": None}, "missing key 'pose_shape'"),
    ({"frame_bbox": np.zeros((7, 1, 5))}, r"'frame_bbox' expected shape \(7, 1, 4\) .*found \(7, 1, 5\)"),
    ({"camera": np.zeros((6, 1, 3))}, r"'camera' expected shape \(7, 1, 3\) \(T = 7 from the file name\)"),
    ({"frame_name": ["x"] * 6}, "'frame_name' expected a list of 7 names"),
    ({"has_gt": np.full((7, 1, 1), 1.5)}, "'has_gt' expected int8 values, found 1.5"),
    ({"apperance_index": np.full((7, 1, 1), 9)}, "'apperance_index' 9 is in neither"),
    ({"action_label_psudo": {k: np.zeros((1, 80)) for k in (3, 4, 5)}}, "has_gt=1 but 'action_label_psudo' has no key 1"),
    ({"action_label_gt": None}, "missing key 'action_label_gt'"),
    ({"apperance_dict": {0: np.zeros((2, 1152))}}, r"'apperance_dict'\[0\] expected a finite"),
])
def test_reader_strict_errors_name_file_key_expected_found(tmp_path, change, message):
    path = _rewrite(tmp_path, make_track(), **change)
    with pytest.raises(TrackError, match=message) as err:
        read_release_track(path)
    assert str(path) in str(err.value)


def test_nan_pose_is_refused_with_its_index(tmp_path):
    track = make_track()
    pose = track.pose_shape.copy().reshape(7, 1, 229)
    pose[4, 0, 17] = np.nan
    path = _rewrite(tmp_path, track, pose_shape=pose)
    with pytest.raises(TrackError, match=r"'pose_shape' has NaN/inf \(first at index \[4, 0, 17\]\)"):
        read_release_track(path)


def test_length_in_name_must_match(tmp_path):
    path = write_release_track(make_track(), tmp_path)
    renamed = path.with_name(path.name.replace("_7.pkl", "_8.pkl"))
    path.rename(renamed)
    with pytest.raises(TrackError, match="the file name says 8 frames, 'fid' has 7"):
        read_release_track(renamed)


def test_truncated_and_malicious_release_files(tmp_path):
    path = write_release_track(make_track(), tmp_path, compress=3)
    path.write_bytes(path.read_bytes()[:300])
    with pytest.raises(CorruptFileError, match=str(path)):
        read_release_track(path)
    evil = tmp_path / "ava-train_x_000000_1_7.pkl"
    joblib.dump({"fid": _Evil(tmp_path / "pwned")}, evil)
    with pytest.raises(UnsafePickleError, match="refused"):
        read_release_track(evil)
    assert not (tmp_path / "pwned").exists()


class _Evil:
    def __init__(self, target):
        self.target = str(target)

    def __reduce__(self):
        return (open, (self.target, "w"))


def test_iter_release_tracks_skip_bad_counts(tmp_path):
    good = [write_release_track(make_track(seed=s, video=f"vid{s:08d}"), tmp_path) for s in range(3)]
    corrupt = tmp_path / "ava-train_bad_000000_1_7.pkl"
    corrupt.write_bytes(b"\x80\x04garbage")
    badname = tmp_path / "notatrack.pkl"
    badname.write_bytes(good[0].read_bytes())
    paths = [good[0], corrupt, good[1], badname, good[2]]
    with pytest.raises(CorruptFileError):
        list(iter_release_tracks(paths))
    report = ReadReport()
    tracks = list(iter_release_tracks(paths, skip_bad=True, report=report))
    assert [t.video for t in tracks] == ["vid00000000", "vid00000001", "vid00000002"]
    assert report.read == 3 and [p for p, _ in report.skipped] == [corrupt, badname]
    assert "truncated or corrupt" in report.skipped[0][1] and "not a release track name" in report.skipped[1][1]
    assert "3 read, 2 skipped" in report.summary()


# ---- PHALP results --------------------------------------------------------------------------------

def _rotations(rng, n):
    q, _ = np.linalg.qr(rng.standard_normal((n, 3, 3)))
    return q.astype(np.float32)


def _detection(tid, t, rng, with_appe):
    e = {"tid": tid, "tracked_time": 0, "bbox": np.array([10 * tid + t, 20, 50, 100], np.float32),
         "smpl": {"global_orient": _rotations(rng, 1), "body_pose": _rotations(rng, 23),
                  "betas": rng.standard_normal(10).astype(np.float32)},
         "camera": np.array([0.1 * tid, 0.2, 60 + t], np.float32),
         "camera_bbox": rng.standard_normal(3).astype(np.float32),
         "3d_joints": rng.standard_normal((45, 3)).astype(np.float32), "size": [720, 1280],
         "conf": np.float32(0.5 + 0.01 * t), "class_name": np.int64(0), "annotations": [],
         "2d_joints": rng.random(90).astype(np.float32), "center": np.array([300.0, 200.0]), "scale": 0.2,
         "mask": [{"size": [720, 1280], "counts": "abc"}], "extra_data": 0}
    if with_appe:
        e["appe"] = rng.standard_normal(4096).astype(np.float32)
    return e


def write_phalp_results(path, with_appe=True, with_actions=True):
    """A realistic PHALP results dict (10 frames at 720x1280, compress=3) -> (path, detections).

    tid 1: detected 0-3, ghost 4-5, detected 6-9, shot change at 7 -> pieces [0..6] and [7..9].
    tid 2: detected 1-2, absent at 3, detected 4, ghost 5-9 -> one track [1..4].
    """
    rng = np.random.default_rng(1)
    plan = {1: {t: 0 for t in (0, 1, 2, 3, 6, 7, 8, 9)} | {4: 1, 5: 2},
            2: {1: 0, 2: 0, 4: 0} | {t: t - 4 for t in range(5, 10)}}
    results, last, detections = {}, {}, {}
    for t in range(10):
        frame = {"time": t, "shot": int(t == 7), "frame_path": f"{VIDEO}/{t + 1:06d}.jpg",
                 "tracked_ids": [], "tracked_bbox": [], "ava_action": {}}
        per_track = []
        for tid, states in plan.items():
            if t not in states:
                continue
            if states[t] == 0:
                last[tid] = detections[tid, t] = _detection(tid, t, rng, with_appe)
                frame["tracked_ids"].append(tid)
                frame["tracked_bbox"].append(last[tid]["bbox"])
            per_track.append(dict(last[tid], tracked_time=states[t]))
            if with_actions and tid == 1:
                frame["ava_action"][tid] = torch.linspace(-3, 3, 80) + t
        for key in per_track[0]:
            frame[key] = [e[key] for e in per_track]
        results[frame["frame_path"]] = frame
    joblib.dump(results, path, compress=3)
    return path, detections


def _expected_pose(e):
    s, c = e["smpl"], e["camera"]
    return np.concatenate([s["global_orient"].ravel(), s["body_pose"].ravel(), s["betas"],
                           [c[0], c[1], c[2] / 200]]).astype(np.float32)


def test_read_phalp_results(tmp_path):
    path, dets = write_phalp_results(tmp_path / f"demo_{VIDEO}.pkl")
    result = read_phalp_results(path)
    tracks = result.tracks
    assert result.shot_changes == [7] and (result.dataset, result.video) == ("demo", VIDEO)
    # keyframe = image number (frame + 1) of the shot's first frame
    assert [(t.track_id, t.keyframe, t.frame.tolist()) for t in tracks] == [
        (1, 1, list(range(7))), (1, 8, [7, 8, 9]), (2, 1, [1, 2, 3, 4])]
    assert all(t.dataset == "demo" and t.video == VIDEO for t in tracks)
    first, second, other = tracks
    np.testing.assert_array_equal(first.has_detection, [1, 1, 1, 1, 0, 0, 1])
    np.testing.assert_array_equal(other.has_detection, [1, 1, 0, 1])
    for track in tracks:
        for i, t in enumerate(track.frame):
            e = dets.get((track.track_id, int(t)))
            if e is None:   # ghost or absent: an all-zero undetected row
                assert not track.pose_shape[i].any() and not track.box[i].any() and track.conf[i] == 0
                assert track.appearance_index[i] == -1
                continue
            np.testing.assert_array_equal(track.pose_shape[i], _expected_pose(e))
            np.testing.assert_array_equal(track.box[i], e["bbox"])
            np.testing.assert_array_equal(track.joints_3d[i], e["3d_joints"])
            np.testing.assert_array_equal(track.camera[i], e["camera"])
            np.testing.assert_array_equal(track.frame_size[i], [720, 1280])
            assert track.conf[i] == e["conf"]
            np.testing.assert_array_equal(track.appearance[track.appearance_index[i]], e["appe"])
    assert first.appearance.shape == (5, 4096) and other.appearance.shape == (3, 4096)
    # ava_action logits of tid 1 (also on its ghost frames) -> sigmoid pseudo labels
    assert (first.has_gt == PSEUDO_LABEL).all() and (other.has_gt == 0).all() and not other.labels.any()
    logits = np.linspace(-3, 3, 80) + 8
    np.testing.assert_allclose(second.labels[1], 1 / (1 + np.exp(-logits)), rtol=1e-6)


def test_phalp_pose_key_wins_and_no_appearance(tmp_path):
    path, _ = write_phalp_results(tmp_path / "demo_x.pkl", with_appe=False, with_actions=False)
    results = joblib.load(path)
    for frame in results.values():
        frame["pose"] = [np.full(229, 0.5 + e, np.float32) for e in frame["tracked_time"]]
    joblib.dump(results, path)
    tracks = read_phalp_results(path, video="override").tracks
    assert tracks[0].video == "override" and all(t.appearance is None for t in tracks)
    assert all((t.has_gt == 0).all() for t in tracks)
    np.testing.assert_array_equal(tracks[0].pose_shape[0], np.full(229, 0.5, np.float32))


@pytest.mark.parametrize("breakage, message", [
    (lambda f: f.pop("bbox"), r"missing keys \['bbox'\]"),
    (lambda f: f["camera"].pop(), "'camera' has 1 entries, expected 2"),
    (lambda f: f["smpl"][0].pop("betas"), r"'smpl' is missing \['betas'\]"),
    (lambda f: f["3d_joints"].__setitem__(0, np.zeros((44, 3))), r"'3d_joints' expected 135 values"),
    (lambda f: f["bbox"].__setitem__(0, np.array([np.nan, 0, 1, 1], np.float32)), "'box' has NaN/inf"),
])
def test_phalp_errors_name_file_frame_and_key(tmp_path, breakage, message):
    path, _ = write_phalp_results(tmp_path / "demo_x.pkl")
    results = joblib.load(path)
    breakage(results[f"{VIDEO}/000002.jpg"])
    joblib.dump(results, path)
    with pytest.raises(TrackError, match=message) as err:
        read_phalp_results(path)
    assert str(path) in str(err.value)


def test_cli_convert_phalp_writes_release_tracks_and_skips_bad(tmp_path, capsys):
    good, _ = write_phalp_results(tmp_path / f"demo_{VIDEO}.pkl")
    bad = tmp_path / "demo_broken.pkl"
    bad.write_bytes(good.read_bytes()[:200])
    out = tmp_path / "out"
    assert lart_main(["data", "convert-phalp", str(good), str(bad), "--out", str(out),
                      "--dataset", "demo"]) == 2   # without --skip-bad: a clear error, exit 2
    assert "truncated or corrupt" in capsys.readouterr().err
    assert lart_main(["data", "convert-phalp", str(good), str(bad), "--out", str(out), "--skip-bad"]) == 0
    printed = capsys.readouterr().out
    assert "wrote 3 tracks" in printed and "1 read, 1 skipped" in printed and str(bad) in printed
    files = sorted(p.name for p in out.glob("*.pkl"))
    assert files == [f"demo_{VIDEO}_000001_1_7.pkl", f"demo_{VIDEO}_000001_2_4.pkl",
                     f"demo_{VIDEO}_000008_1_3.pkl"]
    expected = read_phalp_results(good).tracks
    assert read_release_track(out / files[1]).equals(expected[2])
    assert release_invariants.official_loader_problems(out) == []
    assert (out / "shots.csv").read_text() == f"dataset,video,frame\ndemo,{VIDEO},7\n"


def test_convert_phalp_shots_csv_replaces_only_the_converted_videos(tmp_path):
    """Converting a video again rewrites its shot changes (here: none left) and keeps other videos' rows."""
    out = tmp_path / "out"
    out.mkdir()
    (out / "shots.csv").write_text(f"dataset,video,frame\ndemo,{VIDEO},3\ndemo,{VIDEO},5\ndemo,other,99\n")
    path, _ = write_phalp_results(tmp_path / f"demo_{VIDEO}.pkl")
    results = joblib.load(path)
    for frame in results.values():
        frame["shot"] = 0
    joblib.dump(results, path)
    assert read_phalp_results(path).shot_changes == []
    assert lart_main(["data", "convert-phalp", str(path), "--out", str(out)]) == 0
    assert (out / "shots.csv").read_text() == "dataset,video,frame\ndemo,other,99\n"
    assert len(list(out.glob("*.pkl"))) == 2     # no shot change: tid 1 is one track


# ---- every per-file failure: one line naming the file; skipped and listed with --skip-bad ---------------

def _broken_release_files(tmp_path) -> dict[str, tuple]:
    """name -> (path, message) of release files that once escaped the readers' errors."""
    def variant(name, change):
        d = release_dict(make_track(seed=len(name), video=f"v{name:_<10}"[:11].replace("_", "x")))
        change(d)
        path = tmp_path / f"ava-train_{name}_000150_3_7.pkl"
        joblib.dump(d, path)
        return path
    return {
        "int fid": (variant("intfid", lambda d: d.__setitem__("fid", 5)),
                    "'fid' expected an array of 7 frame indices, found int 5"),
        "None appearance key": (variant("nonekey", lambda d: d["apperance_dict"].__setitem__(None, np.zeros((1, 1152)))),
                                "'apperance_dict' keys expected integers (appearance indices), found None"),
        "strings as pose": (variant("strpose", lambda d: d.__setitem__("pose_shape", [["a"] * 229] * 7)),
                            "'pose_shape' expected numbers, found dtype <U1"),
        "ragged lists": (variant("ragged", lambda d: d.__setitem__("camera", [[1.0], [1.0, 2.0]] * 3 + [[0.0]])),
                         "malformed file (ValueError: "),
    }


def test_release_reader_errors_are_track_errors_naming_the_file(tmp_path):
    for name, (path, message) in _broken_release_files(tmp_path).items():
        with pytest.raises(TrackError, match=re.escape(message)) as err:
            read_release_track(path)
        assert str(err.value).startswith(f"{path}: "), name


def test_skip_bad_skips_every_per_file_failure(tmp_path, monkeypatch):
    """Including errors no check foresaw (numpy raising SystemError on a crafted pickle, simulated)."""
    broken = _broken_release_files(tmp_path)
    good = [write_release_track(make_track(seed=s, video=f"vid{s:08d}"), tmp_path) for s in range(2)]
    weird = write_release_track(make_track(seed=9, video="weird000000"), tmp_path)
    real = tracks_mod.safe_load

    def numpy_system_error(path, **kwargs):
        if path == weird:
            raise SystemError("<built-in method __setstate__> returned NULL without setting an exception")
        return real(path, **kwargs)
    monkeypatch.setattr(tracks_mod, "safe_load", numpy_system_error)
    report = ReadReport()
    paths = [good[0], *(p for p, _ in broken.values()), weird, good[1]]
    read = list(iter_release_tracks(paths, skip_bad=True, report=report))
    assert [t.video for t in read] == ["vid00000000", "vid00000001"] and report.read == 2
    reasons = dict(report.skipped)
    assert list(reasons) == paths[1:-1]
    assert "malformed file (SystemError: <built-in method __setstate__> returned NULL" in reasons[weird]
    with pytest.raises(TrackError, match="SystemError"):           # strict: a TrackError naming the file
        list(iter_release_tracks([weird]))


@pytest.mark.parametrize("breakage, message", [
    (lambda f: f.__setitem__("time", None), r"'time' expected a frame index \(an integer >= 0\), found None"),
    (lambda f: f.__setitem__("time", "3"), r"'time' expected a frame index .*found '3'"),
    (lambda f: f["tid"].__setitem__(0, None), r"malformed file \(TypeError: "),
    (lambda f: f.__setitem__("ava_action", [1, 2]), r"malformed file \(AttributeError: "),
])
def test_phalp_malformed_values_are_track_errors(tmp_path, breakage, message):
    path, _ = write_phalp_results(tmp_path / "demo_x.pkl", with_actions=False)
    results = joblib.load(path)
    breakage(results[f"{VIDEO}/000002.jpg"])
    joblib.dump(results, path)
    with pytest.raises(TrackError, match=message) as err:
        read_phalp_results(path)
    assert str(err.value).startswith(f"{path}: ")


def test_cli_convert_phalp_time_none_is_one_line_and_skipped(tmp_path, capsys):
    path, _ = write_phalp_results(tmp_path / "demo_x.pkl", with_actions=False)
    results = joblib.load(path)
    results[f"{VIDEO}/000002.jpg"]["time"] = None
    joblib.dump(results, path)
    assert lart_main(["data", "convert-phalp", str(path), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err == (f"lart: error: {path}: frame '{VIDEO}/000002.jpg': 'time' expected a frame index "
                   "(an integer >= 0), found None\n")
    assert lart_main(["data", "convert-phalp", str(path), "--out", str(tmp_path / "out"), "--skip-bad"]) == 0
    assert "0 read, 1 skipped" in capsys.readouterr().out


def test_convert_phalp_writes_each_videos_cuts_before_a_later_file_fails(tmp_path, capsys):
    """A good video with a shot change, then a corrupt file: the good video's tracks and shots.csv are both
    there (they were written before the bad file was read)."""
    good, _ = write_phalp_results(tmp_path / f"demo_{VIDEO}.pkl")
    bad = tmp_path / "demo_broken.pkl"
    bad.write_bytes(good.read_bytes()[:200])
    out = tmp_path / "out"
    assert lart_main(["data", "convert-phalp", str(good), str(bad), "--out", str(out)]) == 2
    assert capsys.readouterr().err.startswith(f"lart: error: {bad}: truncated or corrupt")
    assert len(list(out.glob("*.pkl"))) == 3
    assert (out / "shots.csv").read_text() == f"dataset,video,frame\ndemo,{VIDEO},7\n"


def test_convert_phalp_disk_full_is_one_line_naming_the_file_and_leaves_no_partial_file(tmp_path, monkeypatch,
                                                                                       capsys):
    path, _ = write_phalp_results(tmp_path / f"demo_{VIDEO}.pkl")
    out = tmp_path / "out"
    assert lart_main(["data", "convert-phalp", str(path), "--out", str(out)]) == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    real_dump = joblib.dump

    def disk_full(value, filename, **kwargs):
        real_dump(value, filename, **kwargs)
        with open(filename, "r+b") as f:                   # half written, then the device is full
            f.truncate(100)
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    monkeypatch.setattr(tracks_mod.joblib, "dump", disk_full)
    capsys.readouterr()
    assert lart_main(["data", "convert-phalp", str(path), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err == f"lart: error: {out / f'demo_{VIDEO}_000001_1_7.pkl'}: No space left on device\n"   # key frame = image number
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before     # no temp files, old files intact
