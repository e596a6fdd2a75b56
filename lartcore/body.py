"""Human bodies from SMPL pose parameters: forward kinematics, the 45-joint layout PHALP stores, and
(below) one `BodyModel` API served by the licensed SMPL model or an articulated stand-in.

Conventions (as smplx with rotation-matrix input, `pose2rot=False`):
- global_orient (..., 3, 3) rotates the whole body about the pelvis; body_pose (..., 23, 3, 3) holds
  the local rotations of SMPL joints 1..23 relative to their parents.
- Model space: SMPL axes (+y up, +x the subject's left, the subject faces +z), metres, no translation.
  The pelvis stays at its rest position `REST_JOINTS[0]`; camera-frame points = model points + camera.
- Arrays are numpy; anything `np.asarray` accepts (including CPU torch tensors) is taken as input.
  Leading dimensions `...` are arbitrary batch axes (e.g. (P, T) people x frames).
"""
from __future__ import annotations

import numpy as np

NUM_JOINTS = 24
PARENTS = np.array([-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 20, 21])
JOINT_NAMES = ("pelvis", "L_hip", "R_hip", "spine1", "L_knee", "R_knee", "spine2", "L_ankle", "R_ankle",
               "spine3", "L_foot", "R_foot", "neck", "L_collar", "R_collar", "head", "L_shoulder",
               "R_shoulder", "L_elbow", "R_elbow", "L_wrist", "R_wrist", "L_hand", "R_hand")

# Rest offset of each joint from its parent (m), average SMPL rest skeleton (shared/formats/smpl_facts.md).
_REST_OFFSETS = np.array([
    [0.0, 0.0, 0.0], [0.05858, -0.08228, -0.01766], [-0.06031, -0.09051, -0.01354],
    [0.00444, 0.12440, -0.03839], [0.04345, -0.38647, 0.00804], [-0.04326, -0.38369, -0.00484],
    [0.00449, 0.13796, 0.02682], [-0.01479, -0.42687, -0.03743], [0.01906, -0.42005, -0.03456],
    [-0.00226, 0.05603, 0.00286], [0.04105, -0.06029, 0.12204], [-0.03484, -0.06211, 0.13032],
    [-0.01339, 0.21164, -0.03347], [0.07170, 0.11400, -0.01890], [-0.08295, 0.11247, -0.02371],
    [0.01011, 0.08894, 0.05041], [0.12292, 0.04521, -0.01905], [-0.11323, 0.04685, -0.00847],
    [0.25533, -0.01565, -0.02295], [-0.26013, -0.01437, -0.03127], [0.26571, 0.01270, -0.00737],
    [-0.26911, 0.00679, -0.00603], [0.08669, -0.01064, -0.01559], [-0.08875, -0.00865, -0.01011],
])
PELVIS_REST = np.array([-0.0022, -0.22, 0.0286])   # pelvis position relative to the SMPL model origin


def _rest_joints() -> np.ndarray:
    joints = np.zeros((NUM_JOINTS, 3))
    joints[0] = PELVIS_REST
    for i in range(1, NUM_JOINTS):
        joints[i] = joints[PARENTS[i]] + _REST_OFFSETS[i]
    return joints


REST_JOINTS = _rest_joints()   # (24, 3) model-space rest joints of the stand-in skeleton


def _float(x) -> np.ndarray:
    x = np.asarray(x)
    return x if x.dtype in (np.float32, np.float64) else x.astype(np.float32)


def fk_transforms(global_orient, body_pose, rest_joints: np.ndarray = REST_JOINTS):
    """World rotation and position of every joint.

    global_orient (..., 3, 3), body_pose (..., 23, 3, 3) -> (R (..., 24, 3, 3), J (..., 24, 3)).
    G_0 = [R_0 | J_0], G_i = G_parent(i) [R_i | J_i - J_parent(i)]; a rest point v rigidly attached to
    joint i goes to R[i] (v - rest_joints[i]) + J[i].
    """
    go, bp = _float(global_orient), _float(body_pose)
    if go.shape[-2:] != (3, 3) or bp.shape[-3:] != (NUM_JOINTS - 1, 3, 3):
        raise ValueError(f"forward kinematics: expected global_orient (..., 3, 3) and body_pose "
                         f"(..., 23, 3, 3), found {go.shape} and {bp.shape}")
    batch = np.broadcast_shapes(go.shape[:-2], bp.shape[:-3])
    dtype = np.result_type(go, bp)
    rest = rest_joints.astype(dtype)
    rots = [np.broadcast_to(go, batch + (3, 3))]
    pos = [np.broadcast_to(rest[0], batch + (3,))]
    for i in range(1, NUM_JOINTS):
        p = PARENTS[i]
        rots.append(rots[p] @ bp[..., i - 1, :, :])
        pos.append(pos[p] + rots[p] @ (rest[i] - rest[p]))
    return np.stack(rots, axis=-3), np.stack(pos, axis=-2)   # (..., 24, 3, 3), (..., 24, 3)


