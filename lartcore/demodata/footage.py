"""Short synthetic videos for a few demo clips, so the clip browser, `lart render --video` and the exports
draw meshes over real decoded video frames on the demo data, as they do on AVA.

Each video shows the simulated people (the ground truth the demo tracks are estimated from, so also the
frames where the tracker misses someone) as the stand-in body with their own clothes and shading (skin,
shirt, trousers, shoes; lit by `lartcore.render.Renderer`), standing on a checkered floor in front of a
brick wall, seen by the simulated camera (`Camera`: the true focal length and height of the synthetic
camera, not PHALP's long focal length), with a soft shadow under each person. After a camera cut the
second scene has other colours. Videos are H.264 MP4 written with PyAV at the AVA time base (`lartcore.video`):
video time 0 = AVA second 900 = track frame 0, 30 fps, one video frame per track frame, into
`DataRoot.video_file(video_id)`.

Shapes: T frames, P people, V body vertices, (H, W) the frame size.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from lartcore.body import StandInBody
from lartcore.paths import DataRoot
from lartcore.render import People, Renderer
from lartcore.schema import BODY_POSE, FPS, GLOBAL_ORIENT
from lartcore.video import write_video

SKIN = np.array([[233, 190, 160], [198, 146, 112], [141, 96, 66], [92, 62, 44]], np.float64)
CLOTHES = np.array([[52, 84, 140], [150, 40, 48], [60, 110, 70], [200, 170, 60], [90, 90, 96],
                    [220, 220, 214], [120, 70, 130], [30, 30, 34], [170, 100, 60], [70, 150, 160]],
                   np.float64)
SCENES = ((np.array([150, 142, 128]), np.array([70, 66, 62]), np.array([176, 96, 72])),    # floor a, b, wall
          (np.array([120, 140, 150]), np.array([40, 52, 60]), np.array([200, 196, 180])))
RENDER_SCALE = 0.5     # people are rendered at half the frame size, then scaled up (4x less GL work)
# x264: small files, quick to write; a keyframe every 15 frames so a seek decodes at most 15 frames
ENCODER_OPTIONS = {"preset": "veryfast", "crf": "26", "g": "15"}
WALL_DEPTH = 9.0        # metres: behind every simulated person (depths 2.5-8 m)
TILE = 0.5              # floor checker size (m)


@dataclass(frozen=True)
class Camera:
    """The simulated camera: frame size (H, W), focal length (px), height above the ground (m, looking
    horizontally), and how PHALP's camera translation relates to metres (tz = depth * depth_scale)."""
    size: tuple[int, int]
    focal: float
    height: float
    depth_scale: float


# ---- the scene ----------------------------------------------------------------------------------------

def backdrop(cam: Camera, scene: int) -> np.ndarray:
    """(H, W, 3) uint8: a checkered floor up to a brick wall WALL_DEPTH away, as the camera sees them."""
    h, w = cam.size
    floor_a, floor_b, wall = SCENES[scene % len(SCENES)]
    v, u = np.mgrid[:h, :w].astype(np.float64) + 0.5
    dy = v - h / 2
    depth = np.where(dy > 0, cam.focal * cam.height / np.maximum(dy, 1e-9), np.inf)          # floor depth
    on_floor = depth < WALL_DEPTH
    z = np.where(on_floor, depth, WALL_DEPTH)
    x, y = (u - w / 2) * z / cam.focal, dy * z / cam.focal                                   # metres
    checker = ((np.floor(x / TILE) + np.floor(z / TILE)) % 2)[..., None]
    fog = np.clip((z - 2.0) / 10.0, 0, 0.5)[..., None]                                      # far = paler
    floor = (checker * floor_a + (1 - checker) * floor_b) * (1 - fog) + 200 * fog
    row = np.floor((y + cam.height) / 0.25)                                                  # brick rows
    mortar = ((((y + cam.height) / 0.25) % 1) < 0.08) | ((((x / 0.5) + 0.5 * (row % 2)) % 1) < 0.04)
    bricks = wall * (0.9 + 0.1 * np.cos(row * 1.7))[..., None] * (1 - 0.35 * mortar[..., None])
    return np.clip(np.where(on_floor[..., None], floor, bricks), 0, 255).astype(np.uint8)


def clothes(body: StandInBody, rng: np.random.Generator) -> np.ndarray:
    """(V, 3) RGB per vertex of one person: skin on the head and hands, a shirt, trousers, dark shoes;
    regions from the T-pose rest vertices (arms along x), so any body with the SMPL joint layout works."""
    rest, joints = body.forward(np.eye(3), np.tile(np.eye(3), (23, 1, 1)))
    x, y = np.abs(rest[:, 0] - joints[0, 0]), rest[:, 1]
    skin, shirt, trousers = SKIN[rng.integers(len(SKIN))], *CLOTHES[rng.choice(len(CLOTHES), 2, replace=False)]
    out = np.empty((len(rest), 3))
    out[:] = shirt
    out[y < joints[0, 1] + 0.02] = trousers                                          # below the hips
    out[y < joints[7, 1] - 0.02] = (40, 36, 34)                                      # shoes, below the ankles
    out[(y > joints[12, 1] + 0.02) | (x > abs(joints[20, 0] - joints[0, 0]) - 0.02)] = skin   # head, hands
    return out


