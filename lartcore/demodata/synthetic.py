"""The synthetic demo dataset: a deterministic mini-AVA in the real file formats (not AVA data).

`build_demo(root)` simulates short videos of 1-5 people in 3D in front of a camera, animates SMPL
poses procedurally (`lartcore.demodata.motion`), and writes PHALP-like tracks, AVA-style labels and
appearance features, laid out as `lartcore.paths.DataRoot` says.

Design: the paper's findings must be learnable from these data.
- Movement (PM: walk, run, sit, stand, bend, crouch, jump, lie, fall down, get up, dance, martial art)
  is visible in the person's own pose and 3D trajectory over time (walkers and riders translate; gait,
  hip flexion, body pitch differ). Appearance carries it only weakly.
- Person interactions (PI: talk to, listen to, watch, hug, hand shake, fight/hit, push, give/serve, take
  from, lift a person) are ambiguous from the person alone and decided by the partner: a pair faces
  each other and only the talker gestures (lone people also gesture or stand still, unlabelled); a hug
  looks like carrying a box (object class) unless someone is within arm's reach; fighting punches look
  like martial art (movement class) unless a partner stands in front; "push (another person)" vs
  "push (an object)": only the partner stumbling back tells; "watch (a person)" is a still person
  facing someone 2.5-4 m away. So pose models that see other people (n=5) beat n=1 on PI.
- Object manipulation (OM: carry/hold, answer phone, drink, eat, read, smoke, text on phone, work on a
  computer, ride, point to, push an object, lift/pick up, watch TV) lives mainly in the 1152-d
  appearance feature: fixed random class prototypes + a per-video scene vector + a per-person vector +
  per-chunk class confusion (random weights on every prototype) + small isotropic noise. Pose correlates
  only weakly (hand to mouth for drink/eat/smoke, hand to ear for phone, head down for read/text, on half
  of the segments).
- Appearance is ambiguous frame by frame and informative over a track. Each appearance chunk (6 frames)
  shows the person in one view, a Markov chain along the track with runs of 0.6-1.0 s: clear (50% of
  chunks: the evidence of every true class), occluded (30%: the person or the object hidden, no action
  evidence) or a look-alike view (20%: a partial view or motion blur in which each object reads as its
  look-alike, drinking as eating, a phone call as texting, carrying as picking up, ...). One frame, and
  the 12 frames around a keyframe (which mostly share one view), cannot tell a clear view of drinking from
  a look-alike view of eating, nor a hidden drinker from a person holding nothing; a 48-frame stretch of
  the track sees several views, and the true objects are the ones it sees most. So appearance along the
  track beats appearance in one frame (Table 5's effect of tracking), and pose + appearance beats both.
  Features have per-dimension magnitudes of ~0.1-1, like pooled MViT features: at 8x that scale the
  appearance tokens swamp the position embedding and the appearance-only model cannot learn which tokens
  are its own track (measured on v3: 52-58% of its attention on its own track where 44% of the keys are).

Camera: PHALP's model, fx = fy = 5000 * max(H, W) / 256, principal point at the image centre, camera-frame
points = SMPL model-space points + camera translation. People stand in true metres at depth 2.5-8 m; PHALP's
long focal length is matched by storing tz = depth * FOCAL / FOCAL_TRUE (tx, ty in metres), so boxes
projected with FOCAL land where a 400 px camera would see them. Frames 640x360, 30 fps, appearance and
pseudo labels per 6-frame chunk, GT at 1 Hz keyframes (AVA seconds 902...).
"""
from __future__ import annotations

import itertools
import json
import shutil
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from lartcore.body import forward_kinematics, joints45
from lartcore.data import ava, shots
from lartcore.data.store import write_store
from lartcore.data.tracks import Track, release_frame_number, write_release_track
from lartcore.demodata import footage, motion
from lartcore.fileio import atomic_write_text
from lartcore.paths import DataRoot
from lartcore.schema import (
    FIRST_SECOND,
    FPS,
    GT_LABEL,
    LOCATION_Z_SCALE,
    NUM_CLASSES,
    PSEUDO_LABEL,
    focal_length,
    project,
)

VERSION = 5  # bump whenever the generated data changes: stale builds are redone
STORE_SPLITS = ("ava_train", "ava_val", "kinetics_train")
H, W = 360, 640
FOCAL = focal_length(H, W)                # PHALP full-frame focal length (px)
FOCAL_TRUE = 400.0                        # the simulated camera's focal length (px)
DEPTH_SCALE = FOCAL / FOCAL_TRUE          # camera tz = depth in metres * DEPTH_SCALE
CAMERA_HEIGHT = 1.0                       # metres above the ground, looking horizontally
DEPTH_RANGE = (2.5, 8.0)
APPEARANCE_DIM, CHUNK = 1152, 6           # feature size; frames per appearance feature / pseudo label
PROTOTYPE_DIMS = 24                       # feature dimensions each class prototype lives on

MOVEMENT = {"bend": 1, "crouch": 3, "dance": 4, "fall down": 5, "get up": 6, "jump": 7, "lie": 8,
            "martial art": 9, "run": 10, "sit": 11, "stand": 12, "walk": 14}
OBJECT = {"answer phone": 15, "carry": 17, "drink": 27, "eat": 29, "pick up": 36, "point": 43,
          "push object": 46, "read": 48, "ride": 49, "smoke": 54, "text": 57, "watch tv": 61, "computer": 62}
INTERACTION = {"fight": 64, "give": 65, "shake": 68, "hug": 70, "lift": 73, "listen": 74, "push": 76,
               "take": 78, "talk": 79, "watch": 80}
CLASS_IDS = tuple(sorted([*MOVEMENT.values(), *OBJECT.values(), *INTERACTION.values()]))

# appearance amplitude of each class's prototype (OM strong, PM weak, PI faint) and teacher quality
_APPEARANCE_AMP = {**{c: 0.35 for c in MOVEMENT.values()}, **{c: 1.0 for c in OBJECT.values()},
                   **{c: 0.15 for c in INTERACTION.values()}}
