"""File safety: atomic writes (readers never see a partial file; a failed write names its file) and, for
untrusted pickles, a restricted unpickler that cannot execute code nor be made to exhaust memory
(see `safe_load`)."""
from __future__ import annotations

import _codecs
import _compat_pickle
import bz2
import collections
import contextlib
import gzip
import io
import lzma
import math
import os
import pickle
import struct
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np

try:   # numpy >= 2: numpy._core; older: numpy.core
    from numpy._core import multiarray as _multiarray
    from numpy._core import numeric as _numeric
except ImportError:   # pragma: no cover  (numpy < 1.26)
    from numpy.core import multiarray as _multiarray
    from numpy.core import numeric as _numeric


@contextlib.contextmanager
def atomic_path(path: str | Path):
    """Yield a temp path beside `path`; on success it is renamed onto `path`, on error removed (an existing
    `path` is then unchanged). An OSError of the write (disk full, ...) is re-raised naming `path`.

        with atomic_path(out) as tmp:
            np.save(tmp, arr)      # any writer that takes a path
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as e:
        raise _write_error(e, path) from e
    try:
        os.close(fd)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give outputs the usual permissions
        yield Path(tmp)
        os.replace(tmp, path)
    except OSError as e:
        if e.filename not in (None, tmp):   # another file's error (e.g. an input not found): as it is
            raise
        raise _write_error(e, path) from e
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _write_error(e: OSError, path: Path) -> OSError:
    """`e` (e.g. ENOSPC from write(), which names no file) as the same kind of OSError naming `path`."""
    return OSError(e.errno, e.strerror or str(e), str(path))


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, text.encode())


# --- Restricted loading of pickle / joblib files --------------------------------------------------
#
# What an untrusted data pickle can do here: build numpy arrays/dtypes/scalars, joblib's array records and
# builtin containers/scalars, nothing else (no other global is ever looked up, so no code runs). Each call a
# pickle asks for (REDUCE, NEWOBJ, INST/OBJ) is checked against a rule for its callable before it is made,
# and object arrays (dtype object: a nested pickle of arbitrary objects) are refused wherever they appear,
# so safety does not depend on the installed joblib: joblib's array records are read here, not by joblib.
# Memory is bounded by `PickleLimits`: every byte read (after decompression), every opcode (at the size of
# what it may allocate) and every array/container built is charged to `max_bytes` *before* it is made,
# and no array may have more than `max_elements` elements.

MAX_BYTES_ENV, MAX_ELEMENTS_ENV = "LART_PICKLE_MAX_BYTES", "LART_PICKLE_MAX_ELEMENTS"
DEFAULT_MAX_BYTES = 512 << 20    # a release track of 1000 frames with 2048-d features is 10-20 MB
DEFAULT_MAX_ELEMENTS = 1 << 26   # its largest array, pose_shape (T, 1, 229), has 0.23 M at T = 1000


class UnsafePickleError(ValueError):
    """A pickle asked for something outside what data files need (a global that could run code, an object
    array, a call with unexpected arguments); nothing was called."""


class PickleLimitError(UnsafePickleError):
    """Loading the file would exceed a `PickleLimits` cap (a possible memory bomb); refused before the
    memory was taken."""


class CorruptFileError(ValueError):
    """A pickle / joblib file is truncated, corrupt or in an unsupported format."""


def env_int(name: str, default: int) -> int:
    """A positive integer from environment variable `name` (unset or empty: `default`)."""
    raw = os.environ.get(name, "").strip()
    try:
        value = int(raw) if raw else default
    except ValueError:
        value = 0
    if value <= 0:
        raise ValueError(f"environment variable {name}: expected a positive integer, found {raw!r}")
    return value


@dataclass(frozen=True)
class PickleLimits:
    """Caps of `safe_load`; a file over one is refused (PickleLimitError) before the memory is taken.

    max_bytes:    decompressed bytes read + estimated memory of everything built (arrays, containers,
                  per-opcode objects); counts each opcode at the most it can allocate, so the memory a
                  load takes stays within a small multiple of it
    max_elements: elements of any one array
    setting:      the environment variable that sets max_bytes (named in the error message)
    """

    max_bytes: int = DEFAULT_MAX_BYTES
    max_elements: int = DEFAULT_MAX_ELEMENTS
    setting: str = MAX_BYTES_ENV

    @classmethod
    def from_env(cls, bytes_env: str = MAX_BYTES_ENV, default_bytes: int = DEFAULT_MAX_BYTES) -> PickleLimits:
        """The caps in force: `bytes_env` / LART_PICKLE_MAX_ELEMENTS when set, else the defaults."""
        return cls(env_int(bytes_env, default_bytes), env_int(MAX_ELEMENTS_ENV, DEFAULT_MAX_ELEMENTS),
                   bytes_env)


class _ArrayRecord:
    """Stands in for joblib's NumpyArrayWrapper: keeps its pickled state (shape, dtype, order, ...); the
    array's raw bytes follow it in the file and are read by `_RestrictedUnpickler._read_array`."""

    __slots__ = ("state",)

    def __setstate__(self, state):
        self.state = state


