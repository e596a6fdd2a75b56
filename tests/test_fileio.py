"""safe_load: loads pickle/joblib data files of every joblib compression; refuses code, object arrays,
memory bombs and corrupt files, with the loader's own checks (not joblib's).

These tests need no torch: `make test` runs them again under the oldest joblib and numpy the project allows
(.venv-oldest, Makefile OLDEST_PINS); they also pass under the joblib 1.5.x releases whose own reader executes
object arrays (see README, "Untrusted files"):

    python3 -m venv /tmp/jl && /tmp/jl/bin/pip install 'joblib==1.5.3' numpy pytest hypothesis
    PYTHONPATH=. /tmp/jl/bin/python -m pytest -q -p no:cacheprovider --noconftest tests/test_fileio.py
"""
import collections
import errno
import io
import os
import pickle
import time
import tracemalloc
import zlib

import joblib
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lartcore.fileio import (
    DEFAULT_MAX_BYTES,
    CorruptFileError,
    PickleLimitError,
    PickleLimits,
    UnsafePickleError,
    atomic_write_text,
    safe_load,
)


def _payload():
    return {
        "pose": np.arange(2 * 229, dtype=np.float32).reshape(2, 1, 229),
        "fortran": np.asfortranarray(np.arange(12.0).reshape(3, 4)),
        "names": ["a/b_000001.jpg", "a/b_000002.jpg"],
        "scalars": (np.float64(3.5), np.int64(-2), np.bool_(True), 7, 2.5, None, b"raw"),
        "strs": np.array(["ab", "c"]),
        "struct": np.zeros(2, dtype=[("a", "<f4"), ("b", ">i8", (2,))]),
        "big_endian": np.arange(5, dtype=">f8"),
        "complex": complex(1, 2), "slice": slice(1, 9, 2), "frozen": frozenset({"a"}),
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
        assert a.dtype.newbyteorder("=") == b.dtype.newbyteorder("=") and a.shape == b.shape   # joblib: native
        assert list(a.ravel()) == list(b.ravel())
    else:
        assert a == b


@pytest.mark.parametrize("compress", [0, 3, ("zlib", 9), ("gzip", 3), ("bz2", 3), ("xz", 3), ("lzma", 3)])
def test_joblib_round_trip_every_compression(tmp_path, compress):
    path = tmp_path / "x.pkl"
    joblib.dump(_payload(), path, compress=compress)
    _assert_same(safe_load(path), _payload())


@pytest.mark.parametrize("protocol", [0, 1, 2, 4, 5])
def test_plain_pickle_round_trip(tmp_path, protocol):
    path = tmp_path / "x.pkl"
    with open(path, "wb") as f:
        pickle.dump(_payload(), f, protocol=protocol)
    _assert_same(safe_load(path), _payload())


def test_numpy_pickles_of_old_numpy_versions(tmp_path):
    """Old numpy (e.g. the python-2 SMPL files) wrote dtype(spec, 0, 1) and fortran flags as ints."""
    data = pickle.dumps({"a": np.arange(6.0).reshape(2, 3), "s": np.float32(2.5)}, protocol=2)
    assert data.count(b"\x89\x88\x87") == 2                      # NEWFALSE NEWTRUE TUPLE3: (spec, False, True)
    path = tmp_path / "old.pkl"
    path.write_bytes(data.replace(b"\x89\x88\x87", b"K\x00K\x01\x87"))   # (spec, 0, 1)
    loaded = safe_load(path)
    assert loaded["a"].tolist() == [[0, 1, 2], [3, 4, 5]] and loaded["s"] == np.float32(2.5)


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
@pytest.mark.parametrize("how", ["pickle", "joblib"])
def test_malicious_pickle_is_refused_and_creates_nothing(tmp_path, evil, how):
    target = tmp_path / "pwned"
    path = tmp_path / "evil.pkl"
    payload = evil(str(target))
    if how == "pickle":
        with open(path, "wb") as f:
            pickle.dump({"ok": np.zeros(3), "x": [payload]}, f)
    elif how == "joblib":
        joblib.dump({"ok": np.zeros(3), "x": [payload]}, path, compress=3)
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
    out = tmp_path / "x.txt"
    atomic_write_text(out, "hi")
    umask = os.umask(0)
    os.umask(umask)
    assert out.stat().st_mode & 0o777 == 0o666 & ~umask


# ---- object arrays: refused by the loader itself, whatever joblib is installed --------------------------

def joblib_record(dtype, shape, body: bytes, order: str = "C") -> bytes:
    """A joblib array record written by hand (the layout `joblib.dump` writes since 1.2): the pickled
    NumpyArrayWrapper state, then a padding-length byte and the array data (for dtype object: a nested
    pickle stream). Independent of the installed joblib's writer."""
    state = pickle.dumps({"subclass": np.ndarray, "shape": shape, "order": order, "dtype": np.dtype(dtype),
                          "allow_mmap": False, "numpy_array_alignment_bytes": 16}, protocol=2)
    return (b"\x80\x02cjoblib.numpy_pickle\nNumpyArrayWrapper\n)\x81" + state[2:-1] + b"b"
            + (b"" if np.dtype(dtype).hasobject else b"\x00") + body + b".")


@pytest.fixture
def joblib_executes_object_arrays(monkeypatch):
    """Make the installed joblib read object arrays as joblib 1.3-1.5.3 did: `pickle.load` of the nested
    stream, which runs any code in it. The loader must not depend on joblib refusing them."""
    from joblib import numpy_pickle

    real = numpy_pickle.NumpyArrayWrapper.read_array

    def read_array(self, unpickler, *args, **kwargs):
        if self.dtype.hasobject:
            return pickle.load(unpickler.file_handle)
        return real(self, unpickler, *args, **kwargs)
    monkeypatch.setattr(numpy_pickle.NumpyArrayWrapper, "read_array", read_array)


@pytest.mark.usefixtures("joblib_executes_object_arrays")
@pytest.mark.parametrize("how", ["joblib.dump", "hand-written record", "numpy pickle protocol 2",
                                 "numpy pickle protocol 5"])
def test_object_arrays_are_refused_before_their_contents_are_read(tmp_path, how):
    target = tmp_path / "pwned"
    path = tmp_path / "evil.pkl"
    if how == "joblib.dump":
        joblib.dump({"ok": np.zeros(3), "x": np.array([_RunsShell(target), 1], dtype=object)}, path)
    elif how == "hand-written record":
        path.write_bytes(joblib_record(object, (1,), pickle.dumps(_RunsShell(target), protocol=2)))
    else:
        with open(path, "wb") as f:
            pickle.dump({"x": np.array([{"k": 1}, None], dtype=object)}, f, protocol=int(how[-1]))
    # the old loader (joblib's reader underneath) ran the nested pickle here: with joblib 1.3-1.5.3, or the
    # fixture above, `touch pwned`; with joblib 1.6 it refused 'posix.system' but loaded benign object arrays
    with pytest.raises(UnsafePickleError, match=r"evil.pkl: refused an object array \(dtype object\)"):
        safe_load(path)
    assert not target.exists()


@pytest.mark.parametrize("dtype", ["O", [("a", "f4"), ("b", "O")]])
def test_object_dtypes_are_refused_on_their_own(tmp_path, dtype):
    path = tmp_path / "dtype.pkl"
    path.write_bytes(pickle.dumps({"d": np.dtype(dtype)}, protocol=2))
    with pytest.raises(UnsafePickleError, match="object array"):
        safe_load(path)


class _Reduces:
    def __init__(self, *reduced):
        self.reduced = reduced

    def __reduce__(self):
        return self.reduced


@pytest.mark.parametrize("reduced, error, match", [
    # found by the fuzzer: numpy's dtype __setstate__ took this 6-tuple and a later array of it crashed numpy
    ((np.dtype, ("f4", False, True), (3, "<", None, -1, -1, 0)), CorruptFileError, "malformed numpy dtype state"),
    ((np.dtype, ("V8", False, True), (3, "|", None, ("a",), {"a": (np.dtype("f8"), 4)}, 8, 1, 0)),
     CorruptFileError, "malformed numpy dtype state"),                      # a field past the item's end
    ((np.dtype, ("f4", False, False), (3, ">", None, None, None, -1, -1, 0)),   # copy=False: numpy's own
     UnsafePickleError, "a numpy dtype other than a new one"),                  # float32 would turn big-endian
    ((np.dtype, ("M8[D]", False, True)), UnsafePickleError, "data files hold numbers, bytes and strings"),
])
def test_numpy_states_are_numpys_own_or_refused(tmp_path, reduced, error, match):
    path = tmp_path / "state.pkl"
    path.write_bytes(pickle.dumps({"d": _Reduces(*reduced)}, protocol=2))
    with pytest.raises(error, match=match):
        safe_load(path)
    assert np.dtype("f4").byteorder == "="


# ---- memory bombs: refused before the memory is taken ----------------------------------------------------

class _Calls:
    def __init__(self, func, *args):
        self.func, self.args = func, args

    def __reduce__(self):
        return (self.func, self.args)


def _assert_refused_fast(path, error, match, limits=None, max_seconds=2.0, max_mb=64):
    tracemalloc.start()
    start = time.perf_counter()
    try:
        with pytest.raises(error, match=match):
            safe_load(path, limits=limits)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert time.perf_counter() - start < max_seconds and peak < max_mb << 20, (time.perf_counter() - start, peak)


@pytest.mark.parametrize("func, args, match", [
    (bytearray, (2 ** 31,), "refused to load global 'builtins.bytearray'"),
    (bytes, (2 ** 31,), r"bytes\(n\) allocates n"),
    (np.ndarray, ((2 ** 40,),), "a call of 'ndarray'"),
    (list, (b"x" * 100,), "container built from bytes"),
    (pickle.loads(pickle.dumps(np.ones)), ((2 ** 40,),), "refused to load global 'numpy.*ones'"),
])
def test_calls_that_allocate_are_refused_before_they_run(tmp_path, func, args, match):
    path = tmp_path / "bomb.pkl"
    path.write_bytes(pickle.dumps(_Calls(func, *args), protocol=2))
    assert len(path.read_bytes()) < 200
    _assert_refused_fast(path, UnsafePickleError, match)


def test_a_40_byte_bytearray_bomb(tmp_path):
    path = tmp_path / "bomb.pkl"
    path.write_bytes(b"\x80\x02c__builtin__\nbytearray\n\x8a\x05\x00\x00\x00\x80\x00\x85R.")   # bytearray(2**31)
    assert len(path.read_bytes()) <= 40
    _assert_refused_fast(path, UnsafePickleError, "builtins.bytearray")


@pytest.mark.parametrize("stream, match", [
    (b"\x80\x04\x95" + (2 ** 40).to_bytes(8, "little"), "loading needs more than"),              # FRAME
    (b"\x80\x05\x96" + (2 ** 40).to_bytes(8, "little"), "loading needs more than"),              # BYTEARRAY8
    (b"\x80\x04\x8e" + (2 ** 40).to_bytes(8, "little"), "loading needs more than"),              # BINBYTES8
    (pickle.dumps(_Calls(pickle.loads(pickle.dumps(np.ndarray.__reduce__(np.zeros(1))[0])), np.ndarray,
                         (2 ** 40,), b"b"), protocol=2), r"has 1099511627776 elements"),       # _reconstruct
    (joblib_record("c16", (40_000_000,), b""), "loading needs more than"),                  # 640 MB record
    (joblib_record("f4", (300_000_000,), b""), "300000000 elements, more than the cap"),     # 1.2 GB record
    (joblib_record("S0", (2 ** 40,), b""), "1099511627776 elements, more than the cap"),   # 0 bytes each
])
def test_length_fields_claiming_gigabytes_are_refused_before_allocating(tmp_path, stream, match):
    path = tmp_path / "bomb.pkl"
    path.write_bytes(stream)
    _assert_refused_fast(path, PickleLimitError, match)


def _zero_stream(n_chunks: int) -> bytes:
    """A zlib stream that inflates to n_chunks x 16 MiB of zeros (plus one valid record header), made
    without compressing gigabytes: a fully flushed block of zeros repeated."""
    head = joblib_record("f4", (n_chunks << 22,), b"")[:-1]   # the record, without the final STOP
    c = zlib.compressobj(9)
    out = [c.compress(head), c.flush(zlib.Z_FULL_FLUSH)]
    out.append(c.compress(bytes(16 << 20)) + c.flush(zlib.Z_FULL_FLUSH))
    return out[0] + out[1] + out[2] * n_chunks


def test_a_1mb_zlib_bomb_is_refused_within_the_cap(tmp_path):
    """The issue's case: ~1 MB of zlib inflating to 1.2 GB. With the default caps its header alone is
    refused; with a cap it fits under (the array is declared small enough) it stops at the cap."""
    path = tmp_path / "bomb.pkl"
    path.write_bytes(_zero_stream(72))                       # 72 x 16 MiB = 1.2 GB of zeros
    assert len(path.read_bytes()) < 1.5e6
    _assert_refused_fast(path, PickleLimitError, "possible memory bomb")
    small = PickleLimits(max_bytes=8 << 20, max_elements=1 << 30)
    many = tmp_path / "many.pkl"                             # 64 MiB of 1 MiB arrays in a list
    many.write_bytes(zlib.compress(pickle.dumps([np.full(1 << 18, i, np.float32) for i in range(64)], protocol=2)))
    _assert_refused_fast(many, PickleLimitError, "LART_PICKLE_MAX_BYTES", limits=small, max_mb=24)


@pytest.mark.parametrize("opcode", [b"\x8f", b"]", b"}", b"(", b"\x94"])   # EMPTY_SET, list, dict, MARK, MEMOIZE
def test_opcode_amplification_is_charged(tmp_path, opcode):
    """One byte that allocates 56-216 bytes, repeated: refused at the cap, not after gigabytes."""
    path = tmp_path / "amp.pkl"
    path.write_bytes(zlib.compress(b"\x80\x04N" + opcode * (4 << 20), 1))   # 4 M opcodes, 20 KB of zlib
    _assert_refused_fast(path, PickleLimitError, "loading needs more than",
                         limits=PickleLimits(max_bytes=4 << 20), max_seconds=10, max_mb=24)


def test_caps_are_configurable_and_named_in_the_error(tmp_path, monkeypatch):
    path = tmp_path / "x.pkl"
    joblib.dump({"pose": np.zeros((100, 229), np.float32)}, path, compress=3)
    assert safe_load(path)["pose"].shape == (100, 229)
    monkeypatch.setenv("LART_PICKLE_MAX_BYTES", "50000")
    with pytest.raises(PickleLimitError, match=r"x.pkl: loading needs more than 50000 bytes of memory "
                                               r"\(LART_PICKLE_MAX_BYTES\)"):
        safe_load(path)
    monkeypatch.delenv("LART_PICKLE_MAX_BYTES")
    monkeypatch.setenv("LART_PICKLE_MAX_ELEMENTS", "1000")
    with pytest.raises(PickleLimitError, match=r"22900 elements, more than the cap of 1000 \(LART_PICKLE_MAX_ELEMENTS\)"):
        safe_load(path)
    assert safe_load(path, limits=PickleLimits())["pose"].shape == (100, 229)   # a parameter wins
    monkeypatch.setenv("LART_PICKLE_MAX_ELEMENTS", "lots")
    with pytest.raises(ValueError, match="LART_PICKLE_MAX_ELEMENTS: expected a positive integer, found 'lots'"):
        safe_load(path)


def test_a_large_real_release_track_is_far_below_the_default_caps(tmp_path):
    """1000 frames with 2048-d appearance per frame (the shape of the largest release files): loads with a
    cap 8x below the default."""
    T = 1000
    rng = np.random.default_rng(0)
    release = {"fid": np.arange(T, dtype=np.float64).reshape(T, 1, 1),
               "pose_shape": rng.standard_normal((T, 1, 229)).astype(np.float32),
               "3d_joints": rng.standard_normal((T, 1, 45, 3)).astype(np.float32),
               "action_label_gt": np.zeros((T, 1, 80), np.float32),
               "apperance_index": np.arange(T).reshape(T, 1, 1),
               "apperance_dict": {k: rng.standard_normal((1, 2048)).astype(np.float32) for k in range(T)},
               "action_label_psudo": {k: rng.random((1, 80)).astype(np.float32) for k in range(T)},
               "frame_name": [f"v/v_{t + 1:06d}.jpg" for t in range(T)]}
    path = tmp_path / "big.pkl"
    joblib.dump(release, path)
    loaded = safe_load(path, limits=PickleLimits(max_bytes=DEFAULT_MAX_BYTES // 8))
    assert len(loaded["apperance_dict"]) == T and loaded["pose_shape"].shape == (T, 1, 229)


# ---- fuzzing: only the loader's own errors, whatever the bytes ----------------------------------------

def _valid_files() -> list[bytes]:
    small = {"a": np.arange(6, dtype=np.float32).reshape(2, 3), "b": [1, "x", (2.5, None)], "c": {3: b"z"},
             "d": np.array(["ab", "c"]), "e": np.float64(2.0), "f": collections.OrderedDict(k={1, 2})}
    out = [pickle.dumps(small, protocol=p) for p in (0, 2, 4, 5)]
    for compress in (0, ("zlib", 1), ("gzip", 1)):
        buf = io.BytesIO()
        joblib.dump(small, buf, compress=compress)
        out.append(buf.getvalue())
    return out


VALID = _valid_files()
FUZZ_LIMITS = PickleLimits(max_bytes=16 << 20, max_elements=1 << 20)


@settings(max_examples=200, deadline=None, database=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(base=st.sampled_from(range(len(VALID))), edits=st.lists(
    st.tuples(st.sampled_from(["set", "insert", "delete", "cut"]), st.integers(0, 10 ** 6),
              st.binary(min_size=1, max_size=9)), min_size=1, max_size=4))
def test_fuzz_mutated_files_raise_only_the_loaders_errors(tmp_path_factory, base, edits):
    data = bytearray(VALID[base])
    for kind, pos, blob in edits:
        pos %= len(data) + 1
        if kind == "set":
            data[pos:pos + len(blob)] = blob
        elif kind == "insert":
            data[pos:pos] = blob
        elif kind == "delete":
            del data[pos:pos + len(blob)]
        else:
            del data[pos:]
    _load_fuzzed(tmp_path_factory, bytes(data))


@settings(max_examples=150, deadline=None, database=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=300), proto=st.sampled_from([b"", b"\x80\x02", b"\x80\x04", b"\x80\x05"]))
def test_fuzz_random_bytes_raise_only_the_loaders_errors(tmp_path_factory, data, proto):
    _load_fuzzed(tmp_path_factory, proto + data)


def _load_fuzzed(tmp_path_factory, data: bytes) -> None:
    path = tmp_path_factory.getbasetemp() / "fuzz.pkl"
    path.write_bytes(data)
    try:
        safe_load(path, limits=FUZZ_LIMITS)
    except (UnsafePickleError, CorruptFileError) as e:   # PickleLimitError is an UnsafePickleError
        assert str(path) in str(e) and "\n" not in str(e)


# ---- writes ---------------------------------------------------------------------------------------------

def test_a_failed_write_names_the_file_and_keeps_the_old_one(tmp_path, monkeypatch):
    """write() reports ENOSPC without a file name; atomic writes name the target and leave it as it was."""
    out = tmp_path / "metrics.json"
    atomic_write_text(out, "old")
    real_fsync = os.fsync

    def disk_full(_fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(OSError, match="No space left on device") as err:
        atomic_write_text(out, "new")
    monkeypatch.setattr(os, "fsync", real_fsync)
    assert err.value.errno == errno.ENOSPC and err.value.filename == str(out)
    assert out.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["metrics.json"]
    missing = tmp_path / "nope.txt"
    with pytest.raises(FileNotFoundError) as err, __import__("lartcore.fileio").fileio.atomic_path(out) as tmp:
        tmp.write_text(missing.read_text())                  # another file's error keeps its own name
    assert err.value.filename == str(missing)
