"""Per-notebook overhead of the headless runner (lartcore.notebooks): an empty notebook (kernel start and
stop), Table 4 (kernel + `import lartcore.tables` + paper rows, no training) and its HTML export.

    .venv/bin/python bench/notebook_overhead.py [--data-root data/demo] [--repeat 3]

The demo data root must be built (`lart data build-demo`); results go to a temporary folder.
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import nbformat

from lartcore import notebooks, paths


def timed(fn, repeat: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-root", default=str(paths.demo_root()))
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        empty = Path(tmp) / "empty.ipynb"
        cell = nbformat.v4.new_code_cell("x = 1")
        cell.metadata["tags"] = ["parameters"]
        nbformat.write(nbformat.v4.new_notebook(cells=[cell]), empty)
        t_empty, _ = timed(lambda: notebooks.execute(empty, {}), args.repeat)
        params = {"data_root": args.data_root, "results_dir": tmp}
        path = notebooks.notebook_path("table_4_ava_kinetics")
        t_table, nb = timed(lambda: notebooks.execute(path, params), args.repeat)
        t_html, _ = timed(lambda: notebooks.write_html(nb, Path(tmp) / "t4.html"), args.repeat)
        size = (Path(tmp) / "t4.html").stat().st_size
    print(f"empty notebook (kernel start+stop): {t_empty:6.2f} s (median of {args.repeat})")
    print(f"table_4 notebook (no training):     {t_table:6.2f} s  = {t_table / t_empty:4.1f}x empty")
    print(f"HTML export of table_4:             {t_html:6.2f} s  ({size / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
