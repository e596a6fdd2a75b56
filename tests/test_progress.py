"""Progress without a terminal: a line every few seconds (step, rate, ETA), a closing line after a long
step, nothing for a short one; tqdm in a terminal; silent when disabled (DDP ranks > 0)."""
from __future__ import annotations

import io
import os
import subprocess
import sys

from tqdm import tqdm

from lartcore import progress


class FakeClock:
    def __init__(self):
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_line_every_few_seconds_with_rate_and_eta_then_a_closing_line():
    clock, lines = FakeClock(), []
    bar = progress.Progress(total=100, initial=20, desc="train lart", unit="steps", every=5.0, clock=clock,
                            write=lines.append)
    for _ in range(10):                 # 10 steps in 4 s: no line yet
        clock.now += 0.4
        bar.update()
    assert lines == []
    clock.now += 1.0                    # 11 steps in 5 s
    bar.set_postfix(loss="0.2500")
    bar.update()
    assert lines == ["train lart: 31/100 steps (31%), 2.2 steps/s, ETA 31 s, loss=0.2500\n"]
    for _ in range(69):
        clock.now += 1.0
        bar.update()                    # a line at most every 5 s
    assert len(lines) == 1 + 69 // 5
    bar.close()
    bar.close()                         # once
    assert lines[-1] == "train lart: done, 100/100 steps in 1 min 14 s (1.08 steps/s)\n"
    assert len(lines) == 2 + 69 // 5


def test_short_steps_print_nothing_and_iteration_closes():
    clock, lines = FakeClock(), []
    seen = list(progress.Progress(range(7), desc="predict", unit="batches", clock=clock, write=lines.append))
    assert seen == list(range(7)) and lines == []


def test_without_a_total_and_the_time_format():
    clock, lines = FakeClock(), []
    bar = progress.Progress(desc="render", unit="frames", every=5.0, clock=clock, write=lines.append)
    clock.now += 6.0
    bar.update(30)
    assert lines == ["render: 30 frames, 5 frames/s\n"]
    assert [progress.fmt_seconds(s) for s in (0.4, 59, 200, 7500)] == ["0 s", "59 s", "3 min 20 s", "2 h 05 min"]


def test_terminal_gets_tqdm_elsewhere_lines_disabled_is_silent(monkeypatch, capsys):
    monkeypatch.setattr(progress.sys.stderr, "isatty", lambda: True, raising=False)
    bar = progress.progress(range(3), desc="x")
    assert isinstance(bar, tqdm)
    bar.close()
    monkeypatch.setattr(progress.sys.stderr, "isatty", lambda: False, raising=False)
    assert isinstance(progress.progress(range(3), desc="x"), progress.Progress)
    capsys.readouterr()
    quiet = progress.progress(range(3), desc="x", disable=True)
    quiet.every = 0.0                          # even a due line is not written
    assert list(quiet) == [0, 1, 2]
    quiet.update(5)
    quiet.close()
    assert capsys.readouterr().err == ""


def test_lines_reach_a_pipe_from_a_child_process():
    """What `lart train ... > log` sees: lines on stderr although it is not a terminal."""
    code = ("from lartcore import progress\n"
            "bar = progress.progress(total=3, desc='work', unit='steps')\n"
            "bar.every = 0.0\n"
            "[bar.update() for _ in range(3)]\n"
            "bar.close()\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    lines = done.stderr.splitlines()
    assert lines[0].startswith("work: 1/3 steps (33%), ") and "ETA" in lines[0]
    assert lines[-1].startswith("work: done, 3/3 steps in ")


def test_a_headless_kernel_writes_to_the_callers_stderr(monkeypatch):
    """In a kernel run by lartcore.notebooks, lines go to the process's original stderr descriptor (which
    ipykernel keeps as `_original_stdstream_copy`), not into the notebook."""
    read, write = os.pipe()

    class KernelStream(io.StringIO):
        _original_stdstream_copy = write

    monkeypatch.setattr(progress.sys, "stderr", KernelStream())
    monkeypatch.setenv(progress.TO_CALLER_ENV, "1")
    progress._caller_stderr()("a line\n")
    os.close(write)
    assert os.read(read, 100) == b"a line\n" and progress.sys.stderr.getvalue() == ""
    os.close(read)
    monkeypatch.delenv(progress.TO_CALLER_ENV)
    progress._caller_stderr()("in the notebook\n")
    assert progress.sys.stderr.getvalue() == "in the notebook\n"
