"""Rendering: PHALP projection vs an explicit camera matrix, meshes land in their boxes, overlays, export,
plotly views, video round trips and `lart render` on a clip of test-made tracks."""
from __future__ import annotations

import os

os.environ.setdefault("PYOPENGL_PLATFORM", "egl")

import numpy as np
import pytest

from lartcore import viz
from lartcore.body import StandInBody, forward_kinematics
from lartcore.data.tracks import Track, write_release_track
from lartcore.render import (
    BACKDROP_RGB,
    DEPTH_SCALE,
    Renderer,
    export_meshes,
    people_at_frame,
    plot_points,
    render_overlay,
    track_color,
)
from lartcore.schema import NUM_CLASSES, PSEUDO_LABEL, focal_length, project
from lartcore.video import frames_at, iter_frames, video_info, write_video

H, W = 120, 160
UPRIGHT = np.diag([1.0, -1.0, -1.0])   # 180 degrees about x: upright, facing the camera


@pytest.fixture(scope="module")
def body():
    return StandInBody()


@pytest.fixture(scope="module")
def renderer():
    r = Renderer()
    yield r
    r.close()


def pinhole(points: np.ndarray, height: int, width: int) -> np.ndarray:
    """Independent projection: K = [[f, 0, W/2], [0, f, H/2], [0, 0, 1]], f = 5000 max(H, W) / 256."""
    f = 5000.0 * max(height, width) / 256.0
    K = np.array([[f, 0, width / 2], [0, f, height / 2], [0, 0, 1.0]])
    uvw = points @ K.T
    return uvw[..., :2] / uvw[..., 2:]


def small_rotations(rng, shape, angle=0.3) -> np.ndarray:
    """(*shape, 3, 3) rotations about random axes by up to `angle` radians (Rodrigues)."""
    axis = rng.normal(size=shape + (3,))
    axis /= np.linalg.norm(axis, axis=-1, keepdims=True)
    theta = rng.uniform(-angle, angle, size=shape)[..., None, None]
    k = np.zeros(shape + (3, 3))
    k[..., 0, 1], k[..., 0, 2], k[..., 1, 2] = -axis[..., 2], axis[..., 1], -axis[..., 0]
    k = k - np.swapaxes(k, -1, -2)
    return np.eye(3) + np.sin(theta) * k + (1 - np.cos(theta)) * k @ k


def make_track(body, tid: int, x: float, T: int = 6, first: int = 0, keyframe: int = 3, seed: int = 0) -> Track:
    """A person standing `x` m right of the optical axis at depth 80, moving a little; box = projected mesh."""
    rng = np.random.default_rng(seed + tid)
    go = UPRIGHT @ small_rotations(rng, (T,), 0.2)                      # (T, 3, 3)
    bp = small_rotations(rng, (T, 23), 0.3)                             # (T, 23, 3, 3)
    camera = np.stack([np.full(T, x), np.full(T, 0.2), np.linspace(80, 84, T)], -1)   # (T, 3)
    verts, _ = body.forward(go, bp)
    uv = pinhole(verts + camera[:, None], H, W)                         # (T, V, 2)
    box = np.concatenate([uv.min(1), uv.max(1) - uv.min(1)], -1)        # (T, 4) [x0, y0, w, h]
    pose = np.concatenate([go.reshape(T, 9), bp.reshape(T, 207), np.zeros((T, 10)),
                           camera[:, :2], camera[:, 2:] / 200], -1)
    labels = np.zeros((T, NUM_CLASSES), np.float32)
    labels[:, 11], labels[:, 79] = 0.9, 0.4                             # stand (id 12), id 80
    detected = np.ones(T, bool)
    detected[-1] = False
    return Track(dataset="test", video="clipA", track_id=tid, keyframe=keyframe,
                 frame=np.arange(first, first + T), pose_shape=(pose * detected[:, None]).astype(np.float32),
                 joints_3d=np.zeros((T, 45, 3), np.float32), camera=camera.astype(np.float32),
                 camera_bbox=np.zeros((T, 3), np.float32), box=box.astype(np.float32),
                 frame_size=np.tile([H, W], (T, 1)).astype(np.int32), conf=detected.astype(np.float32),
                 has_detection=detected, has_gt=np.full(T, PSEUDO_LABEL, np.int8), labels=labels,
                 appearance_index=np.full(T, -1), appearance=None).validate()