_CONFUSION = 0.25       # per-chunk random weight on every class prototype (the "strong noise")
_NOISE = 0.1            # isotropic per-dimension noise (prototypes have unit norm)
_FEATURE_SCALE = 2.0    # overall scale: per-dimension magnitudes of order 0.1-1, like pooled MViT features
                        # (v3: 16, 8x that; see the module docstring)
# Views of a person's action evidence, per appearance chunk: a Markov chain over a track's chunks that keeps
# the previous chunk's view with probability _VIEW_STAY, else draws one by these shares (mean runs: clear
# 1.0 s, occluded 0.7 s, look-alike 0.6 s, so a 12-frame keyframe window mostly sees one view, a 48-frame
# track window two or three). Clear: the evidence of every class. Occluded (the person or the object hidden):
# none. Look-alike (a partial view or motion blur): each object reads as its look-alike (_LOOKALIKE),
# movement and interaction evidence as in a clear view.
_VIEWS = {"clear": 0.5, "occluded": 0.3, "lookalike": 0.2}
_VIEW_STAY = 0.6
_LOOKALIKE = {"answer phone": "text", "text": "answer phone", "drink": "eat", "eat": "drink", "smoke": "drink",
              "carry": "pick up", "pick up": "carry", "push object": "carry", "ride": "carry",
              "read": "computer", "computer": "read", "watch tv": "computer", "point": "answer phone"}
CUT_RATE = 0.3          # share of AVA videos with a camera cut to a second scene (a shot change)
_GESTURE = {"answer phone": "to_ear", "carry": "hold", "drink": "to_mouth", "eat": "to_mouth",
            "smoke": "to_mouth", "text": "look_down", "read": "look_down", "computer": "look_down",
            "point": "reach", "push object": "push", "pick up": "pick_up", "watch tv": "none"}
_OBJECTS_BY_MOVE = {
    "walk": ("carry", "answer phone", "drink", "smoke", "text", "eat"),
    "run": ("carry",),
    "stand": ("carry", "answer phone", "drink", "smoke", "text", "eat", "point", "push object",
              "pick up", "watch tv", "read"),
    "sit": ("read", "computer", "text", "drink", "eat", "answer phone", "watch tv", "smoke"),
    "bend": ("carry", "pick up"),
}
_SINGLE_MOVES = {"walk": .22, "run": .07, "stand": .2, "sit": .12, "bend": .05, "crouch": .05, "jump": .04,
                 "dance": .06, "martial art": .06, "fall down": .05, "ride": .08}
_PAIR_KINDS = {"talk": .3, "hug": .1, "shake": .1, "fight": .1, "push": .1, "give": .1, "lift": .05,
               "none": .15}
_PAIR_DISTANCE = {"talk": 1.3, "hug": 0.35, "shake": 0.8, "fight": 0.9, "push": 0.75, "give": 0.9,
                  "lift": 0.35, "none": 1.2}


@dataclass(frozen=True)
class Size:
    """How much to generate per split (videos, seconds per video, people per video)."""

    train_videos: int
    val_videos: int
    kinetics_videos: int
    seconds: tuple[int, int]        # AVA clip length range (inclusive)
    kinetics_seconds: int
    max_people: int


SIZES = {"demo": Size(64, 28, 30, (10, 14), 8, 5), "tiny": Size(2, 2, 1, (6, 7), 4, 3)}
VIDEOS = {"demo": 3, "tiny": 1}     # val clips (the first ones) that get a rendered video (lartcore.demodata.footage)


# ---- scene script: who does what in each segment ------------------------------------------------------

@dataclass(frozen=True)
class Plan:
    """What one person does during one segment."""

    move: str                            # movement program: a MOVEMENT name or "ride"
    overlay: str = "none"                # upper-body gesture (motion.overlay)
    objects: tuple[str, ...] = ()        # OBJECT names
    interactions: tuple[str, ...] = ()   # INTERACTION names
    partner: int = -1                    # the person the interactions are with


def _choice(rng: np.random.Generator, weights: dict[str, float]) -> str:
    names = list(weights)
    p = np.array([weights[k] for k in names])
    return names[rng.choice(len(names), p=p / p.sum())]


def _segments(rng: np.random.Generator, T: int) -> list[tuple[int, int]]:
    """Split T frames into segments of 2-5 s (the last one at least 1 s)."""
    edges = [0]
    while edges[-1] < T:
        edges.append(edges[-1] + int(rng.uniform(2.0, 5.0) * FPS))
    edges[-1] = T
    if len(edges) > 2 and edges[-1] - edges[-2] < FPS:
        edges.pop(-2)
    return list(itertools.pairwise(edges))


def _objects(rng: np.random.Generator, allowed: tuple[str, ...]) -> tuple[str, ...]:
    k = min(len(allowed), rng.choice(4, p=[.35, .4, .2, .05]))
    return tuple(rng.choice(allowed, size=k, replace=False)) if k else ()


def _plan_single(rng: np.random.Generator, prev: Plan | None) -> Plan:
    """A lone person's segment: a movement (fall down -> lie -> get up chain), objects, a gesture."""
    if prev is not None and prev.move in ("fall down", "lie"):
        return Plan("lie" if prev.move == "fall down" and rng.random() < 0.4 else "get up")
    move = _choice(rng, _SINGLE_MOVES)
    if move == "ride":
        return Plan("ride", objects=("ride",))
    objects = _objects(rng, _OBJECTS_BY_MOVE.get(move, ()))
    overlay = "none"
    if objects and rng.random() < (0.8 if objects[0] in ("point", "push object", "pick up", "carry") else 0.5):
        overlay = "embrace" if objects[0] == "carry" and rng.random() < 0.5 else _GESTURE[objects[0]]
    elif move in ("stand", "sit") and rng.random() < 0.3:
        overlay = "gesture"                  # unlabelled: talking looks like this too
    return Plan(move, overlay, objects)


