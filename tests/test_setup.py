"""Packaging facts: environment.yml mirrors pyproject.toml; the CLI answers --help; `lart eval` loads no
torch."""
import subprocess
import sys
from pathlib import Path

import tomllib
import yaml

ROOT = Path(__file__).resolve().parents[1]


def test_environment_yml_matches_pyproject():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    deps = env["dependencies"]
    assert "python=3.11" in deps
    pip = next(d["pip"] for d in deps if isinstance(d, dict))
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = set(project["optional-dependencies"])
    # the pip section installs torch's CPU wheel then the project with every extra
    assert pip[0] == "torch==2.13.0"
    assert pip[1] == "-e .[all]"
    all_extra = project["optional-dependencies"]["all"][0]
    assert set(all_extra.split("[")[1].rstrip("]").split(",")) == extras - {"all"}
    torch_req = next(d for d in project["dependencies"] if d.startswith("torch"))
    assert ">=2.4" in torch_req and "<2.14" in torch_req   # 2.13.0 satisfies it; no CUDA wheel pulled


def test_cli_help_for_every_subcommand():
    out = subprocess.run([sys.executable, "-m", "lartcore.cli", "--help"], capture_output=True, text=True, check=False)
    assert out.returncode == 0 and "data" in out.stdout and "eval" in out.stdout
    for cmd in (["data", "pack"], ["data", "stats"], ["data", "check"], ["eval"], ["demo"]):
        r = subprocess.run([sys.executable, "-m", "lartcore.cli", *cmd, "--help"], capture_output=True, text=True, check=False)
        assert r.returncode == 0, (cmd, r.stderr)
        assert "usage: lart" in r.stdout


def test_light_commands_import_no_torch(tmp_path):
    """`lart eval` and `lart data check` run without importing torch (~4 s of a ~2 s evaluation)."""
    (tmp_path / "gt.csv").write_text("vid_a,0902,0.1,0.1,0.5,0.9,12,0\n")
    (tmp_path / "pred.csv").write_text("vid_a,0902,0.1,0.1,0.5,0.9,12,0.9\n")
    argv = [["eval", "--gt", str(tmp_path / "gt.csv"), "--pred", str(tmp_path / "pred.csv")],
            ["data", "check", "ava_v2.2", str(tmp_path)]]
    code = ("import sys; from lartcore.cli import main; rc = [main(a) for a in %r]; "
            "print(rc, sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'trimesh') or m.endswith('commands')))")
    r = subprocess.run([sys.executable, "-c", code % argv], capture_output=True, text=True, check=False, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[-1] == "[0, 1] []"


def test_no_merge_conflict_markers_in_tracked_text():
    """A merge left `<<<<<<< HEAD` ... `>>>>>>> eval` in the README once; tracked text files stay clean."""
    files = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=False).stdout.split()
    if not files:                      # not a git checkout (an sdist): nothing to check
        return
    markers = ("<<<<<<< ", ">>>>>>> ")
    bad = []
    for name in files:
        path = ROOT / name
        if path.suffix not in {".py", ".md", ".yaml", ".yml", ".toml", ".ipynb", ".cfg", ".txt"} or not path.is_file():
            continue
        for no, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            if line.startswith(markers) or line == "=======":
                bad.append(f"{name}:{no}")
    assert not bad, bad


def test_make_test_pins_the_oldest_allowed_loader_dependencies():
    """`make test` reruns tests/test_fileio.py under OLDEST_PINS: they must be pyproject's lower bounds of
    joblib and numpy (raising a bound without moving the pin would test a version no longer allowed)."""
    pins = next(line for line in (ROOT / "Makefile").read_text().splitlines() if line.startswith("OLDEST_PINS"))
    pinned = dict(p.split("==") for p in pins.split(":=")[1].split())
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    lower = {d.split(">=")[0].strip(): d.split(">=")[1].split(",")[0].split()[0].strip('"')
             for d in deps if ">=" in d}
    assert set(pinned) == {"joblib", "numpy"}
    for name, version in pinned.items():
        assert tuple(map(int, version.split("."))) == tuple(map(int, (lower[name] + ".0.0").split(".")[:3])), name