@pytest.fixture(scope="module")
def tracks(body):
    # two people, and the first one again in a second (overlapping) track file of another keyframe
    return [make_track(body, 1, -1.0), make_track(body, 2, 1.0), make_track(body, 1, -1.0, keyframe=4)]


def test_projection_matches_an_explicit_camera_and_joints_land_in_the_box(tracks):
    rng = np.random.default_rng(0)
    pts = rng.normal(0, 1, (50, 3)) + [0, 0, 80]
    np.testing.assert_allclose(project(pts, (H, W)), pinhole(pts, H, W), rtol=1e-12)
    assert focal_length(480, 640) == pytest.approx(12500.0)
    for track in tracks:
        pose = track.pose_shape[:-1]                                   # detected frames
        joints = forward_kinematics(pose[:, :9].reshape(-1, 3, 3), pose[:, 9:216].reshape(-1, 23, 3, 3))
        uv = project(joints + track.camera[:-1, None], (H, W))         # (T, 24, 2)
        x0, y0, w, h = (track.box[:-1, None, k] for k in range(4))
        inside = (uv[..., 0] >= x0) & (uv[..., 0] <= x0 + w) & (uv[..., 1] >= y0) & (uv[..., 1] <= y0 + h)
        assert inside.all()
        assert (h > 0.4 * H).all() and (x0 > 0).all() and (x0 + w < W).all()   # a person in the frame


def test_people_at_frame_poses_detected_people_once(body, tracks):
    people = people_at_frame(tracks, 2, body)
    assert people.track_ids.tolist() == [1, 2] and people.frame_size == (H, W)
    go = tracks[1].pose_shape[2, :9].reshape(3, 3)
    bp = tracks[1].pose_shape[2, 9:216].reshape(23, 3, 3)
    np.testing.assert_allclose(people.vertices[1], body.forward(go, bp)[0] + tracks[1].camera[2], atol=1e-5)
    np.testing.assert_array_equal(people.boxes[0], tracks[0].box[2])
    assert people.labels[0] == ["~stand 90%", "~watch (person) 40%"]             # pseudo-labels, marked
    assert len(people_at_frame(tracks, 5, body)) == 0                  # last frame: not detected
    assert people_at_frame(tracks, 5, body).vertices.shape == (0, 1008, 3)


def test_meshes_render_inside_their_boxes(body, tracks, renderer):
    people = people_at_frame(tracks, 1, body)
    colors = [track_color(t) for t in people.track_ids]
    rgb, covered = renderer.render_meshes(people, colors)
    assert rgb.shape == (H, W, 3) and covered.shape == (H, W)
    yy, xx = np.mgrid[:H, :W]
    near_any = np.zeros((H, W), bool)
    for (x0, y0, w, h), color in zip(people.boxes, colors, strict=True):
        inside = (xx >= x0) & (xx < x0 + w) & (yy >= y0) & (yy < y0 + h)
        near = (xx >= x0 - 2) & (xx < x0 + w + 2) & (yy >= y0 - 2) & (yy < y0 + h + 2)
        near_any |= near
        assert covered[inside].mean() > 0.15                          # a body fills part of its box
        hue = rgb[inside & covered].astype(float)                      # shaded in its own colour
        assert np.corrcoef(hue.mean(0), color)[0, 1] > 0.9
    assert not covered[~near_any].any()                                # nothing far outside the boxes


