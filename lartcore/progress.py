"""Progress of long steps (train, predict, render, pack, notebooks), with or without a terminal.

`progress(iterable, total=..., desc=..., unit=...)` is a tqdm bar when stderr is a terminal. Anywhere else
(CI logs, `make demo > log`, a pipe) tqdm would draw nothing useful, so it prints a line every EVERY_S
seconds, and a closing line if it printed any (steps shorter than EVERY_S stay silent):

    train lart: 120/600 steps (20%), 8.1 steps/s, ETA 59 s, loss=0.2011
    train lart: done, 600/600 steps in 74 s (8.1 steps/s)

Rate and ETA count only the steps done by this process (a resumed run starts at `initial`).

Notebooks that `lart notebooks` / `lart demo` execute (env PROGRESS_TO_CALLER=1, set by lartcore.notebooks)
write these lines to the kernel process's own stderr, which is the caller's: training inside the Figure 6
notebook shows in the terminal of `make demo`, and the HTML reports stay free of progress lines.
"""
from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Self

from tqdm import tqdm

EVERY_S = 5.0                                  # seconds between two lines without a terminal
TO_CALLER_ENV = "LART_PROGRESS_TO_CALLER"      # "1": in a headless kernel, write to the caller's stderr


def fmt_seconds(s: float) -> str:
    """59 s, 3 min 20 s, 2 h 05 min."""
    s = max(0, round(s))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


def _caller_stderr() -> Callable[[str], None]:
    """Where lines go: the caller's stderr in a kernel run by lartcore.notebooks (ipykernel keeps a copy of
    the process's original stderr descriptor), else sys.stderr."""
    fd = getattr(sys.stderr, "_original_stdstream_copy", None)
    if os.environ.get(TO_CALLER_ENV) == "1" and isinstance(fd, int):
        return lambda line: os.write(fd, line.encode())
    stream = sys.stderr
    return lambda line: (stream.write(line), stream.flush())


class Progress:
    """The line printer (the non-terminal half of `progress`); tqdm's interface as far as we use it:
    iterate, update, set_postfix, close, context manager. `clock` and `write` are injectable (tests)."""

    def __init__(self, iterable: Iterable | None = None, total: int | None = None, desc: str = "",
                 unit: str = "it", initial: int = 0, every: float = EVERY_S,
                 clock: Callable[[], float] = time.monotonic, write: Callable[[str], None] | None = None):
        if total is None and iterable is not None and hasattr(iterable, "__len__"):
            total = initial + len(iterable)
        self.iterable, self.total, self.desc, self.unit = iterable, total, desc, unit
        self.n, self.initial, self.every, self.clock = initial, initial, every, clock
        self.write = write or _caller_stderr()
        self.start = self.last = clock()
        self.postfix, self.lines, self.closed = "", 0, False

    def __iter__(self) -> Iterator:
        for item in self.iterable:
            yield item
            self.update()
        self.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def set_postfix(self, **values) -> None:
        self.postfix = ", ".join(f"{k}={v}" for k, v in values.items())

    def rate(self) -> float:
        elapsed = self.clock() - self.start
        return (self.n - self.initial) / elapsed if elapsed > 0 else 0.0

    def update(self, n: int = 1) -> None:
        self.n += n
        now = self.clock()
        if now - self.last >= self.every:
            self.last = now
            self._line(self.status())

    def status(self) -> str:
        rate = self.rate()
        parts = [f"{self.desc}: {self.n}/{self.total} {self.unit} ({100 * self.n / self.total:.0f}%)" if self.total
                 else f"{self.desc}: {self.n} {self.unit}"]
        parts.append(f"{rate:.3g} {self.unit}/s")
        if self.total and rate > 0:
            parts.append(f"ETA {fmt_seconds((self.total - self.n) / rate)}")
        if self.postfix:
            parts.append(self.postfix)
        return ", ".join(parts)

    def close(self) -> None:
        """The closing line, if a line was printed before (a long step); once."""
        if self.closed:
            return
        self.closed = True
        if self.lines:
            elapsed = self.clock() - self.start
            of = f"/{self.total}" if self.total else ""
            self._line(f"{self.desc}: done, {self.n}{of} {self.unit} in {fmt_seconds(elapsed)} "
                       f"({self.rate():.3g} {self.unit}/s)")

    def _line(self, text: str) -> None:
        self.lines += 1
        self.write(text + "\n")


def progress(iterable: Iterable | None = None, *, total: int | None = None, desc: str = "", unit: str = "it",
             initial: int = 0, disable: bool = False, leave: bool = False):
    """A tqdm bar in a terminal, a `Progress` line printer elsewhere, a silent one with disable=True (e.g.
    DDP ranks other than 0). Iterate it, or call update(n) / set_postfix(...) and close()."""
    if disable:
        return Progress(iterable, total=total, desc=desc, unit=unit, initial=initial, every=math.inf,
                        write=lambda _line: None)
    if sys.stderr.isatty():
        return tqdm(iterable, total=total, desc=desc, unit=unit, initial=initial, leave=leave)
    return Progress(iterable, total=total, desc=desc, unit=unit, initial=initial)
