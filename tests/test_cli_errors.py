"""`lart`: every failure ends as one line `lart: error: ...` on stderr with exit status 2 (a traceback only
with --debug); the cases of other modules live with their tests (test_fileio, test_tracks, test_store,
test_checkpoint, test_train, test_infer)."""
import errno

import pytest
from disk_full import fill_disk

from lartcore import cli


@pytest.mark.parametrize("error, line", [
    (FileNotFoundError(errno.ENOENT, "No such file or directory", "/d/x.csv"), "/d/x.csv: No such file or directory"),
    (OSError(errno.ENOSPC, "No space left on device", "/d/out"), "/d/out: No space left on device"),
    (OSError(errno.EXDEV, "Invalid cross-device link", "/a", None, "/b"), "/a -> /b: Invalid cross-device link"),
    (ValueError("/d/x.csv:3: 'score' expected a number,\n  found 'abc'"), "/d/x.csv:3: 'score' expected a number, found 'abc'"),
    (KeyError("/d/s: no tracks of video 'v'"), "/d/s: no tracks of video 'v'"),
    (RuntimeError("boom"), "RuntimeError: boom (unexpected: rerun with --debug for the traceback)"),
    (ZeroDivisionError(), "ZeroDivisionError: ZeroDivisionError (unexpected: rerun with --debug for the traceback)"),
])
def test_any_exception_is_one_line(monkeypatch, capsys, error, line):
    from lartcore.cli import commands

    def fails(_args):
        raise error
    monkeypatch.setattr(commands, "run_stats", fails)
    assert cli.main(["data", "stats", "somewhere"]) == 2
    assert capsys.readouterr().err == f"lart: error: {line}\n"
    for argv in (["--debug", "data", "stats", "x"], ["data", "stats", "x", "--debug"]):   # the traceback
        with pytest.raises(type(error)):
            cli.main(argv)


def test_interrupt_is_one_line(monkeypatch, capsys):
    from lartcore.cli import commands

    def interrupted(_args):
        raise KeyboardInterrupt
    monkeypatch.setattr(commands, "run_stats", interrupted)
    assert cli.main(["data", "stats", "x"]) == 130
    assert capsys.readouterr().err == "lart: interrupted\n"


def test_eval_disk_full_is_one_line_and_keeps_the_previous_results(tmp_path, monkeypatch, capsys):
    (tmp_path / "gt.csv").write_text("vid_a,0902,0.1,0.1,0.5,0.9,12,0\n")
    (tmp_path / "pred.csv").write_text("vid_a,0902,0.1,0.1,0.5,0.9,12,0.9\n")
    args = ["eval", "--gt", str(tmp_path / "gt.csv"), "--pred", str(tmp_path / "pred.csv"), "--out",
            str(tmp_path / "out")]
    assert cli.main(args) == 0
    before = {p.name: p.read_bytes() for p in (tmp_path / "out").iterdir()}
    fill_disk(monkeypatch, tmp_path, name_contains=".csv", modes="wx")
    assert cli.main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"lart: error: {tmp_path / 'out'}") and err.endswith(": No space left on device\n")
    assert err.count("\n") == 1
    assert {p.name: p.read_bytes() for p in (tmp_path / "out").iterdir()} == before
