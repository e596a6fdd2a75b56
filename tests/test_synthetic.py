"""The synthetic demo dataset: determinism, label/pose consistency, format round trips, idempotency."""
from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

import joblib
import numpy as np
import pytest
import release_invariants

from lartcore import schema
from lartcore.data import ava
from lartcore.data.store import TrackStore
from lartcore.data.tracks import keyframe_frame, read_release_track
from lartcore.demodata import synthetic
from lartcore.paths import SHOTS_FILE
from lartcore.schema import GT_LABEL

PI_COLS = np.array(sorted(synthetic.INTERACTION.values())) - 1


def _digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    return synthetic.build_demo(tmp_path_factory.mktemp("demo") / "root", size="tiny", seed=0)


@pytest.fixture(scope="module")
def videos() -> dict[str, list[synthetic.Video]]:
    """A bigger in-memory sample (no files) for the label/pose statistics."""
    size = synthetic.Size(8, 0, 0, (12, 14), 8, 5)
    return {"ava_train": synthetic.generate(synthetic.SPLITS[0], size, seed=3)}


def _windows(people, label: int, half: int = 15):
    """(person, frame) where the person is present and carries `label` constantly over f +- half."""
    for p in people:
        y = p.labels[:, label - 1].astype(bool) & p.present
        ok = np.convolve(y, np.ones(2 * half + 1), "same") == 2 * half + 1
        for f in np.flatnonzero(ok):
            yield p, f


def test_determinism(built, tmp_path):
    again = synthetic.build_demo(tmp_path / "same", size="tiny", seed=0)
    assert _digest(again) == _digest(built)
    other = synthetic.build_demo(tmp_path / "other", size="tiny", seed=1)
    d0, d1 = _digest(built), _digest(other)
    assert d0["ava/ava_train_v2.2.csv"] != d1["ava/ava_train_v2.2.csv"]
    assert d0["store/ava_train/shards/000000/pose_shape.npy"] != d1["store/ava_train/shards/000000/pose_shape.npy"]


def test_layout_and_size_budget(built):
    for name in ("ava/ava_action_list_v2.2.pbtxt", "ava/ava_action_list_v2.2_for_activitynet_2019.pbtxt",
                 "ava/ava_train_v2.2.csv", "ava/ava_val_v2.2.csv", "ava/ava_val_predicted_boxes.csv",
                 "ava/ava_val_excluded_timestamps_v2.2.csv", "manifest.json", "BUILD_COMPLETE"):
        assert (built / name).is_file(), name
    assert (built / "ava/ava_action_list_v2.2.pbtxt").read_bytes() == ava.LABELMAP_80.read_bytes()
    for split, prefix in zip(synthetic.STORE_SPLITS, ("ava-train", "ava-val", "kinetics-train"), strict=True):
        names = [p.name for p in (built / "tracks" / split).glob("*.pkl")]
        assert names and all(n.startswith(prefix + "_demo_") for n in names)
        assert len(TrackStore(built / "store" / split)) == len(names)
    assert sum(p.stat().st_size for p in built.rglob("*") if p.is_file()) < 15e6


def test_release_pickles_equal_store_and_memory(built):
    memory = {t.name: t for v in synthetic.generate(synthetic.SPLITS[1], synthetic.SIZES["tiny"], 0)
              for t in v.tracks}
    store = TrackStore(built / "store" / "ava_val")
    assert len(store) == len(memory)
    for i in range(len(store)):
        packed = store.track(i, appearance=True)
        read = read_release_track(built / "tracks" / "ava_val" / f"{packed.name}.pkl")
        assert read.equals(memory[packed.name])
        # the store keeps joints/labels/appearance as float16: 2^-11 relative (features reach ~16)
        assert packed.equals(dataclasses.replace(read, appearance=packed.appearance), atol=2e-3)
        np.testing.assert_allclose(packed.appearance, read.appearance, rtol=2**-10, atol=1e-3)


