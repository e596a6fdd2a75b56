"""Drawing tracked people: the PHALP camera, mesh overlays on video frames (pyrender offscreen), boxes,
track ids and action-label chips (PIL), mesh export (trimesh) and interactive 3D figures (plotly).

Shapes: P people, V vertices per body, F faces. Frames are (H, W, 3) uint8 RGB. The camera frame has
OpenCV axes (x right, y down, z forward), metres; PHALP's focal length (`lartcore.schema.focal_length`)
puts people at depths of 50-150. Boxes are [x0, y0, w, h] in pixels.
"""
from __future__ import annotations

import colorsys
import ctypes.util
import functools
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal, NamedTuple

import numpy as np
import trimesh

from lartcore import chips
from lartcore.body import BodyModel, load_body
from lartcore.checkpoint import load_checkpoint
from lartcore.data.dataset import ListTrackSource
from lartcore.data.store import TrackStore
from lartcore.data.tracks import Track, detected_at, iter_release_tracks, parse_release_name
from lartcore.fileio import atomic_write_bytes
from lartcore.infer import data_config_of, track_scores
from lartcore.progress import progress
from lartcore.schema import (
    BETAS,
    BODY_POSE,
    FPS,
    GLOBAL_ORIENT,
    focal_length,
)
from lartcore.video import iter_frames, video_info, write_video

BACKDROP_RGB = (58, 62, 70)     # neutral background when no video frame is available
CHIP_RGB = (24, 26, 30)         # action-label chip background
Z_NEAR, Z_FAR = 0.5, 2000.0     # clip planes (m), around PHALP depths of 50-150
GL_FROM_CV = np.diag([1.0, -1.0, -1.0])   # OpenCV camera axes -> OpenGL camera axes (y up, looking -z)


def track_color(track_id: int) -> tuple[int, int, int]:
    """A stable, well-spread RGB colour per track id (golden-ratio hue steps)."""
    hue = (0.13 + int(track_id) * 0.618033988749895) % 1.0
    r, g, b = colorsys.hsv_to_rgb(hue, 0.6, 0.95)
    return round(255 * r), round(255 * g), round(255 * b)


# ---- one frame's people ---------------------------------------------------------------------------------

@dataclass
class People:
    """The people of one frame, ready to draw.

    vertices:   (P, V, 3) float32  camera-frame mesh vertices
    faces:      (F, 3) int64       shared by every person
    track_ids:  (P,) int64
    boxes:      (P, 4) float32     [x0, y0, w, h] pixels
    camera:     (P, 3) float32     body translation (the PHALP `camera`), root of each person
    labels:     P lists of chip texts (top action labels), may be empty
    frame_size: (H, W)
    """

    vertices: np.ndarray
    faces: np.ndarray
    track_ids: np.ndarray
    boxes: np.ndarray
    camera: np.ndarray
    labels: list[list[str]]
    frame_size: tuple[int, int]

    def __len__(self) -> int:
        return len(self.track_ids)


def people_at_frame(tracks: Iterable[Track], frame: int, body: BodyModel, top_k: int = 3) -> People:
    """People detected at `frame` (Track frame numbering) in `tracks` of one video, posed by `body`.
    A track id seen in several (overlapping) track files is drawn once. Labels: the dataset's labels of
    the tracks, marked as GT or pseudo-labels (`lartcore.chips.of_track`, top_k); replace `People.labels`
    to show predictions instead (`lartcore.chips.predicted`)."""
    tracks = list(tracks)
    if not tracks:
        raise ValueError("people_at_frame: no tracks given (the frame size comes from the tracks)")
    rows = [(tracks[k], i) for k, i in detected_at(tracks, frame)]
    pose = np.array([t.pose_shape[i] for t, i in rows], np.float32).reshape(-1, 229)   # (P, 229)
    if rows:
        vertices, _ = body.forward(pose[:, GLOBAL_ORIENT].reshape(-1, 3, 3),
                                   pose[:, BODY_POSE].reshape(-1, 23, 3, 3), pose[:, BETAS])
    else:
        vertices = np.zeros((0, int(body.faces.max()) + 1, 3), np.float32)
    camera = np.array([t.camera[i] for t, i in rows], np.float32).reshape(-1, 3)         # (P, 3)
    size = rows[0][0].frame_size[rows[0][1]] if rows else tracks[0].frame_size[0]
    return People(
        vertices=(vertices + camera[:, None]).astype(np.float32), faces=body.faces,
        track_ids=np.array([t.track_id for t, _ in rows], np.int64),
        boxes=np.array([t.box[i] for t, i in rows], np.float32).reshape(-1, 4), camera=camera,
        labels=[chips.of_track(t, i, top_k) for t, i in rows], frame_size=(int(size[0]), int(size[1])))