def test_overlay_draws_over_the_frame_or_a_backdrop(body, tracks, renderer):
    people = people_at_frame(tracks, 1, body)
    yy, xx = np.mgrid[:H, :W]
    x0, y0, w, h = people.boxes.T
    # away from the boxes and the chip stacks (placed by place_stacks) and the lines joining them
    from PIL import Image, ImageDraw

    from lartcore.render import chip_font, place_stacks, stack_size
    draw, font = ImageDraw.Draw(Image.new("RGB", (W, H))), chip_font(H)
    sizes = np.array([stack_size(draw, [f"#{t}", *c], font) for t, c in zip(people.track_ids, people.labels,
                                                                            strict=True)])
    corners = place_stacks(people.boxes.astype(float), sizes, (H, W))
    clear = np.ones((H, W), bool)
    for (bx, by, bw, bh), (cx, cy), (sw, sh) in zip(people.boxes, corners, sizes, strict=True):
        lo_x, lo_y = min(bx, cx) - 3, min(by, cy) - 3
        clear &= ~((xx >= lo_x) & (xx <= max(bx + bw, cx + sw) + 3) & (yy >= lo_y) & (yy <= max(by + bh, cy + sh) + 3))
    assert clear.sum() > 200
    backdrop = render_overlay(None, people, renderer=renderer)
    assert backdrop.shape == (H, W, 3) and backdrop.dtype == np.uint8
    assert (backdrop[clear] == BACKDROP_RGB).all()
    frame = np.random.default_rng(1).integers(0, 255, (H, W, 3), dtype=np.uint8)
    over = render_overlay(frame, people, colors={1: (255, 0, 0)}, renderer=renderer)
    np.testing.assert_array_equal(over[clear], frame[clear])
    changed = (over != frame).any(-1)
    body_rows = (yy > y0[0] + 0.4 * h[0]) & (yy < y0[0] + h[0] - 2) & (xx > x0[0] + 2) & (xx < x0[0] + w[0] - 2)
    assert changed[body_rows].mean() > 0.1                            # the mesh is drawn in the box
    edge = over[int(y0[0] + 0.85 * h[0]), int(x0[0]) - 1:int(x0[0]) + 3].astype(int)   # across the left side
    assert ((edge[:, 0] > 200) & (edge[:, 1] < 60)).any()             # box outline in the chosen colour
    with pytest.raises(ValueError, match=r"frame expected uint8 \(120, 160, 3\).*found uint8 \(10, 10, 3\)"):
        render_overlay(np.zeros((10, 10, 3), np.uint8), people, renderer=renderer)


def test_track_colors_are_stable_and_distinct():
    colors = np.array([track_color(t) for t in range(1, 21)], float)
    assert track_color(7) == track_color(7)
    dist = np.linalg.norm(colors[:, None] - colors[None], axis=-1) + np.eye(20) * 1e9
    assert dist.min() > 12


def test_export_glb_and_obj_round_trip(body, tracks, tmp_path):
    import trimesh

    people = people_at_frame(tracks, 0, body)
    P, V, _ = people.vertices.shape
    scene = trimesh.load(export_meshes(people, tmp_path / "f.glb"))
    assert sorted(scene.graph.nodes_geometry) == ["track_1", "track_2"]
    mesh = trimesh.load(export_meshes(people, tmp_path / "f.obj"), process=False)
    assert len(mesh.vertices) == P * V
    np.testing.assert_allclose(mesh.vertices[:V], people.vertices[0] * [1, -1, -1], atol=1e-4)
    with pytest.raises(ValueError, match="expected a .glb or .obj"):
        export_meshes(people, tmp_path / "f.ply")


