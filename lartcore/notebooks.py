"""Run the reproduction notebooks headless: `make notebooks`, `lart notebooks`, and the end of `lart demo`.

Each notebook in `notebooks/` is executed in-process with nbclient (one fresh kernel per notebook, run in
the caller's working directory so relative data/results paths mean the same as for `lart`), with the
given parameters injected papermill-style in a cell tagged `injected-parameters` right after the cell
tagged `parameters`, and written as HTML to `reports/<name>.html` (nbconvert). The committed notebooks
carry no outputs; executed copies are never written back to `notebooks/`.
"""
from __future__ import annotations

import ast
import os
import time
from pathlib import Path

import nbformat
import torch

from lartcore.fileio import atomic_write_text

NOTEBOOK_DIR = Path(__file__).resolve().parents[1] / "notebooks"
NOTEBOOKS = ("table_1_tracking_stats", "table_2_pose_only", "table_3_sota_and_table_6_backbones",
             "table_4_ava_kinetics", "table_5_ablation", "figures_2_3_5_7_class_gains", "figure_6_num_people",
             "explain_predictions")
PARAMETERS_TAG, INJECTED_TAG = "parameters", "injected-parameters"
CELL_TIMEOUT_S = 3600       # a cell may train several demo models (or evaluate full-size ones)


def notebook_path(name: str, notebook_dir: Path = NOTEBOOK_DIR) -> Path:
    path = notebook_dir / f"{name}.ipynb"
    if not path.is_file():
        raise FileNotFoundError(f"notebook not found: {path} (known: {', '.join(NOTEBOOKS)})")
    return path


def _declared(cell) -> set[str]:
    """Names assigned at top level of the parameters cell."""
    tree = ast.parse(cell.source)
    return {t.id for node in tree.body if isinstance(node, ast.Assign) for t in node.targets
            if isinstance(t, ast.Name)}


def inject_parameters(nb, params: dict, source: str = "notebook"):
    """A copy of `nb` with a cell `name = repr(value)` per parameter after the `parameters` cell.
    Every name must be declared in that cell (a typo would otherwise be silently ignored)."""
    nb = nbformat.from_dict(nb)
    where = [i for i, c in enumerate(nb.cells) if PARAMETERS_TAG in c.metadata.get("tags", [])]
    if len(where) != 1:
        raise ValueError(f"{source}: expected one cell tagged '{PARAMETERS_TAG}', found {len(where)}")
    unknown = sorted(set(params) - _declared(nb.cells[where[0]]))
    if unknown:
        raise ValueError(f"{source}: parameters {unknown} are not declared in its parameters cell "
                         f"(declared: {sorted(_declared(nb.cells[where[0]]))})")
    nb.cells = [c for c in nb.cells if INJECTED_TAG not in c.metadata.get("tags", [])]
    if params:
        cell = nbformat.v4.new_code_cell("\n".join(f"{k} = {v!r}" for k, v in params.items()))
        cell.metadata["tags"] = [INJECTED_TAG]
        nb.cells.insert(where[0] + 1, cell)
    return nb


def _kernel_env() -> dict[str, str]:
    """The caller's environment, plus:
    - PLOTLY_RENDERER: figures as HTML with plotly.js inlined (the reports work offline) and the plotly
      mimetype for JupyterLab; a headless kernel would otherwise emit the mimetype only;
    - OMP_NUM_THREADS: the caller's torch intra-op thread count, so a kernel trains like its caller
      (`lart demo` uses 1 thread for its tiny models)."""
    return {**os.environ, "PLOTLY_RENDERER": "plotly_mimetype+notebook",
            "OMP_NUM_THREADS": str(torch.get_num_threads())}


def execute(path: str | Path, params: dict, cwd: str | Path | None = None):
    """The executed notebook (nbformat node). On a failing cell, raises nbclient's CellExecutionError;
    the partly executed notebook is then in the exception's `.notebook` attribute."""
    from nbclient import NotebookClient  # noqa: PLC0415  (the notebooks extra)
    from nbclient.exceptions import CellExecutionError  # noqa: PLC0415
    nb = inject_parameters(nbformat.read(path, as_version=4), params, str(path))
    client = NotebookClient(nb, timeout=CELL_TIMEOUT_S, kernel_name="python3",
                            resources={"metadata": {"path": str(cwd or os.getcwd())}},
                            extra_arguments=["--IPKernelApp.log_level=ERROR"])   # no TCP-transport warning
    try:
        client.execute(env=_kernel_env())
    except CellExecutionError as e:
        e.notebook = nb
        raise
    return nb


def write_html(nb, out: str | Path) -> Path:
    from nbconvert import HTMLExporter  # noqa: PLC0415  (the notebooks extra)
    body, _ = HTMLExporter(template_name="lab").from_notebook_node(nb)
    atomic_write_text(out, body)
    return Path(out)


def run(names=NOTEBOOKS, params: dict | None = None, reports_dir: str | Path = "reports",
        notebook_dir: Path = NOTEBOOK_DIR) -> list[Path]:
    """Execute the named notebooks in order and write `<reports_dir>/<name>.html` for each; returns the
    HTML paths. A failing notebook's partial HTML is written too, then the error is raised with its name."""
    from nbclient.exceptions import CellExecutionError  # noqa: PLC0415  (the notebooks extra)
    out = []
    for name in names:
        path, html = notebook_path(name, notebook_dir), Path(reports_dir) / f"{name}.html"
        start = time.perf_counter()
        try:
            nb = execute(path, params or {})
        except CellExecutionError as e:
            write_html(e.notebook, html)
            raise RuntimeError(f"notebook {path} failed (partial output: {html}):\n{e}") from None
        out.append(write_html(nb, html))
        print(f"[notebook {name}: {time.perf_counter() - start:.1f} s -> {html}]", flush=True)
    return out
