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

import contextlib
import io
from pathlib import Path
from typing import Protocol

import numpy as np

from lartcore import paths
from lartcore.fileio import safe_load

NUM_JOINTS = 24
PARENTS = np.array([-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 20, 21])
JOINT_NAMES = ("pelvis", "L_hip", "R_hip", "spine1", "L_knee", "R_knee", "spine2", "L_ankle", "R_ankle",
               "spine3", "L_foot", "R_foot", "neck", "L_collar", "R_collar", "head", "L_shoulder",
               "R_shoulder", "L_elbow", "R_elbow", "L_wrist", "R_wrist", "L_hand", "R_hand")

# Rest offset of each joint from its parent (m), the widely published average SMPL rest
# skeleton (SMPL axes: +y up, +x the subject's left, facing +z).
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


# ---- one API for both bodies ---------------------------------------------------------------------------

class BodyModel(Protocol):
    """A posable body. `forward` returns model-space vertices (..., V, 3) and the 24 SMPL joints
    (..., 24, 3) (float32 numpy, same frame for every body); `faces` (F, 3) int64 is fixed."""

    faces: np.ndarray

    def forward(self, global_orient, body_pose, betas=None) -> tuple[np.ndarray, np.ndarray]: ...


# Stand-in parts: one ellipsoid per bone (parent -> child joint), rigidly attached to the parent joint.
# Radii (m) across the bone: (r_side, r_depth); depth is measured along the rest +z (forward) axis, or
# +y (up) for bones that point forward (the feet).
_BONE_RADII = {
    1: (0.085, 0.08), 2: (0.085, 0.08), 3: (0.14, 0.095), 4: (0.075, 0.075), 5: (0.075, 0.075),
    6: (0.145, 0.10), 7: (0.055, 0.055), 8: (0.055, 0.055), 9: (0.15, 0.10), 10: (0.045, 0.04),
    11: (0.045, 0.04), 12: (0.15, 0.10), 13: (0.06, 0.06), 14: (0.06, 0.06), 15: (0.05, 0.05),
    16: (0.06, 0.06), 17: (0.06, 0.06), 18: (0.05, 0.05), 19: (0.05, 0.05), 20: (0.04, 0.04),
    21: (0.04, 0.04), 22: (0.02, 0.045), 23: (0.02, 0.045),
}
_HEAD_CENTER = np.array([0.0, 0.09, 0.01])    # head ellipsoid centre relative to the head joint (rest)
_HEAD_RADII = np.array([0.085, 0.11, 0.10])   # (x, y, z) semi-axes
_SPHERE_SUBDIVISIONS = 1   # icosphere: 42 vertices, 80 faces per part (2: 162, 320; ~2x slower to render)


def _bone_frame(axis: np.ndarray) -> np.ndarray:
    """(3,) bone direction -> (3, 3) columns (along, side, depth), orthonormal."""
    along = axis / np.linalg.norm(axis)
    ref = np.array([0.0, 0.0, 1.0]) if abs(along[2]) < 0.8 else np.array([0.0, 1.0, 0.0])
    depth = ref - ref @ along * along
    depth /= np.linalg.norm(depth)
    return np.stack([along, np.cross(depth, along), depth], axis=-1)


def _standin_parts() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """-> (attach (K,) joint per part, local (K, Vp, 3) rest vertices minus the attach joint, faces (F, 3))."""
    import trimesh  # noqa: PLC0415  (imports scipy.spatial, ~1-2 s; only the stand-in meshes need it)
    sphere = trimesh.creation.icosphere(subdivisions=_SPHERE_SUBDIVISIONS)
    unit = np.asarray(sphere.vertices)                                 # (Vp, 3)
    attach, local = [], []
    for child, (r_side, r_depth) in _BONE_RADII.items():
        parent = PARENTS[child]
        bone = REST_JOINTS[child] - REST_JOINTS[parent]
        half = 0.5 * np.linalg.norm(bone) + 0.5 * min(r_side, r_depth)   # overlap into the joints
        scaled = unit * np.array([half, r_side, r_depth])             # (Vp, 3) in (along, side, depth)
        center = 0.5 * (REST_JOINTS[child] + REST_JOINTS[parent])
        attach.append(parent)
        local.append(scaled @ _bone_frame(bone).T + center - REST_JOINTS[parent])
    attach.append(15)
    local.append(unit * _HEAD_RADII + _HEAD_CENTER)
    faces = np.asarray(sphere.faces, dtype=np.int64)
    n = len(unit)
    all_faces = np.concatenate([faces + k * n for k in range(len(attach))])
    return np.array(attach), np.stack(local), all_faces