def test_gt_csv_round_trip(built):
    vids = synthetic.generate(synthetic.SPLITS[0], synthetic.SIZES["tiny"], 0)
    gt = ava.read_gt(built / "ava" / "ava_train_v2.2.csv")
    rows = [r for v in vids for r in v.gt]
    assert len(gt) == len(rows) > 0
    assert gt["timestamp"].min() >= 902
    assert set(gt["action_id"]) <= set(synthetic.CLASS_IDS) <= set(schema.EVALUATED_IDS)
    np.testing.assert_allclose(gt[["x1", "y1", "x2", "y2"]].to_numpy(), np.array([r[2:6] for r in rows]))
    boxes = ava.read_person_boxes(built / "ava" / "ava_val_predicted_boxes.csv")
    assert len(boxes) > 0 and boxes["score"].between(0, 1).all()


def test_release_files_meet_the_official_loader_and_name_the_annotated_key_frame(built):
    """What the official loader needs (release_invariants), and on AVA splits the official key-frame rule
    (the last frame of the first 125 whose name holds KEY_FRAME) lands on the annotated keyframe."""
    covered = 0
    for split in synthetic.STORE_SPLITS:
        folder = built / "tracks" / split
        assert release_invariants.official_loader_problems(folder) == [], split
        if not split.startswith("ava"):
            continue
        for path in sorted(folder.glob("*.pkl")):
            d, t = joblib.load(path), read_release_track(path)
            key = f"{t.keyframe:06d}"
            hits = [i for i, name in enumerate(d["frame_name"][:125]) if key in name]
            k = keyframe_frame(t.keyframe) - int(t.frame[0])
            if not 0 <= k < min(len(t), 125):
                assert not hits
                continue
            covered += 1
            assert hits[-1] == k and t.has_gt[k] == GT_LABEL
            assert t.keyframe // 30 + 900 == t.frame[k] / 30 + 900          # ava.py:58-61 second = frame's
    assert covered >= 4


def test_gt_keyframes_in_tracks(built):
    store = TrackStore(built / "store" / "ava_train")
    for i in range(len(store)):
        t = store.track(i)
        seconds = (t.frame[t.has_gt == GT_LABEL] / 30 + 900)
        assert np.allclose(seconds, np.round(seconds)) and (seconds >= 902).all()
        assert ((t.has_gt == 1) <= t.has_detection).all()       # pseudo labels only with appearance
        assert (t.pose_shape[~t.has_detection] == 0).all()       # gaps carry a zero pose


def test_walkers_move_standers_do_not(videos):
    people = [p for v in videos["ava_train"] for p in v.people]

    def speeds(label):   # m/s over 1 s, from the stored camera (metric: tz / DEPTH_SCALE)
        out = []
        for p, f in _windows(people, label):
            if f + 30 < len(p.camera) and p.labels[f + 15, label - 1]:
                pos = synthetic.metric_position(p.joints[[f - 15, f + 15], 8], p.camera[[f - 15, f + 15]])
                out.append(np.linalg.norm((pos[1] - pos[0])[[0, 2]]))
        return np.array(out)

    walk, stand = speeds(synthetic.MOVEMENT["walk"]), speeds(synthetic.MOVEMENT["stand"])
    assert len(walk) > 50 and len(stand) > 50
    assert np.median(walk) > 0.9 and np.quantile(walk, 0.1) > 0.5
    assert np.median(stand) < 0.15


def _hip_angle(j: np.ndarray) -> float:
    """Angle (deg) between torso (pelvis -> neck) and left thigh (hip -> knee), 45-joint rows."""
    torso, thigh = j[1] - j[8], j[13] - j[12]
    return float(np.degrees(np.arccos(torso @ thigh / np.linalg.norm(torso) / np.linalg.norm(thigh))))


def test_sitters_hips_are_flexed(videos):
    people = [p for v in videos["ava_train"] for p in v.people]
    sit = [_hip_angle(p.joints[f]) for p, f in _windows(people, synthetic.MOVEMENT["sit"], 8)]
    stand = [_hip_angle(p.joints[f]) for p, f in _windows(people, synthetic.MOVEMENT["stand"], 8)]
    assert len(sit) > 30 and len(stand) > 30
    assert np.quantile(sit, 0.95) < 130
    assert np.quantile(stand, 0.05) > 150