def _plan_pair(rng: np.random.Generator, kind: str, a: int, b: int) -> tuple[Plan, Plan]:
    """Plans of a close pair (a is the active role: talker, pusher, giver, lifter)."""
    move = "sit" if kind in ("talk", "none") and rng.random() < 0.3 else "stand"
    extra = lambda: _objects(rng, ("drink", "smoke", "carry", "answer phone")) if rng.random() < .3 else ()
    roles = {"talk": (("gesture", ("talk",)), ("none", ("listen", "watch") if rng.random() < .5 else ("listen",))),
             "hug": (("embrace", ("hug",)), ("embrace", ("hug",))),
             "shake": (("shake", ("shake",)), ("shake", ("shake",))),
             "fight": (("punch", ("fight",)), ("punch", ("fight",))),
             "push": (("push", ("push",)), ("stumble", ())),
             "give": (("reach", ("give",)), ("reach", ("take",))),
             "lift": (("lift", ("lift",)), ("lifted", ())),
             "none": (("none", ()), ("none", ()))}[kind]
    (oa, ia), (ob, ib) = roles
    pa = Plan(move, oa, ("carry",) if kind == "give" else extra(), ia, b if ia else -1)
    return pa, Plan(move, ob, extra(), ib, a if ib else -1)


def _plan_watch(rng: np.random.Generator, performer: int) -> tuple[Plan, Plan]:
    """A still person watching a performer 2.5-4 m away: (watcher's plan, performer's plan)."""
    perf = _choice(rng, {"dance": .35, "martial art": .25, "jump": .15, "stand": .25})
    overlay = "gesture" if perf == "stand" else "none"
    return (Plan("sit" if rng.random() < .3 else "stand", "none", (), ("watch",), performer),
            Plan(perf, overlay))


def _groups(rng: np.random.Generator, n: int) -> list[tuple[str, ...]]:
    """People 0..n-1 as singles, close pairs and watch pairs: [("single", i) | ("pair"|"watch", i, j)]."""
    out, i = [], 0
    while i < n:
        if i + 1 < n and rng.random() < 0.6:
            out.append(("pair" if rng.random() < 0.75 else "watch", i, i + 1))
            i += 2
        else:
            out.append(("single", i))
            i += 1
    return out


def _script(rng: np.random.Generator, groups: list, segs: list) -> list[list[Plan]]:
    """plans[person][segment] for every group; pair roles are redrawn each segment."""
    n = sum(len(g) - 1 for g in groups)
    plans: list[list[Plan]] = [[] for _ in range(n)]
    for group in groups:
        for _ in segs:
            if group[0] == "single":
                i = group[1]
                plans[i].append(_plan_single(rng, plans[i][-1] if plans[i] else None))
                continue
            a, b = group[1:] if rng.random() < 0.5 else group[:0:-1]
            if group[0] == "pair":
                pa, pb = _plan_pair(rng, _choice(rng, _PAIR_KINDS), a, b)
            else:
                a, b = group[1], group[2]       # the watcher keeps its role: positions depend on it
                pa, pb = _plan_watch(rng, b)
            plans[a].append(pa)
            plans[b].append(pb)
    return plans


# ---- motion over the whole video ------------------------------------------------------------------

_BLEND = 6          # frames of cross-fade on each side of a segment boundary
_SPEED = {"walk": (1.0, 1.5), "run": (2.5, 3.5), "ride": (3.0, 4.5)}   # m/s


def _x_limit(z: np.ndarray) -> np.ndarray:
    """Largest |x| (m) that keeps a person at depth z inside the frame."""
    return 0.65 * z - 0.5


def _facing(dx, dz) -> np.ndarray:
    """Yaw that faces the horizontal direction (dx, dz) in camera axes (yaw 0 faces the camera)."""
    return np.arctan2(dx, -dz)