# Globals a data pickle may reference ("module.name" -> object). numpy.ndarray and the dtype classes are
# arguments only (of _reconstruct, joblib records); which ones may be *called*, and how, is `_CALLS`.
_GLOBALS = {
    "numpy.ndarray": np.ndarray, "numpy.dtype": np.dtype,
    **{f"numpy.{core}.multiarray.{name}": getattr(_multiarray, name)
       for core in ("core", "_core") for name in ("_reconstruct", "scalar")},
    **{f"numpy.{core}.numeric._frombuffer": _numeric._frombuffer for core in ("core", "_core")},
    "joblib.numpy_pickle.NumpyArrayWrapper": _ArrayRecord,
    "collections.OrderedDict": collections.OrderedDict, "_codecs.encode": _codecs.encode,
    **{f"builtins.{t.__name__}": t for t in (dict, list, tuple, set, frozenset, int, float, complex, bool,
                                             str, bytes, slice)},
}
SAFE_GLOBALS = frozenset(_GLOBALS)

# Magic bytes of the compressions `joblib.dump` writes (lz4 and joblib < 0.10 'ZF' files are refused).
_MAGIC = {b"\x78": "zlib", b"\x1f\x8b": "gzip", b"BZh": "bz2", b"\xfd7zXZ": "xz", b"\x5d\x00": "lzma"}
_LATIN1 = ("latin1", "latin-1", "latin_1", "iso-8859-1", "iso8859-1", "l1")   # pickle protocol 2 bytes
_CONTAINERS = (list, tuple, set, frozenset, dict)
_DTYPE_KINDS = "biufcSUV"   # bool, ints, floats, complex, bytes, str, void (structures); no object/datetime
_SCALARS = (int, float, complex, bool, str, bytes, type(None))
# memory an opcode may allocate (bytes charged before it runs); others: _OP_COST_DEFAULT. A set is 216 B,
# a dict 64 B + its entries, a memo entry ~100 B (an int key and a dict slot), a list/tuple/str <= 64 B.
_OP_COST = {**dict.fromkeys([pickle.EMPTY_SET[0], pickle.FROZENSET[0]], 256),
            **dict.fromkeys([pickle.EMPTY_DICT[0], pickle.DICT[0], pickle.MEMOIZE[0], pickle.PUT[0],
                             pickle.BINPUT[0], pickle.LONG_BINPUT[0]], 128)}
_OP_COST_DEFAULT = 64


def _is_numpy_dtype_class(key: str) -> bool:
    """numpy 2 pickles refer to some dtypes' classes as `numpy.dtypes.XDType` (e.g. StrDType)."""
    return key.startswith("numpy.dtypes.") and key.endswith("DType")


def _corrupt(source: str, detail: str) -> CorruptFileError:
    return CorruptFileError(f"{source}: truncated or corrupt pickle/joblib file ({detail})")


def _refuse(source: str, what: str) -> UnsafePickleError:
    return UnsafePickleError(f"{source}: refused {what}")


def _charging(load: Callable, cost: int) -> Callable:
    def op(unpickler):
        unpickler.charge(cost)
        load(unpickler)
    return op