def person_colors(people: People, colors: dict[int, tuple] | None = None) -> list[tuple[int, int, int]]:
    """The RGB colour of each person: `colors` by track id where given, else `track_color`."""
    colors = colors or {}
    return [tuple(colors.get(int(tid), track_color(int(tid)))) for tid in people.track_ids]


# ---- meshes over frames ---------------------------------------------------------------------------------

def _import_pyrender():
    """pyrender with an offscreen platform chosen before OpenGL is first imported: EGL when libEGL is
    present (or nothing else is), else OSMesa (Debian `libosmesa6` + PyOpenGL >= 3.1.5). An explicit
    PYOPENGL_PLATFORM wins."""
    if "PYOPENGL_PLATFORM" not in os.environ:
        use_osmesa = not ctypes.util.find_library("EGL") and ctypes.util.find_library("OSMesa")
        os.environ["PYOPENGL_PLATFORM"] = "osmesa" if use_osmesa else "egl"
    if "infty" not in np.__dict__:   # numpy 2 removed the alias pyrender uses for mesh bounds
        np.infty = np.inf
    import pyrender  # noqa: PLC0415  (the render extra; OpenGL platform chosen first, above)
    return pyrender


def _vertex_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """(N, 3), (F, 3) -> (N, 3) unit normals, area-weighted average of the adjacent faces."""
    tri = vertices[faces]                                               # (F, 3, 3)
    face_n = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])     # (F, 3), length = 2 area
    idx = faces.ravel()
    normals = np.stack([np.bincount(idx, np.repeat(face_n[:, k], 3), len(vertices)) for k in range(3)], -1)
    return (normals / np.maximum(np.linalg.norm(normals, axis=1, keepdims=True), 1e-12)).astype(np.float32)