def _smooth(x: np.ndarray, k: int = 9) -> np.ndarray:
    """Moving average along axis 0 with edge padding: (T, ...) -> (T, ...)."""
    pad = np.concatenate([np.repeat(x[:1], k // 2, 0), x, np.repeat(x[-1:], k // 2, 0)])
    c = np.cumsum(np.concatenate([np.zeros_like(x[:1]), pad]), axis=0)
    return (c[k:] - c[:-k]) / k


def _single_path(rng, plans: list[Plan], segs, T: int) -> tuple[np.ndarray, np.ndarray]:
    """A lone person's ground path: xz (T, 2) metres and yaw (T,); walkers bounce off the frame edges."""
    z = rng.uniform(DEPTH_RANGE[0] + 0.5, DEPTH_RANGE[1] - 0.5)
    pos = np.array([rng.uniform(-1, 1) * _x_limit(z), z])
    xz, yaw = np.zeros((T, 2)), np.zeros(T)
    for (s, e), plan in zip(segs, plans, strict=True):
        lo, hi = _SPEED.get(plan.move, (0.0, 0.0))
        speed, head = rng.uniform(lo, hi), rng.uniform(-np.pi, np.pi)
        still_yaw = rng.uniform(-1.2, 1.2)
        for f in range(s, e):
            step = speed / FPS * np.array([np.sin(head), np.cos(head)])
            nxt = pos + step
            if not DEPTH_RANGE[0] <= nxt[1] <= DEPTH_RANGE[1]:
                head, step[1] = np.pi - head, -step[1]
            if abs(nxt[0]) > _x_limit(nxt[1]):
                head, step[0] = -head, -step[0]
            pos = pos + step
            xz[f] = pos
            yaw[f] = _facing(step[0], step[1]) if speed > 0 else still_yaw
    return xz, _smooth(np.unwrap(yaw))


def _pair_path(rng, plans: tuple[list[Plan], list[Plan]], segs, T: int, watch: bool, phase: float):
    """Two people facing each other around a fixed centre; the distance follows the interaction.

    Returns xz (2, T, 2) metres, yaw (2, T). A pushed person recoils 0.3 m at each push."""
    d = np.zeros(T)
    recoil = np.zeros((2, T))
    for k, (s, e) in enumerate(segs):
        names = plans[0][k].interactions + plans[1][k].interactions
        key = next((n for n in _PAIR_DISTANCE if n in names), "give" if "take" in names else "talk"
                   if "listen" in names else "none")
        d[s:e] = rng.uniform(2.5, 4.0) if watch else _PAIR_DISTANCE[key] * rng.uniform(0.9, 1.1)
        for i in range(2):
            if plans[i][k].overlay == "stumble":
                recoil[i, s:e] = 0.3 * motion.push_impact(np.arange(e - s) / FPS + phase)
    d = _smooth(d, 21)
    ang = rng.uniform(-np.pi, np.pi)
    u = np.array([np.sin(ang), np.cos(ang)])
    z = rng.uniform(DEPTH_RANGE[0] + 1.5, DEPTH_RANGE[1] - 1.5)
    centre = np.array([rng.uniform(-0.6, 0.6) * _x_limit(z), z])
    half = (0.5 * d[None] + recoil)[..., None]                             # (2, T, 1)
    xz = np.stack([centre - half[0] * u, centre + half[1] * u])            # (2, T, 2)
    face = _facing(*u)
    yaw = np.stack([np.full(T, face), np.full(T, face + np.pi)])
    if watch:
        yaw[1] = rng.uniform(-1.0, 1.0)
    return xz, yaw


def _plan_controls(plan: Plan, f: np.ndarray, s: int, e: int, phase: float) -> dict[str, np.ndarray]:
    t = (f - s) / FPS
    c = motion.movement_controls(plan.move, t, phase, (e - s) / FPS)
    motion.overlay(plan.overlay, t, phase, c)
    if plan.overlay == "lifted":
        c["lift"] = 0.45 * np.clip((t + phase) % 3.0 / 1.5, 0, 1)   # held up by the lifter
    return c


def _controls(plans: list[Plan], segs, T: int, phase: float) -> dict[str, np.ndarray]:
    """Per-segment control curves cross-faded over `_BLEND` frames at boundaries: {name: (T,)}."""
    acc = {k: np.zeros(T) for k in motion.CONTROLS}
    wsum = np.zeros(T)
    for (s, e), plan in zip(segs, plans, strict=True):
        f = np.arange(max(0, s - _BLEND), min(T, e + _BLEND))
        w = (np.clip((f - (s - _BLEND)) / (2 * _BLEND), 0, 1)
             * np.clip(((e + _BLEND) - f) / (2 * _BLEND), 0, 1))
        w = np.where((f < _BLEND) & (s == 0) | (f >= T - _BLEND) & (e == T), 1.0, w)
        for k, v in _plan_controls(plan, f, s, e, phase).items():
            acc[k][f] += w * v
        wsum[f] += w
    return {k: v / wsum for k, v in acc.items()}


def _labels(plans: list[Plan], segs, T: int) -> np.ndarray:
    """Multi-hot (T, 80) uint8; falling/getting up last 1.3 s of their segment, then lie/stand."""
    y = np.zeros((T, NUM_CLASSES), np.uint8)
    for (s, e), plan in zip(segs, plans, strict=True):
        move = {"ride": "sit"}.get(plan.move, plan.move)
        y[s:e, MOVEMENT[move] - 1] = 1
        if move in ("fall down", "get up"):
            cut = min(e, s + int(1.3 * FPS))
            y[cut:e, MOVEMENT[move] - 1] = 0
            y[cut:e, MOVEMENT["lie" if move == "fall down" else "stand"] - 1] = 1
        for name in plan.objects:
            y[s:e, OBJECT[name] - 1] = 1
        for name in plan.interactions:
            y[s:e, INTERACTION[name] - 1] = 1
    return y


@dataclass
class Person:
    """One simulated person over a whole video (T frames); the ground truth the tracks are made from."""

    labels: np.ndarray       # (T, 80) uint8 multi-hot
    partner: np.ndarray      # (T,) int, interaction partner or -1
    xz: np.ndarray           # (T, 2) ground position (x right, z depth), metres
    pose_shape: np.ndarray   # (T, 229) as a tracker would estimate it (small noise)
    joints: np.ndarray       # (T, 45, 3) model-space joints of that pose
    camera: np.ndarray       # (T, 3) PHALP camera translation
    box: np.ndarray          # (T, 4) [x0, y0, w, h] px: projected joints' extent + margin
    present: np.ndarray      # (T,) bool in view (annotated)
    detected: np.ndarray     # (T,) bool


def metric_position(points: np.ndarray, camera: np.ndarray) -> np.ndarray:
    """True metric camera-frame position of model-space points (..., 3) + camera (..., 3): undoes the
    depth scaling of PHALP's long focal length (z = points_z + tz / DEPTH_SCALE)."""
    out = points + camera
    out[..., 2] = points[..., 2] + camera[..., 2] / DEPTH_SCALE
    return out


def _render(rng, ctrl: dict, xz: np.ndarray, yaw: np.ndarray) -> dict[str, np.ndarray]:
    """Controls + path -> noisy tracker-like pose_shape (T, 229), joints (T, 45, 3), camera, box."""
    T = len(yaw)
    go = motion.global_orient(yaw, ctrl["pitch"]) @ motion.small_rotations(rng, (T,), 0.03)   # (T, 3, 3)
    bp = motion.body_pose(ctrl) @ motion.small_rotations(rng, (T, 23), 0.04)                 # (T, 23, 3, 3)
    joints = joints45(forward_kinematics(go, bp))                                             # (T, 45, 3)
    ty = CAMERA_HEIGHT - joints[:, :44, 1].max(axis=1) - ctrl["lift"]                         # feet on the ground
    depth = xz[:, 1] * (1 + rng.normal(0, 0.01, T))
    camera = np.stack([xz[:, 0], ty, depth * DEPTH_SCALE], axis=1)                            # (T, 3)
    betas = np.broadcast_to(rng.normal(0, 0.5, 10), (T, 10))
    pose_shape = np.concatenate([go.reshape(T, 9), bp.reshape(T, 207), betas,
                                 camera[:, :2], camera[:, 2:] / LOCATION_Z_SCALE], axis=1)
    uv = project(joints[:, :44] + camera[:, None], (H, W))                                 # (T, 44, 2)
    lo, hi = uv.min(axis=1), uv.max(axis=1)
    margin = 0.08 * (hi - lo) + 2.0
    box = np.concatenate([lo - margin, hi - lo + 2 * margin], axis=1)                          # (T, 4)
    return {"pose_shape": pose_shape.astype(np.float32), "joints": joints.astype(np.float32),
            "camera": camera.astype(np.float32), "box": box.astype(np.float32)}


def _visibility(rng, T: int, lone: bool) -> tuple[np.ndarray, np.ndarray]:
    """(present, detected) (T,) bool: lone people may enter late / leave early; random detection gaps."""
    present = np.ones(T, bool)
    if lone and rng.random() < 0.15:
        present[: int(rng.uniform(0.2, 0.5) * T)] = False
    if lone and rng.random() < 0.15:
        present[int(rng.uniform(0.5, 0.8) * T):] = False
    detected = present.copy()
    first, last = np.flatnonzero(present)[[0, -1]]
    for _ in range(rng.poisson(T / FPS / 8)):
        n = int(rng.uniform(0.2, 1.2) * FPS)
        if last - first - n > 2 * FPS:
            g = rng.integers(first + FPS, last - FPS - n)
            detected[g:g + n] = False
    return present, detected


def _simulate(rng, T: int, n: int) -> list[Person]:
    """A scene of n people over T frames."""
    segs = _segments(rng, T)
    groups = _groups(rng, n)
    plans = _script(rng, groups, segs)
    paths: dict[int, tuple] = {}
    phase = {}
    for g in groups:
        ph = rng.uniform(0, 3)
        if g[0] == "single":
            paths[g[1]] = _single_path(rng, plans[g[1]], segs, T)
            phase[g[1]] = ph
        else:
            xz, yaw = _pair_path(rng, (plans[g[1]], plans[g[2]]), segs, T, g[0] == "watch", ph)
            paths[g[1]], paths[g[2]] = (xz[0], yaw[0]), (xz[1], yaw[1])
            phase[g[1]] = phase[g[2]] = ph
    lone = {g[1] for g in groups if g[0] == "single"}
    people = []
    for i in range(n):
        xz, yaw = paths[i]
        r = _render(rng, _controls(plans[i], segs, T, phase[i]), xz, yaw)
        present, detected = _visibility(rng, T, i in lone)
        partner = np.full(T, -1)
        for (s, e), p in zip(segs, plans[i], strict=True):
            partner[s:e] = p.partner if p.interactions else -1
        people.append(Person(_labels(plans[i], segs, T), partner, xz, r["pose_shape"], r["joints"],
                             r["camera"], r["box"], present, detected))
    return people


# ---- tracks, appearance, labels -----------------------------------------------------------------------

def _class_vector(table: dict[int, float]) -> np.ndarray:
    v = np.zeros(NUM_CLASSES)
    for c, x in table.items():
        v[c - 1] = x
    return v


_AMP = _class_vector(_APPEARANCE_AMP)                                                       # (80,)
_LOOKALIKE_MAP = np.eye(NUM_CLASSES)          # (80, 80): row c = the classes the evidence of class c reads as
_LOOKALIKE_MAP[[OBJECT[a] - 1 for a in _LOOKALIKE]] = np.eye(NUM_CLASSES)[[OBJECT[b] - 1 for b in _LOOKALIKE.values()]]
_TEACHER_GAIN = _class_vector({**{c: 2.0 for c in MOVEMENT.values()}, **{c: 2.5 for c in OBJECT.values()},
                               **{c: 1.2 for c in INTERACTION.values()}})                    # (80,)


@dataclass(frozen=True)
class Split:
    """How one split is generated."""

    name: str               # folder name (STORE_SPLITS)
    dataset: str            # file-name prefix
    tag: str                # video ids demo_<tag>_NNN
    ground_truth: bool      # 1 Hz GT keyframes (AVA) or pseudo labels only (Kinetics)
    teacher_noise: float    # logit noise of the pseudo labels
    teacher_gain: float     # scale of the teacher's confidence


SPLITS = (Split("ava_train", "ava-train", "tr", True, 1.0, 1.0), Split("ava_val", "ava-val", "va", True, 1.0, 1.0),
          Split("kinetics_train", "kinetics-train", "ki", False, 1.5, 0.7))


def _teacher(rng, y: np.ndarray, split: Split) -> np.ndarray:
    """Teacher-like pseudo label probabilities from true labels y (K, 80) -> (K, 80) float32."""
    gain = split.teacher_gain * _TEACHER_GAIN
    logit = np.where(gain > 0, gain * (2.0 * y - 1) - 0.5, -3.5) + rng.normal(0, split.teacher_noise, y.shape)
    return (1 / (1 + np.exp(-logit))).astype(np.float32)


def _views(u: np.ndarray) -> np.ndarray:
    """The view of each of K chunks, (K,) index into _VIEWS, from K uniforms u (one per chunk: the chain
    keeps the last view if u < _VIEW_STAY, else u, rescaled, picks a view by the _VIEWS shares)."""
    cum = np.cumsum(list(_VIEWS.values()))
    fresh = np.concatenate([u[:1], (u[1:] - _VIEW_STAY) / (1 - _VIEW_STAY)])
    pick = np.minimum(np.searchsorted(cum, fresh, side="right"), len(cum) - 1)
    view = pick.copy()
    for k in range(1, len(u)):
        if u[k] < _VIEW_STAY:
            view[k] = view[k - 1]
    return view


def _appearance(rng, y: np.ndarray, protos: np.ndarray, base: np.ndarray) -> np.ndarray:
    """Features (K, D) of chunks with labels y (K, 80): scene/person base + class prototypes as the chunk's
    view shows them (`_views`: clear, occluded = none, look-alike = objects read as their look-alikes) +
    per-chunk class confusion (random weights on every prototype: it lies in the class subspace, so only
    averaging over the track removes it) + small isotropic noise."""
    view = _views(rng.random(len(y)))[:, None]                                               # (K, 1)
    evidence = y * _AMP                                                                      # (K, 80)
    clear, lookalike = list(_VIEWS).index("clear"), list(_VIEWS).index("lookalike")
    evidence = np.where(view == clear, evidence, np.where(view == lookalike, evidence @ _LOOKALIKE_MAP, 0.0))
    weights = evidence + rng.normal(0, _CONFUSION, y.shape)                                  # (K, 80)
    noise = rng.normal(0, _NOISE, (len(y), protos.shape[1]))                                # (K, D)
    return (_FEATURE_SCALE * (base + weights @ protos + noise)).astype(np.float32)


def _camera_bbox(camera: np.ndarray, box: np.ndarray) -> np.ndarray:
    """Weak-perspective (s, tx, ty) w.r.t. the square box crop (inverse of PHALP's crop-to-full)."""
    b = np.maximum(box[:, 2], box[:, 3])
    s = 2 * FOCAL / (b * np.maximum(camera[:, 2], 1e-6))
    centre = box[:, :2] + box[:, 2:] / 2 - np.array([W / 2, H / 2])
    return np.concatenate([s[:, None], camera[:, :2] - 2 * centre / (b * s)[:, None]], axis=1)


def _spans(rng, det: np.ndarray, lone: bool) -> list[tuple[int, int]]:
    """Track spans (first..last detection); a lone person's track may break at its longest gap."""
    idx = np.flatnonzero(det)
    first, last = idx[0], idx[-1] + 1
    jumps = np.flatnonzero(np.diff(idx) > 1)
    if not lone or len(jumps) == 0 or rng.random() >= 0.3:
        return [(first, last)]
    j = jumps[np.argmax(np.diff(idx)[jumps])]
    return [(first, idx[j] + 1), (idx[j + 1], last)]


def _track(rng, person: Person, span, ident: dict, split: Split, gt_frames: np.ndarray,
           protos: np.ndarray, base: np.ndarray) -> Track:
    """One track of `person` over frames span = [a, b)."""
    a, b = span
    T = b - a
    det = person.detected[a:b]
    mask = lambda x: np.where(det.reshape(-1, *[1] * (x.ndim - 1)), x, 0).astype(np.float32)
    wh = np.tile(person.box[a:b, 2:], 2)
    raw_box = person.box[a:b] + rng.normal(0, 0.02, (T, 4)) * wh                          # detector jitter
    box = mask(raw_box)
    chunk_frames = a + np.minimum(np.arange(0, T, CHUNK) + CHUNK // 2, T - 1)             # (K,)
    y = person.labels[chunk_frames].astype(np.float64)                                    # (K, 80)
    pseudo = _teacher(rng, y, split)
    index = np.where(det, np.arange(T) // CHUNK, -1)
    has_gt = np.where(det, PSEUDO_LABEL, 0).astype(np.int8)
    labels = np.where(det[:, None], pseudo[np.maximum(index, 0)], 0)
    gt = np.isin(np.arange(a, b), gt_frames)
    has_gt[gt] = GT_LABEL
    labels[gt] = person.labels[a:b][gt]
    conf = np.where(rng.random(T) < 0.9, rng.uniform(0.8, 1.0, T), rng.uniform(0.5, 0.8, T))
    return Track(dataset=split.dataset, video=ident["video"], track_id=ident["track_id"],
                 keyframe=ident["keyframe"], frame=np.arange(a, b, dtype=np.int64),
                 pose_shape=mask(person.pose_shape[a:b]), joints_3d=mask(person.joints[a:b]),
                 camera=mask(person.camera[a:b]), camera_bbox=mask(_camera_bbox(person.camera[a:b], raw_box)),
                 box=box, frame_size=np.tile(np.array([H, W], np.int32), (T, 1)),
                 conf=mask(conf), has_detection=det.copy(), has_gt=has_gt, labels=labels.astype(np.float32),
                 appearance_index=index.astype(np.int64), appearance=_appearance(rng, y, protos, base))


@dataclass
class Video:
    """One generated video: its people (ground truth), tracks and AVA rows."""

    video: str
    people: list[Person]
    tracks: list[Track]
    track_person: list[int]      # person index of each track
    gt: list[tuple]              # GT rows (GT_COLUMNS)
    boxes: list[tuple]           # detected person boxes at keyframes (video, ts, x1, y1, x2, y2, score)
    excluded: list[tuple]        # (video, ts)
    shot_changes: list[int]      # first frame of each shot after the first (a camera cut)


def _norm_box(box: np.ndarray) -> tuple[float, ...]:
    """[x0, y0, w, h] px -> (x1, y1, x2, y2) normalised and clipped to [0, 1], rounded to 3 decimals."""
    x1, y1 = box[0] / W, box[1] / H
    x2, y2 = (box[0] + box[2]) / W, (box[1] + box[3]) / H
    return tuple(round(float(np.clip(v, 0, 1)), 3) for v in (x1, y1, x2, y2))


def _gt_rows(video: str, people: list[Person], seconds: np.ndarray) -> list[tuple]:
    rows = []
    for ts in seconds:
        f = (ts - FIRST_SECOND) * FPS
        for pid, p in enumerate(people):
            if p.present[f]:
                box = _norm_box(p.box[f])
                rows += [(video, int(ts), *box, int(c) + 1, pid) for c in np.flatnonzero(p.labels[f])]
    return rows


def _box_rows(rng, video: str, tracks: list[Track], seconds: np.ndarray) -> list[tuple]:
    """Detections at keyframes: the tracks' boxes (5% missed) + a few false positives."""
    rows = []
    for ts in seconds:
        f = (ts - FIRST_SECOND) * FPS
        for t in tracks:
            i = f - t.frame[0]
            if 0 <= i < len(t) and t.has_detection[i] and rng.random() >= 0.05:
                rows.append((video, int(ts), *_norm_box(t.box[i]), round(float(t.conf[i]), 3)))
        if rng.random() < 0.05:
            x, y = rng.uniform(0, 0.8), rng.uniform(0, 0.5)
            rows.append((video, int(ts), round(x, 3), round(y, 3), round(x + rng.uniform(0.05, 0.2), 3),
                         round(y + rng.uniform(0.2, 0.5), 3), round(float(rng.uniform(0.3, 0.9)), 3)))
    return rows


def _cut_frame(rng, secs: int) -> int | None:
    """The frame of a camera cut (mid-second, >= 2.5 s from either end) in CUT_RATE of the videos, else None."""
    if rng.random() >= CUT_RATE:
        return None
    return int(rng.integers(2, secs - 2)) * FPS + FPS // 2


def _until(p: Person, stop: int) -> Person:
    """p as seen in the shot that ends at frame `stop`: absent (unlabelled, undetected) from then on."""
    off = np.arange(len(p.present)) >= stop
    return replace(p, labels=np.where(off[:, None], 0, p.labels), partner=np.where(off, -1, p.partner),
                   present=p.present & ~off, detected=p.detected & ~off)


def _from(p: Person, start: int, offset: int) -> Person:
    """p (simulated over the frames of a shot starting at `start`) placed in the whole video; absent before.
    `offset` shifts partner indices (the people of earlier shots come first)."""
    pad = lambda x, v: np.concatenate([np.full((start, *x.shape[1:]), v, x.dtype), x])
    edge = lambda x: np.concatenate([np.repeat(x[:1], start, axis=0), x])
    return Person(pad(p.labels, 0), pad(np.where(p.partner >= 0, p.partner + offset, -1), -1), edge(p.xz),
                  edge(p.pose_shape), edge(p.joints), edge(p.camera), edge(p.box), pad(p.present, False),
                  pad(p.detected, False))


def _video(seed: int, split: Split, k: int, size: Size, protos: np.ndarray) -> Video:
    """Generate video k of `split` from its own random stream (order-independent, deterministic). A cut
    to a second scene (new people, new place) comes from a stream of its own, so videos without one are
    unchanged by it."""
    rng = np.random.default_rng([seed, STORE_SPLITS.index(split.name), k])
    cut_rng = np.random.default_rng([seed, STORE_SPLITS.index(split.name), k, 1])
    secs = rng.integers(size.seconds[0], size.seconds[1] + 1) if split.ground_truth else size.kinetics_seconds
    T = int(secs * FPS)
    n = 1 + int(rng.choice(size.max_people, p=_people_weights(size.max_people)))
    people = _simulate(rng, T, n)
    cut = _cut_frame(cut_rng, int(secs)) if split.ground_truth else None
    shot_of = [0] * n
    if cut is not None:
        m = 1 + int(cut_rng.choice(size.max_people, p=_people_weights(size.max_people)))
        later = _simulate(cut_rng, T - cut, m)
        people = [_until(p, cut) for p in people] + [_from(p, cut, n) for p in later]
        shot_of += [1] * len(later)
    video = f"demo_{split.tag}_{k:03d}"
    seconds = np.arange(FIRST_SECOND + 2, FIRST_SECOND + secs - 1) if split.ground_truth else np.array([], int)
    starts = [0] if cut is None else [0, cut]
    keyframes = []            # per shot: its middle GT keyframe (the clip key groups one shot's tracks), as
    for a, b in zip(starts, [*starts[1:], T], strict=True):   # the file name's KEY_FRAME: its image number
        inside = seconds[((seconds - FIRST_SECOND) * FPS >= a) & ((seconds - FIRST_SECOND) * FPS < b)]
        frame = int((inside[len(inside) // 2] - FIRST_SECOND) * FPS) if len(inside) else (a + b) // 2
        keyframes.append(release_frame_number(frame))
    scenes = [rng.normal(0, 1.5 / np.sqrt(APPEARANCE_DIM), APPEARANCE_DIM)]
    if cut is not None:
        scenes.append(cut_rng.normal(0, 1.5 / np.sqrt(APPEARANCE_DIM), APPEARANCE_DIM))
    tracks, owner = [], []
    for pid, p in enumerate(people):
        lone = bool((p.partner < 0).all()) and not any((q.partner == pid).any() for q in people)
        base = scenes[shot_of[pid]] + rng.normal(0, 0.7 / np.sqrt(APPEARANCE_DIM), APPEARANCE_DIM)
        if not p.detected.any():  # only in view after the cut ended its shot
            continue
        for span in _spans(rng, p.detected, lone):
            ident = {"video": video, "track_id": len(tracks) + 1, "keyframe": keyframes[shot_of[pid]]}
            gt_frames = (seconds - FIRST_SECOND) * FPS
            tracks.append(_track(rng, p, span, ident, split, gt_frames, protos, base))
            owner.append(pid)
    excluded = [(video, int(ts)) for ts in seconds if split.name == "ava_val" and rng.random() < 0.02]
    boxes = _box_rows(rng, video, tracks, seconds) if split.name == "ava_val" else []
    return Video(video, people, tracks, owner, _gt_rows(video, people, seconds), boxes, excluded,
                 [] if cut is None else [cut])


def _people_weights(max_people: int) -> np.ndarray:
    w = np.array([.15, .3, .25, .2, .1, .05])[:max_people]
    return w / w.sum()


def prototypes(seed: int) -> np.ndarray:
    """Fixed random unit-norm appearance prototype per class, each on PROTOTYPE_DIMS random feature
    dimensions (sparse, like ReLU features; dense random directions in 1152-d would need far more
    training data than the demo has to be found): (80, D)."""
    rng = np.random.default_rng([seed, 1000])
    protos = np.zeros((NUM_CLASSES, APPEARANCE_DIM))
    for c in range(NUM_CLASSES):
        dims = rng.choice(APPEARANCE_DIM, PROTOTYPE_DIMS, replace=False)
        protos[c, dims] = rng.choice([-1.0, 1.0], PROTOTYPE_DIMS) * rng.uniform(0.5, 1.5, PROTOTYPE_DIMS)
    return protos / np.linalg.norm(protos, axis=1, keepdims=True)


def generate(split: Split, size: Size, seed: int) -> list[Video]:
    """All videos of one split, in memory."""
    protos = prototypes(seed)
    n = {"ava_train": size.train_videos, "ava_val": size.val_videos,
         "kinetics_train": size.kinetics_videos}[split.name]
    return [_video(seed, split, k, size, protos) for k in tqdm(range(n), desc=f"simulate {split.name}",
                                                               disable=None, leave=False)]


# ---- writing the demo folder ------------------------------------------------------------------------

_OUTPUTS = ("ava", "tracks", "store", "videos", "manifest.json", "BUILD_COMPLETE")   # everything build_demo writes


def _params(size: str, seed: int) -> dict:
    return {"version": VERSION, "size": size, "seed": seed, **asdict(SIZES[size]), "videos": VIDEOS[size],
            "frame_size_hw": [H, W], "fps": FPS, "appearance_dim": APPEARANCE_DIM, "appearance_chunk": CHUNK}


def _write_ava(data: DataRoot, videos: dict[str, list[Video]]) -> dict[str, int]:
    """AVA-format CSVs and label maps (both the 80-class list and the 60 evaluated); returns row counts."""
    data.labelmap().parent.mkdir(parents=True, exist_ok=True)
    for src in (ava.LABELMAP_80, ava.LABELMAP_60):
        shutil.copyfile(src, data.labelmap().parent / src.name)
    counts = {}
    for split in ("ava_train", "ava_val"):
        rows = [r for v in videos[split] for r in v.gt]
        ava.write_gt(pd.DataFrame(rows, columns=ava.GT_COLUMNS), data.gt(split))
        counts[f"{split}_gt_rows"] = len(rows)
    boxes = [r for v in videos["ava_val"] for r in v.boxes]
    ava.write_person_boxes(pd.DataFrame(boxes, columns=ava.PERSON_BOX_COLUMNS), data.boxes("ava_val"))
    excluded = [r for v in videos["ava_val"] for r in v.excluded]
    ava.write_keyframes(pd.DataFrame(excluded, columns=ava.KEYFRAME_COLUMNS), data.exclusions("ava_val"))
    counts.update(ava_val_boxes=len(boxes), ava_val_excluded=len(excluded))
    return counts


def _write_tracks(data: DataRoot, split: Split, videos: list[Video]) -> dict[str, int]:
    """Release pickles (+ their shots.csv) and the packed store of one split; returns counts."""
    tracks = [t for v in videos for t in v.tracks]
    name = split.name
    for t in tqdm(tracks, desc=f"write {name}", disable=None, leave=False):
        write_release_track(t, data.tracks(name))
    cuts = shots.shots_frame((split.dataset, v.video, f) for v in videos for f in v.shot_changes)
    data.tracks(name).mkdir(parents=True, exist_ok=True)
    shots.write_shots(cuts, data.shots(name))
    write_store(tracks, data.store(name), shot_changes=cuts)
    return {f"{name}_videos": len(videos), f"{name}_tracks": len(tracks),
            f"{name}_frames": int(sum(len(t) for t in tracks)),
            f"{name}_detections": int(sum(t.has_detection.sum() for t in tracks)),
            f"{name}_shot_changes": len(cuts)}


def is_built(root: str | Path, size: str = "demo", seed: int = 0) -> bool:
    """True when `root` holds a complete build with these parameters."""
    marker = Path(root) / "BUILD_COMPLETE"
    return marker.is_file() and marker.read_text() == json.dumps(_params(size, seed), sort_keys=True)


def build_demo(root: str | Path, size: str = "demo", seed: int = 0, force: bool = False) -> Path:
    """Build the demo dataset into `root` (layout in the module docstring); idempotent.

    Returns at once when BUILD_COMPLETE matches (size, seed, version); otherwise (or with `force`) the
    outputs of any earlier or partial build are removed and everything is regenerated."""
    root = Path(root)
    if size not in SIZES:
        raise ValueError(f"build_demo: unknown size '{size}', expected one of {sorted(SIZES)}")
    if not force and is_built(root, size, seed):
        return root
    for name in _OUTPUTS:
        path = root / name
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()
    videos = {split.name: generate(split, SIZES[size], seed) for split in SPLITS}
    counts = _write_ava(DataRoot(root), videos)
    for split in SPLITS:
        counts.update(_write_tracks(DataRoot(root), split, videos[split.name]))
    footage.write_videos(DataRoot(root), videos["ava_val"][:VIDEOS[size]],
                            footage.Camera((H, W), FOCAL_TRUE, CAMERA_HEIGHT, DEPTH_SCALE), seed)
    params = _params(size, seed)
    manifest = {"name": "LART Studio synthetic demo dataset (not AVA data)", "params": params,
                "classes": list(CLASS_IDS), "counts": counts, "splits": list(STORE_SPLITS)}
    atomic_write_text(root / "manifest.json", json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    atomic_write_text(root / "BUILD_COMPLETE", json.dumps(params, sort_keys=True))
    return root
