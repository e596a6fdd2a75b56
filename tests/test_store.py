"""Packed track store: round trips, windows, clip lookups, pack resume, skip-bad, stats."""
from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest

from lartcore.data import store as store_mod
from lartcore.data.store import ClipIndex, TrackStore, stats, write_store
from lartcore.data.tracks import Track
from lartcore.paths import SHOTS_FILE


def random_track(rng, dataset="ava-train", video="vid_0000001", keyframe=150, track_id=0, frame_start=0,
                 length=40, app_dim=16) -> Track:
    """A valid random Track (app_dim=0: pose only)."""
    T = length
    has_gt = rng.integers(0, 3, T).astype(np.int8)
    labels = np.where((has_gt == 2)[:, None], rng.random((T, 80)) < 0.05, 0).astype(np.float32)
    labels = np.where((has_gt == 1)[:, None], rng.random((T, 80)).astype(np.float32), labels)
    n_app = (T + 5) // 6 if app_dim else 0
    app_index = (np.arange(T) // 6 if app_dim else np.full(T, -1)).astype(np.int64)
    app_index[rng.random(T) < 0.1] = -1
    return Track(
        dataset=dataset, video=video, track_id=track_id, keyframe=keyframe,
        frame=np.arange(frame_start, frame_start + T, dtype=np.int64),
        pose_shape=rng.standard_normal((T, 229)).astype(np.float32),
        joints_3d=rng.uniform(-1, 1, (T, 45, 3)).astype(np.float32),
        camera=(rng.standard_normal((T, 3)) * [1, 1, 30] + [0, 0, 80]).astype(np.float32),
        camera_bbox=rng.standard_normal((T, 3)).astype(np.float32),
        box=rng.uniform(0, 500, (T, 4)).astype(np.float32),
        frame_size=np.tile(np.array([[720, 1280]], np.int32), (T, 1)),
        conf=rng.random(T).astype(np.float32), has_detection=rng.random(T) < 0.9, has_gt=has_gt,
        labels=labels, appearance_index=app_index,
        appearance=rng.standard_normal((n_app, app_dim)).astype(np.float32) if app_dim else None,
    )


def stored(t: Track) -> Track:
    """What the store is documented to return: float16 columns rounded."""
    d = dict(t.__dict__)
    for k in ("joints_3d", "labels"):
        d[k] = t.__dict__[k].astype(np.float16).astype(np.float32)
    if t.appearance is not None:
        d["appearance"] = t.appearance.astype(np.float16).astype(np.float32)
    return Track(**d)


def assert_same(a: Track, b: Track):
    for k, v in a.__dict__.items():
        w = b.__dict__[k]
        if isinstance(v, np.ndarray) or isinstance(w, np.ndarray):
            assert v is not None and w is not None, k
            assert v.shape == w.shape and v.dtype == w.dtype, (k, v.shape, w.shape, v.dtype, w.dtype)
            np.testing.assert_array_equal(v, w, err_msg=k)
        else:
            assert v == w, k


@pytest.fixture(scope="module")
def tracks():
    rng = np.random.default_rng(0)
    out = []
    for c in range(4):   # 4 clips, 1-4 tracks each, various starts and lengths
        for tid in range(c + 1):
            out.append(random_track(rng, video=f"vid_{c:07d}", keyframe=30 * c, track_id=tid,
                                    frame_start=int(rng.integers(0, 60)), length=int(rng.integers(1, 90)),
                                    app_dim=0 if (c, tid) == (2, 1) else 16))
    return out


def test_round_trip_exact(tmp_path, tracks):
    root = write_store(tracks, tmp_path / "s", shard_frames=100)
    st = TrackStore(root)
    assert len(st) == len(tracks)
    assert st.index["shard"].nunique() > 2          # several shards were written
    for i, t in enumerate(tracks):
        assert_same(st.track(i, appearance=True), stored(t))
        assert st.track(i).appearance is None       # features read only when asked
    # float32 columns are bit-exact, float16 ones within their documented error
    t = st.track(0, appearance=True)
    assert np.abs(t.joints_3d - tracks[0].joints_3d).max() <= 1e-3


def test_window_is_slice(tmp_path, tracks):
    st = TrackStore(write_store(tracks, tmp_path / "s", shard_frames=150))
    rng = np.random.default_rng(1)
    for i, t in enumerate(tracks):
        start = int(rng.integers(0, len(t)))
        stop = int(rng.integers(start, len(t) + 1))
        w = st.window(i, start, stop, appearance=True)
        full = stored(t)
        for k in ("frame", "pose_shape", "joints_3d", "box", "has_detection", "has_gt", "labels", "conf"):
            np.testing.assert_array_equal(getattr(w, k), getattr(full, k)[start:stop], err_msg=k)
        # the window's features, looked up through its own indices, equal the track's
        idx = full.appearance_index[start:stop]
        for r in np.flatnonzero(idx >= 0):
            np.testing.assert_array_equal(w.appearance[w.appearance_index[r]], full.appearance[idx[r]])
        assert ((w.appearance_index == -1) == (idx == -1)).all()
        if w.appearance is not None:
            assert len(w.appearance) == len(np.unique(idx[idx >= 0]))   # only the needed rows
    with pytest.raises(IndexError, match="outside track 0"):
        st.window(0, 0, len(tracks[0]) + 1)


def test_clip_tracks_and_others(tmp_path, tracks):
    st = TrackStore(write_store(tracks, tmp_path / "s"))
    for i, t in enumerate(tracks):
        same = [j for j, u in enumerate(tracks) if j != i and (u.dataset, u.video, u.keyframe) ==
                (t.dataset, t.video, t.keyframe)]
        assert st.clip_tracks(i).tolist() == same
        for start, stop in [(0, len(t)), (len(t) // 2, len(t)), (0, 1)]:
            lo, hi = t.frame[0] + start, t.frame[0] + stop
            want = [j for j in same if tracks[j].frame[0] < hi and tracks[j].frame[-1] >= lo]
            assert st.others(i, start, stop).tolist() == want


def test_clip_index_overlap_edges():
    index = pd.DataFrame({"dataset": ["d"] * 4, "video": ["v"] * 4, "keyframe": [0, 0, 0, 1],
                          "frame_start": [10, 0, 20, 10], "length": [10, 10, 5, 10]})
    ci = ClipIndex(index)   # track 0 covers frames 10..19
    assert ci.others(0, 0, 10).tolist() == []           # 1 ends at 9, 2 starts at 20; 3 other clip
    assert ci.others(1, 0, 10).tolist() == []
    index.loc[1, "length"] = 11                          # now 1 covers frame 10
    assert ClipIndex(index).others(0, 0, 1).tolist() == [1]
    assert ClipIndex(index).others(0, 1, 10).tolist() == []


def test_pickled_store_opens_own_maps(tmp_path, tracks):
    st = TrackStore(write_store(tracks, tmp_path / "s"))
    st.track(0)
    assert st._maps
    clone = pickle.loads(pickle.dumps(st))
    assert clone._maps == {}
    assert_same(clone.track(3, appearance=True), st.track(3, appearance=True))


def test_stats_vs_hand(tmp_path):
    rng = np.random.default_rng(2)
    ts = [random_track(rng, "ava-train", "a" * 11, 0, 0, 0, 30),
          random_track(rng, "ava-train", "a" * 11, 0, 1, 5, 60),
          random_track(rng, "ava-train", "a" * 11, 90, 0, 0, 90),
          random_track(rng, "kinetics-train", "k" * 11, 0, 0, 0, 300)]
    table = stats(TrackStore(write_store(ts, tmp_path / "s"))).set_index("dataset")
    ava = table.loc["ava-train"]
    assert ava["#clips"] == 2 and ava["#tracks"] == 3
    assert ava["#bbox"] == sum(int(t.has_detection.sum()) for t in ts[:3])
    assert ava["mean track length (s)"] == pytest.approx((30 + 60 + 90) / 3 / 30)
    assert ava["hours"] == pytest.approx(180 / 30 / 3600)
    kin = table.loc["kinetics-train"]
    assert kin["#clips"] == 1 and kin["#tracks"] == 1 and kin["mean track length (s)"] == pytest.approx(10)


# ---- pack ---------------------------------------------------------------------------------------

def release_track(rng, **kw) -> Track:
    """A random track that the release format can hold: pseudo labels are keyed by appearance row."""
    t = random_track(rng, **kw)
    if t.appearance is not None:
        per_row = rng.random((len(t.appearance), 80)).astype(np.float32)
        pseudo = (t.has_gt == 1) & (t.appearance_index >= 0)
        t.labels[pseudo] = per_row[t.appearance_index[pseudo]]
    return t


@pytest.fixture()
def release_dir(tmp_path):
    from lartcore.data.tracks import write_release_track
    rng = np.random.default_rng(5)
    src = tmp_path / "src"
    src.mkdir()
    for k in range(13):
        t = release_track(rng, video=f"vid_{k % 4:07d}", keyframe=30 * (k % 4), track_id=k,
                          frame_start=int(rng.integers(0, 30)), length=int(rng.integers(2, 50)))
        write_release_track(t, src)
    return src


def tree_bytes(root):
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_pack_reads_release_files(tmp_path, release_dir):
    from lartcore.data.tracks import read_release_track
    st = TrackStore(store_mod.pack(release_dir, tmp_path / "s", workers=1, chunk_files=5))
    files = sorted(release_dir.glob("*.pkl"))
    assert len(st) == 13 and st.index["shard"].tolist() == [0] * 5 + [1] * 5 + [2] * 3
    assert st.index["name"].tolist() == [f.stem for f in files]
    for i, f in enumerate(files):
        assert_same(st.track(i, appearance=True), stored(read_release_track(f)))
    assert pd.read_csv(tmp_path / "s" / "skipped.csv").empty
    assert st.shots.empty and st.shot_changes("vid_0000001").tolist() == []     # no shots.csv: none known


def test_shot_changes_travel_into_the_store(tmp_path, tracks, release_dir):
    from lartcore.data import shots
    cuts = shots.shots_frame([("ava-train", "vid_0000001", 40), ("ava-train", "vid_0000001", 12),
                              ("ava-train", "vid_0000002", 7)])
    st = TrackStore(write_store(tracks, tmp_path / "w", shot_changes=cuts))
    assert st.shot_changes("vid_0000001").tolist() == [12, 40] and st.shot_changes("nope").tolist() == []
    shots.write_shots(cuts, release_dir / SHOTS_FILE)
    packed = TrackStore(store_mod.pack(release_dir, tmp_path / "p", workers=1))
    assert packed.shots.equals(cuts)
    (release_dir / SHOTS_FILE).write_text("dataset,video,frame\nava-train,v,-1\n")
    with pytest.raises(shots.ShotsError, match=r"shots.csv:2: frame must be an integer"):
        store_mod.pack(release_dir, tmp_path / "bad", workers=1)
    assert not (tmp_path / "bad").exists()                 # refused before any work


def test_pack_resume_byte_identical(tmp_path, release_dir, monkeypatch):
    clean = store_mod.pack(release_dir, tmp_path / "clean", workers=1, chunk_files=4)
    # interrupted run: chunks 0 and 2 finished, chunk 1 killed half-written, chunk 3 never started
    part = store_mod.pack(release_dir, tmp_path / "part", workers=1, chunk_files=4, only_chunks=[0, 2])
    real = store_mod.write_shard

    def dies_midway(_tracks, shard, _skipped=None):
        (shard.parent / f".{shard.name}.tmp").mkdir()
        (shard.parent / f".{shard.name}.tmp" / "pose_shape.npy").write_bytes(b"half")
        raise KeyboardInterrupt
    monkeypatch.setattr(store_mod, "write_shard", dies_midway)
    with pytest.raises(KeyboardInterrupt):
        store_mod.pack(release_dir, part, workers=1, chunk_files=4)
    assert not (part / "index.parquet").exists()
    monkeypatch.setattr(store_mod, "write_shard", real)
    before = (part / "shards" / "000000" / "pose_shape.npy").stat().st_mtime_ns
    store_mod.pack(release_dir, part, workers=2, chunk_files=4)      # resume, in 2 processes
    assert (part / "shards" / "000000" / "pose_shape.npy").stat().st_mtime_ns == before   # not redone
    assert tree_bytes(part) == tree_bytes(clean)
    assert len(tree_bytes(clean)) == 4 * 15 + 4                      # 4 shards x 15 files + 4 top files
    (part / "shards" / ".000001.tmp").mkdir()                         # a stray unfinished shard folder
    store_mod.finish_store(part)
    assert (part / "index.parquet").read_bytes() == (clean / "index.parquet").read_bytes()


def test_pack_refuses_other_file_list(tmp_path, release_dir):
    store_mod.pack(release_dir, tmp_path / "s", workers=1, chunk_files=5, only_chunks=[0])
    min(release_dir.glob("*.pkl")).rename(release_dir / "ava-train_vid_0000009_000000_1_2.pkl")
    with pytest.raises(ValueError, match="different file list"):
        store_mod.pack(release_dir, tmp_path / "s", workers=1, chunk_files=5)


def test_pack_skip_bad(tmp_path, release_dir):
    files = sorted(release_dir.glob("*.pkl"))
    files[3].write_bytes(files[3].read_bytes()[:200])                # truncated
    (release_dir / "not_a_track.pkl").write_bytes(files[0].read_bytes())   # unparsable name
    with pytest.raises(ValueError, match=files[3].name):
        store_mod.pack(release_dir, tmp_path / "strict", workers=1, chunk_files=5)
    st = TrackStore(store_mod.pack(release_dir, tmp_path / "s", workers=1, chunk_files=5, skip_bad=True))
    skipped = pd.read_csv(tmp_path / "s" / "skipped.csv")
    assert len(st) == 12 and sorted(skipped["file"]) == sorted([files[3].name, "not_a_track.pkl"])
    assert skipped["reason"].str.len().min() > 10
    assert files[3].stem not in set(st.index["name"])


def test_cli_pack_and_stats(tmp_path, release_dir, capsys):
    from lartcore.cli import main
    files = sorted(release_dir.glob("*.pkl"))
    files[0].write_bytes(b"garbage")
    assert main(["data", "pack", str(release_dir), str(tmp_path / "s"), "--workers", "1", "--skip-bad"]) == 0
    out = capsys.readouterr().out
    assert "packed 12 tracks" in out and "skipped 1 bad file" in out
    assert main(["data", "stats", str(tmp_path / "s")]) == 0
    out = capsys.readouterr().out
    assert "#clips" in out and "ava-train" in out and " 12 " in out