def _shape(value, source: str) -> tuple[int, ...]:
    if not isinstance(value, tuple) or not all(isinstance(n, int) and n >= 0 for n in value):
        raise _refuse(source, f"an array shape {value!r} (expected a tuple of integers >= 0)")
    return value


class _RestrictedUnpickler(pickle._Unpickler):
    """The pure-Python unpickler with an allow-list `find_class`, a rule per allowed call, a memory budget
    and joblib's array records read here (see the section comment)."""

    def __init__(self, source: str, stream, extra: Mapping[str, Callable], limits: PickleLimits):
        # python-2 pickles (e.g. SMPL model files) hold array bytes as 8-bit str: latin1 keeps them
        self._stream = _Charged(stream, self)
        super().__init__(self._stream, encoding="latin1")
        self._source, self._extra, self._limits, self._used = source, extra, limits, 0
        self._calls = {**_CALLS, **{fn: None for fn in extra.values()}}   # None: a caller's stand-in
        self._extra_types = {fn for fn in extra.values() if isinstance(fn, type)}
        self._fresh: dict[int, tuple] = {}   # id -> (numpy object, its call's args) awaiting its BUILD

    # ---- budget
    def charge(self, n: int) -> None:
        self._used += n
        if self._used > self._limits.max_bytes:
            raise PickleLimitError(
                f"{self._source}: loading needs more than {self._limits.max_bytes} bytes of memory "
                f"({self._limits.setting}); refused as a possible memory bomb (raise the cap only for "
                "files you trust)")

    def remaining(self) -> int:
        return max(self._limits.max_bytes - self._used, 0)

    def check_elements(self, n: int, what: str) -> None:
        if n > self._limits.max_elements:
            raise PickleLimitError(
                f"{self._source}: {what} has {n} elements, more than the cap of {self._limits.max_elements} "
                f"({MAX_ELEMENTS_ENV}); refused as a possible memory bomb")

    def check_dtype(self, dtype, what: str = "a dtype") -> np.dtype:
        if not isinstance(dtype, np.dtype):
            raise _refuse(self._source, f"{what} {dtype!r} (expected a numpy dtype)")
        if dtype.hasobject:
            raise _refuse(self._source, f"an object array (dtype {dtype}): it would unpickle arbitrary "
                                        "Python objects; data files hold numeric and string arrays only")
        return dtype

    # ---- globals and calls
    def find_class(self, module: str, name: str):
        if self.proto < 3:   # python-2 era names, e.g. __builtin__.set
            module, name = _compat_pickle.NAME_MAPPING.get((module, name), (module, name))
            module = _compat_pickle.IMPORT_MAPPING.get(module, module)
        key = f"{module}.{name}"
        if key in self._extra:
            return self._extra[key]
        if key in _GLOBALS:
            return _GLOBALS[key]
        if _is_numpy_dtype_class(key) and isinstance(cls := getattr(np.dtypes, name, None), type):
            return cls
        raise UnsafePickleError(f"{self._source}: refused to load global '{key}' (not an allowed "
                                "numpy/builtin type; the file may execute code)")

    def call(self, func, args: tuple, kwargs: dict | None = None):
        """func(*args, **kwargs) if its rule allows these arguments (after charging what it allocates)."""
        if not isinstance(args, tuple) or not isinstance(kwargs, (dict, type(None))):
            raise _corrupt(self._source, "call arguments are not a tuple")
        try:
            rule = self._calls[func]
        except (KeyError, TypeError):
            raise _refuse(self._source, f"a call of {getattr(func, '__name__', func)!r} (data pickles "
                                        "only build allowed types)") from None
        if rule is not None:
            self.charge(rule(self, args, kwargs or {}))
        result = func(*args, **(kwargs or {}))
        self._check_built(result, getattr(func, "__name__", "a call"))
        if func in (np.dtype, _multiarray._reconstruct):   # their state may be set once (BUILD)
            self._fresh[id(result)] = (result, args[:2])
        if rule is None:   # a caller's stand-in: made from inputs charged already
            self.charge(_OP_COST_DEFAULT)
        return result

    def _check_built(self, obj, what: str) -> None:
        if isinstance(obj, np.dtype):
            self.check_dtype(obj)
        elif isinstance(obj, np.ndarray):
            self.check_dtype(obj.dtype)
            self.check_elements(obj.size, f"an array built by {what}")

    def _instantiate(self, klass, args):   # INST / OBJ (protocols 0 and 1)
        self.append(self.call(klass, tuple(args)))

    def load_reduce(self):
        args = self.stack.pop()
        self.stack[-1] = self.call(self.stack[-1], args)

    def load_newobj(self):
        args = self.stack.pop()
        cls = self.stack.pop()
        self.append(self._new(cls, args, {}))

    def load_newobj_ex(self):
        kwargs, args, cls = self.stack.pop(), self.stack.pop(), self.stack.pop()
        self.append(self._new(cls, args, kwargs))

    def _new(self, cls, args, kwargs):
        """cls.__new__(cls, ...): for the array record and a caller's stand-in classes only."""
        if cls is not _ArrayRecord and cls not in self._extra_types:
            raise _refuse(self._source, f"creating an instance of {getattr(cls, '__name__', cls)!r}")
        if cls is _ArrayRecord and (args or kwargs):
            raise _corrupt(self._source, "malformed joblib array record")
        return cls.__new__(cls, *args, **kwargs)

    def load_bytearray8(self):   # protocol 5: the length is charged before the bytearray is allocated
        (n,) = struct.unpack("<Q", self.read(8))
        self.charge(n)
        buf = bytearray(n)
        self.readinto(buf)
        if len(buf) != n:
            raise _corrupt(self._source, "a bytearray ends early")
        self.append(buf)

    # ---- BUILD (an object's __setstate__): numpy's dtype/ndarray __setstate__ trust their input (a
    # malformed tuple can crash the process, and copy=False would let it rewrite numpy's shared float32
    # dtype), so they run only on objects this load just created, once, and only with a state numpy itself
    # writes: a dtype's state must equal the one of the dtype rebuilt from it by numpy's public constructor.
    def load_build(self):
        state, target = self.stack[-1], self.stack[-2]
        if isinstance(target, (np.ndarray, np.dtype)):
            fresh = self._fresh.pop(id(target), None)
            if fresh is None or fresh[0] is not target:
                raise _refuse(self._source, "setting the state of a numpy object twice")
            self.stack[-1] = (self._array_state(state) if isinstance(target, np.ndarray)
                              else self._dtype_state(*fresh[1], state))
        elif not isinstance(target, _ArrayRecord) and type(target) not in self._extra_types:
            raise _refuse(self._source, f"setting the state of a {type(target).__name__}")
        super().load_build()
        built = self.stack[-1]
        if isinstance(built, _ArrayRecord):
            self.stack[-1] = self._read_array(built.state)
        else:
            self._check_built(built, "BUILD")

    def _array_state(self, state) -> tuple:
        """ndarray state (1, shape, dtype, fortran, data) checked: data holds exactly the array's bytes."""
        if not isinstance(state, tuple) or len(state) != 5 or state[0] != 1 or state[3] not in (0, 1):
            raise _corrupt(self._source, "malformed numpy array state")
        shape, dtype, data = _shape(state[1], self._source), self.check_dtype(state[2], "an array dtype"), state[4]
        self.check_elements(math.prod(shape), "an array")
        if not isinstance(data, (bytes, str)) or len(data) != math.prod(shape) * dtype.itemsize:
            raise _corrupt(self._source, "numpy array data does not match its shape and dtype")
        return state

    def _dtype_state(self, spec: str, align: bool, state) -> tuple:
        """numpy's own state for dtype(spec, align) + `state`, or raise if `state` describes another dtype
        than the one numpy's constructor builds from it."""
        try:
            rebuilt = _dtype_from_state(spec, align, state)
            _, args, canonical = rebuilt.__reduce__()
            same = args[:2] == (spec, align) and canonical[:6] == state[:6]   # flags, alignment: derived
        except Exception as e:   # untrusted values in numpy's constructor: any error means malformed
            raise _corrupt(self._source, f"malformed numpy dtype state ({type(e).__name__}: {e})") from e
        if not same:
            raise _corrupt(self._source, f"malformed numpy dtype state {state!r:.200}")
        return canonical

    def _read_array(self, state) -> np.ndarray:
        """The raw array bytes that follow a joblib array record (joblib's layout: an alignment padding
        byte count and padding when the record has `numpy_array_alignment_bytes`, then the data in
        `order`), checked and charged before anything is allocated."""
        if not isinstance(state, dict) or not {"shape", "order", "dtype"} <= set(state):
            raise _corrupt(self._source, "malformed joblib array record")
        dtype = self.check_dtype(state["dtype"], "an array dtype")
        shape, order = _shape(state["shape"], self._source), state["order"]
        if state.get("subclass", np.ndarray) is not np.ndarray or order not in ("C", "F"):
            raise _refuse(self._source, "a joblib array record of another array type or order")
        count = math.prod(shape)
        self.check_elements(count, "an array")
        if count * dtype.itemsize > self.remaining():
            self.charge(count * dtype.itemsize)   # raises: refused before the allocation
        if state.get("numpy_array_alignment_bytes") is not None:
            padding = self._stream.read(1)
            self._stream.read(padding[0] if padding else 0)
        array = np.empty(count, dtype)
        data, done = array.reshape(-1).view(np.uint8), 0   # the bytes are charged as they are read
        while done < array.nbytes:
            n = self._stream.readinto(data[done:done + _CHUNK])
            if not n:
                raise _corrupt(self._source, "the array data ends early")
            done += n
        array = array.reshape(shape[::-1]).T if order == "F" else array.reshape(shape)
        return array if dtype.isnative else array.astype(dtype.newbyteorder("="))

    # opcode -> handler, each charging first the most its opcode can allocate
    dispatch: ClassVar[dict] = {code: _charging(load, _OP_COST.get(code, _OP_COST_DEFAULT)) for code, load in {
        **pickle._Unpickler.dispatch, pickle.REDUCE[0]: load_reduce, pickle.NEWOBJ[0]: load_newobj,
        pickle.NEWOBJ_EX[0]: load_newobj_ex, pickle.BUILD[0]: load_build,
        pickle.BYTEARRAY8[0]: load_bytearray8}.items()}


