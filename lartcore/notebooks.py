"""Run the reproduction notebooks headless: `make notebooks`, `lart notebooks`, and the end of `lart demo`.

Each notebook in `notebooks/` is executed in-process with nbclient (one fresh kernel per notebook, run in
the caller's working directory so relative data/results paths mean the same as for `lart`), with the
given parameters injected papermill-style in a cell tagged `injected-parameters` right after the cell
tagged `parameters`, and written as HTML to `reports/<name>.html` (nbconvert). The committed notebooks
carry no outputs; executed copies are never written back to `notebooks/`.

Cache: a notebook is executed again only when something it depends on changed. After a run,
`reports/.cache/<name>.json` records (1) the notebook file, the injected parameters and
`registry.code_stamp()` (lartcore's version, a hash of the lartcore package's files, so uncommitted edits
count and commits that touch only docs or tests do not, and the versions of the packages that shape a
report); (2) what the notebook read, as
the kernel's `lartcore.pipeline.reads()` reports them after the last cell: the registry runs (their
metrics.json, per_class.csv, provenance.json, which names the checkpoint's sha256) and data roots (their
manifest.json and each store's index); (3) what it wrote: the HTML and the result tables it changed. The
next run reuses the HTML when all three hash the same; `lart notebooks --force` executes regardless.

Progress: a bar (terminal) or a line every few seconds (lartcore.progress) over each notebook's cells;
long steps inside a kernel (training, prediction) report to the caller's stderr, not into the report.
"""
from __future__ import annotations

import ast
import json
import os
import time
from pathlib import Path

import torch

from lartcore import progress
from lartcore.fileio import atomic_write_text
from lartcore.registry import Registry, code_stamp, sha256_file

NOTEBOOK_DIR = Path(__file__).resolve().parents[1] / "notebooks"
NOTEBOOKS = ("table_1_tracking_stats", "table_2_pose_only", "table_3_sota_and_table_6_backbones",
             "table_4_ava_kinetics", "table_5_ablation", "figures_2_3_5_7_class_gains", "figure_6_num_people",
             "explain_predictions")
PARAMETERS_TAG, INJECTED_TAG = "parameters", "injected-parameters"
CELL_TIMEOUT_S = 3600       # a cell may train several demo models (or evaluate full-size ones)
CACHE_DIR = ".cache"        # under the reports folder: one JSON record per executed notebook
READS_MARK = "lartcore-reads: "
RUN_FILES = ("metrics.json", "per_class.csv", "provenance.json")          # what a notebook reads of a run


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
    import nbformat  # noqa: PLC0415  (the notebooks extra; its jsonschema import takes seconds, a cached run skips it)
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
      (`lart demo` uses 1 thread for its tiny models);
    - LART_PROGRESS_TO_CALLER: progress lines of long steps go to the caller's terminal (lartcore.progress)."""
    return {**os.environ, "PLOTLY_RENDERER": "plotly_mimetype+notebook",
            "OMP_NUM_THREADS": str(torch.get_num_threads()), progress.TO_CALLER_ENV: "1"}


def execute(path: str | Path, params: dict, cwd: str | Path | None = None, desc: str = "notebook"):
    """The executed notebook (nbformat node). On a failing cell, raises nbclient's CellExecutionError;
    the partly executed notebook is then in the exception's `.notebook` attribute."""
    return _execute(path, params, cwd, desc)[0]


def _execute(path: str | Path, params: dict, cwd: str | Path | None = None, desc: str = "notebook"):
    """(executed notebook, what it read: `lartcore.pipeline.reads()` in its kernel after the last cell,
    from an extra cell that is removed again)."""
    import nbformat  # noqa: PLC0415  (the notebooks extra)
    from nbclient import NotebookClient  # noqa: PLC0415
    from nbclient.exceptions import CellExecutionError  # noqa: PLC0415
    nb = inject_parameters(nbformat.read(path, as_version=4), params, str(path))
    nb.cells.append(nbformat.v4.new_code_cell(
        f"import json as _j\nfrom lartcore import pipeline as _p\nprint({READS_MARK!r} + _j.dumps(_p.reads()))"))
    cells = progress.progress(total=sum(c.cell_type == "code" for c in nb.cells), desc=desc, unit="cells")
    client = NotebookClient(nb, timeout=CELL_TIMEOUT_S, kernel_name="python3",
                            resources={"metadata": {"path": str(cwd or os.getcwd())}},
                            extra_arguments=["--IPKernelApp.log_level=ERROR"],   # no TCP-transport warning
                            on_cell_executed=lambda **_: cells.update())
    try:
        client.execute(env=_kernel_env())
    except CellExecutionError as e:
        nb.cells.pop()
        e.notebook = nb
        raise
    finally:
        cells.close()
    footer = nb.cells.pop()
    text = "".join(o.get("text", "") for o in footer.outputs if o.get("name") == "stdout")
    return nb, json.loads(text.split(READS_MARK, 1)[1])


