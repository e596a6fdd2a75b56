"""safe_load: loads pickle/joblib data files of every joblib compression, refuses code and corrupt files."""
import collections
import os
import pickle

import joblib
import numpy as np
import pytest

from lartcore.fileio import CorruptFileError, UnsafePickleError, safe_load


def _payload():
    return {
        "pose": np.arange(2 * 229, dtype=np.float32).reshape(2, 1, 229),
        "fortran": np.asfortranarray(np.arange(12.0).reshape(3, 4)),
        "names": ["a/b_000001.jpg", "a/b_000002.jpg"],
        "scalars": (np.float64(3.5), np.int64(-2), np.bool_(True), 7, 2.5, None, b"raw"),
        "strs": np.array(["ab", "c"]),
        "objs": np.array([{"k": 1}, None], dtype=object),   # joblib pickles these as a nested stream
        "nested": {3: np.zeros((1, 80), np.float32)},
        "ordered": collections.OrderedDict(x=1, y=[1, 2]),
        "set": {1, 2},
        "empty": np.zeros((0, 3)),
        "dtype": np.dtype("f4"),
    }


def _assert_same(a, b):
    assert type(a) is type(b)
    if isinstance(a, dict):
        assert list(a) == list(b)
        for k in a:
            _assert_same(a[k], b[k])
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            _assert_same(x, y)
    elif isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and a.shape == b.shape
        assert list(a.ravel()) == list(b.ravel())
    else:
        assert a == b


@pytest.mark.parametrize("compress", [0, 3, ("zlib", 9), ("gzip", 3), ("bz2", 3), ("xz", 3), ("lzma", 3)])
def test_joblib_round_trip_every_compression(tmp_path, compress):
    path = tmp_path / "x.pkl"
    joblib.dump(_payload(), path, compress=compress)
    _assert_same(safe_load(path), _payload())


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_plain_pickle_round_trip(tmp_path, protocol):
    path = tmp_path / "x.pkl"
    with open(path, "wb") as f:
        pickle.dump(_payload(), f, protocol=protocol)
    _assert_same(safe_load(path), _payload())


class _OpensFile:
    def __init__(self, target):
        self.target = target

    def __reduce__(self):
        return (open, (self.target, "w"))


class _RunsShell:
    def __init__(self, target):
        self.target = target

    def __reduce__(self):
        return (os.system, (f"touch {self.target}",))


@pytest.mark.parametrize("evil", [_OpensFile, _RunsShell])
@pytest.mark.parametrize("how", ["pickle", "joblib", "joblib-object-array"])
def test_malicious_pickle_is_refused_and_creates_nothing(tmp_path, evil, how):
    target = tmp_path / "pwned"
    path = tmp_path / "evil.pkl"
    payload = evil(str(target))
    if how == "pickle":
        with open(path, "wb") as f:
            pickle.dump({"ok": np.zeros(3), "x": [payload]}, f)
    elif how == "joblib":
        joblib.dump({"ok": np.zeros(3), "x": [payload]}, path, compress=3)
    else:
        joblib.dump({"x": np.array([payload, 1], dtype=object)}, path)
    with pytest.raises(UnsafePickleError) as err:
        safe_load(path)
    refused = "io.open" if evil is _OpensFile else f"{os.system.__module__}.system"
    assert str(path) in str(err.value) and refused in str(err.value)
    assert isinstance(err.value, ValueError)
    assert not target.exists()


def test_extra_maps_a_global_to_a_replacement(tmp_path):
    path = tmp_path / "c.pkl"
    with open(path, "wb") as f:
        pickle.dump({"od": collections.Counter("aab")}, f)
    with pytest.raises(UnsafePickleError, match="collections.Counter"):
        safe_load(path)
    out = safe_load(path, extra={"collections.Counter": dict})
    assert out == {"od": {"a": 2, "b": 1}} and type(out["od"]) is dict


@pytest.mark.parametrize("compress", [0, 3])
def test_truncated_file_is_a_clear_error(tmp_path, compress):
    full = tmp_path / "full.pkl"
    joblib.dump({"pose": np.arange(4000.0)}, full, compress=compress)
    data = full.read_bytes()
    for n in (0, 1, 10, len(data) // 2):
        cut = tmp_path / f"cut{n}.pkl"
        cut.write_bytes(data[:n])
        with pytest.raises(CorruptFileError, match="truncated or corrupt") as err:
            safe_load(cut)
        assert str(cut) in str(err.value)


def test_garbage_and_trailing_data_are_errors(tmp_path):
    text = tmp_path / "text.pkl"
    text.write_text("this is not a pickle")
    with pytest.raises(CorruptFileError, match=str(text)):
        safe_load(text)
    trailing = tmp_path / "trailing.pkl"
    trailing.write_bytes(pickle.dumps([1, 2]) + b"junk")
    with pytest.raises(CorruptFileError, match="trailing data"):
        safe_load(trailing)


def test_missing_file_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        safe_load(tmp_path / "nope.pkl")


def test_atomic_path_gives_usual_permissions(tmp_path):
    import os

    from lartcore.fileio import atomic_write_text
    out = tmp_path / "x.txt"
    atomic_write_text(out, "hi")
    umask = os.umask(0)
    os.umask(umask)
    assert out.stat().st_mode & 0o777 == 0o666 & ~umask