def test_plotly_views(body, tracks):
    people = people_at_frame(tracks, 0, body)
    fig = viz.meshes_3d(people, mode="depth")
    assert [t.name for t in fig.data] == ["#1", "#2"] and len(fig.data[0].x) == people.vertices.shape[1]
    # depth view: bodies keep their shape, root depths scale by DEPTH_SCALE, which keeps each root's
    # image position under a focal length of max(H, W)
    to_cv = lambda p: np.stack([p[..., 0], -p[..., 2], p[..., 1]], -1)
    offset = to_cv(plot_points(people, "depth")) - (people.vertices - people.camera[:, None])
    expected = np.broadcast_to(people.camera[:, None] * [1, 1, DEPTH_SCALE], offset.shape)
    np.testing.assert_allclose(offset, expected, atol=1e-4)
    root = offset[:, 0]
    uv = max(H, W) * root[:, :2] / root[:, 2:] + [W / 2, H / 2]
    np.testing.assert_allclose(uv, project(people.camera, (H, W)), atol=1e-3)
    root = plot_points(people, "root")
    assert root[0, :, 0].mean() < root[1, :, 0].mean()                 # left person stays left


def test_video_write_read_round_trip(tmp_path):
    colors = np.array([[250, 10, 10], [10, 250, 10], [10, 10, 250], [200, 200, 40]], np.uint8)
    frames = [np.broadcast_to(colors[i % 4], (H + 1, W + 1, 3)) for i in range(12)]   # odd size: padded
    path = write_video(tmp_path / "v.mp4", frames, fps=30)
    info = video_info(path)
    assert info["fps"] == 30 and info["frames"] == 12 and (info["height"], info["width"]) == (H + 2, W + 2)
    decoded = list(iter_frames(path))
    assert [round(t * 30) for t, _ in decoded] == list(range(12))
    for i, (_, rgb) in enumerate(decoded):
        np.testing.assert_allclose(rgb[:H, :W].mean((0, 1)), colors[i % 4], atol=12)
    picked = frames_at(path, [900 + 5 / 30, 900.0, 900 + 10 / 30])
    for i, rgb in zip([5, 0, 10], picked, strict=True):
        np.testing.assert_allclose(rgb[:H, :W].mean((0, 1)), colors[i % 4], atol=12)


def test_cli_render_a_clip_from_release_pickles(tracks, tmp_path, capsys):
    import av

    from lartcore.cli import main

    folder = tmp_path / "tracks"
    for t in tracks:
        write_release_track(t, folder)
    out = tmp_path / "clip.mp4"
    assert main(["render", "--tracks", str(folder), "--out", str(out)]) == 0
    assert video_info(out)["frames"] == 6
    said = capsys.readouterr().out
    assert "dataset labels: GT name = ground truth, ~name 80% = pseudo-label" in said     # which labels
    with av.open(str(out)) as f:
        assert "pseudo-label" in f.metadata["comment"]
    backdrop = write_video(tmp_path / "bg.mp4", [np.full((2 * H, 2 * W, 3), 90, np.uint8)] * 4)
    out2 = tmp_path / "over.mp4"
    assert main(["render", "--tracks", str(folder), "--video", str(backdrop), "--out", str(out2)]) == 0
    frames = [rgb for _, rgb in iter_frames(out2)]
    assert len(frames) == 4 and frames[0].shape[1] == W and frames[0].shape[0] > H    # + the legend band
    assert abs(float(np.median(frames[0][:H])) - 90) < 6                 # the video shows through
    assert main(["render", "--tracks", str(folder), "--clip", "nope", "--out", str(out2)]) == 2


