"""Procedural SMPL animation: named joint-angle curves ("controls") -> SMPL rotation matrices.

A motion is a dict of controls, each a (T,) array of radians (or metres for `lift`), built per action by
the `*_controls` functions below and blended at segment boundaries by the caller. `body_pose(controls)`
turns them into SMPL `body_pose` (T, 23, 3, 3); `global_orient(yaw, pitch)` gives the root rotation in
PHALP's camera axes (an upright person facing the camera is a 180 deg rotation about x).

Axis conventions (SMPL model space: +y up, +x the subject's left, the subject faces +z):
    hip_*    thigh forward (flexion) > 0          knee_*   shin backward (flexion) > 0
    spine    torso bends forward > 0              neck     head bends down > 0
    raise_*  upper arm raised from hanging (0) to horizontal sideways (pi/2)
    fwd_*    hanging upper arm swung forward > 0 (pi/2 = pointing forward)
    in_*     the swung arm turned horizontally toward the body's midline > 0
    elbow_*  forearm flexion > 0 (pi/2 = forearm horizontal when the upper arm hangs)
    pitch    whole body tipped backwards > 0 (pi/2 = lying on the back); twist = pelvis yaw wobble
"""
from __future__ import annotations

import numpy as np

CONTROLS = ("hip_l", "hip_r", "knee_l", "knee_r", "spine", "neck", "raise_l", "raise_r", "fwd_l", "fwd_r",
            "in_l", "in_r", "elbow_l", "elbow_r", "pitch", "twist", "lift")

# SMPL joint -> row of body_pose (joint index - 1)
_L_HIP, _R_HIP, _SPINE1, _L_KNEE, _R_KNEE, _SPINE2, _SPINE3, _NECK = 0, 1, 2, 3, 4, 5, 8, 11
_L_SHOULDER, _R_SHOULDER, _L_ELBOW, _R_ELBOW = 15, 16, 17, 18


def axis_angle(axis: str, angle) -> np.ndarray:
    """Rotation matrices about a coordinate axis: 'x'|'y'|'z', angle (...,) radians -> (..., 3, 3)."""
    a = np.asarray(angle, dtype=np.float64)
    c, s = np.cos(a), np.sin(a)
    o, z = np.ones_like(a), np.zeros_like(a)
    rows = {"x": ((o, z, z), (z, c, -s), (z, s, c)),
            "y": ((c, z, s), (z, o, z), (-s, z, c)),
            "z": ((c, -s, z), (s, c, z), (z, z, o))}[axis]
    return np.stack([np.stack(r, axis=-1) for r in rows], axis=-2)


def small_rotations(rng: np.random.Generator, shape: tuple, sigma: float) -> np.ndarray:
    """Random rotations with axis-angle ~ N(0, sigma^2) per component (Rodrigues): shape -> shape + (3, 3)."""
    v = rng.normal(0.0, sigma, shape + (3,))
    theta = np.linalg.norm(v, axis=-1)[..., None, None]
    k = np.zeros(shape + (3, 3))
    k[..., 0, 1], k[..., 0, 2], k[..., 1, 2] = -v[..., 2], v[..., 1], -v[..., 0]
    k = k - np.swapaxes(k, -1, -2)
    th = np.maximum(theta, 1e-12)
    return np.eye(3) + np.sin(th) / th * k + (1 - np.cos(th)) / th ** 2 * (k @ k)


def zeros(T: int) -> dict[str, np.ndarray]:
    """The rest of a standing person with arms hanging: every control (T,)."""
    return {name: np.zeros(T) for name in CONTROLS}


def _arm(raise_, fwd, inward, elbow, side: float) -> tuple[np.ndarray, np.ndarray]:
    """Shoulder and elbow rotations of one arm (side +1 left, -1 right): (T,) -> (T,3,3) x 2."""
    hang = axis_angle("z", side * (raise_ - np.pi / 2))          # T-pose arm lowered to the side
    shoulder = axis_angle("y", -side * inward) @ axis_angle("x", -fwd) @ hang
    return shoulder, axis_angle("y", -side * elbow)


