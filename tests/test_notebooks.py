"""The reproduction notebooks: thin and output-free as committed, parameters injected papermill-style, and
every notebook executed headless on the demo data (smoke-sized training) producing its result files and
HTML report."""
from __future__ import annotations

import ast
import json
import os
import shutil
from pathlib import Path

import nbformat
import pandas as pd
import pytest
import torch

from lartcore import notebooks, tables

REPO = Path(__file__).resolve().parents[1]
PARAMETERS = {"data_root", "results_dir", "size", "overrides", "device"}
STATUS = ["status", "paper_note"]
SIDE_BY_SIDE = ["OM", "OM_paper", "PI", "PI_paper", "PM", "PM_paper", "mAP", "mAP_paper"]
FINDINGS = tables.FINDINGS_COLUMNS
GAINS = ["id", "name", "type", "ap_a", "ap_b", "gain", "rel_gain_pct", "gain_paper", "rel_gain_pct_paper"]
EXPECTED = {   # result file (results/tables/<name>.csv) -> columns, per notebook
    "table_1_tracking_stats": {"table_1_tracking_stats": [
        "dataset", "clips", "clips_paper", "tracks", "tracks_paper", "bbox", "bbox_paper", "mean_length_s",
        "mean_length_s_paper", "hours", "hours_paper", "paper_note"]},
    "table_2_pose_only": {
        "table_2_pose_only": ["method", "pose", "n_people", "variant", *SIDE_BY_SIDE,
                              *STATUS],
        "findings_table_2": FINDINGS},
    "table_3_sota_and_table_6_backbones": {
        "table_3_sota": ["method", "pretrain", "variant", "mAP", "mAP_paper", *STATUS],
        "table_6_backbones": ["backbone", "lart", "variant", *SIDE_BY_SIDE, *STATUS],
        "findings_table_3_6": FINDINGS},
    "table_4_ava_kinetics": {"table_4_ava_kinetics": ["method", "variant", "mAP", "mAP_paper", *STATUS]},
    "table_5_ablation": {
        "table_5_ablation": ["model", "tracking", "pose", "variant", *SIDE_BY_SIDE,
                             *STATUS],
        "findings_table_5": FINDINGS},
    "figures_2_3_5_7_class_gains": {f"figure_{k}_class_gains": GAINS for k in (2, 3, 5, 7)},
    "figure_6_num_people": {
        "figure_6_num_people": ["n_people", "variant", "mAP", "mAP_paper", "PI", "PI_paper", *STATUS],
        "findings_figure_6": FINDINGS},
    "explain_predictions": {
        "explain_figure4_cases": ["situation", "video_id", "timestamp", "track", "track_id", "frame", "action_id",
                                  "name", "type", "score", "edit", "drop"],
        "explain_class_drops": ["id", "name", "type", "n_gt", "score_gt", "drop_gt", "drop_all"]},
}


def load(name: str):
    return nbformat.read(notebooks.notebook_path(name), as_version=4)


def test_the_notebook_folder_holds_exactly_the_listed_notebooks():
    assert sorted(p.stem for p in notebooks.NOTEBOOK_DIR.glob("*.ipynb")) == sorted(notebooks.NOTEBOOKS)
    assert set(EXPECTED) == set(notebooks.NOTEBOOKS)


@pytest.mark.parametrize("name", notebooks.NOTEBOOKS)
def test_notebooks_are_thin_and_committed_without_outputs(name):
    nb = load(name)
    nbformat.validate(nb)
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# ")
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(not c.outputs and c.execution_count is None for c in code)
    params = [c for c in code if notebooks.PARAMETERS_TAG in c.metadata.get("tags", [])]
    assert len(params) == 1 and notebooks._declared(params[0]) == PARAMETERS
    assert code[0] is params[0], "the parameters cell is the first code cell"
    assert any("from lartcore import tables" in c.source for c in code)
    for c in code:                                     # the notebooks call lartcore; they define nothing
        tree = ast.parse(c.source)
        defs = [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.ClassDef, ast.Lambda))]
        assert not defs, f"{name}: a code cell defines {defs}"
        assert len(c.source.splitlines()) <= 5
    assert "tables.save(" in code[-1].source, "the last cell writes the result files"


def test_inject_parameters_after_the_parameters_cell():
    nb = load("table_2_pose_only")
    params = {"data_root": "/x/y", "overrides": ("epochs=1", "max_steps=2"), "size": "demo"}
    out = notebooks.inject_parameters(nb, params)
    where = next(i for i, c in enumerate(out.cells) if notebooks.PARAMETERS_TAG in c.metadata.get("tags", []))
    injected = out.cells[where + 1]
    assert injected.metadata["tags"] == [notebooks.INJECTED_TAG]
    scope: dict = {}
    exec(out.cells[where].source + "\n" + injected.source, scope)  # noqa: S102 (our own notebook cell)
    assert {k: scope[k] for k in PARAMETERS} == {"results_dir": None, "device": None, **params}
    assert len(out.cells) == len(nb.cells) + 1 and len(load("table_2_pose_only").cells) == len(nb.cells)
    again = notebooks.inject_parameters(out, {"size": "paper"})           # replaces, never stacks
    assert len(again.cells) == len(nb.cells) + 1 and again.cells[where + 1].source == "size = 'paper'"


