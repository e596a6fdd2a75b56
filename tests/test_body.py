"""Bodies: stand-in forward kinematics vs the real smplx path on a synthetic SMPL-format model file, the
chumpy-free SMPL loader, the 45-joint approximation and the body selection rules."""
from __future__ import annotations

import io
import pickle
import struct
import sys
import types

import numpy as np
import pytest
import scipy.sparse

from lartcore import body
from lartcore.body import (
    PARENTS,
    REST_JOINTS,
    SMPLBody,
    SMPLFileError,
    StandInBody,
    find_smpl_file,
    fk_transforms,
    forward_kinematics,
    joints45,
    load_body,
    load_smpl_arrays,
)
from lartcore.fileio import UnsafePickleError

NUM_VERTICES = 6890   # smplx selects extra joints from vertices up to index 6787


def random_rotations(rng, shape) -> np.ndarray:
    """(*shape, 3, 3) uniformly random rotation matrices (QR of Gaussian matrices, det fixed to +1)."""
    q, r = np.linalg.qr(rng.normal(size=shape + (3, 3)))
    q = q * np.sign(np.diagonal(r, axis1=-2, axis2=-1))[..., None, :]
    return q * np.sign(np.linalg.det(q))[..., None, None]


# ---- a python-2 style pickle with chumpy objects, written without chumpy --------------------------------

class Ch:
    """Looks like chumpy.ch.Ch to the pickler: its state keeps the values under 'x', as chumpy's does."""

    def __init__(self, x):
        self.x = np.asarray(x)
        self._dirty_vars = set()

    def __getstate__(self):
        return {"x": self.x, "_dirty_vars": self._dirty_vars}


class Py2Pickler(pickle._Pickler):
    """Writes bytes as python-2 `str` (BINSTRING), as python 2 did for array data in SMPL files."""

    dispatch = pickle._Pickler.dispatch.copy()

    def save_py2_str(self, obj):
        self.write(pickle.BINSTRING + struct.pack("<I", len(obj)) + obj)
        self.memoize(obj)

    dispatch[bytes] = save_py2_str


@pytest.fixture
def fake_chumpy(monkeypatch):
    """dump(obj, path, protocol): pickles with an importable fake `chumpy.ch.Ch`, removed again before
    returning, so every load in the tests runs without any chumpy module."""
    chumpy, ch = types.ModuleType("chumpy"), types.ModuleType("chumpy.ch")
    ch.Ch, chumpy.ch = Ch, ch
    monkeypatch.setattr(Ch, "__module__", "chumpy.ch")

    def dump(obj, path, protocol: int = 2):
        sys.modules.update({"chumpy": chumpy, "chumpy.ch": ch})
        try:
            buf = io.BytesIO()
            Py2Pickler(buf, protocol=protocol).dump(obj)
        finally:
            del sys.modules["chumpy"], sys.modules["chumpy.ch"]
        path.write_bytes(buf.getvalue())
        return path

    yield dump


def synthetic_smpl(rng) -> tuple[dict, np.ndarray]:
    """SMPL-format arrays: rest joints of the average SMPL skeleton, one-hot rigid skinning, zero blend shapes.
    Vertex k < 24 sits on joint k and the joint regressor picks it. -> (arrays, part joint per vertex)."""
    part = np.concatenate([np.arange(24), rng.integers(0, 24, NUM_VERTICES - 24)])
    v = REST_JOINTS[part] + np.concatenate([np.zeros((24, 3)), rng.normal(0, 0.05, (NUM_VERTICES - 24, 3))])
    regressor = np.zeros((24, NUM_VERTICES))
    regressor[np.arange(24), np.arange(24)] = 1.0
    arrays = {
        "v_template": v, "f": rng.integers(0, NUM_VERTICES, (13776, 3)).astype(np.uint32),
        "weights": np.eye(24)[part], "J_regressor": regressor,
        "posedirs": np.zeros((NUM_VERTICES, 3, 207), np.float32),
        "shapedirs": np.zeros((NUM_VERTICES, 3, 10)),
        "kintree_table": np.stack([np.where(PARENTS < 0, 4294967295, PARENTS), np.arange(24)]).astype(np.int64),
    }
    return arrays, part