def body_pose(c: dict[str, np.ndarray]) -> np.ndarray:
    """Controls (T,) each -> SMPL body_pose (T, 23, 3, 3)."""
    T = len(c["spine"])
    pose = np.broadcast_to(np.eye(3), (T, 23, 3, 3)).copy()
    pose[:, _L_HIP] = axis_angle("x", -c["hip_l"])
    pose[:, _R_HIP] = axis_angle("x", -c["hip_r"])
    pose[:, _L_KNEE] = axis_angle("x", c["knee_l"])
    pose[:, _R_KNEE] = axis_angle("x", c["knee_r"])
    spine = axis_angle("x", c["spine"] / 3) @ axis_angle("y", c["twist"] / 3)
    pose[:, _SPINE1] = pose[:, _SPINE2] = pose[:, _SPINE3] = spine
    pose[:, _NECK] = axis_angle("x", c["neck"])
    pose[:, _L_SHOULDER], pose[:, _L_ELBOW] = _arm(c["raise_l"], c["fwd_l"], c["in_l"], c["elbow_l"], 1.0)
    pose[:, _R_SHOULDER], pose[:, _R_ELBOW] = _arm(c["raise_r"], c["fwd_r"], c["in_r"], c["elbow_r"], -1.0)
    return pose


def global_orient(yaw, pitch) -> np.ndarray:
    """Root rotation in PHALP camera axes: (T,) yaw (0 = facing the camera), (T,) pitch -> (T, 3, 3)."""
    return axis_angle("x", np.pi) @ axis_angle("y", yaw) @ axis_angle("x", -pitch)


# ---- per-action control curves. t: (T,) seconds from the segment start; p: per-person phase/tempo -------

def _gait(t, c, freq: float, hip: float, knee: float, arm: float, elbow: float):
    w = 2 * np.pi * freq * t
    c["hip_l"], c["hip_r"] = hip * np.sin(w), hip * np.sin(w + np.pi)
    c["knee_l"] = knee * np.maximum(0, np.sin(w + 1.2)) + 0.1
    c["knee_r"] = knee * np.maximum(0, np.sin(w + np.pi + 1.2)) + 0.1
    c["fwd_l"], c["fwd_r"] = -arm * np.sin(w), -arm * np.sin(w + np.pi)
    c["elbow_l"] = c["elbow_r"] = np.full_like(t, elbow)
    c["raise_l"] = c["raise_r"] = np.full_like(t, 0.1)


def movement_controls(name: str, t: np.ndarray, phase: float, dur: float) -> dict[str, np.ndarray]:
    """Whole-body controls of a movement class over a segment of `dur` seconds."""
    c = zeros(len(t))
    tt = t + phase
    if name in ("stand", "ride"):
        c["twist"] = 0.05 * np.sin(2 * np.pi * 0.2 * tt)
        c["raise_l"] = c["raise_r"] = np.full_like(t, 0.1)
        c["elbow_l"] = c["elbow_r"] = np.full_like(t, 0.15)
    elif name == "walk":
        _gait(tt, c, 0.9, 0.45, 0.7, 0.35, 0.25)
    elif name == "run":
        _gait(tt, c, 1.4, 0.8, 1.4, 0.7, 1.5)
        c["spine"] = np.full_like(t, 0.25)
    elif name == "sit":
        c["hip_l"] = c["hip_r"] = np.full_like(t, 1.55)
        c["knee_l"] = c["knee_r"] = np.full_like(t, 1.55)
        c["elbow_l"] = c["elbow_r"] = np.full_like(t, 0.5)
    elif name == "bend":
        c["spine"] = 1.1 + 0.15 * np.sin(2 * np.pi * 0.3 * tt)
        c["hip_l"] = c["hip_r"] = np.full_like(t, 0.3)
        c["fwd_l"] = c["fwd_r"] = np.full_like(t, 0.3)
    elif name == "crouch":
        c["hip_l"] = c["hip_r"] = np.full_like(t, 1.9)
        c["knee_l"] = c["knee_r"] = np.full_like(t, 2.3)
        c["spine"] = np.full_like(t, 0.35)
        c["fwd_l"] = c["fwd_r"] = np.full_like(t, 0.6)
    elif name == "jump":
        _jump(tt, c)
    elif name == "dance":
        _dance(tt, c)
    elif name == "martial art":
        punches(tt, c)
    elif name in ("lie", "fall down", "get up"):
        _floor(name, t, c, dur)
    else:
        raise ValueError(f"motion: unknown movement '{name}'")
    if name == "ride":
        c["hip_l"] = c["hip_r"] = np.full_like(t, 1.3)
        c["knee_l"] = c["knee_r"] = np.full_like(t, 1.2)
        c["fwd_l"] = c["fwd_r"] = np.full_like(t, 1.0)
        c["spine"] = np.full_like(t, 0.3)
    return c


