"""TrackDataset: the batch contract, alignment of other tracks, padding, seeding, DataLoader workers."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from test_store import random_track
from torch.utils.data import DataLoader

from lartcore.data.dataset import Batches, DataConfig, TrackDataset
from lartcore.data.store import TrackStore, write_store

D = 16


@pytest.fixture(scope="module")
def clip_store(tmp_path_factory):
    """Ego frames 100..199; A 90..130 (starts before), B 150..259 (ends after), C 50..299 (spans both
    sides), E another clip, F same clip but frames 300..309 (no overlap), G a 1-frame pose-only track."""
    rng = np.random.default_rng(0)
    spec = [("ego", 0, 100, 100), ("A", 1, 90, 41), ("B", 2, 150, 110), ("C", 3, 50, 250),
            ("F", 5, 300, 10)]
    tracks = [random_track(rng, track_id=tid, frame_start=fs, length=n, app_dim=D) for _, tid, fs, n in spec]
    tracks.append(random_track(rng, video="other_clip1", track_id=4, frame_start=100, length=100, app_dim=D))
    tracks.append(random_track(rng, video="lonely_clip", track_id=0, frame_start=0, length=1, app_dim=0))
    root = write_store(tracks, tmp_path_factory.mktemp("ds") / "s")
    return TrackStore(root), tracks


CFG = DataConfig(seq_len=128, max_people=5, appearance=True, appearance_dim=D)


def test_contract_shapes_dtypes(clip_store):
    st, _ = clip_store
    for train in (True, False):
        for cfg in (CFG, DataConfig(seq_len=32, max_people=3, appearance=False, appearance_dim=D)):
            s = TrackDataset(st, cfg, train=train)[0]
            T, P = cfg.seq_len, cfg.max_people
            want = {"pose_shape": ((T, P, 229), np.float32), "joints_3d": ((T, P, 135), np.float32),
                    "present": ((T, P), np.bool_), "labels": ((T, P, 80), np.float32),
                    "has_gt": ((T, P), np.int8), "frame": ((T,), np.int64), "track": ((), np.int64),
                    "start": ((), np.int64)}
            if cfg.appearance:
                want["appearance"] = ((T, P, D), np.float32)
            assert set(s) == set(want)
            for k, (shape, dtype) in want.items():
                assert np.shape(s[k]) == shape and np.asarray(s[k]).dtype == dtype, k
            for v in s.values():
                assert np.isfinite(np.asarray(v, np.float64)).all()


def test_eval_others_aligned(clip_store):
    st, _ = clip_store
    full = [st.track(i, appearance=True) for i in range(len(st))]
    s = TrackDataset(st, CFG, train=False)[0]          # ego window = its whole 100 frames
    np.testing.assert_array_equal(s["frame"], np.r_[np.arange(100, 200), np.full(28, -1)])
    # most-overlapping first: C (100 frames), B (50), A (31); F (other frames) and E (other clip) absent
    expect = [(0, 0, 0, 100), (3, 50, 0, 100), (2, 0, 50, 50), (1, 10, 0, 31)]   # (track, src, row, n)
    for slot, (j, src, row, n) in enumerate(expect):
        t = full[j]
        rows, srcs = slice(row, row + n), slice(src, src + n)
        np.testing.assert_array_equal(s["pose_shape"][rows, slot], t.pose_shape[srcs])
        np.testing.assert_allclose(s["joints_3d"][rows, slot].reshape(n, 45, 3),
                                   t.joints_3d[srcs] + t.camera[srcs, None], rtol=0, atol=1e-5)
        np.testing.assert_array_equal(s["present"][rows, slot], t.has_detection[srcs])
        np.testing.assert_array_equal(s["has_gt"][rows, slot], t.has_gt[srcs])
        lab = t.labels[srcs] * (t.has_gt[srcs] > 0)[:, None]
        np.testing.assert_array_equal(s["labels"][rows, slot], lab)
        idx = t.appearance_index[srcs]
        app = np.where((idx >= 0)[:, None], t.appearance[np.maximum(idx, 0)], 0)
        np.testing.assert_array_equal(s["appearance"][rows, slot], app)
        outside = np.ones(128, bool)
        outside[rows] = False
        assert not s["present"][outside, slot].any() and not s["pose_shape"][outside, slot].any()
    assert not s["present"][:, 4].any() and not s["appearance"][:, 4].any()     # 4th other: none


def test_eval_windows_tile_tracks(clip_store):
    st, tracks = clip_store
    ds = TrackDataset(st, DataConfig(seq_len=64, appearance_dim=D), train=False)
    want = [(i, s) for i, t in enumerate(tracks) for s in range(0, len(t), 64)]
    assert ds.windows.tolist() == [list(w) for w in want]
    k = want.index((3, 192))                            # C: 250 frames -> last window 58 frames
    s = ds[k]
    assert s["present"][58:].sum() == 0 and (s["frame"][58:] == -1).all()
    np.testing.assert_array_equal(s["frame"][:58], np.arange(50 + 192, 50 + 250))
    assert s["start"] == 192 and s["track"] == 3


def test_train_random_crop_and_seed(clip_store):
    st, _ = clip_store
    cfg = DataConfig(seq_len=32, max_people=3, appearance_dim=D)
    a, b = TrackDataset(st, cfg, seed=7), TrackDataset(st, cfg, seed=7)
    starts = set()
    for epoch in range(8):
        a.set_epoch(epoch), b.set_epoch(epoch)
        sa, sb = a[3], b[3]                          # C: 250 frames
        for key in sa:
            np.testing.assert_array_equal(sa[key], sb[key])
        assert 0 <= sa["start"] <= 250 - 32
        np.testing.assert_array_equal(sa["frame"], 50 + sa["start"] + np.arange(32))
        starts.add(int(sa["start"]))
    assert len(starts) > 3                            # the crop really moves
    c = TrackDataset(st, cfg, seed=8)
    assert any(int(c[3]["start"]) != s for s in starts) or len(starts) > 1
    a.set_epoch(0)
    c.set_epoch(0)
    assert any(not np.array_equal(a[k]["pose_shape"], c[k]["pose_shape"]) for k in range(4))


def test_train_others_compacted_and_overlapping(clip_store):
    st, tracks = clip_store
    ds = TrackDataset(st, DataConfig(seq_len=128, max_people=3, appearance_dim=D), seed=1)
    chosen = set()
    for epoch in range(6):
        ds.set_epoch(epoch)
        s = ds[0]
        filled = s["present"].any(0)
        assert filled.tolist() == [True, True, True]  # 3 candidates overlap: 2 slots, compacted
        for slot in (1, 2):                           # identify each other by its pose rows
            rows = np.flatnonzero(s["pose_shape"][:, slot].any(-1))
            frames = s["frame"][rows]
            j = next(j for j in (1, 2, 3) if np.isin(frames, tracks[j].frame).all() and np.array_equal(
                s["pose_shape"][rows, slot], tracks[j].pose_shape[frames - tracks[j].frame[0]]))
            chosen.add(j)
    assert chosen == {1, 2, 3}                        # random choice covers all, incl. A (starts before)


def test_slot_tracks_name_the_track_in_each_slot(clip_store):
    st, tracks = clip_store
    ev = TrackDataset(st, CFG, train=False)
    assert ev.slot_tracks(0).tolist() == [0, 3, 2, 1, -1]          # as placed in test_eval_others_aligned
    tr = TrackDataset(st, DataConfig(seq_len=128, max_people=3, appearance_dim=D), seed=1)
    for epoch in range(4):                                          # train: the same random draws as __getitem__
        tr.set_epoch(epoch)
        s, slots = tr[0], tr.slot_tracks(0)
        for slot in (1, 2):
            rows = np.flatnonzero(s["pose_shape"][:, slot].any(-1))
            t = tracks[slots[slot]]
            np.testing.assert_array_equal(s["pose_shape"][rows, slot], t.pose_shape[s["frame"][rows] - t.frame[0]])


def test_lonely_short_track_nan_free(clip_store):
    st, _ = clip_store
    s = TrackDataset(st, CFG, train=True)[6]          # 1 frame, no appearance, no others
    assert s["track"] == 6 and s["frame"][0] == 0 and (s["frame"][1:] == -1).all()
    assert s["present"][1:].sum() == 0 and not s["present"][:, 1:].any()
    assert not s["appearance"].any()
    assert all(np.isfinite(np.asarray(v, np.float64)).all() for v in s.values())


def test_dataloader_two_workers(clip_store):
    st, _ = clip_store
    ds = TrackDataset(st, DataConfig(seq_len=32, appearance_dim=D), seed=3)
    ds.set_epoch(2)
    batches = list(DataLoader(ds, batch_size=3, num_workers=2, shuffle=False))
    assert batches[0]["pose_shape"].shape == (3, 32, 5, 229)
    assert batches[0]["appearance"].dtype == torch.float32
    got = torch.cat([b["pose_shape"] for b in batches])
    want = torch.stack([torch.from_numpy(ds[k]["pose_shape"]) for k in range(len(ds))])
    assert torch.equal(got, want)                     # workers build exactly what the main process does


def test_pickle_source_matches_store(tmp_path):
    from test_store import release_track

    from lartcore.data.dataset import PickleTrackSource
    from lartcore.data.store import pack
    from lartcore.data.tracks import write_release_track
    rng = np.random.default_rng(4)
    src = tmp_path / "src"
    src.mkdir()
    for k in range(8):
        t = release_track(rng, video=f"vid_{k % 2:07d}", track_id=k, app_dim=D,
                          frame_start=int(rng.integers(0, 40)), length=int(rng.integers(5, 80)))
        write_release_track(t, src)
    pickles, st = PickleTrackSource(src), TrackStore(pack(src, tmp_path / "s", workers=1))
    assert len(pickles) == len(st) == 8
    assert pickles.others(0, 0, 5).tolist() == st.others(0, 0, 5).tolist()
    cfg = DataConfig(seq_len=32, max_people=4, appearance_dim=D)
    for train in (True, False):
        a, b = TrackDataset(pickles, cfg, train=train, seed=9), TrackDataset(st, cfg, train=train, seed=9)
        assert len(a) == len(b)
        for k in range(len(a)):
            sa, sb = a[k], b[k]
            for key in sa:   # the store rounds joints, labels, appearance to float16
                np.testing.assert_allclose(sa[key], sb[key], rtol=2e-3, atol=2e-3, err_msg=key)
            np.testing.assert_array_equal(sa["present"], sb["present"])
            np.testing.assert_array_equal(sa["pose_shape"], sb["pose_shape"])


def test_batches_equal_the_stacked_samples(clip_store):
    """`batch` (filled in place) is what default collate makes of the samples; float16 appearance is the
    same numbers (the store holds float16); through 2 workers the batches come in shared memory."""
    st, _ = clip_store
    for train in (True, False):
        ds = TrackDataset(st, CFG, train=train, seed=5)
        ds.set_epoch(1)
        items = list(range(len(ds)))[::-1]
        want = torch.utils.data.default_collate([ds[k] for k in items])
        got, half = ds.batch(items), ds.batch(items, torch.float16)
        assert set(got) == set(want) and half["appearance"].dtype == torch.float16
        for k, v in want.items():
            assert got[k].dtype == v.dtype and torch.equal(got[k], v), k
            assert torch.equal(half[k].float() if k == "appearance" else half[k], v), k
    loader = DataLoader(Batches(ds, torch.float16), batch_size=None, num_workers=2,
                        sampler=torch.utils.data.BatchSampler(items, 3, drop_last=False))
    parts = list(loader)
    assert all(p["appearance"].is_shared() for p in parts)
    for k, v in half.items():
        assert torch.equal(torch.cat([p[k] for p in parts]), v), k
