"""Packed track store: round trips, windows, clip lookups, pack resume, skip-bad, stats."""
from __future__ import annotations

import pickle
from pathlib import Path

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


# ---- one writer at a time, no stale temp files, disk full, tampered stores ----------------------------

_SLOW_PACK = """
import os, sys, time
from pathlib import Path
from lartcore.data import store
real = store._pack_chunk
def slow(job):
    Path(sys.argv[3], f"started-{os.getpid()}-{job[0]}").touch()
    time.sleep(float(sys.argv[4]))
    return real(job)
store._pack_chunk = slow
store.pack(sys.argv[1], sys.argv[2], workers=2, chunk_files=2)
"""


def test_a_second_pack_fails_while_orphaned_workers_of_a_killed_one_write(tmp_path, release_dir, capsys):
    """`pack` killed (SIGKILL) while its 2 workers write: the workers go on with their chunks. A second pack
    into the same folder fails at once with one line; once they are gone it finishes the store, identical
    to an uninterrupted pack."""
    import os
    import signal
    import subprocess
    import sys
    import time

    import lartcore.cli.commands  # noqa: F401  (imported now: the CLI call below must not wait for torch)
    from lartcore.cli import main
    clean = store_mod.pack(release_dir, tmp_path / "clean", workers=1, chunk_files=2)
    dst, marks = tmp_path / "s", tmp_path / "marks"
    marks.mkdir()
    (tmp_path / "slow_pack.py").write_text(_SLOW_PACK)
    env = dict(os.environ, PYTHONPATH=str(Path(store_mod.__file__).parents[2]))
    proc = subprocess.Popen([sys.executable, str(tmp_path / "slow_pack.py"), str(release_dir), str(dst), str(marks),
                             "3"], env=env, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while len(list(marks.iterdir())) < 2 and time.time() < deadline:   # both workers inside a chunk
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    with pytest.raises(BlockingIOError, match="another `lart data pack` into this folder is still running"):
        store_mod.pack(release_dir, dst, workers=1, chunk_files=2)
    assert main(["data", "pack", str(release_dir), str(dst), "--workers", "1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"lart: error: {dst}: another `lart data pack`") and err.count("\n") == 1
    while time.time() < deadline:                                       # the orphans end after their chunk
        try:
            store_mod.pack(release_dir, dst, workers=1, chunk_files=2)
            break
        except BlockingIOError:
            time.sleep(0.2)
    assert tree_bytes(dst) == tree_bytes(clean)


def test_stale_temp_files_of_a_killed_pack_are_removed_by_the_next_run(tmp_path, release_dir):
    dst = store_mod.pack(release_dir, tmp_path / "s", workers=1, chunk_files=5, only_chunks=[0])
    (dst / "shards" / ".000000.tmp").mkdir()                             # a finished chunk's leftover
    (dst / "shards" / ".000000.tmp" / "pose_shape.npy").write_bytes(b"half")
    (dst / ".store.json.k3j2.tmp").write_text("{")                        # an atomic write's leftover
    store_mod.pack(release_dir, dst, workers=1, chunk_files=5)
    assert not list(dst.glob(".*.tmp")) and not list((dst / "shards").glob(".*"))
    assert tree_bytes(dst) == tree_bytes(store_mod.pack(release_dir, tmp_path / "clean", workers=1, chunk_files=5))


def test_disk_full_during_pack_names_the_shard_and_a_rerun_finishes(tmp_path, release_dir, monkeypatch, capsys):
    import errno
    import os

    from lartcore.cli import main
    real_save, calls, fail_at = np.save, [], [14]

    def save(path, arr, *args, **kwargs):
        calls.append(path)
        if len(calls) == fail_at[0]:
            Path(path).write_bytes(b"\x93NUMPY")                         # half written, then the disk is full
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_save(path, arr, *args, **kwargs)
    monkeypatch.setattr(np, "save", save)
    dst = tmp_path / "s"
    with pytest.raises(OSError, match="No space left on device") as err:   # 12 arrays a shard: shard 1
        store_mod.pack(release_dir, dst, workers=1, chunk_files=5)
    assert err.value.errno == errno.ENOSPC and err.value.filename == str(dst / "shards" / "000001")
    assert sorted(p.name for p in (dst / "shards").iterdir()) == ["000000"]   # no half-written shard
    calls.clear()
    fail_at[0] = 2
    assert main(["data", "pack", str(release_dir), str(tmp_path / "t"), "--workers", "1"]) == 2
    assert capsys.readouterr().err == f"lart: error: {tmp_path / 't' / 'shards' / '000000'}: No space left on device\n"
    monkeypatch.setattr(np, "save", real_save)
    store_mod.pack(release_dir, dst, workers=1, chunk_files=5)
    assert tree_bytes(dst) == tree_bytes(store_mod.pack(release_dir, tmp_path / "c", workers=1, chunk_files=5))


def _tamper(root, **changes):
    """Change index.parquet rows (col=(row, value)); keep store.json's counts consistent with it."""
    import json
    index = pd.read_parquet(root / "index.parquet")
    for col, (row, value) in changes.items():
        index.loc[row, col] = value
    index.to_parquet(root / "index.parquet", index=False)
    meta = json.loads((root / "store.json").read_text())
    meta.update(n_tracks=len(index), n_frames=int(index["length"].sum()))
    (root / "store.json").write_text(json.dumps(meta))


def test_tampered_store_is_an_error_not_wrong_numbers(tmp_path, tracks, capsys):
    from lartcore.cli import main
    root = write_store(tracks, tmp_path / "s")
    n = len(tracks)
    _tamper(root, length=(n - 1, 10 ** 9))          # the case: 9,259 hours in a 0.01-hour store
    st = TrackStore(root)                            # index and store.json agree with each other ...
    with pytest.raises(store_mod.StoreError, match=r"pose_shape.npy: expected 1000000\d+ rows of float32"):
        st.track(0)                                  # ... not with the arrays
    assert main(["data", "stats", str(root)]) == 2
    frames = sum(len(t) for t in tracks[:-1]) + 10 ** 9
    assert capsys.readouterr().err == (
        f"lart: error: {root / 'shards' / '000000' / 'pose_shape.npy'}: expected {frames} rows of float32 (229,) "
        f"(as {root / 'index.parquet'} says), found shape ({sum(len(t) for t in tracks)}, 229) float32\n")


@pytest.mark.parametrize("change, message", [
    ({"offset": (3, 999)}, r"row 3 \(.*\): 'offset' expected the sum of the lengths of the shard's earlier"),
    ({"length": (2, -5)}, r"row 2 \(.*\): 'length' expected >= 0, found -5"),
    ({"shard": (4, 7)}, r"row 4 \(.*\): 'shard' expected in \[0, 1\), found 7"),
    ({"n_detections": (0, 10 ** 6)}, r"row 0 \(.*\): 'n_detections' expected in \[0, length\]"),
    ({"app_offset": (5, 1)}, r"row 5 \(.*\): 'app_offset' expected the sum of the feature counts"),
])
def test_tampered_index_values_are_refused_on_open(tmp_path, tracks, change, message):
    root = write_store(tracks, tmp_path / "s")
    _tamper(root, **change)
    with pytest.raises(store_mod.StoreError, match=f"{root / 'index.parquet'}: {message}"):
        TrackStore(root)


def test_store_counts_metadata_and_arrays_are_checked(tmp_path, tracks, capsys):
    import json

    from lartcore.cli import main
    root = write_store(tracks, tmp_path / "s")
    _tamper(root, n_detections=(1, 0))                # a count that disagrees with has_detection
    TrackStore(root)                                  # cheap open: counts are checked by validate / stats
    with pytest.raises(store_mod.StoreError, match=r"row 1 \(.*\): 'n_detections' 0 disagrees with its frames"):
        stats(root)
    meta = json.loads((root / "store.json").read_text())
    (root / "store.json").write_text(json.dumps(dict(meta, n_tracks=99)))
    with pytest.raises(store_mod.StoreError, match=r"store.json: 'n_tracks' is 99 but .*index.parquet says 10"):
        TrackStore(root)
    (root / "store.json").unlink()
    assert main(["data", "stats", str(root)]) == 2
    assert capsys.readouterr().err == f"lart: error: {root}: an unfinished store (no store.json); rerun the pack to finish it\n"
    other = write_store(tracks, tmp_path / "o")
    np.save(other / "shards" / "000000" / "labels.npy", np.zeros((5, 80), np.float16))   # a swapped array
    with pytest.raises(store_mod.StoreError, match=r"labels.npy: expected \d+ rows of float16 \(80,\)"):
        TrackStore(other).track(0)