_CHUNK = 16 << 20   # array bytes read per call


class _Charged:
    """The (decompressed) stream as the unpickler reads it: every read is charged to its budget first, so
    a length field claiming gigabytes (FRAME, BINBYTES8, an array record) is refused before any read."""

    def __init__(self, stream, unpickler: _RestrictedUnpickler):
        self._stream, self._unpickler = stream, unpickler

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0:
            raise _corrupt(self._unpickler._source, "unbounded read")   # pickle reads known lengths
        self._unpickler.charge(n)
        return self._stream.read(n)

    def readinto(self, buf) -> int:
        self._unpickler.charge(len(buf))
        return self._stream.readinto(buf)

    def readline(self) -> bytes:   # protocol 0/1 text opcodes
        line = self._stream.readline(self._unpickler.remaining() + 1)
        self._unpickler.charge(len(line))
        return line


# ---- what each allowed callable may be called with; a rule returns the bytes to charge (estimate of what
# the call allocates) or raises. Containers from containers only: list(bytes) or set(an array) would turn
# each byte/element into an object (a 30-100x amplification).

def _no_args(u, args, kwargs) -> int:
    if args or kwargs:
        raise _refuse(u._source, "arguments for an empty container or record")
    return 64


def _container(u, args, kwargs) -> int:   # list/tuple/set/frozenset/dict/OrderedDict([container])
    if kwargs or len(args) > 1 or (args and not isinstance(args[0], _CONTAINERS)):
        raise _refuse(u._source, f"a container built from {type(args[0]).__name__ if args else 'keywords'}")
    return 256 + 64 * (len(args[0]) if args else 0)


