"""The demo data's rendered videos: one frame per track frame at the AVA time base (video time 0 = AVA
second 900), people drawn where their tracks' boxes are, the scene changing at a camera cut."""
from __future__ import annotations

import numpy as np
import pytest

from lartcore.data.store import TrackStore
from lartcore.demodata import footage, synthetic
from lartcore.paths import DataRoot
from lartcore.schema import timestamp_of
from lartcore.video import frames_at, video_info


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return DataRoot(synthetic.build_demo(tmp_path_factory.mktemp("dv") / "data", size="tiny"))


def test_first_val_clips_get_a_video_at_the_ava_time_base(root):
    store = TrackStore(root.store("ava_val"))
    videos = sorted(store.index["video"].unique())
    assert [v for v in videos if root.video(v)] == videos[:synthetic.VIDEOS["tiny"]]
    video = videos[0]
    rows = store.index[store.index["video"] == video]
    last = int((rows["frame_start"] + rows["length"]).max())
    info = video_info(root.video(video))
    assert info["fps"] == 30 and (info["height"], info["width"]) == (synthetic.H, synthetic.W)
    assert info["frames"] >= last                       # every track frame has its video frame


def test_people_are_drawn_in_their_boxes(root):
    """At a few frames, pixels inside each detected track box differ from the empty scene much more than
    pixels far from every box do."""
    store = TrackStore(root.store("ava_val"))
    video = min(store.index["video"].unique())
    tracks = [store.track(int(i)) for i in np.flatnonzero(store.index["video"] == video)]
    cam = footage.Camera((synthetic.H, synthetic.W), synthetic.FOCAL_TRUE, synthetic.CAMERA_HEIGHT,
                            synthetic.DEPTH_SCALE)
    empty = footage.backdrop(cam, 0).astype(np.float64)
    frames = [60, 90, 120]
    checked = 0
    for f, rgb in zip(frames, frames_at(root.video(video), [timestamp_of(f) for f in frames]), strict=True):
        diff = np.abs(rgb.astype(np.float64) - empty).sum(-1)                      # (H, W)
        far = np.ones(diff.shape, bool)
        for t in tracks:
            i = f - int(t.frame[0])
            if not (0 <= i < len(t) and t.has_detection[i]):
                continue
            x0, y0, w, h = t.box[i]
            far[max(int(y0 - 0.2 * h), 0):int(y0 + 1.2 * h), max(int(x0 - 0.3 * w), 0):int(x0 + 1.3 * w)] = False
            inside = diff[int(y0 + 0.3 * h):int(y0 + 0.7 * h), int(x0 + 0.3 * w):int(x0 + 0.7 * w)]
            assert (inside > 30).mean() > 0.4                                       # a body there
            checked += 1
        assert np.median(diff[far]) < 12                                            # the scene elsewhere
    assert checked >= 2


def test_backdrop_changes_with_the_scene():
    cam = footage.Camera((90, 160), 100.0, 1.0, 31.0)
    a, b = footage.backdrop(cam, 0), footage.backdrop(cam, 1)
    assert a.shape == (90, 160, 3) and a.dtype == np.uint8
    assert np.abs(a.astype(int) - b).mean() > 20
    assert (a[-1] != a[-1, :1]).any()                               # the floor is checkered