class Renderer:
    """One pyrender offscreen renderer and scene kept alive across frames (the first frame compiles
    shaders, ~0.5 s; later 640x480 frames with 5 people take tens of ms). Not thread-safe."""

    def __init__(self):
        pr = self._pr = _import_pyrender()
        self._renderer = None
        self._scene = pr.Scene(bg_color=[0.0, 0.0, 0.0, 0.0], ambient_light=[0.35, 0.35, 0.35])
        self._camera = pr.IntrinsicsCamera(fx=1.0, fy=1.0, cx=0.0, cy=0.0, znear=Z_NEAR, zfar=Z_FAR)
        self._scene.add(self._camera, pose=np.eye(4))
        self._scene.add(pr.DirectionalLight(color=np.ones(3), intensity=2.0), pose=np.eye(4))  # headlight
        above = np.eye(4)
        above[:3, :3] = [[1, 0, 0], [0, 0, 1], [0, -1, 0]]   # light travelling down (-y), 90 deg from view
        self._scene.add(pr.DirectionalLight(color=np.ones(3), intensity=1.5), pose=above)
        self._material = pr.MetallicRoughnessMaterial(metallicFactor=0.0, roughnessFactor=0.7,
                                                      baseColorFactor=[1.0, 1.0, 1.0, 1.0])
        self._mesh_node = None

    def _mesh(self, people: People, colors):
        """All people merged into one primitive (one draw call), per-vertex colours."""
        P, V, _ = people.vertices.shape
        verts = people.vertices.reshape(-1, 3) @ GL_FROM_CV                     # (P*V, 3) OpenGL axes
        faces = (people.faces[None] + V * np.arange(P)[:, None, None]).reshape(-1, 3)   # (P*F, 3)
        rgb = np.broadcast_to(np.asarray(colors, np.float64).reshape(P, -1, 3), (P, V, 3)).reshape(-1, 3)
        rgba = np.c_[rgb / 255.0, np.ones(P * V)]                                       # (P*V, 4)
        prim = self._pr.Primitive(positions=verts.astype(np.float32), normals=_vertex_normals(verts, faces),
                                  color_0=rgba.astype(np.float32), indices=faces.astype(np.uint32),
                                  material=self._material)
        return self._pr.Mesh([prim])

    def render_meshes(self, people: People, colors, focal: float | None = None) -> tuple[np.ndarray, np.ndarray]:
        """-> (rgb (H, W, 3) uint8 of the meshes, coverage (H, W) bool) seen by the PHALP camera (or a
        pinhole of focal length `focal` px, principal point at the centre). `colors`: one RGB per person,
        or (P, V, 3) per-vertex RGB."""
        h, w = people.frame_size
        if self._renderer is None:
            self._renderer = self._pr.OffscreenRenderer(w, h)
        self._renderer.viewport_width, self._renderer.viewport_height = w, h
        self._camera.fx = self._camera.fy = focal or focal_length(h, w)
        self._camera.cx, self._camera.cy = w / 2.0, h / 2.0
        if self._mesh_node is not None:
            self._scene.remove_node(self._mesh_node)
            self._mesh_node = None
        if len(people) == 0:
            return np.zeros((h, w, 3), np.uint8), np.zeros((h, w), bool)
        self._mesh_node = self._scene.add(self._mesh(people, colors))
        color, depth = self._renderer.render(self._scene)
        return np.ascontiguousarray(color[..., :3]), depth > 0

    def close(self) -> None:
        if self._renderer is not None:
            self._renderer.delete()
            self._renderer = None


_SHARED: list[Renderer] = []


def shared_renderer() -> Renderer:
    """A process-wide renderer, created on first use (what `render_overlay` uses by default)."""
    if not _SHARED:
        _SHARED.append(Renderer())
    return _SHARED[0]