class StandInBody:
    """Articulated stand-in for SMPL: ellipsoids per bone and a head, posed rigidly by forward kinematics
    on the average SMPL rest skeleton. Ignores `betas` (one average shape). Vertices (..., 1008, 3)."""

    def __init__(self):
        self._attach, local, self.faces = _standin_parts()
        self._local_t = np.ascontiguousarray(np.swapaxes(local, 1, 2)).astype(np.float32)  # (K, 3, Vp)

    def forward(self, global_orient, body_pose, betas=None) -> tuple[np.ndarray, np.ndarray]:  # noqa: ARG002
        rot, joints = fk_transforms(global_orient, body_pose)          # (..., 24, 3, 3), (..., 24, 3)
        rot = rot.astype(np.float32)
        joints = joints.astype(np.float32)
        posed = rot[..., self._attach, :, :] @ self._local_t           # (..., K, 3, Vp)
        posed = np.swapaxes(posed, -1, -2) + joints[..., self._attach, None, :]  # (..., K, Vp, 3)
        return posed.reshape(posed.shape[:-3] + (-1, 3)), joints


# ---- the licensed SMPL model ---------------------------------------------------------------------------

SMPL_FILENAMES = ("SMPL_NEUTRAL.pkl", "basicModel_neutral_lbs_10_207_0_v1.0.0.pkl")
SMPL_HELP = ("get the neutral SMPL model (free registration at https://smplify.is.tue.mpg.de, file "
             "basicModel_neutral_lbs_10_207_0_v1.0.0.pkl), put it in a folder as SMPL_NEUTRAL.pkl and "
             "set LART_SMPL_DIR to that folder; unset LART_SMPL_DIR to use the stand-in body")


class SMPLFileError(ValueError):
    """An SMPL model file is missing keys or has arrays of the wrong shape."""


class _ChumpyArray:
    """Replaces chumpy's `Ch` while unpickling: keeps the pickled state; its value is `state['x']`."""

    def __setstate__(self, state):
        self.state = state


class _CSCMatrix:
    """Replaces scipy's csc_matrix while unpickling: keeps the pickled state (data, indices, indptr)."""

    compressed_axis = 1   # indptr runs over columns

    def __setstate__(self, state):
        self.state = state


class _CSRMatrix(_CSCMatrix):
    compressed_axis = 0   # indptr runs over rows


def _reconstructor(cls, base, state):
    """Protocol 0/1 pickles build objects through copyreg._reconstructor; allow it for the stubs only."""
    if cls not in (_ChumpyArray, _CSCMatrix, _CSRMatrix) or base is not object or state is not None:
        raise SMPLFileError(f"refused copyreg._reconstructor({cls!r}, {base!r}): not an SMPL array")
    return cls()


_CHUMPY_FREE = {
    "chumpy.ch.Ch": _ChumpyArray,
    "scipy.sparse.csc.csc_matrix": _CSCMatrix, "scipy.sparse._csc.csc_matrix": _CSCMatrix,
    "scipy.sparse.csr.csr_matrix": _CSRMatrix, "scipy.sparse._csr.csr_matrix": _CSRMatrix,
    "copyreg._reconstructor": _reconstructor, "builtins.object": object,
}


def _sparse_to_dense(state: dict, compressed_axis: int, where: str) -> np.ndarray:
    """Pickled state of a scipy csc/csr matrix -> dense (rows, cols) array (no scipy needed)."""
    try:
        shape = tuple(int(n) for n in state.get("_shape", state.get("shape")))
        indptr, indices, data = (np.asarray(state[k]) for k in ("indptr", "indices", "data"))
    except (KeyError, TypeError) as e:
        raise SMPLFileError(f"{where}: sparse matrix without shape/indptr/indices/data ({e})") from None
    major = np.repeat(np.arange(shape[compressed_axis]), np.diff(indptr))
    out = np.zeros(shape)
    if compressed_axis == 1:
        out[indices, major] = data
    else:
        out[major, indices] = data
    return out


def _dense(value, where: str) -> np.ndarray:
    """A loaded value (array, chumpy stand-in or sparse stand-in) -> a plain numpy array."""
    if isinstance(value, _ChumpyArray):
        if "x" not in value.state:
            raise SMPLFileError(f"{where}: chumpy object without stored values (a derived expression); "
                                "expected a plain Ch array")
        return np.asarray(value.state["x"])
    if isinstance(value, _CSCMatrix):
        return _sparse_to_dense(value.state, value.compressed_axis, where)
    return np.asarray(value)


# Arrays smplx needs, with the shape each must have (V vertices, F faces; None = any size).
_SMPL_ARRAYS = {
    "v_template": ("V", 3), "f": ("F", 3), "weights": ("V", NUM_JOINTS), "J_regressor": (NUM_JOINTS, "V"),
    "posedirs": ("V", 3, 9 * (NUM_JOINTS - 1)), "shapedirs": ("V", 3, None), "kintree_table": (2, NUM_JOINTS),
}


def _check_smpl_arrays(arrays: dict, source: str) -> None:
    """Raise SMPLFileError naming `source`, the key and expected vs found shape."""
    sizes = {"V": len(arrays["v_template"]), "F": len(arrays["f"])}
    for key, pattern in _SMPL_ARRAYS.items():
        expected = tuple(sizes.get(d, d) if isinstance(d, str) else d for d in pattern)
        found = arrays[key].shape
        if len(found) != len(expected) or any(e is not None and e != f for e, f in zip(expected, found, strict=True)):
            raise SMPLFileError(f"{source}: '{key}' expected shape {expected} (None = any), found {found}")