def _jump(tt, c):
    """Repeated jumps at 0.8 Hz: crouch, take off, flight (`lift` metres), land."""
    ph = (tt * 0.8) % 1.0
    squat = np.where(ph < 0.3, np.sin(ph / 0.3 * np.pi), 0.0)
    c["hip_l"] = c["hip_r"] = 0.9 * squat + 0.1
    c["knee_l"] = c["knee_r"] = 1.6 * squat + 0.1
    c["lift"] = np.where(ph >= 0.3, 0.35 * np.sin((ph - 0.3) / 0.7 * np.pi), 0.0)
    c["raise_l"] = c["raise_r"] = 0.3 + 2.0 * np.where(ph >= 0.3, np.sin((ph - 0.3) / 0.7 * np.pi), 0)


def _dance(tt, c):
    w = 2 * np.pi * 1.0 * tt
    c["raise_l"] = 1.8 + 0.6 * np.sin(w)
    c["raise_r"] = 1.8 + 0.6 * np.sin(w + np.pi)
    c["elbow_l"] = c["elbow_r"] = 0.8 + 0.5 * np.sin(2 * w)
    c["twist"] = 0.5 * np.sin(w)
    c["hip_l"] = 0.3 * np.maximum(0, np.sin(w))
    c["hip_r"] = 0.3 * np.maximum(0, -np.sin(w))
    c["knee_l"], c["knee_r"] = 2 * c["hip_l"], 2 * c["hip_r"]


def punches(tt, c):
    """Boxing: guard stance, alternating straight punches at 1.5 Hz (fight and martial art)."""
    ph = (tt * 1.5) % 2.0
    ext_l = np.where(ph < 1.0, np.sin(np.pi * ph), 0.0) ** 2
    ext_r = np.where(ph >= 1.0, np.sin(np.pi * (ph - 1.0)), 0.0) ** 2
    c["fwd_l"], c["fwd_r"] = 0.9 + 0.6 * ext_l, 0.9 + 0.6 * ext_r
    c["elbow_l"], c["elbow_r"] = 2.2 * (1 - ext_l), 2.2 * (1 - ext_r)
    c["raise_l"] = c["raise_r"] = np.full_like(tt, 0.2)
    c["knee_l"] = c["knee_r"] = np.full_like(tt, 0.35)
    c["hip_l"] = c["hip_r"] = np.full_like(tt, 0.2)
    c["twist"] = 0.3 * (ext_r - ext_l)


def _floor(name: str, t, c, dur: float):
    """Fall down (upright -> lying in 1 s), lie (on the back, knees slightly bent), get up (reverse)."""
    s = np.clip(t / min(1.0, dur), 0, 1)
    down = {"fall down": s, "lie": np.ones_like(t), "get up": 1 - s}[name]
    bend = np.sin(np.pi * down) if name != "lie" else np.zeros_like(t)
    c["pitch"] = (np.pi / 2) * down
    c["hip_l"] = c["hip_r"] = 1.2 * bend + 0.15 * down
    c["knee_l"] = c["knee_r"] = 1.8 * bend + 0.3 * down
    c["raise_l"] = c["raise_r"] = 0.3 + 0.8 * bend


# ---- upper-body overlays (interactions and object manipulation) ----------------------------------------

def push_impact(tt: np.ndarray) -> np.ndarray:
    """0..1 pulse once per 1.6 s, peaking 0.85 s into each cycle: the pushed person's recoil."""
    return np.sin(np.pi * np.clip(((tt % 1.6) - 0.6) / 0.5, 0, 1)) ** 2


