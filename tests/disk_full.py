"""`fill_disk(monkeypatch, folder)`: from now on the disk under `folder` is full. Files opened there for
writing (through Python's open, as numpy, pandas, joblib, our torch.save sink and pathlib do) raise
OSError(ENOSPC) on write, without a file name, as write(2) does; reading is unaffected."""
from __future__ import annotations

import builtins
import errno
import io
import os
from pathlib import Path


class _FullFile:
    def __init__(self, f):
        self._f = f

    def write(self, _data):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def writelines(self, _lines):
        self.write(b"")

    def __getattr__(self, name):
        return getattr(self._f, name)

    def __enter__(self):
        return self

    def __exit__(self, *_exc):
        self._f.close()


def fill_disk(monkeypatch, folder: Path, name_contains: str = "", modes: str = "wax+") -> None:
    """Only files whose name contains `name_contains`, opened with one of `modes`' letters."""
    real, folder = builtins.open, str(Path(folder).resolve())

    def open_(file, mode="r", *args, **kwargs):
        f = real(file, mode, *args, **kwargs)
        if isinstance(file, (str, os.PathLike)) and any(m in mode for m in modes):
            path = Path(file).resolve()
            if str(path).startswith(folder + os.sep) and name_contains in path.name:
                return _FullFile(f)
        return f
    monkeypatch.setattr(builtins, "open", open_)
    monkeypatch.setattr(io, "open", open_)