def as_official_pickle(arrays: dict) -> dict:
    """The official file's containers: chumpy arrays, a scipy csc joint regressor, extra keys."""
    out = dict(arrays, bs_style="lbs", bs_type="lrotmin", vert_sym_idxs=np.arange(10))
    for key in ("v_template", "weights", "posedirs", "shapedirs"):
        out[key] = Ch(arrays[key])
    out["J_regressor"] = scipy.sparse.csc_matrix(arrays["J_regressor"])
    return out


# ---- tests -----------------------------------------------------------------------------------------------

def test_smplx_on_a_synthetic_model_file_agrees_with_the_standin_fk(fake_chumpy, tmp_path):
    rng = np.random.default_rng(0)
    arrays, part = synthetic_smpl(rng)
    path = fake_chumpy(as_official_pickle(arrays), tmp_path / "SMPL_NEUTRAL.pkl")
    smpl = load_body(tmp_path)
    assert isinstance(smpl, SMPLBody) and smpl.faces.shape == (13776, 3)

    go, bp = random_rotations(rng, (2, 3)), random_rotations(rng, (2, 3, 23))
    vertices, joints = smpl.forward(go, bp, np.zeros((2, 3, 10)))
    assert vertices.shape == (2, 3, NUM_VERTICES, 3) and joints.shape == (2, 3, 24, 3)
    np.testing.assert_allclose(joints, forward_kinematics(go, bp), atol=2e-5)

    # every vertex moves rigidly with its joint: R_i (v - J_i) + posed J_i (linear blend skinning)
    rot, pos = fk_transforms(go, bp)
    v_rest = arrays["v_template"]
    expected = np.einsum("abvij,vj->abvi", rot[:, :, part], v_rest - REST_JOINTS[part]) + pos[:, :, part]
    np.testing.assert_allclose(vertices, expected, atol=2e-5)
    assert path.is_file()


def test_fk_with_identity_pose_is_the_rest_skeleton_and_root_rotation_turns_it_about_the_pelvis():
    rng = np.random.default_rng(1)
    eye = np.broadcast_to(np.eye(3), (23, 3, 3))
    np.testing.assert_allclose(forward_kinematics(np.eye(3), eye), REST_JOINTS, atol=1e-12)
    r0 = random_rotations(rng, ())
    turned = (REST_JOINTS - REST_JOINTS[0]) @ r0.T + REST_JOINTS[0]
    np.testing.assert_allclose(forward_kinematics(r0, eye), turned, atol=1e-12)
    # a bent left knee moves only the left ankle and foot, keeping the shin length
    bp = eye.copy()
    bp[3] = random_rotations(rng, ())
    j = forward_kinematics(np.eye(3), bp)
    moved = np.flatnonzero(np.abs(j - REST_JOINTS).max(axis=1) > 1e-9)
    assert moved.tolist() == [7, 10]
    assert np.linalg.norm(j[7] - j[4]) == pytest.approx(np.linalg.norm(REST_JOINTS[7] - REST_JOINTS[4]))


def test_chumpy_free_loader_round_trips_a_chumpy_style_pickle(fake_chumpy, tmp_path):
    rng = np.random.default_rng(2)
    arrays, _ = synthetic_smpl(rng)
    for protocol in (0, 2):   # 0: objects via copyreg._reconstructor; 2: via NEWOBJ
        path = fake_chumpy(as_official_pickle(arrays), tmp_path / f"model_p{protocol}.pkl", protocol)
        loaded = load_smpl_arrays(path)
        assert sorted(loaded) == sorted(body._SMPL_ARRAYS)
        for key, value in loaded.items():
            assert type(value) is np.ndarray
            np.testing.assert_array_equal(value, arrays[key], err_msg=key)