def test_huggers_within_arms_reach_and_partners_exist(videos):
    hug = synthetic.INTERACTION["hug"]
    dists, n_pi = [], 0
    for v in videos["ava_train"]:
        for p, f in _windows(v.people, hug, 12):
            q = v.people[p.partner[f]]
            a, b = (synthetic.metric_position(x.joints[f, 8], x.camera[f]) for x in (p, q))
            dists.append(np.linalg.norm((a - b)[[0, 2]]))
        for i, p in enumerate(v.people):
            has_pi = p.labels[:, PI_COLS].any(axis=1)
            assert (p.partner[has_pi] >= 0).all() and (p.partner[has_pi] != i).all()
            n_pi += has_pi.sum()
    assert n_pi > 0 and len(dists) > 10
    assert max(dists) < 0.7


def test_interaction_labels_have_a_partner_track(built):
    for split in ("ava_train", "ava_val"):
        store = TrackStore(built / "store" / split)
        tracks = [store.track(i) for i in range(len(store))]
        for t in tracks:
            frames = t.frame[(t.has_gt == GT_LABEL) & t.labels[:, PI_COLS].any(axis=1)]
            for f in frames:
                assert any(o is not t and (o.video, o.keyframe) == (t.video, t.keyframe)
                           and o.frame[0] <= f <= o.frame[-1] for o in tracks), (t.name, f)


def test_views_follow_their_shares_and_persist():
    """The view chain: each view's share of chunks as _VIEWS says; runs of one view last ~4 chunks (a
    12-frame keyframe window, 2-3 chunks, mostly sees one view, a 48-frame track window, 8 chunks, several)."""
    view = synthetic._views(np.random.default_rng(0).random(200_000))
    shares = np.bincount(view, minlength=3) / len(view)
    np.testing.assert_allclose(shares, list(synthetic._VIEWS.values()), atol=0.01)
    runs = np.diff(np.flatnonzero(np.diff(np.r_[-1, view, -1]) != 0))
    leave = (1 - synthetic._VIEW_STAY) * (1 - shares)          # chance that a run of each view ends at a chunk
    assert runs.mean() == pytest.approx(1 / (shares * leave).sum(), rel=0.03)
    assert 3.5 <= runs.mean() <= 4.5


