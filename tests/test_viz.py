"""lartcore.viz: legends above the plots (never over the rotated class names), titles that say what is
filtered, a visible "this frame" line, 3D views matched to the camera (not mirrored), PR curves whose
points carry their detection, the label-confusion figures."""
import numpy as np
import pandas as pd
import pytest

from lartcore import viz
from lartcore.body import StandInBody
from lartcore.render import ground_path, people_at_frame

UPRIGHT = np.diag([1.0, -1.0, -1.0])


def per_class(aps):
    return pd.DataFrame({"id": list(aps), "name": [f"c{i}" for i in aps], "type": "PM", "ap": list(aps.values())})


def test_legends_sit_above_the_plots_and_the_gain_title_follows_the_threshold():
    from lartcore.registry import per_class_gain
    a, b = per_class({12: 0.2, 14: 0.5, 17: 0.4}), per_class({12: 0.6, 14: 0.45, 17: 0.41})
    side = viz.per_class_ap(a, b, "A", "B")
    assert side.layout.legend.y > 1 and side.layout.legend.yanchor == "bottom"
    gains = per_class_gain(a, b, min_gain=2.5, relative=True)
    fig = viz.class_gains(gains, "A", "B", min_gain=2.5)
    assert "|gain| > 2.5 AP" in fig.layout.title.text and fig.layout.legend.y > 1
    assert list(fig.data[2].x) == ["c12", "c14"]


def test_pose_timeline_marks_this_frame_visibly():
    from lartcore.demodata import synthetic
    track = synthetic.generate(synthetic.SPLITS[1], synthetic.SIZES["tiny"], seed=0)[0].tracks[0]
    scores = np.random.default_rng(0).random((len(track), 2)).astype(np.float32)
    fig = viz.pose_timeline(track, scores, (12, 14), [12], int(track.frame[5]), runs=("A", "B"),
                            scores_b=scores * 0.5)
    this_frame = [s for s in fig.layout.shapes if s.line.dash == "dot"]
    assert this_frame and all(s.line.color not in ("white", "#fff", "#ffffff") for s in this_frame)
    names = [t.name for t in fig.data if t.type == "scatter"]
    assert names == ["stand (A)", "stand (B)"] and fig.data[-1].line.dash == "dash"


def people_left_and_right():
    """Two stand-in people: #1 on the image's left (x < 0), #2 on its right, #2 nearer."""
    from lartcore.data.tracks import Track
    from lartcore.schema import NUM_CLASSES
    tracks = []
    for tid, x, z in ((1, -1.0, 100.0), (2, 1.2, 70.0)):
        pose = np.concatenate([UPRIGHT.ravel(), np.tile(np.eye(3).ravel(), 23), np.zeros(13)])[None]
        tracks.append(Track(dataset="t", video="v", track_id=tid, keyframe=0, frame=np.arange(3),
                            pose_shape=np.repeat(pose, 3, 0).astype(np.float32),
                            joints_3d=np.zeros((3, 45, 3), np.float32),
                            camera=np.array([[x + 0.1 * k, 0.0, z + 2 * k] for k in range(3)], np.float32),
                            camera_bbox=np.zeros((3, 3), np.float32), box=np.tile([10, 10, 20, 40], (3, 1)).astype(np.float32),
                            frame_size=np.tile([120, 160], (3, 1)).astype(np.int32), conf=np.ones(3, np.float32),
                            has_detection=np.ones(3, bool), has_gt=np.zeros(3, np.int8),
                            labels=np.zeros((3, NUM_CLASSES), np.float32), appearance_index=np.full(3, -1),
                            appearance=None))
    return tracks, people_at_frame(tracks, 1, StandInBody())


def screen_x(fig, points: np.ndarray) -> np.ndarray:
    """Horizontal screen coordinate of display points under the figure's scene camera."""
    cam = fig.layout.scene.camera
    eye = np.array([cam.eye.x, cam.eye.y, cam.eye.z])
    up = np.array([cam.up.x, cam.up.y, cam.up.z])
    forward = -eye / np.linalg.norm(eye)
    right = np.cross(forward, up)
    return points @ (right / np.linalg.norm(right))


@pytest.mark.parametrize("mode", ["depth", "root"])
def test_camera_view_is_not_mirrored(mode):
    _, people = people_left_and_right()
    fig = viz.meshes_3d(people, mode, view="camera")
    centres = np.array([[np.mean(t.x), np.mean(t.y), np.mean(t.z)] for t in fig.data[:2]])
    x = screen_x(fig, centres)
    assert x[0] < x[1]                                  # #1 left of #2, as in the image
    assert "camera view" in fig.layout.title.text


def test_side_and_top_views_and_ground_paths():
    tracks, people = people_left_and_right()
    paths = {t.track_id: ground_path(t) for t in tracks}
    np.testing.assert_allclose(paths[2][:, 0], [1.2, 1.3, 1.4], atol=1e-6)
    top = viz.meshes_3d(people, "depth", view="top", paths=paths)
    assert top.layout.scene.camera.eye.z > 2 and top.layout.scene.camera.up.y == 1
    lines = [t for t in top.data if t.type == "scatter3d" and t.mode == "lines"]
    assert len(lines) == 2 and len(lines[0].x) == 3
    floor = min(np.min(t.z) for t in top.data if t.type == "mesh3d")
    assert np.allclose(lines[0].z, floor)                          # paths lie on the floor under the people
    side = viz.meshes_3d(people, "depth", view="side")
    cam = side.layout.scene.camera
    assert cam.eye.x > 2 and abs(cam.eye.y) < 1e-9
    # from the side the nearer person (#2, smaller depth y) is to the left: depth grows to the right
    centres = np.array([[np.mean(t.x), np.mean(t.y), np.mean(t.z)] for t in side.data[:2]])
    assert screen_x(side, centres)[1] < screen_x(side, centres)[0]


def test_pr_curves_and_confusion_figures():
    curve = pd.DataFrame({"rank": [1, 2], "row": [10, 4], "score": [0.9, 0.5], "tp": [True, False],
                          "precision": [1.0, 0.5], "recall": [0.5, 0.5]})
    fig = viz.pr_curves({"demo/a": curve, "demo/b": curve}, "stand", {"demo/a": 0.5, "demo/b": float("nan")})
    assert [t.name for t in fig.data] == ["demo/a (AP 50.0)", "demo/b"]
    assert fig.data[0].customdata.tolist() == [[1, 10, 0.9], [2, 4, 0.5]]
    assert list(fig.data[0].marker.symbol) == ["circle", "circle-open"]
    conf = pd.DataFrame({"gt_id": [12, 12, 14, 14], "pred_id": [12, 14, 12, 14], "n_boxes": [3, 3, 2, 2],
                         "rate": [0.6, 0.3, 0.0, 1.0], "mean_score": [0.5, 0.3, 0.1, 0.9]})
    bars = viz.confusion_bars(conf, 12, {"a": conf, "b": conf})
    assert bars.layout.title.text.startswith("Predicted on the 3 GT boxes of stand")
    assert list(bars.data[0].x) == ["stand (itself)", "walk"] and list(bars.data[0].y) == [60.0, 30.0]
    heat = viz.confusion_matrix(conf)
    assert list(heat.data[0].y) == ["stand", "walk"] and heat.data[0].z.tolist() == [[60.0, 30.0], [0.0, 100.0]]