def test_inject_parameters_rejects_undeclared_names_and_missing_cell():
    nb = load("table_4_ava_kinetics")
    with pytest.raises(ValueError, match=r"\['data_rot'\] are not declared"):
        notebooks.inject_parameters(nb, {"data_rot": "/x"}, "t4")
    bare = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")])
    with pytest.raises(ValueError, match="bare.ipynb: expected one cell tagged 'parameters', found 0"):
        notebooks.inject_parameters(bare, {}, "bare.ipynb")


def test_kernels_get_the_callers_thread_count_and_an_html_plotly_renderer(monkeypatch):
    monkeypatch.setenv("LART_RESULTS_DIR", "/somewhere")
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        env = notebooks._kernel_env()
    finally:
        torch.set_num_threads(threads)
    assert env["OMP_NUM_THREADS"] == "1" and env["LART_RESULTS_DIR"] == "/somewhere"
    assert "notebook" in env["PLOTLY_RENDERER"].split("+")


def test_unknown_notebook_names_the_folder():
    with pytest.raises(FileNotFoundError, match="nope.ipynb"):
        notebooks.notebook_path("nope")


def test_a_failing_notebook_writes_its_partial_report_and_names_itself(tmp_path):
    params = nbformat.v4.new_code_cell("n = 1")
    params.metadata["tags"] = ["parameters"]
    nb = nbformat.v4.new_notebook(cells=[params, nbformat.v4.new_code_cell("print('before')"),
                                         nbformat.v4.new_code_cell("assert n == 1, 'n was ' + str(n)")])
    nbformat.write(nb, tmp_path / "broken.ipynb")
    with pytest.raises(RuntimeError, match="broken.ipynb failed") as e:
        notebooks.run(["broken"], {"n": 2}, tmp_path / "reports", notebook_dir=tmp_path)
    assert "n was 2" in str(e.value)
    html = (tmp_path / "reports" / "broken.html").read_text()
    assert "before" in html and "n was 2" in html
    assert not nbformat.read(tmp_path / "broken.ipynb", as_version=4).cells[1].outputs   # source untouched


def test_an_executed_notebook_is_reused_until_what_it_depends_on_changes(tmp_path, monkeypatch, capsys):
    """The cache (lartcore.notebooks docstring): one real execution records what the kernel read (a data
    root) and wrote (a result table); then each change of the notebook, its parameters, the code, a file it
    read (data root store index, a run's metrics) or wrote (table, HTML) executes it again, --force too."""
    nb_dir, root, results, reports = tmp_path / "nbs", tmp_path / "root", tmp_path / "results", tmp_path / "reports"
    params = nbformat.v4.new_code_cell("data_root = None\nresults_dir = None\nn = 1")
    params.metadata["tags"] = ["parameters"]
    body = nbformat.v4.new_code_cell("import pandas as pd\nfrom lartcore import pipeline, tables\n"
                                     "pipeline.resolve_data_root(data_root, 'paper')\n"
                                     "tables.save(pd.DataFrame({'n': [n]}), 'tiny', results_dir)")
    nb_dir.mkdir()
    nbformat.write(nbformat.v4.new_notebook(cells=[params, body]), nb_dir / "tiny.ipynb")
    (root / "store" / "s").mkdir(parents=True)
    (root / "store" / "s" / "index.parquet").write_bytes(b"v1")
    args = {"data_root": str(root), "results_dir": str(results)}

    def run(**kw):
        return notebooks.run(["tiny"], kw.pop("params", args), reports, notebook_dir=nb_dir, **kw)

    run()                                                  # a real kernel
    record = json.loads((reports / notebooks.CACHE_DIR / "tiny.json").read_text())
    assert record["reads"] == {"data_roots": [str(root.resolve())], "runs": []}
    assert list(record["outputs"]) == [str(results / "tables" / "tiny.csv")]
    executed = []
    real_nb = nbformat.read(reports.parent / "nbs" / "tiny.ipynb", as_version=4)
    reads = dict(record["reads"])

    def fake(_path, p, _cwd=None, desc=""):               # stands in for the kernel from here on
        executed.append(desc)
        (results / "tables" / "tiny.csv").write_text(f"n\n{p.get('n', 1)}\n")
        return real_nb, reads
    monkeypatch.setattr(notebooks, "_execute", fake)

    def again(change=None, **kw) -> bool:
        """Whether the next run executes (after `change`)."""
        if change:
            change()
        before = len(executed)
        run(**kw)
        return len(executed) > before

    assert not again()
    assert "tiny: cached" in capsys.readouterr().out
    assert again(lambda: (root / "store" / "s" / "index.parquet").write_bytes(b"v2")) and not again()
    assert again(lambda: (results / "tables" / "tiny.csv").unlink()) and not again()
    assert again(lambda: (reports / "tiny.html").write_text("edited")) and not again()
    assert again(params={**args, "n": 2}) and not again(params={**args, "n": 2})
    assert again(force=True) and not again()
    assert again(lambda: nbformat.write(nbformat.v4.new_notebook(
        cells=[params, body, nbformat.v4.new_code_cell("n + 1")]), nb_dir / "tiny.ipynb"))
    monkeypatch.setattr(notebooks, "code_stamp", lambda: {"lartcore": "0.1.0", "package_sha256": "edited"})
    assert again() and not again()
    run_dir = results / "demo" / "lart"                   # a registry run the notebook read
    run_dir.mkdir(parents=True)
    (run_dir / "metrics.json").write_text('{"mAP": 0.5}')
    reads["runs"] = [str(run_dir)]
    assert again(force=True) and not again()
    assert again(lambda: (run_dir / "metrics.json").write_text('{"mAP": 0.6}')) and not again()


