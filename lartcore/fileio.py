"""File safety: atomic writes (readers never see a partial file) and, for untrusted pickles,
a restricted unpickler that cannot execute code (see `safe_load`)."""
from __future__ import annotations

import _compat_pickle
import bz2
import contextlib
import gzip
import io
import lzma
import os
import pickle
import struct
import tempfile
import zlib
from collections.abc import Callable, Mapping
from pathlib import Path

from joblib.compressor import BinaryZlibFile
from joblib.numpy_pickle import NumpyUnpickler


@contextlib.contextmanager
def atomic_path(path: str | Path):
    """Yield a temp path beside `path`; on success it is renamed onto `path`, on error removed.

        with atomic_path(out) as tmp:
            np.save(tmp, arr)      # any writer that takes a path
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give outputs the usual permissions
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, text.encode())


# --- Restricted loading of pickle / joblib files --------------------------------------------------

class UnsafePickleError(ValueError):
    """A pickle asked for a global outside the allowed set (it could run code); nothing was called."""


class CorruptFileError(ValueError):
    """A pickle / joblib file is truncated, corrupt or in an unsupported format."""


# Globals a data pickle may reference: numpy arrays/dtypes/scalars, joblib's array record, containers.
SAFE_GLOBALS = frozenset({
    "numpy.ndarray", "numpy.dtype",
    "numpy.core.multiarray._reconstruct", "numpy.core.multiarray.scalar",
    "numpy._core.multiarray._reconstruct", "numpy._core.multiarray.scalar",
    "numpy.core.numeric._frombuffer", "numpy._core.numeric._frombuffer",
    "joblib.numpy_pickle.NumpyArrayWrapper",
    "collections.OrderedDict", "_codecs.encode",
    "builtins.dict", "builtins.list", "builtins.tuple", "builtins.set", "builtins.frozenset",
    "builtins.int", "builtins.float", "builtins.complex", "builtins.bool", "builtins.str",
    "builtins.bytes", "builtins.bytearray", "builtins.slice",
})

# Magic bytes of the compressions `joblib.dump` writes (lz4 and joblib < 0.10 'ZF' files are refused).
_MAGIC = {b"\x78": "zlib", b"\x1f\x8b": "gzip", b"BZh": "bz2", b"\xfd7zXZ": "xz", b"\x5d\x00": "lzma"}

# What a truncated or corrupt stream raises inside pickle / numpy / the decompressors.
_CORRUPT = (EOFError, pickle.UnpicklingError, ValueError, TypeError, AttributeError, IndexError,
            KeyError, OSError, zlib.error, lzma.LZMAError, struct.error, MemoryError)


def _is_numpy_scalar_type(key: str) -> bool:
    """numpy 2 pickles dtypes of some kinds as `numpy.dtypes.XDType` classes (e.g. StrDType)."""
    return key.startswith("numpy.dtypes.") and key.endswith("DType")


class _RestrictedUnpickler(NumpyUnpickler):
    """joblib's unpickler (reads its raw-bytes array records) with an allow-list `find_class`."""

    def __init__(self, source: str, file_handle, extra: Mapping[str, Callable]):
        super().__init__(source, file_handle, ensure_native_byte_order=True)
        self._source, self._extra = source, extra
        self.encoding = "latin1"   # python-2 pickles (e.g. SMPL model files) hold array bytes as 8-bit str

    def find_class(self, module: str, name: str):
        if self.proto < 3:   # python-2 era names, e.g. __builtin__.set
            module, name = _compat_pickle.NAME_MAPPING.get((module, name), (module, name))
            module = _compat_pickle.IMPORT_MAPPING.get(module, module)
        key = f"{module}.{name}"
        if key in self._extra:
            return self._extra[key]
        if key in SAFE_GLOBALS or _is_numpy_scalar_type(key):
            return super().find_class(module, name)
        raise UnsafePickleError(f"{self._source}: refused to load global '{key}' (not an allowed "
                                "numpy/builtin type; the file may execute code)")


def _open_decompressed(f, source: str):
    """Wrap the raw file `f` in the decompressor its magic bytes name."""
    head = f.peek(6)[:6]
    if head.startswith(b"ZF"):
        raise CorruptFileError(f"{source}: joblib < 0.10 'ZF' format is not supported; re-save it")
    kind = next((k for magic, k in _MAGIC.items() if head.startswith(magic)), None)
    if kind == "zlib":
        return io.BufferedReader(BinaryZlibFile(f, "rb"))
    if kind == "gzip":
        return io.BufferedReader(gzip.GzipFile(fileobj=f, mode="rb"))
    if kind == "bz2":
        return io.BufferedReader(bz2.BZ2File(f, "rb"))
    if kind in ("xz", "lzma"):
        return io.BufferedReader(lzma.LZMAFile(f, "rb"))
    return f


def safe_load(path: str | Path, extra: Mapping[str, Callable] | None = None) -> object:
    """Load a pickle or `joblib.dump` file (any joblib compression) without executing code.

    Only numpy arrays/dtypes/scalars, joblib's array record and builtin containers/scalars may be
    created; any other global raises `UnsafePickleError` before it is called. `extra` maps
    "module.Name" to a replacement callable (e.g. a stand-in for chumpy's `Ch` in SMPL pickles).
    A truncated/corrupt file raises `CorruptFileError`; both errors are ValueErrors naming the file.
    """
    source = str(path)
    with open(path, "rb") as raw:
        try:
            stream = _open_decompressed(io.BufferedReader(raw), source)
            obj = _RestrictedUnpickler(source, stream, extra or {}).load()
            if stream.read(1):
                raise CorruptFileError(f"{source}: trailing data after the pickle stream")
            return obj
        except (UnsafePickleError, CorruptFileError):
            raise
        except _CORRUPT as e:
            detail = f"{type(e).__name__}: {e}" if str(e) else type(e).__name__
            raise CorruptFileError(f"{source}: truncated or corrupt pickle/joblib file ({detail})") from e