def overlay(name: str, t: np.ndarray, phase: float, c: dict[str, np.ndarray]) -> None:
    """Replace the arm/neck controls in `c` by the gesture `name` (in place)."""
    tt = t + phase
    T = len(t)
    full = lambda v: np.full(T, float(v))
    if name == "gesture":          # talking with the hands
        c["fwd_l"], c["fwd_r"] = 0.4 + 0.25 * np.sin(3.1 * tt), 0.5 + 0.3 * np.sin(2.3 * tt + 1)
        c["elbow_l"], c["elbow_r"] = 1.3 + 0.5 * np.sin(4.0 * tt), 1.4 + 0.6 * np.sin(3.3 * tt + 2)
        c["raise_l"], c["raise_r"] = 0.25 + 0.15 * np.sin(2.7 * tt), 0.3 + 0.2 * np.sin(3.7 * tt)
    elif name == "embrace":        # both arms around something at chest height (hug / carry a box)
        c["raise_l"] = c["raise_r"] = full(1.0)
        c["fwd_l"] = c["fwd_r"] = full(0.0)
        c["in_l"] = c["in_r"] = full(1.2)
        c["elbow_l"] = c["elbow_r"] = full(1.2)
    elif name == "shake":          # right hand forward, pumping
        c["fwd_r"], c["elbow_r"] = full(0.7), 0.6 + 0.25 * np.sin(2 * np.pi * 2.5 * tt)
    elif name == "reach":          # right arm held out (give / take / point)
        c["fwd_r"], c["elbow_r"], c["raise_r"] = full(1.3), full(0.15), full(0.15)
    elif name == "push":           # both arms thrust forward once per 1.6 s
        ext = push_impact(tt + 0.2)
        c["fwd_l"] = c["fwd_r"] = 1.2 + 0.3 * ext
        c["elbow_l"] = c["elbow_r"] = 1.6 * (1 - ext)
        c["spine"] = c["spine"] + 0.25 * ext
    elif name == "punch":
        punches(tt, c)
    elif name == "lift":           # crouch, hands forward under the partner, straighten up
        up = np.clip(tt % 3.0 / 1.5, 0, 1)
        c["hip_l"] = c["hip_r"] = 1.2 * (1 - up) + 0.2
        c["knee_l"] = c["knee_r"] = 1.5 * (1 - up) + 0.2
        c["fwd_l"] = c["fwd_r"] = full(1.1)
        c["elbow_l"] = c["elbow_r"] = full(0.9)
    elif name == "to_mouth":       # sip / bite / puff: the right hand comes to the mouth for ~1 s in 3
        k = np.sin(np.pi * np.clip((tt % 3.0) / 1.0, 0, 1)) ** 2
        c["fwd_r"], c["elbow_r"], c["raise_r"] = 0.15 + 0.65 * k, 0.3 + 1.7 * k, 0.2 + 0.4 * k
        c["in_r"] = 1.2 * k
    elif name == "to_ear":         # phone at the right ear
        c["fwd_r"], c["in_r"], c["elbow_r"], c["raise_r"] = full(1.2), full(1.2), full(2.4), full(0.2)
    elif name == "look_down":      # reading / texting / typing: head down, forearms forward
        c["neck"] = full(0.45)
        c["fwd_l"] = c["fwd_r"] = full(0.35)
        c["elbow_l"] = c["elbow_r"] = full(1.4)
    elif name == "hold":           # something held in the left hand, forearm up
        c["elbow_l"], c["fwd_l"] = full(1.5), full(0.2)
    elif name == "pick_up":        # bend down and come up once per 3 s
        k = np.sin(np.pi * np.clip((tt % 3.0) / 1.5, 0, 1))
        c["spine"], c["fwd_l"], c["fwd_r"] = 1.2 * k, 0.9 * k, 0.9 * k
    elif name == "stumble":        # pushed (same timing as "push", 0.2 s later): thrown back, arms out
        k = push_impact(tt)
        c["spine"] = c["spine"] - 0.4 * k
        c["raise_l"] = c["raise_r"] = 0.2 + 0.9 * k
    elif name == "lifted":         # being held up: legs bent, arms on the lifter's shoulders
        c["hip_l"] = c["hip_r"] = full(0.9)
        c["knee_l"] = c["knee_r"] = full(1.2)
        c["fwd_l"] = c["fwd_r"] = full(1.3)
        c["elbow_l"] = c["elbow_r"] = full(0.8)
    elif name != "none":
        raise ValueError(f"motion: unknown overlay '{name}'")