@pytest.mark.slow
def test_every_notebook_runs_on_the_demo_data(demo_runs, tmp_path, capsys):
    """All notebooks on the bundled demo dataset and the session's demo runs (conftest.py: every variant the
    notebooks use, so nothing is trained here); each writes its result tables and its HTML report. A second
    run reuses every report (the notebook cache)."""
    base, reg, _, _ = demo_runs
    results = reg.root
    shutil.rmtree(results / "tables", ignore_errors=True)         # the tables asserted below: this run's
    params = {"data_root": str(base / "demo"), "results_dir": str(results)}
    threads = torch.get_num_threads()
    torch.set_num_threads(1)          # tiny models: the kernels train with the caller's thread count
    try:
        html = notebooks.run(notebooks.NOTEBOOKS, params, tmp_path / "reports")
    finally:
        torch.set_num_threads(threads)
    assert [p.name for p in html] == [f"{n}.html" for n in notebooks.NOTEBOOKS]
    first = {p.name: p.read_bytes() for p in html}
    capsys.readouterr()
    assert notebooks.run(notebooks.NOTEBOOKS, params, tmp_path / "reports") == html   # nothing changed:
    assert capsys.readouterr().out.count(": cached (") == len(notebooks.NOTEBOOKS)     # every report reused
    assert {p.name: p.read_bytes() for p in html} == first
    for name, files in EXPECTED.items():
        for stem, columns in files.items():
            df = pd.read_csv(results / "tables" / f"{stem}.csv")
            assert list(df.columns) == columns, stem
        assert "demo data: not comparable to the paper" in (tmp_path / "reports" / f"{name}.html").read_text()
    t2 = pd.read_csv(results / "tables" / "table_2_pose_only.csv")
    assert t2["mAP"].notna().sum() == 2 and t2["mAP"].dropna().between(0, 100).all()
    findings = pd.read_csv(results / "tables" / "findings_figure_6.csv")
    assert findings["key"].tolist() == [*(f"grows_with_n_{n}" for n in range(2, 6)), "saturates"]
    assert set(findings["result"]) <= {tables.PASS, tables.FAIL} and findings["margin"].notna().all()
    assert "plotly.js" in (tmp_path / "reports" / "figure_6_num_people.html").read_text()


def test_lart_notebooks_cli(tmp_path, capsys):
    from lartcore.cli import main as lart_main
    assert lart_main(["notebooks", "--only", "nope", "--reports", str(tmp_path)]) == 2
    assert "nope.ipynb" in capsys.readouterr().err
    data_root = Path(os.environ.get("LART_DATA_ROOT", REPO / "data")) / "demo"
    if not (data_root / "BUILD_COMPLETE").is_file():
        pytest.skip(f"demo data not built at {data_root} (the slow test builds it)")
    threads = torch.get_num_threads()
    try:
        rc = lart_main(["notebooks", "--only", "table_4_ava_kinetics", "--data-root", str(data_root),
                        "--results-dir", str(tmp_path / "results"), "--reports", str(tmp_path / "reports")])
        assert torch.get_num_threads() == 1                    # demo size: one thread, as `lart demo`
    finally:
        torch.set_num_threads(threads)
    assert rc == 0 and (tmp_path / "reports" / "table_4_ava_kinetics.html").is_file()
    assert (tmp_path / "results" / "tables" / "table_4_ava_kinetics.csv").is_file()