def test_cli_render_overlays_a_checkpoints_predictions(tracks, tmp_path, capsys):
    """--checkpoint: the chips are that model's top-k predictions on the clip's tracks, as the dashboard
    draws them, and the output says so."""
    import torch

    from lartcore import chips
    from lartcore.checkpoint import Metadata, load_checkpoint, save_checkpoint
    from lartcore.cli import main
    from lartcore.data.dataset import DataConfig, ListTrackSource
    from lartcore.infer import track_scores
    from lartcore.model import LART, ModelConfig
    from lartcore.render import render_clip

    cfg = ModelConfig(streams=("pose",), pose_mlp=(32, 32), dim=32, depth=1, heads=2, dim_head=16, mlp_dim=32,
                      max_frames=64, max_people=3, drop_path=0.0)
    torch.manual_seed(0)
    ckpt = tmp_path / "m.pt"
    save_checkpoint(ckpt, LART(cfg), Metadata(cfg, DataConfig(seq_len=8, max_people=3, appearance=False)))
    folder = tmp_path / "tracks"
    for t in tracks:
        write_release_track(t, folder)
    out = tmp_path / "pred.mp4"
    assert main(["render", "--tracks", str(folder), "--out", str(out), "--checkpoint", str(ckpt),
                 "--top-k", "2"]) == 0
    said = capsys.readouterr().out
    assert f"labels: predictions of checkpoint {tmp_path.parent.name}/{tmp_path.name}/m.pt (top 2" in said
    model = load_checkpoint(ckpt)
    clip = sorted((t for t in tracks), key=lambda t: t.name)          # the order the pickles are read
    fs = track_scores(model.model, ListTrackSource(clip), DataConfig(seq_len=8, max_people=3, appearance=False))
    rows = [(k, 0) for k in range(len(clip))]
    labels = chips.for_people(clip, rows, fs.scores, fs.offsets, fs.action_ids, 2, gt=False)
    assert all(len(c) == 2 and all(chips.source(x) == "prediction" for x in c) for c in labels)
    frames, _, _ = render_clip(clip, StandInBody(), scores=fs, top_k=2)
    decoded = next(iter_frames(out))[1][:H].astype(int)
    same = np.abs(decoded - next(frames)).mean()                     # the drawing with these predictions
    other = np.abs(decoded - next(render_clip(clip, StandInBody())[0])).mean()     # with the dataset's labels
    assert same < 8 and same < 0.7 * other, (same, other)


def test_demo_data_joints_and_meshes_land_in_their_boxes(body, renderer):
    from lartcore.demodata import synthetic

    video = synthetic.generate(synthetic.SPLITS[1], synthetic.SIZES["tiny"], seed=0)[0]
    checked = 0
    for track in video.tracks:
        det = track.has_detection
        pose = track.pose_shape[det]
        joints = forward_kinematics(pose[:, :9].reshape(-1, 3, 3), pose[:, 9:216].reshape(-1, 23, 3, 3))
        uv = project(joints + track.camera[det, None], track.frame_size[0])   # (T, 24, 2)
        x0, y0, w, h = (track.box[det, None, k] for k in range(4))
        tol = 0.05 * h                      # the demo boxes carry a detector jitter of 2% of their size
        inside = ((uv[..., 0] >= x0 - tol) & (uv[..., 0] <= x0 + w + tol)
                  & (uv[..., 1] >= y0 - tol) & (uv[..., 1] <= y0 + h + tol))
        assert inside.all()
        checked += det.sum()
    assert checked > 100
    last = max(int(t.frame[-1]) for t in video.tracks)
    for frame in range(0, last, 30):
        people = people_at_frame(video.tracks, frame, body)
        _, covered = renderer.render_meshes(people, [track_color(t) for t in people.track_ids])
        H_, W_ = people.frame_size
        yy, xx = np.mgrid[:H_, :W_]
        dist = np.full((H_, W_), np.inf)    # distance to the nearest box, in units of that box's height
        for x0, y0, w, h in people.boxes:
            dx = np.maximum(np.maximum(x0 - xx, xx - x0 - w), 0)
            dy = np.maximum(np.maximum(y0 - yy, yy - y0 - h), 0)
            inside = (dx == 0) & (dy == 0)
            assert covered[inside].mean() > 0.05                       # each person is drawn in its box
            dist = np.minimum(dist, np.hypot(dx, dy) / h)
        assert dist[covered].max(initial=0) < 0.08                     # and nothing far outside
