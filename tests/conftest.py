"""Session fixtures shared by test files.

`demo_runs`: every demo variant (the `make demo` models, `lartcore.demo.DEMO_VARIANTS`: packaged demo
configs, DEMO_OVERRIDES = none) and the class-prior baseline, trained, predicted and evaluated once per test
session on the demo data in a temporary registry, with one torch thread (these models are tiny; intra-op
threads on a shared 2-core machine cost more in synchronisation than they gain). Training is seeded, so the
models are the same in every session. Used by test_findings.py (the paper's findings on the demo data, and
the README's demo block) and test_explain.py (sanity checks of the explanations). Note: test_findings'
cache test sets the lart_pose_n1 run aside (its folder moves to .replaced/), so other tests must not read
that run's folder.
"""
from __future__ import annotations

import json

import pytest
import torch

from lartcore import demo, pipeline
from lartcore.registry import Registry

DEMO_OVERRIDES: tuple[str, ...] = ()
DEMO_TRAINED = demo.DEMO_VARIANTS


@pytest.fixture(scope="session")
def demo_runs(tmp_path_factory):
    """(base, registry, variant -> run folder, variant -> metrics in AP points) of the demo runs; the data
    root is base / "demo"."""
    base = tmp_path_factory.mktemp("findings")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        reg = Registry(base / "results")
        runs = {v: pipeline.ensure_run(v, base / "demo", "demo",
                                       DEMO_OVERRIDES if v != pipeline.CLASS_PRIOR else (), reg)
                for v in (pipeline.CLASS_PRIOR, *DEMO_TRAINED)}
    finally:
        torch.set_num_threads(threads)
    metrics = {v: {k: 100 * json.loads((r / "metrics.json").read_text())[k] for k in ("mAP", "PM", "OM", "PI")}
               for v, r in runs.items()}
    return base, reg, runs, metrics