def _paste(image: np.ndarray, rgb: np.ndarray, covered: np.ndarray) -> np.ndarray:
    """A copy of `image` with `rgb` where `covered` (work limited to the covered bounding box)."""
    out = image.copy()
    rows, cols = np.flatnonzero(covered.any(axis=1)), np.flatnonzero(covered.any(axis=0))
    if rows.size:
        box = np.s_[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
        np.copyto(out[box], rgb[box], where=covered[box][..., None])
    return out


def render_overlay(frame: np.ndarray | None, people: People, colors: dict[int, tuple] | None = None,
                   renderer: Renderer | None = None, annotate: bool = True) -> np.ndarray:
    """Meshes of `people` over `frame` (or a neutral backdrop when None), then (`annotate`) boxes, track
    ids and action-label chips. `colors` overrides `track_color` per track id. -> (H, W, 3) uint8."""
    h, w = people.frame_size
    if frame is None:
        image = np.empty((h, w, 3), np.uint8)
        image[:] = BACKDROP_RGB
    else:
        image = np.asarray(frame)
        if image.shape != (h, w, 3) or image.dtype != np.uint8:
            raise ValueError(f"render_overlay: frame expected uint8 ({h}, {w}, 3) (the tracks' frame size), "
                             f"found {image.dtype} {image.shape}")
    cols = person_colors(people, colors)
    if len(people):
        rgb, covered = (renderer or shared_renderer()).render_meshes(people, cols)
        image = _paste(image, rgb, covered)
    return draw_annotations(image, people, cols) if annotate else image


# ---- boxes, ids and label chips -------------------------------------------------------------------------

FONT_FILES = ("DejaVuSans.ttf", "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")   # keeps word spacing
CHIP_STYLE = {"prediction": (CHIP_RGB, (255, 255, 255)), "gt": ((245, 245, 245), (0, 0, 0)),
              "pseudo": ((92, 92, 120), (235, 235, 255))}      # chip source -> (fill, ink), see lartcore.chips
OUTCOME_RGB = {"TP": (40, 200, 70), "FP": (230, 40, 40), "FN": (255, 150, 0), "GT": (255, 255, 255)}
LEGEND_RGB = (16, 17, 20)


@functools.lru_cache(maxsize=16)
def _font(size: int):
    """DejaVu Sans when installed (Pillow's bundled default font drops spaces at small sizes: "GTsit"),
    else Pillow's default."""
    from PIL import ImageFont  # noqa: PLC0415  (the render extra)

    for name in FONT_FILES:
        try:
            return ImageFont.truetype(name, size)
        except OSError:
            continue
    return ImageFont.load_default(size=size)


def chip_font(height: int):
    """The chip font for frames `height` pixels tall."""
    return _font(max(11, round(height / 30)))


def _pad(font) -> int:
    return max(1, sum(font.getmetrics()) // 6)


def _line_height(font) -> int:
    return sum(font.getmetrics()) + 2 * _pad(font) + 1


def _overlap(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Intersection areas of rectangle a (4,) with rectangles b (n, 4), all [x0, y0, x1, y1]."""
    w = np.minimum(a[2], b[:, 2]) - np.maximum(a[0], b[:, 0])
    h = np.minimum(a[3], b[:, 3]) - np.maximum(a[1], b[:, 1])
    return np.clip(w, 0, None) * np.clip(h, 0, None)


def place_stacks(boxes: np.ndarray, sizes: np.ndarray, frame_size: tuple[int, int]) -> np.ndarray:
    """Top-left corners (P, 2) for each person's label stack (sizes (P, 2) width, height px) so that no two
    stacks overlap: boxes (P, 4) [x0, y0, w, h]; people with invalid boxes get NaN. Larger (nearer) people
    choose first among: above their box, above right-aligned, inside its top, below, left, right, then
    positions stepped up and down from the box; each inside the frame. The first candidate (in that order)
    that overlaps no placed stack and covers the least of other people's boxes wins (the least stack
    overlap when every candidate overlaps one)."""
    h_img, w_img = frame_size
    out = np.full((len(boxes), 2), np.nan)
    ok = np.array([np.isfinite(b).all() and b[2] > 0 and b[3] > 0 for b in boxes], bool)
    rects = np.c_[boxes[:, :2], boxes[:, :2] + boxes[:, 2:]]                       # (P, 4) x0, y0, x1, y1
    placed = np.zeros((0, 4))
    for i in sorted(np.flatnonzero(ok), key=lambda i: -boxes[i, 2] * boxes[i, 3]):
        (x0, y0, x1, y1), (w, h) = rects[i], sizes[i]
        step = max(h / 2, 4.0)
        ups, downs = np.arange(y0 - h - step, -h, -step), np.arange(y0 + step, h_img, step)
        cand = np.array([(x0, y0 - h), (x1 - w, y0 - h), (x0, y0), (x0, y1), (x0 - w, y0), (x1, y0),
                         *[(x, y) for y in np.r_[ups, downs] for x in (x0, x1 - w)]], np.float64)
        cand[:, 0] = np.clip(cand[:, 0], 0, max(w_img - w, 0))
        cand[:, 1] = np.clip(cand[:, 1], 0, max(h_img - h, 0))
        others = rects[ok & (np.arange(len(boxes)) != i)]
        best, best_cost = None, None
        for k, (cx, cy) in enumerate(cand):
            r = np.array([cx, cy, cx + w, cy + h])
            clash = _overlap(r, placed).sum()
            cost = (clash > 0, clash, _overlap(r, others).sum() + 25.0 * k)
            if best_cost is None or cost < best_cost:
                best, best_cost = (cx, cy), cost
            if clash == 0 and cost[2] == 25.0 * k:                                # free and uncovering
                break
        out[i] = best
        placed = np.r_[placed, [[best[0], best[1], best[0] + w, best[1] + h]]]
    return out


def _chip(draw, x: float, y: float, text: str, font, fill: tuple, ink: tuple) -> None:
    """A filled label with top-left (x, y) (one line, `_line_height`)."""
    pad = _pad(font)
    draw.rectangle([x, y, x + draw.textlength(text, font=font) + 2 * pad, y + _line_height(font) - 1], fill=fill)
    draw.text((x + pad, y + pad), text, font=font, fill=ink)


def stack_size(draw, texts: list[str], font) -> tuple[float, float]:
    """(width, height) px of a stack of chips."""
    return (max(draw.textlength(t, font=font) for t in texts) + 2 * _pad(font), len(texts) * _line_height(font))


def draw_annotations(image: np.ndarray, people: People, colors: list[tuple[int, int, int]]) -> np.ndarray:
    """Boxes in track colours; per person a stack of chips (a '#id' tag in its colour, then its label
    chips styled by source, `CHIP_STYLE`) placed by `place_stacks` so stacks never overlap, with a line
    to the box when a stack had to move away from it."""
    from PIL import Image, ImageDraw  # noqa: PLC0415  (the render extra)

    canvas = Image.fromarray(image)
    draw = ImageDraw.Draw(canvas)
    font = chip_font(canvas.height)
    width, line = max(2, round(canvas.height / 240)), _line_height(font)
    texts = [[f"#{tid}", *labels] for tid, labels in zip(people.track_ids, people.labels, strict=True)]
    sizes = np.array([stack_size(draw, t, font) for t in texts], np.float64).reshape(-1, 2)
    corners = place_stacks(people.boxes.astype(np.float64), sizes, people.frame_size)
    for box, stack, (x, y), (sw, sh), color in zip(people.boxes, texts, corners, sizes, colors, strict=True):
        if not np.isfinite(x):
            continue
        x0, y0, bw, bh = (float(v) for v in box)
        draw.rectangle([x0, y0, x0 + bw, y0 + bh], outline=color, width=width)
        gap_x = max(x0 - (x + sw), x - (x0 + bw), 0.0)
        gap_y = max(y0 - (y + sh), y - (y0 + bh), 0.0)
        if gap_x > 2 or gap_y > 2:                                     # moved away: a leader to the box
            ax, ay = min(max(x, x0), x + sw), min(max(y, y0), y + sh)
            draw.line([ax, ay, min(max(ax, x0), x0 + bw), min(max(ay, y0), y0 + bh)], fill=color, width=1)
        _chip(draw, x, y, stack[0], font, fill=color, ink=(0, 0, 0))
        for k, text in enumerate(stack[1:], start=1):
            _chip(draw, x, y + k * line, text, font, *CHIP_STYLE[chips.source(text)])
    return np.array(canvas)   # writable (H, W, 3) uint8


def draw_boxes(image: np.ndarray, boxes: np.ndarray, kinds: list[str], tags: list[str] | None = None,
               dash: int = 8, colors: list[tuple] | None = None, width: int | None = None,
               tags_below: bool = False) -> np.ndarray:
    """Boxes (n, 4) normalised x1, y1, x2, y2 over an (H, W, 3) uint8 image (copy), coloured by kind
    (`OUTCOME_RGB`: TP, FP solid; FN, GT dashed) unless `colors` gives each box's colour, each with an
    optional tag: at the top-left corner (dashed boxes: inside their bottom-left corner); `tags_below`:
    just under the box (inside it where the box reaches the image's bottom), clear of the label chips
    stacked above a box and of the person inside it."""
    from PIL import Image, ImageDraw  # noqa: PLC0415  (the render extra)

    canvas = Image.fromarray(image)
    draw = ImageDraw.Draw(canvas)
    h, w = image.shape[:2]
    font = chip_font(h)
    width = width or max(2, round(h / 240))
    dash = max(dash, 3 * width)
    for k, ((x1, y1, x2, y2), kind) in enumerate(zip(np.asarray(boxes, np.float64).reshape(-1, 4), kinds,
                                                     strict=True)):
        r = [x1 * (w - 1), y1 * (h - 1), x2 * (w - 1), y2 * (h - 1)]
        color = tuple(colors[k]) if colors else OUTCOME_RGB[kind]
        if kind in ("FN", "GT"):
            for a, b in (((r[0], r[1]), (r[2], r[1])), ((r[0], r[3]), (r[2], r[3])),
                         ((r[0], r[1]), (r[0], r[3])), ((r[2], r[1]), (r[2], r[3]))):
                n = max(int(np.hypot(b[0] - a[0], b[1] - a[1]) // dash), 1)
                for j in range(0, n, 2):                               # dashes start at the corners
                    t0, t1 = j / n, min(j + 1, n) / n
                    draw.line([a[0] + t0 * (b[0] - a[0]), a[1] + t0 * (b[1] - a[1]),
                               a[0] + t1 * (b[0] - a[0]), a[1] + t1 * (b[1] - a[1])], fill=color, width=width)
        else:
            draw.rectangle(r, outline=color, width=width)
        if tags and tags[k]:
            ty = r[3] - _line_height(font) if kind in ("FN", "GT") else r[1]
            if tags_below:
                ty = r[3] + width if r[3] + width + _line_height(font) <= h else r[3] - _line_height(font)
            _chip(draw, r[0], max(ty, 0), tags[k], font, fill=color, ink=(0, 0, 0))
    return np.array(canvas)


def with_legend(image: np.ndarray, lines: list[str]) -> np.ndarray:
    """The image with a band below it holding the legend `lines` (what the drawing shows)."""
    from PIL import Image, ImageDraw  # noqa: PLC0415  (the render extra)

    h, w = image.shape[:2]
    font = _font(max(10, round(h / 34)))
    line = _line_height(font)
    band = Image.new("RGB", (w, line * len(lines) + 2 * _pad(font)), LEGEND_RGB)
    draw = ImageDraw.Draw(band)
    for k, text in enumerate(lines):
        draw.text((_pad(font) * 2, _pad(font) * 2 + k * line), text, font=font, fill=(235, 235, 235))
    return np.concatenate([image, np.asarray(band)], axis=0)


# ---- export and the 3D layout -----------------------------------------------------------------------

def export_meshes(people: People, path: str | Path, colors: dict[int, tuple] | None = None) -> Path:
    """Write one frame's people as GLB (one node `track_<id>` each) or OBJ (one merged mesh), by suffix.
    Coordinates: camera frame turned to glTF's y-up convention (x right, y up, looking along -z)."""

    path = Path(path)
    kind = path.suffix.lower().lstrip(".")
    if kind not in ("glb", "obj"):
        raise ValueError(f"export_meshes: {path}: expected a .glb or .obj file name")
    if len(people) == 0:
        raise ValueError(f"export_meshes: {path}: no people in this frame")
    meshes = [trimesh.Trimesh(v @ GL_FROM_CV, people.faces, vertex_colors=c + (255,), process=False)
              for v, c in zip(people.vertices, person_colors(people, colors), strict=True)]
    if kind == "glb":
        scene = trimesh.Scene()
        for tid, mesh in zip(people.track_ids, meshes, strict=True):
            scene.add_geometry(mesh, node_name=f"track_{tid}", geom_name=f"track_{tid}")
        data = scene.export(file_type="glb")
    else:
        data = trimesh.util.concatenate(meshes).export(file_type="obj").encode()
    atomic_write_bytes(path, data)
    return path


# "depth" view: root depths scaled so each root keeps its image position under a focal length of
# max(H, W) (~53 degree view) instead of PHALP's 5000 * max(H, W) / 256 (x, y kept; z * 256 / 5000);
# bodies keep their size in metres.
DEPTH_SCALE = 256.0 / 5000.0
ROOT_SPACING = 1.0   # "root" view: people side by side, 1 m apart, in image left-to-right order


def plot_points(people: People, mode: Literal["root", "depth"] = "root") -> np.ndarray:
    """(P, V, 3) vertices for the 3D view in display axes (x right, y depth away, z up)."""
    local = people.vertices - people.camera[:, None]                  # (P, V, 3) model-space, OpenCV axes
    if mode == "root":
        order = np.argsort(np.argsort(people.camera[:, 0] / people.camera[:, 2]))   # rank by image x
        place = np.stack([(order - (len(people) - 1) / 2) * ROOT_SPACING, np.zeros(len(people)),
                          np.zeros(len(people))], axis=-1)
    elif mode == "depth":
        place = people.camera * np.array([1.0, 1.0, DEPTH_SCALE])
    else:
        raise ValueError(f"plot_points: mode expected 'root' or 'depth', found {mode!r}")
    cv = local + place[:, None].astype(np.float32)                      # (P, V, 3) x right, y down, z fwd
    return np.stack([cv[..., 0], cv[..., 2], -cv[..., 1]], axis=-1)


def ground_path(track: Track, frames: tuple[int, int] | None = None) -> np.ndarray:
    """(n, 2) the track's root on the ground over its detected frames (within `frames` = (first, last)
    when given), in the "depth" layout's display axes: x right, depth away (`plot_points`)."""
    keep = track.has_detection.copy()
    if frames is not None:
        keep &= (track.frame >= frames[0]) & (track.frame <= frames[1])
    cam = track.camera[keep].astype(np.float64)
    return np.c_[cam[:, 0], cam[:, 2] * DEPTH_SCALE]


# ---- `lart render`: a whole clip ------------------------------------------------------------------------

def _pick_video(wanted: str | None, available: list[str], src: Path, strict: bool) -> str:
    """The video id to render: `wanted` if the tracks have it, else the only one there is."""
    if wanted in available:
        return wanted
    if len(available) == 1 and not strict:
        return available[0]
    what = f"no tracks of video '{wanted}'" if wanted else "tracks of several videos"
    raise ValueError(f"{src}: {what}; choose one with --clip from {available[:20]}")


def load_clip_tracks(src: str | Path, video: str | None = None, strict: bool = False) -> list[Track]:
    """All tracks of one video from a packed store folder or a folder of release pickles.
    `video` None (or not found, unless strict) is fine when the tracks hold a single video."""

    src = Path(src)
    if (src / "index.parquet").is_file():
        store = TrackStore(src)
        videos = store.index["video"].astype(str).to_numpy()
        video = _pick_video(video, sorted(set(videos)), src, strict)
        return [store.track(int(i)) for i in np.flatnonzero(videos == video)]
    files = sorted(src.glob("*.pkl")) if src.is_dir() else []
    if not files:
        raise FileNotFoundError(f"{src}: neither a track store (index.parquet) nor a folder of release "
                                "track pickles (*.pkl)")
    names = {f: parse_release_name(f.name)[1] for f in files}
    video = _pick_video(video, sorted(set(names.values())), src, strict)
    return list(iter_release_tracks([f for f in files if names[f] == video]))


def _fit(frame: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize a video frame to the tracks' frame size (H, W) when they differ."""
    if frame.shape[:2] == tuple(size):
        return frame
    from PIL import Image  # noqa: PLC0415  (the render extra)

    return np.asarray(Image.fromarray(frame).resize((size[1], size[0]), Image.BILINEAR))


def render_clip(tracks: list[Track], body: BodyModel, video: str | Path | None = None,
                renderer: Renderer | None = None, scores=None, top_k: int = 3, threshold: float = 0.0,
                legend: chips.Legend | None = None) -> tuple[Iterator[np.ndarray], int, float]:
    """Overlay frames of a whole clip -> (frame iterator, frame count (0 = unknown), fps). With a video:
    every video frame (its time picks the 30 fps track frame); without: the tracks' frame span over the
    backdrop. Chips: the top-k predictions of `scores` (`lartcore.infer.FrameScores` of `tracks`, same
    order) when given, else the dataset's GT and pseudo-labels (`lartcore.chips`); `legend` drawn below."""
    renderer = renderer or shared_renderer()
    size = tuple(int(v) for v in tracks[0].frame_size[0])

    def draw(image, frame):
        people = people_at_frame(tracks, frame, body)
        rows = detected_at(tracks, frame)
        if scores is None:
            labels = chips.for_people(tracks, rows, k=top_k, pseudo_labels=True)
        else:
            labels = chips.for_people(tracks, rows, scores.scores, scores.offsets, scores.action_ids, top_k,
                                      threshold, gt=False)
        out = render_overlay(image, replace(people, labels=labels), renderer=renderer)
        return out if legend is None else with_legend(out, legend.lines())

    if video is None:
        first = min(int(t.frame[0]) for t in tracks)
        last = max(int(t.frame[-1]) for t in tracks)
        return (draw(None, f) for f in range(first, last + 1)), last - first + 1, float(FPS)
    info = video_info(video)
    return (draw(_fit(rgb, size), round(t * FPS)) for t, rgb in iter_frames(video)), info["frames"], info["fps"]


class RenderResult(NamedTuple):
    path: Path          # the video written (.webm when this PyAV build has no H.264 encoder)
    frames: int
    tracks: int
    body: str           # the body model's class name
    labels: str         # what the chips show (the legend drawn below every frame, also the file's comment)


def render_video(tracks_src: str | Path, out: str | Path, video: str | Path | None = None,
                 clip: str | None = None, smpl_dir: str | Path | None = None,
                 checkpoint: str | Path | None = None, top_k: int = 3, threshold: float = 0.0) -> RenderResult:
    """`lart render`: the meshes, boxes, ids and labels of one clip's tracks over its video (or a backdrop)
    -> an MP4, with a progress bar. `clip` picks the video id among several (default: the video file's
    name, or the only one). Labels: the top-k predictions (score >= threshold) of `checkpoint` on the
    clip's tracks, else the dataset's labels marked as GT / pseudo-labels; a legend below every frame
    (and the file's comment tag) says which."""
    wanted = clip or (Path(video).stem if video else None)
    tracks = load_clip_tracks(tracks_src, wanted, strict=clip is not None)
    body = load_body(smpl_dir)
    scores = None
    if checkpoint is not None:
        ckpt = load_checkpoint(checkpoint)
        scores = track_scores(ckpt.model, ListTrackSource(tracks), data_config_of(ckpt))
        shown = "/".join(Path(checkpoint).resolve().parts[-3:])          # e.g. demo/lart/checkpoint.pt
        legend = chips.Legend(run=f"checkpoint {shown}", top_k=top_k, threshold=threshold)
    else:
        legend = chips.Legend(gt=True, pseudo=True)
    frames, total, fps = render_clip(tracks, body, video, scores=scores, top_k=top_k, threshold=threshold,
                                     legend=legend)
    shown = progress(frames, total=total or None, unit="frames", desc=f"render {tracks[0].video}", leave=True)
    count = [0]

    def counted():
        for image in shown:
            count[0] += 1
            yield image

    path = write_video(out, counted(), fps=fps, metadata={"comment": legend.text()})
    return RenderResult(path, count[0], len(tracks), type(body).__name__, legend.text())