def write_html(nb, out: str | Path) -> Path:
    from nbconvert import HTMLExporter  # noqa: PLC0415  (the notebooks extra)
    body, _ = HTMLExporter(template_name="lab").from_notebook_node(nb)
    atomic_write_text(out, body)
    return Path(out)


# ---------------------------------------------------------------- the cache

def _static_key(path: Path, params: dict) -> dict:
    """What a notebook's result depends on besides what it reads (module docstring, (1))."""
    return json.loads(json.dumps({"notebook": sha256_file(path), "params": params, "code": code_stamp()},
                                 default=str))


def _files(paths: list[Path]) -> dict[str, str | None]:
    """sha256 of each file, None for a missing one."""
    return {str(p): sha256_file(p) if p.is_file() else None for p in paths}


def reads_stamp(reads: dict) -> dict:
    """The hashes of what a notebook read (`lartcore.pipeline.reads()`): each run's RUN_FILES, each data root's
    manifest.json and store indexes."""
    runs = [Path(r) / f for r in reads["runs"] for f in RUN_FILES]
    data = [p for r in map(Path, reads["data_roots"]) for p in
            [r / "manifest.json", *sorted(r.glob("store/*/index.parquet")), *sorted(r.glob("store/*/store.json"))]]
    return _files(runs + data)


def _snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    """(mtime_ns, size) of the files of a folder (the result tables notebooks write)."""
    return {str(p): (p.stat().st_mtime_ns, p.stat().st_size) for p in sorted(folder.glob("*")) if p.is_file()}


def _cache_hit(record: Path, static: dict, html: Path) -> bool:
    """Whether `record` says the notebook ran with `static` and reads and outputs that still hash the same."""
    if not (record.is_file() and html.is_file()):
        return False
    try:
        rec = json.loads(record.read_text())
        return (rec["static"] == static and rec["html"] == sha256_file(html)
                and reads_stamp(rec["reads"]) == rec["reads_stamp"] and _files(list(map(Path, rec["outputs"]))) == rec["outputs"])
    except (ValueError, KeyError, TypeError):   # an unreadable record: execute again
        return False


# ---------------------------------------------------------------- running

def run(names=NOTEBOOKS, params: dict | None = None, reports_dir: str | Path = "reports",
        notebook_dir: Path = NOTEBOOK_DIR, force: bool = False) -> list[Path]:
    """Execute the named notebooks in order and write `<reports_dir>/<name>.html` for each; returns the
    HTML paths. A notebook whose inputs did not change since its last run here is not executed again
    (module docstring; force=True: execute all). A failing notebook's partial HTML is written too, then the
    error is raised with its name."""
    params = params or {}
    tables = Registry(params.get("results_dir")).root / "tables"
    out = []
    for name in names:
        path, html = notebook_path(name, notebook_dir), Path(reports_dir) / f"{name}.html"
        record, static = Path(reports_dir) / CACHE_DIR / f"{name}.json", _static_key(path, params)
        if not force and _cache_hit(record, static, html):
            print(f"[notebook {name}: cached (notebook, code and what it reads unchanged) -> {html}]", flush=True)
            out.append(html)
            continue
        record.unlink(missing_ok=True)
        start, before = time.perf_counter(), _snapshot(tables)
        try:
            nb, reads = _execute(path, params, desc=f"notebook {name}")
        except Exception as e:   # nbclient's CellExecutionError, which `_execute` gives the notebook
            if getattr(e, "notebook", None) is None:
                raise
            write_html(e.notebook, html)
            raise RuntimeError(f"notebook {path} failed (partial output: {html}):\n{e}") from None
        out.append(write_html(nb, html))
        written = [Path(p) for p, stat in _snapshot(tables).items() if before.get(p) != stat]
        atomic_write_text(record, json.dumps({"static": static, "reads": reads, "reads_stamp": reads_stamp(reads),
                                              "outputs": _files(written), "html": sha256_file(html)},
                                             indent=1, sort_keys=True) + "\n")
        print(f"[notebook {name}: {time.perf_counter() - start:.1f} s -> {html}]", flush=True)
    return out