def _object_auc(videos, window: int) -> float:
    """How well one chunk's (window=1) or a track window's mean object evidence (projection of the feature
    on each object prototype) ranks the chunks that carry the object above those that do not: ROC AUC, mean
    over the object classes (chunks whose window changes label are averaged over the same-label part)."""
    protos = synthetic.prototypes(3)
    om = np.array(sorted(synthetic.OBJECT.values())) - 1
    score, label = [], []
    for v in videos["ava_train"]:
        for t, pid in zip(v.tracks, v.track_person, strict=True):
            proj = t.appearance @ protos[om].T                                            # (K, 13)
            mid = t.frame[0] + np.minimum(np.arange(0, len(t), synthetic.CHUNK) + synthetic.CHUNK // 2, len(t) - 1)
            y = v.people[pid].labels[mid][:, om]                                          # (K, 13)
            for i in range(len(y)):
                lo = max(0, i - window // 2)
                same = (y[lo:lo + window] == y[i]).all(1)
                score.append(proj[lo:lo + window][same].mean(0))
                label.append(y[i])
    score, label = np.array(score), np.array(label).astype(bool)
    aucs = []
    for c in range(len(om)):
        if label[:, c].sum() > 5:
            rank = score[:, c].argsort().argsort() + 1
            n = label[:, c].sum()
            aucs.append((rank[label[:, c]].sum() - n * (n + 1) / 2) / (n * (~label[:, c]).sum()))
    return float(np.mean(aucs))


def test_appearance_is_ambiguous_per_frame_and_informative_over_a_track(videos):
    """Why tracking matters on the demo data: the object evidence of one chunk, or of the 2 chunks of a
    12-frame keyframe window, ranks people clearly worse than the mean over the 8 chunks of a 48-frame track
    window (views: clear, occluded, look-alike)."""
    one, keyframe, track = (_object_auc(videos, w) for w in (1, 2, 8))
    assert one < 0.75 and keyframe < 0.8 and track > 0.84 and track >= keyframe + 0.06, (one, keyframe, track)


def test_joints_project_inside_boxes(videos):
    inside_gt, inside_det, total = 0, 0, 0
    for v in videos["ava_train"]:
        for t, pid in zip(v.tracks, v.track_person, strict=True):
            p, det = v.people[pid], t.has_detection
            uv = schema.project(t.joints_3d[det, :44] + t.camera[det][:, None], (synthetic.H, synthetic.W))  # (n, 44, 2)
            in_img = (uv[..., 0] >= 0) & (uv[..., 0] <= synthetic.W) & (uv[..., 1] >= 0) & (uv[..., 1] <= synthetic.H)
            for box, key in ((p.box[t.frame[det]], "gt"), (t.box[det], "det")):
                x0, y0 = box[:, None, 0], box[:, None, 1]
                ok = (uv[..., 0] >= x0) & (uv[..., 0] <= x0 + box[:, None, 2]) & \
                     (uv[..., 1] >= y0) & (uv[..., 1] <= y0 + box[:, None, 3])
                if key == "gt":
                    inside_gt += (ok & in_img).sum()
                else:
                    inside_det += (ok & in_img).sum()
            total += in_img.sum()
    assert total > 10000
    assert inside_gt == total
    assert inside_det > 0.97 * total


def test_idempotent_and_partial_build_redone(tmp_path, monkeypatch):
    root = synthetic.build_demo(tmp_path / "r", size="tiny", seed=0)
    first = _digest(root)
    monkeypatch.setattr(synthetic, "generate", lambda *_a, **_k: pytest.fail("rebuilt a complete build"))
    assert synthetic.build_demo(root, size="tiny", seed=0) == root
    monkeypatch.undo()
    victim = next((root / "tracks" / "ava_val").glob("*.pkl"))
    victim.write_bytes(victim.read_bytes()[:100])                  # a killed build: truncated file,
    (root / "BUILD_COMPLETE").unlink()                             # no marker, a stray file
    (root / "tracks" / "ava_val" / "stray_demo_va_999_000000_1_5.pkl").write_bytes(b"x")
    synthetic.build_demo(root, size="tiny", seed=0)
    assert _digest(root) == first
    assert not synthetic.is_built(root, size="tiny", seed=1)


def test_shot_changes_split_tracks_clips_and_people(built, tmp_path):
    """A cut starts a new scene: no track, clip (the candidate others) or annotated person spans it; the
    release folder and the store carry the cuts in shots.csv, and `lart data pack` keeps them."""
    from lartcore.data import shots
    from lartcore.data.store import pack

    n_cuts = 0
    for split in synthetic.SPLITS[:2]:
        store = TrackStore(built / "store" / split.name)
        for v in synthetic.generate(split, synthetic.SIZES["tiny"], 0):
            assert store.shot_changes(v.video).tolist() == v.shot_changes
            for cut in v.shot_changes:
                n_cuts += 1
                assert all(t.frame[-1] < cut or t.frame[0] >= cut for t in v.tracks)
                before = {t.keyframe for t in v.tracks if t.frame[0] < cut}
                after = {t.keyframe for t in v.tracks if t.frame[0] >= cut}
                assert before and after and not before & after
                assert not any(p.present[:cut].any() and p.present[cut:].any() for p in v.people)
        sidecar = shots.read_shots(built / "tracks" / split.name / SHOTS_FILE)
        assert sidecar.equals(store.shots) and (sidecar["dataset"] == split.dataset).all()
    assert n_cuts >= 2
    packed = TrackStore(pack(built / "tracks" / "ava_val", tmp_path / "packed", workers=1))
    assert packed.shots.equals(TrackStore(built / "store" / "ava_val").shots)