def _scalar(u, args, kwargs) -> int:   # int/float/complex/bool/slice(scalars): bounded by their input
    if kwargs or len(args) > 3 or not all(isinstance(a, _SCALARS) for a in args):
        raise _refuse(u._source, "a number built from non-scalar arguments")
    return 64 + sum(len(a) for a in args if isinstance(a, (str, bytes)))


def _text(u, args, kwargs) -> int:   # str(), str(str), str(bytes, encoding[, errors])
    ok = not kwargs and (not args or (len(args) == 1 and isinstance(args[0], str)) or (
        1 < len(args) <= 3 and isinstance(args[0], (bytes, bytearray)) and all(isinstance(a, str) for a in args[1:])))
    if not ok:
        raise _refuse(u._source, "a str built from other than text or bytes")
    return 64 + 4 * (len(args[0]) if args else 0)


def _bytes(u, args, kwargs) -> int:   # bytes(), bytes(bytes), bytes(str, encoding[, errors]); never bytes(n)
    ok = not kwargs and (not args or (len(args) == 1 and isinstance(args[0], (bytes, bytearray))) or (
        1 < len(args) <= 3 and all(isinstance(a, str) for a in args)))
    if not ok:
        raise _refuse(u._source, "bytes built from other than bytes or text (bytes(n) allocates n)")
    return 64 + 4 * (len(args[0]) if args else 0)


