"""Session fixtures shared by test files.

`demo_runs`: every demo variant (the `make demo` models, `lartcore.demo.DEMO_VARIANTS`: packaged demo
configs, DEMO_OVERRIDES = none) and the class-prior baseline, trained, predicted and evaluated on the demo
data with one torch thread (these models are tiny; intra-op threads on a shared 2-core machine cost more in
synchronisation than they gain). Used by test_findings.py (the paper's findings on the demo data, and the
README's demo block), test_explain.py (sanity checks of the explanations) and test_notebooks.py (every
notebook on these runs). Training is seeded, so the models are the same in every session; they are
therefore kept between sessions while the code is the same (training them is the suite's largest cost):
- data: the demo data root of `make demo` ($LART_DATA_ROOT/demo, built once if missing);
- runs: the registry `runs_cache()` = $LART_RESULTS_DIR/.test-cache/<code key>, the key being
  `registry.code_stamp()` (a hash of the lartcore package, its version and torch/numpy/... versions), so any
  change of lartcore trains afresh; other keys' folders are removed. Runs that `make demo` trained with
  the same code (their code.json) are copied in instead of trained. The pipeline's own checks (config,
  data, checkpoint hashes) still decide whether a run is reused;
- LART_TEST_CACHE=0: none of this; train in a temporary registry, as a fresh checkout does.
Tests must not modify the shared runs (test_findings' cache test works on a copy).
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import pytest
import torch

from lartcore import demo, paths, pipeline
from lartcore.registry import Registry, code_stamp

DEMO_OVERRIDES: tuple[str, ...] = ()
DEMO_TRAINED = demo.DEMO_VARIANTS
TEST_CACHE_ENV = "LART_TEST_CACHE"
RUN_SUMMARY = []   # what the session did about the demo runs (printed at the end)


def runs_cache(tmp_path_factory) -> Path:
    """The folder for runs kept between sessions (module docstring), or a temporary one."""
    if os.environ.get(TEST_CACHE_ENV) == "0":
        return tmp_path_factory.mktemp("results")
    key = hashlib.sha256(json.dumps(code_stamp(), sort_keys=True).encode()).hexdigest()[:16]
    parent = paths.results_dir() / ".test-cache"
    for old in parent.glob("*") if parent.is_dir() else []:
        if old.name != key:
            shutil.rmtree(old, ignore_errors=True)
    return parent / key


def _seed_from_demo(reg: Registry, variants) -> list[str]:
    """Copy `make demo`'s runs (the default registry) that the current code trained into `reg`."""
    demo, stamp, copied = Registry(), code_stamp(), []
    for variant in variants:
        src, dst = demo.run_dir("demo", variant), reg.run_dir("demo", variant)
        record = src / pipeline.CODE_RECORD
        if dst.exists() or not record.is_file() or json.loads(record.read_text()) != stamp:
            continue
        shutil.copytree(src, dst)
        copied.append(variant)
    return copied


@pytest.fixture(scope="session")
def demo_runs(tmp_path_factory):
    """(base, registry, variant -> run folder, variant -> metrics in AP points) of the demo runs; the data
    root is base / "demo"."""
    base = paths.data_root()
    reg = Registry(runs_cache(tmp_path_factory))
    copied = _seed_from_demo(reg, DEMO_TRAINED) if os.environ.get(TEST_CACHE_ENV) != "0" else []
    found = [v for v in DEMO_TRAINED if (reg.run_dir("demo", v) / "metrics.json").is_file()]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        runs = {v: pipeline.ensure_run(v, base / "demo", "demo",
                                       DEMO_OVERRIDES if v != pipeline.CLASS_PRIOR else (), reg)
                for v in (pipeline.CLASS_PRIOR, *DEMO_TRAINED)}
    finally:
        torch.set_num_threads(threads)
    RUN_SUMMARY.append(f"demo runs in {reg.root}: {len(found)} of {len(DEMO_TRAINED)} found"
                       + (f" ({len(copied)} copied from make demo's {Registry().root})" if copied else "")
                       + f"; {TEST_CACHE_ENV}=0 retrains")
    metrics = {v: {k: 100 * json.loads((r / "metrics.json").read_text())[k] for k in ("mAP", "PM", "OM", "PI")}
               for v, r in runs.items()}
    return base, reg, runs, metrics


def pytest_terminal_summary(terminalreporter):
    for line in RUN_SUMMARY:
        terminalreporter.write_line(line)