def forward_kinematics(global_orient, body_pose) -> np.ndarray:
    """SMPL model-space joints of the stand-in skeleton: (..., 3, 3), (..., 23, 3, 3) -> (..., 24, 3)."""
    return fk_transforms(global_orient, body_pose)[1]


# ---- the 45-joint layout PHALP stores: 25 OpenPose BODY_25, 19 SPIN joints, one zero row ----------------
# Joints that coincide with an SMPL joint (approximation: the real layout regresses some of them, e.g. the
# SPIN hips, from mesh vertices; here every one is an SMPL joint or a fixed offset from one).
_FROM_SMPL = {
    1: 12, 2: 17, 3: 19, 4: 21, 5: 16, 6: 18, 7: 20, 8: 0, 9: 2, 10: 5, 11: 8, 12: 1, 13: 4, 14: 7,
    25: 8, 26: 5, 27: 2, 28: 1, 29: 4, 30: 7, 31: 21, 32: 19, 33: 17, 34: 16, 35: 18, 36: 20,
    37: 12, 39: 0, 41: 6,
}
# Face/head points: offsets (left, up, forward) in metres in a head frame built from the joints:
# up = spine3 -> head, left = R_collar -> L_collar made orthogonal to up, forward = left x up. Joint
# positions cannot express head yaw/roll relative to the shoulders, so the face turns with the torso.
_HEAD_OFFSETS = {
    0: (0.0, 0.035, 0.105),      # nose
    15: (-0.032, 0.065, 0.085),  # right eye
    16: (0.032, 0.065, 0.085),   # left eye
    17: (-0.075, 0.04, 0.0),     # right ear
    18: (0.075, 0.04, 0.0),      # left ear
    38: (0.0, 0.15, 0.01),       # top of head (LSP)
    42: (0.0, -0.03, 0.08),      # jaw (H36M)
    43: (0.0, 0.08, 0.03),       # head (H36M)
}
# Foot points: offsets (outward, up, forward) from the foot joint (toes) or ankle (heel), in a frame with
# up = ankle -> knee and forward = ankle -> foot made orthogonal to up.
_FOOT_OFFSETS = {  # row: (side, base joint, offset)
    19: ("L", "foot", (-0.02, -0.02, 0.07)), 20: ("L", "foot", (0.04, -0.02, 0.04)),
    21: ("L", "ankle", (0.0, -0.07, -0.06)),
    22: ("R", "foot", (-0.02, -0.02, 0.07)), 23: ("R", "foot", (0.04, -0.02, 0.04)),
    24: ("R", "ankle", (0.0, -0.07, -0.06)),
}
_SIDE_JOINTS = {"L": {"knee": 4, "ankle": 7, "foot": 10, "out": 1.0},
                "R": {"knee": 5, "ankle": 8, "foot": 11, "out": -1.0}}


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-9)


def _frame(up: np.ndarray, side: np.ndarray) -> np.ndarray:
    """(..., 3) up and side hints -> (..., 3, 3) columns (side, up, forward), orthonormal."""
    up = _unit(up)
    side = _unit(side - np.sum(side * up, axis=-1, keepdims=True) * up)
    return np.stack([side, up, np.cross(side, up)], axis=-1)


def joints45(joints24) -> np.ndarray:
    """Approximate PHALP's 45 stored joints from the 24 SMPL joints: (..., 24, 3) -> (..., 45, 3).

    Rows 0-24 OpenPose BODY_25, 25-43 the 19 SPIN joints (R/L ankle, knee, hip, wrist, elbow, shoulder,
    LSP neck, head top, MPII pelvis, thorax, H36M spine, jaw, head), 44 zeros. Body joints are the
    matching SMPL joints; thorax = midpoint of spine3 and neck; face points are fixed offsets from the
    head and toes/heels fixed offsets from the feet (see `_HEAD_OFFSETS`, `_FOOT_OFFSETS`).
    """
    j = _float(joints24)
    out = np.zeros(j.shape[:-2] + (45, 3), dtype=j.dtype)
    for row, src in _FROM_SMPL.items():
        out[..., row, :] = j[..., src, :]
    out[..., 40, :] = 0.5 * (j[..., 9, :] + j[..., 12, :])
    head = _frame(j[..., 15, :] - j[..., 9, :], j[..., 13, :] - j[..., 14, :])   # (..., 3, 3)
    for row, off in _HEAD_OFFSETS.items():
        out[..., row, :] = j[..., 15, :] + head @ np.asarray(off, dtype=j.dtype)
    for row, (side, base, off) in _FOOT_OFFSETS.items():
        s = _SIDE_JOINTS[side]
        ankle = j[..., s["ankle"], :]
        frame = _frame(j[..., s["knee"], :] - ankle, j[..., s["foot"], :] - ankle)  # cols (fwd, up, ...)
        fwd, up = frame[..., 0], frame[..., 1]
        outward = s["out"] * np.cross(up, fwd)       # left foot: +x at rest; right foot: -x
        o = np.asarray(off, dtype=j.dtype)
        out[..., row, :] = j[..., s[base], :] + o[0] * outward + o[1] * up + o[2] * fwd
    return out