def _encode(u, args, kwargs) -> int:   # _codecs.encode(str, 'latin1'): protocol 2's bytes
    if kwargs or not 1 <= len(args) <= 3 or not isinstance(args[0], str) or (
            len(args) > 1 and str(args[1]).lower() not in _LATIN1):
        raise _refuse(u._source, "_codecs.encode other than of text to latin1 (pickle protocol 2 bytes)")
    return 64 + len(args[0])


def _dtype(u, args, kwargs) -> int:   # numpy.dtype('f4', align, copy=True): a new dtype, never numpy's shared one
    if kwargs or len(args) != 3 or not isinstance(args[0], str) or not all(   # numpy < 1.x wrote 0, 1
            isinstance(a, int) for a in args[1:]) or args[1] not in (0, 1) or args[2] != 1:
        raise _refuse(u._source, "a numpy dtype other than a new one from a type string")
    u.check_dtype(np.dtype(args[0]))   # object arrays
    if np.dtype(args[0]).kind not in _DTYPE_KINDS:
        raise _refuse(u._source, f"numpy dtype {args[0]!r} (data files hold numbers, bytes and strings)")
    return 512


def _reconstruct(u, args, kwargs) -> int:   # numpy's _reconstruct(ndarray, (0,), b'b'), then BUILD
    if kwargs or len(args) != 3 or args[0] is not np.ndarray or args[2] not in (b"b", "b"):
        raise _refuse(u._source, "numpy _reconstruct of other than an empty plain ndarray")
    u.check_elements(math.prod(_shape(args[1], u._source)), "an array")
    if args[1] != (0,):
        raise _refuse(u._source, f"numpy _reconstruct of shape {args[1]} (numpy writes (0,))")
    return 128


def _np_scalar(u, args, kwargs) -> int:   # numpy scalar(dtype, bytes of one item)
    if kwargs or len(args) != 2 or not isinstance(args[1], (bytes, str)):
        raise _refuse(u._source, "a numpy scalar from other than its raw bytes")
    if len(args[1]) != u.check_dtype(args[0], "a scalar dtype").itemsize:
        raise _corrupt(u._source, "numpy scalar data does not match its dtype")
    return 128 + len(args[1])


def _frombuffer(u, args, kwargs) -> int:   # protocol 5 in-band arrays: a view of the (charged) buffer
    if kwargs or len(args) != 4 or not isinstance(args[0], (bytes, bytearray)) or args[3] not in ("C", "F"):
        raise _refuse(u._source, "numpy _frombuffer of other than a bytes buffer")
    count = math.prod(_shape(args[2], u._source))
    u.check_elements(count, "an array")
    if len(args[0]) != count * u.check_dtype(args[1], "an array dtype").itemsize:
        raise _corrupt(u._source, "numpy array buffer does not match its shape and dtype")
    return 128


