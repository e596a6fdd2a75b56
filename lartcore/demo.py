"""`make demo` / `lart demo`: the main job on the bundled demo dataset. Builds the synthetic data, trains,
predicts and evaluates the demo variants (`lartcore.pipeline.ensure_run`), and gives their frame-mAP and
PM/OM/PI next to a class-prior baseline, with the paper's findings that these variants can test computed
(`lartcore.tables.CLAIMS`). Every step is cached, so a second run only reads results."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from lartcore import pipeline, tables
from lartcore.data import store
from lartcore.data.synthetic import STORE_SPLITS
from lartcore.paths import DataRoot

DEMO_VARIANTS = ("lart_pose_n1", "lart_pose_n5", "lart", "appearance_tracking")
BANNER = "DEMO DATA (synthetic) — not comparable to the paper"
COLUMNS = ("mAP", "PM", "OM", "PI")


@dataclass(frozen=True)
class DemoResult:
    root: Path                    # the demo data root
    runs: dict[str, Path]         # variant -> registry run folder
    table: pd.DataFrame           # one row per variant: mAP, PM, OM, PI (AP points)
    findings: pd.DataFrame        # `tables.findings` of the claims these variants can test


def testable_claims(variants=(pipeline.CLASS_PRIOR, *DEMO_VARIANTS)) -> tuple[str, ...]:
    """Keys of the claims whose variants are all among `variants`."""
    return tuple(k for k in tables.CLAIMS if tables.claim_variants(k) <= set(variants))


def data_stats(root: Path) -> dict[str, pd.DataFrame]:
    """Table 1 columns of each split's store of the demo data."""
    return {name: store.stats(DataRoot(root).store(name)) for name in STORE_SPLITS}


def run(root: Path, progress=print) -> DemoResult:
    """Build, train, predict and evaluate every demo variant (cached); `progress` gets a line per variant."""
    results = tables.Results(data_root=root, size="demo")
    runs = {}
    for variant in (pipeline.CLASS_PRIOR, *DEMO_VARIANTS):
        runs[variant] = results.run(variant)
        progress(f"[{variant}: ready]")
    table = pd.DataFrame.from_dict({v: results.metrics(v) for v in runs}, orient="index")[list(COLUMNS)]
    return DemoResult(results.root(), runs, table.rename_axis("variant"),
                      tables.findings(results, testable_claims()))