def load_smpl_arrays(path: str | Path) -> dict[str, np.ndarray]:
    """Read an official SMPL model pickle without chumpy or scipy -> the plain arrays smplx needs.

    chumpy `Ch` objects become their stored values and scipy sparse matrices dense arrays; any other
    class in the file is refused (`lartcore.fileio.safe_load`).
    """

    obj = safe_load(path, extra=_CHUMPY_FREE)
    if not isinstance(obj, dict):
        raise SMPLFileError(f"{path}: expected an SMPL model (a dict of arrays), found {type(obj).__name__}")
    missing = [k for k in _SMPL_ARRAYS if k not in obj]
    if missing:
        raise SMPLFileError(f"{path}: not an SMPL model file, missing key(s) {missing} "
                            f"(found {sorted(map(str, obj))[:12]})")
    arrays = {k: _dense(obj[k], f"{path}: '{k}'") for k in _SMPL_ARRAYS}
    _check_smpl_arrays(arrays, str(path))
    return arrays


class SMPLBody:
    """The SMPL body through `smplx.SMPLLayer` (rotation-matrix input). Build with `from_file` (an official
    pickle) or `from_arrays` (the same arrays from elsewhere, e.g. buffers of an imported checkpoint)."""

    CHUNK = 128   # bodies per smplx call: bounds the (N, 6890, 4, 4) skinning transforms in memory

    def __init__(self, layer):
        self.layer = layer                                     # smplx.SMPLLayer
        self.faces = np.asarray(layer.faces, dtype=np.int64)   # (13776, 3) for SMPL

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], source: str = "<arrays>") -> SMPLBody:
        import smplx  # noqa: PLC0415  (smplx imports torch, seconds: only when SMPL files are loaded)
        from smplx.utils import Struct  # noqa: PLC0415

        missing = [k for k in _SMPL_ARRAYS if k not in arrays]
        if missing:
            raise SMPLFileError(f"{source}: missing SMPL array(s) {missing}")
        arrays = {k: np.asarray(arrays[k]) for k in _SMPL_ARRAYS}
        _check_smpl_arrays(arrays, source)
        with contextlib.redirect_stdout(io.StringIO()):   # smplx prints a warning about SMPL's 10 betas
            layer = smplx.SMPLLayer(model_path=source, data_struct=Struct(**arrays))
        return cls(layer)

    @classmethod
    def from_file(cls, path: str | Path) -> SMPLBody:
        return cls.from_arrays(load_smpl_arrays(path), source=str(path))

    def forward(self, global_orient, body_pose, betas=None) -> tuple[np.ndarray, np.ndarray]:
        import torch  # noqa: PLC0415  (as smplx above)

        go, bp = _float(global_orient), _float(body_pose)
        betas = np.zeros(self.layer.num_betas, np.float32) if betas is None else _float(betas)
        batch = np.broadcast_shapes(go.shape[:-2], bp.shape[:-3], betas.shape[:-1])
        flat = [np.broadcast_to(a, batch + tail).reshape((-1,) + tail).astype(np.float32)   # (N, *tail)
                for a, tail in ((go, (3, 3)), (bp, (NUM_JOINTS - 1, 3, 3)), (betas, betas.shape[-1:]))]
        vertices, joints = [], []
        with torch.no_grad():
            for lo in range(0, max(len(flat[0]), 1), self.CHUNK):
                g, b, s = (torch.from_numpy(a[lo:lo + self.CHUNK]) for a in flat)
                out = self.layer(global_orient=g, body_pose=b, betas=s, pose2rot=False)
                vertices.append(out.vertices.numpy())
                joints.append(out.joints[:, :NUM_JOINTS].numpy())
        return (np.concatenate(vertices).reshape(batch + (-1, 3)),           # (..., 6890, 3)
                np.concatenate(joints).reshape(batch + (NUM_JOINTS, 3)))     # (..., 24, 3)


def find_smpl_file(smpl_dir: str | Path) -> Path:
    """The SMPL model file in `smpl_dir` (or `smpl_dir` itself if it is a file); FileNotFoundError if none."""
    smpl_dir = Path(smpl_dir)
    if smpl_dir.is_file():
        return smpl_dir
    for name in SMPL_FILENAMES:
        if (smpl_dir / name).is_file():
            return smpl_dir / name
    raise FileNotFoundError(f"no SMPL model in {smpl_dir} (looked for {', '.join(SMPL_FILENAMES)}): {SMPL_HELP}")


def load_body(smpl_dir: str | Path | None = None) -> BodyModel:
    """SMPL when a model folder is given (argument, else `LART_SMPL_DIR`), the stand-in body otherwise.
    A folder that is given but holds no valid model is an error, not a silent fallback."""

    smpl_dir = smpl_dir if smpl_dir is not None else paths.smpl_dir()
    if smpl_dir is None:
        return StandInBody()
    return SMPLBody.from_file(find_smpl_file(smpl_dir))
