"""Rendering speed: ms per 640x480 overlay frame with 5 stand-in people (EGL), the first frame (context +
shader compilation) separately, and the cost of posing 6 people x 128 frames.

    .venv/bin/python bench/render_speed.py [--frames 50]

Goal: <= 100 ms per frame (interactive). Numbers are noisy on a shared machine; the median is reported.
"""
from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("PYOPENGL_PLATFORM", "egl")

import numpy as np

from lartcore.body import PARENTS, SMPLBody, StandInBody
from lartcore.demodata.motion import small_rotations
from lartcore.render import People, Renderer, draw_annotations, render_overlay, track_color
from lartcore.schema import project

H, W, P = 480, 640, 5
GOAL_MS = 100.0


def scene(body: StandInBody, rng) -> People:
    """5 upright people in random poses spread across the frame at PHALP-like depths (60-120)."""
    go = np.diag([1.0, -1.0, -1.0]) @ small_rotations(rng, (P,), 0.25)
    verts, _ = body.forward(go, small_rotations(rng, (P, 23), 0.2))
    depth = rng.uniform(60, 120, P)
    camera = np.stack([np.linspace(-0.35, 0.35, P) * depth * 0.2, np.full(P, 0.1), depth], -1).astype(np.float32)
    verts = (verts + camera[:, None]).astype(np.float32)
    uv = project(verts, (H, W))
    boxes = np.concatenate([uv.min(1), uv.max(1) - uv.min(1)], -1).astype(np.float32)
    return People(verts, body.faces, np.arange(1, P + 1), boxes, camera,
                  [["stand 91%", "talk to 55%", "watch (person) 40%"]] * P, (H, W))


def synthetic_smpl() -> SMPLBody:
    """SMPL-sized arrays (6890 vertices, 207 pose blend shapes) through smplx, to time the SMPL path."""
    rng = np.random.default_rng(1)
    V = 6890
    arrays = {"v_template": rng.normal(0, 0.3, (V, 3)), "f": rng.integers(0, V, (13776, 3)),
              "weights": np.eye(24)[rng.integers(0, 24, V)], "J_regressor": np.full((24, V), 1.0 / V),
              "posedirs": rng.normal(0, 1e-3, (V, 3, 207)), "shapedirs": rng.normal(0, 1e-2, (V, 3, 10)),
              "kintree_table": np.stack([np.maximum(PARENTS, 0), np.arange(24)])}
    return SMPLBody.from_arrays(arrays, "synthetic")


def timed(fn, n: int) -> list[float]:
    out = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        out.append(1000 * (time.perf_counter() - t))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--frames", type=int, default=50)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    body = StandInBody()
    people = [scene(body, rng) for _ in range(8)]
    frame = rng.integers(0, 255, (H, W, 3), dtype=np.uint8)

    t = time.perf_counter()
    renderer = Renderer()
    render_overlay(frame, people[0], renderer=renderer)
    first = 1000 * (time.perf_counter() - t)
    overlay = timed(lambda: render_overlay(frame, people[rng.integers(8)], renderer=renderer), args.frames)
    colors = [track_color(i) for i in range(1, P + 1)]
    meshes = timed(lambda: renderer.render_meshes(people[rng.integers(8)], colors), args.frames)
    chips = timed(lambda: draw_annotations(frame, people[0], colors), args.frames)
    go = np.broadcast_to(np.diag([1.0, -1.0, -1.0]), (6, 128, 3, 3))
    bp = small_rotations(rng, (6, 128, 23), 0.2)
    pose = timed(lambda: body.forward(go, bp), 5)
    smpl = synthetic_smpl()
    pose_smpl = timed(lambda: smpl.forward(go, bp, np.zeros(10)), 3)
    renderer.close()

    med = float(np.median(overlay))
    print(f"platform: PYOPENGL_PLATFORM={os.environ['PYOPENGL_PLATFORM']}, {P} stand-in people "
          f"({people[0].vertices.shape[1]} vertices each), {W}x{H}")
    print(f"first frame (context + shaders): {first:7.1f} ms")
    print(f"overlay per frame:  median {med:6.1f} ms  (p10 {np.percentile(overlay, 10):.1f}, "
          f"p90 {np.percentile(overlay, 90):.1f})  -> {1000 / med:.1f} fps")
    print(f"  parts, timed alone: meshes median {np.median(meshes):.1f} ms, boxes+chips {np.median(chips):.1f} ms")
    print(f"goal {GOAL_MS:.0f} ms: median / goal = {med / GOAL_MS:.2f} ({'met' if med <= GOAL_MS else 'NOT met'})")
    print(f"posing 6 people x 128 frames: stand-in median {np.median(pose):.1f} ms, "
          f"SMPL via smplx (CPU) median {np.median(pose_smpl):.1f} ms")


if __name__ == "__main__":
    main()
