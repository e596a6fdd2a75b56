"""Default locations resolve against the repository, not the working directory: a notebook opened in
JupyterLab (working directory notebooks/) and the CLI run from anywhere read the same data and results as
`make demo` (no rebuilt demo data or retrained models under notebooks/)."""
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROBE = ("from lartcore import paths, tables\n"
         "r = tables.Results(read_only=True)\n"        # what a notebook's first cells build
         "print(paths.data_root(), paths.demo_root(), paths.results_dir(), r.root(), r.registry.root, sep='\\n')")


def test_default_roots_do_not_depend_on_the_working_directory(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("LART_")}
    env["PYTHONPATH"] = str(ROOT)
    seen = [subprocess.run([sys.executable, "-c", PROBE], cwd=cwd, env=env, capture_output=True, text=True,
                           check=True).stdout.split() for cwd in (ROOT, ROOT / "notebooks", tmp_path)]
    assert seen[0] == seen[1] == seen[2]
    demo = str(ROOT / "data" / "demo")
    assert seen[0] == [str(ROOT / "data"), demo, str(ROOT / "results"), demo, str(ROOT / "results")]
    assert not (tmp_path / "data").exists() and not (tmp_path / "results").exists()


def test_environment_variables_win(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "LART_DATA_ROOT": str(tmp_path / "d"),
           "LART_RESULTS_DIR": str(tmp_path / "r")}
    out = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT / "notebooks", env=env, capture_output=True,
                         text=True, check=True).stdout.split()
    assert out == [str(tmp_path / "d"), str(tmp_path / "d" / "demo"), str(tmp_path / "r"),
                   str(tmp_path / "d" / "demo"), str(tmp_path / "r")]