def _dtype_from_state(spec: str, align: bool, state) -> np.dtype:
    """The dtype that np.dtype(spec, align) + BUILD(state) describes, made by numpy's public constructor
    (which validates field offsets and sizes); numbers, bytes, strings and structures of them only."""
    if not isinstance(state, tuple) or len(state) != 8 or state[0] != 3:
        raise ValueError("expected numpy's 8-tuple version 3")
    _, endian, subarray, names, fields, elsize, _alignment, _flags = state
    if subarray is not None:
        base, shape = subarray
        if not isinstance(base, np.dtype) or not all(isinstance(n, int) for n in shape):
            raise ValueError("bad subarray")
        return np.dtype((base, shape))
    if names is not None:
        if not isinstance(names, tuple) or not isinstance(fields, dict) or set(names) != set(fields):
            raise ValueError("names and fields disagree")
        if not all(isinstance(f, tuple) and len(f) == 2 and isinstance(f[0], np.dtype) and isinstance(f[1], int)
                   for f in fields.values()):
            raise ValueError("fields must be (dtype, offset)")
        return np.dtype({"names": list(names), "formats": [fields[n][0] for n in names],
                         "offsets": [fields[n][1] for n in names], "itemsize": elsize}, align=align)
    base = np.dtype(spec)
    return base.newbyteorder(endian) if endian in ("<", ">") and base.byteorder != "|" else base


_CALLS: dict[object, Callable] = {
    **dict.fromkeys([list, tuple, set, frozenset, dict, collections.OrderedDict], _container),
    **dict.fromkeys([int, float, complex, bool, slice], _scalar),
    str: _text, bytes: _bytes, _codecs.encode: _encode, np.dtype: _dtype, _ArrayRecord: _no_args,
    _multiarray._reconstruct: _reconstruct, _multiarray.scalar: _np_scalar, _numeric._frombuffer: _frombuffer,
}


def _open_decompressed(f, source: str):
    """Wrap the raw file `f` in the decompressor its magic bytes name (all read incrementally: at most
    what the unpickler asks for is decompressed)."""
    head = f.peek(6)[:6]
    if head.startswith(b"ZF"):
        raise CorruptFileError(f"{source}: joblib < 0.10 'ZF' format is not supported; re-save it")
    kind = next((k for magic, k in _MAGIC.items() if head.startswith(magic)), None)
    if kind == "zlib":
        from joblib.compressor import BinaryZlibFile  # noqa: PLC0415  (~0.1 s atomic writes do not need)
        return io.BufferedReader(BinaryZlibFile(f, "rb"))
    if kind == "gzip":
        return io.BufferedReader(gzip.GzipFile(fileobj=f, mode="rb"))
    if kind == "bz2":
        return io.BufferedReader(bz2.BZ2File(f, "rb"))
    if kind in ("xz", "lzma"):
        return io.BufferedReader(lzma.LZMAFile(f, "rb"))
    return f


def safe_load(path: str | Path, extra: Mapping[str, Callable] | None = None,
              limits: PickleLimits | None = None) -> object:
    """Load a pickle or `joblib.dump` file (any joblib compression) without executing code, within `limits`
    (default: `PickleLimits.from_env()`).

    Only numpy arrays/dtypes/scalars (never of dtype object), joblib's array records and builtin
    containers/scalars may be created, each call with checked arguments; any other global raises
    `UnsafePickleError` before it is called, and a file whose load would exceed a cap `PickleLimitError`
    before the memory is taken. `extra` maps "module.Name" to a trusted replacement (e.g. a stand-in for
    chumpy's `Ch` in SMPL pickles; its calls are not checked). A truncated/corrupt file raises
    `CorruptFileError`. All three are ValueErrors naming the file; joblib is not used to read.
    """
    source = str(path)
    limits = limits or PickleLimits.from_env()
    with open(path, "rb") as raw:
        try:
            stream = _open_decompressed(io.BufferedReader(raw), source)
            unpickler = _RestrictedUnpickler(source, stream, extra or {}, limits)
            obj = unpickler.load()
            if unpickler._stream.read(1):
                raise CorruptFileError(f"{source}: trailing data after the pickle stream")
            return obj
        except (UnsafePickleError, CorruptFileError):
            raise
        except Exception as e:   # untrusted bytes: whatever pickle/numpy/decompressors raise on them
            raise _corrupt(source, f"{type(e).__name__}: {e}" if str(e) else type(e).__name__) from e