def _shadows(image: np.ndarray, cam: Camera, ground: np.ndarray) -> np.ndarray:
    """Darken a soft ellipse on the floor under each person; ground (P, 2) = metric (x, depth)."""
    h, w = cam.size
    out = image.astype(np.float32)
    for x, z in ground:
        cu, cv = w / 2 + cam.focal * x / z, h / 2 + cam.focal * cam.height / z
        ru, rv = cam.focal * 0.4 / z, cam.focal * 0.4 / z * cam.height / z + 1.5
        r0, r1 = int(max(cv - rv, 0)), int(min(cv + rv + 1, h))
        c0, c1 = int(max(cu - ru, 0)), int(min(cu + ru + 1, w))
        if r0 >= r1 or c0 >= c1:
            continue
        vv, uu = np.mgrid[r0:r1, c0:c1]
        d = ((uu - cu) / ru) ** 2 + ((vv - cv) / rv) ** 2
        out[r0:r1, c0:c1] *= (1 - 0.45 * np.clip(1 - d, 0, 1))[..., None]
    return out.astype(np.uint8)


# ---- one video ----------------------------------------------------------------------------------------

def frames(people, cam: Camera, shot_changes, seed: int, renderer: Renderer | None = None
           ) -> Iterator[np.ndarray]:
    """Frames (H, W, 3) uint8 of one simulated video. people: objects with pose_shape (T, 229), camera (T, 3)
    (PHALP translation) and present (T,) bool (`lartcore.demodata.synthetic.Person`)."""
    renderer = renderer or Renderer()
    body = StandInBody()
    rng = np.random.default_rng(seed)
    paint = np.stack([clothes(body, rng) for _ in people]) if people else np.zeros((0, 1, 3))  # (P, V, 3)
    T = len(people[0].present) if people else 0
    pose = np.stack([p.pose_shape for p in people])                                      # (P, T, 229)
    verts, _ = body.forward(pose[..., GLOBAL_ORIENT].reshape(*pose.shape[:2], 3, 3),
                            pose[..., BODY_POSE].reshape(*pose.shape[:2], 23, 3, 3))      # (P, T, V, 3)
    root = np.stack([p.camera for p in people]).astype(np.float64)                       # (P, T, 3)
    root[..., 2] /= cam.depth_scale                                                       # metres
    present = np.stack([p.present for p in people])                                       # (P, T)
    cuts = sorted(int(c) for c in shot_changes)
    scenes = [backdrop(cam, k) for k in range(len(cuts) + 1)]
    for t in range(T):
        on = np.flatnonzero(present[:, t])
        image = _shadows(scenes[int(np.searchsorted(cuts, t, side="right"))], cam, root[on, t][:, [0, 2]])
        if len(on):
            image = _people(image, renderer, body.faces, verts[on, t] + root[on, t][:, None], paint[on], cam)
        yield image


def _people(image: np.ndarray, renderer: Renderer, faces, vertices: np.ndarray, paint: np.ndarray,
            cam: Camera) -> np.ndarray:
    """The people (metric camera-frame vertices (P, V, 3), colours (P, V, 3)) rendered at RENDER_SCALE of
    the frame size and blended over `image` with soft (scaled-up) edges."""
    small = (round(cam.size[0] * RENDER_SCALE), round(cam.size[1] * RENDER_SCALE))
    people = People(vertices=vertices.astype(np.float32), faces=faces, track_ids=np.arange(len(vertices)),
                    boxes=np.zeros((len(vertices), 4), np.float32), camera=vertices[:, 0].astype(np.float32),
                    labels=[[] for _ in vertices], frame_size=small)
    from PIL import Image  # noqa: PLC0415  (the render extra)

    rgb, covered = renderer.render_meshes(people, paint, focal=cam.focal * RENDER_SCALE)
    rows, cols = np.flatnonzero(covered.any(axis=1)), np.flatnonzero(covered.any(axis=0))
    if not rows.size:
        return image
    k = round(1 / RENDER_SCALE)                     # the covered box, one small pixel of margin, scaled up
    r0, r1, c0, c1 = max(rows[0] - 1, 0), rows[-1] + 2, max(cols[0] - 1, 0), cols[-1] + 2
    patch = np.dstack([rgb[r0:r1, c0:c1], 255 * covered[r0:r1, c0:c1].astype(np.uint8)])
    layer = np.asarray(Image.fromarray(patch).resize((k * patch.shape[1], k * patch.shape[0]), Image.BILINEAR))
    out = image.copy()
    box = out[k * r0:k * r1, k * c0:k * c1]
    layer = layer[:box.shape[0], :box.shape[1]]
    alpha = layer[..., 3:].astype(np.float32) / 255.0
    box[:] = layer[..., :3] * alpha + box * (1 - alpha)
    return out


def write_videos(data: DataRoot, videos, cam: Camera, seed: int = 0) -> list:
    """Render and write the video of each simulated video (`lartcore.demodata.synthetic.Video`: .video id,
    .people, .shot_changes) to `data.video_file(id)`; returns the paths. Needs the render extra."""
    try:
        renderer = Renderer()
    except ImportError as e:
        raise ImportError(f"the demo videos need the render extra (pip install 'lartcore[render]'): {e}") from e
    try:
        return [write_video(data.video_file(v.video), frames(v.people, cam, v.shot_changes, seed + k, renderer),
                            fps=FPS, options=ENCODER_OPTIONS) for k, v in enumerate(videos)]
    finally:
        renderer.close()