def test_loader_refuses_other_classes_and_names_bad_keys(fake_chumpy, tmp_path):
    rng = np.random.default_rng(3)
    arrays, _ = synthetic_smpl(rng)
    derived = dict(as_official_pickle(arrays), weights=types.SimpleNamespace(a=1))   # not an array class
    path = fake_chumpy(derived, tmp_path / "derived.pkl")
    with pytest.raises(UnsafePickleError, match="types.SimpleNamespace"):
        load_smpl_arrays(path)

    no_f = {k: v for k, v in arrays.items() if k != "f"}
    with pytest.raises(SMPLFileError, match=r"no_f\.pkl: not an SMPL model file, missing key\(s\) \['f'\]"):
        load_smpl_arrays(fake_chumpy(no_f, tmp_path / "no_f.pkl"))

    bad = dict(arrays, weights=np.zeros((NUM_VERTICES, 16)))
    with pytest.raises(SMPLFileError, match=r"'weights' expected shape \(6890, 24\).*found \(6890, 16\)"):
        load_smpl_arrays(fake_chumpy(bad, tmp_path / "bad.pkl"))


def test_body_selection(tmp_path, monkeypatch):
    monkeypatch.delenv("LART_SMPL_DIR", raising=False)
    assert isinstance(load_body(), StandInBody)
    monkeypatch.setenv("LART_SMPL_DIR", str(tmp_path))
    with pytest.raises(FileNotFoundError, match=r"no SMPL model in .*SMPL_NEUTRAL\.pkl.*LART_SMPL_DIR"):
        load_body()
    (tmp_path / "basicModel_neutral_lbs_10_207_0_v1.0.0.pkl").write_bytes(b"")
    assert find_smpl_file(tmp_path).name == "basicModel_neutral_lbs_10_207_0_v1.0.0.pkl"


def test_standin_body_is_posed_rigidly_and_spans_a_person():
    rng = np.random.default_rng(4)
    standin = StandInBody()
    eye = np.broadcast_to(np.eye(3), (23, 3, 3))
    rest, joints = standin.forward(np.eye(3), eye)
    assert rest.shape == (1008, 3) and standin.faces.max() == len(rest) - 1
    np.testing.assert_allclose(joints, REST_JOINTS, atol=1e-6)
    height = rest[:, 1].max() - rest[:, 1].min()
    assert 1.6 < height < 1.9                              # a person, head top to soles
    assert np.abs(rest - REST_JOINTS[:, None]).max(axis=2).min(axis=1).max() < 0.06   # joints inside
    # a root rotation turns every vertex about the pelvis; batches broadcast
    r0 = random_rotations(rng, (4, 5))
    verts, joints = standin.forward(r0, eye)
    expected = np.einsum("abij,vj->abvi", r0, rest - REST_JOINTS[0]) + REST_JOINTS[0]
    np.testing.assert_allclose(verts, expected, atol=1e-5)
    assert joints.shape == (4, 5, 24, 3)


def test_joints45_layout_and_rotation_equivariance():
    rng = np.random.default_rng(5)
    rest = joints45(REST_JOINTS)
    assert rest.shape == (45, 3) and not rest[44].any()
    for row, smpl in {1: 12, 2: 17, 5: 16, 8: 0, 9: 2, 12: 1, 25: 8, 30: 7, 39: 0}.items():
        np.testing.assert_array_equal(rest[row], REST_JOINTS[smpl])
    nose, r_eye, l_eye, top = rest[0], rest[15], rest[16], rest[38]
    assert nose[2] > REST_JOINTS[15, 2] + 0.05                     # the face is in front (+z)
    assert r_eye[0] < nose[0] < l_eye[0]                           # right eye on the -x side
    assert top[1] > r_eye[1] > nose[1] > REST_JOINTS[12, 1]        # top of head > eyes > nose > neck
    for toe, heel in ((19, 21), (22, 24)):
        assert rest[toe, 2] > rest[heel, 2] + 0.15 and rest[toe, 1] < REST_JOINTS[7, 1]
    # the layout is attached to the body: rotating the body rotates all 45 points
    go, bp = random_rotations(rng, (3,)), random_rotations(rng, (3, 23))
    j24 = forward_kinematics(go, bp)
    r = random_rotations(rng, ())
    np.testing.assert_allclose(joints45(j24 @ r.T), joints45(j24) @ r.T, atol=1e-12)
