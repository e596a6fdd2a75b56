"""`make demo` / `lart demo`: the main job on the bundled demo dataset. Builds the synthetic data, trains,
predicts and evaluates the demo variants (`lartcore.pipeline.ensure_run`), and prints their frame-mAP
and PM/OM/PI next to a class-prior baseline, with the paper's qualitative findings checked by computed
comparisons. Every step is cached, so a second run only reads results."""
from __future__ import annotations

import time
from pathlib import Path

import pandas as pd

from lartcore import paths

DEMO_VARIANTS = ("lart_pose_n1", "lart_pose_n5", "lart", "appearance_tracking")
BANNER = "DEMO DATA (synthetic) — not comparable to the paper"
COLUMNS = ("mAP", "PM", "OM", "PI")


def results_table(runs: dict[str, Path]) -> pd.DataFrame:
    """variant -> run folder  =>  one row per variant: mAP, PM, OM, PI in AP points (x100)."""
    import json
    metrics = {v: json.loads((run / "metrics.json").read_text()) for v, run in runs.items()}
    rows = {v: {k: float("nan") if m[k] is None else 100.0 * m[k] for k in COLUMNS}   # None = no GT (NaN AP)
            for v, m in metrics.items()}
    return pd.DataFrame.from_dict(rows, orient="index")[list(COLUMNS)].rename_axis("variant")


def findings(table: pd.DataFrame) -> pd.DataFrame:
    """The paper's claims on the demo data, computed from `table` (AP points): claim, a, b, holds."""
    from lartcore.pipeline import CLASS_PRIOR
    t = table
    claims = [(f"{v} mAP > class prior", t.at[v, "mAP"], t.at[CLASS_PRIOR, "mAP"]) for v in DEMO_VARIANTS]
    claims += [("LART-pose n=5 > n=1 on PI", t.at["lart_pose_n5", "PI"], t.at["lart_pose_n1", "PI"]),
               ("LART > LART-pose n=5 (mAP)", t.at["lart", "mAP"], t.at["lart_pose_n5", "mAP"]),
               ("LART > appearance + tracking (mAP)", t.at["lart", "mAP"], t.at["appearance_tracking", "mAP"])]
    return pd.DataFrame([{"claim": c, "a": a, "b": b, "holds": bool(a > b)} for c, a, b in claims])


def _print_data(root: Path) -> None:
    from lartcore.data import store, synthetic
    print("\n== Demo dataset (synthetic, deterministic; not AVA) ==")
    for name in synthetic.STORE_SPLITS:
        print(f"\n-- {name}")
        print(store.stats(store.TrackStore(root / "store" / name)).to_string(index=False))


def cli_demo(args) -> int:
    import torch

    from lartcore.pipeline import CLASS_PRIOR, ensure_run, resolve_data_root
    # The demo models are tiny: on a shared 2-core machine intra-op threads cost more in synchronisation
    # than they gain (measured, demo LART-pose n=5 train step: 0.08 CPU-s with 1 thread, 1.3 with 2).
    torch.set_num_threads(1)
    start, cpu = time.perf_counter(), time.process_time()
    root = resolve_data_root(args.root or paths.demo_root(), "demo")
    _print_data(root)
    runs = {}
    for variant in (CLASS_PRIOR, *DEMO_VARIANTS):
        t = time.perf_counter()
        runs[variant] = ensure_run(variant, root, "demo")
        print(f"[{variant}: ready in {time.perf_counter() - t:.1f} s]", flush=True)
    table = results_table(runs)
    print(f"\n== {BANNER} ==\nframe-mAP@0.5 and PM/OM/PI means (AP points), paper protocol, results in "
          f"{next(iter(runs.values())).parent}")
    print(table.to_string(float_format=lambda x: f"{x:6.2f}"))
    print(f"\n== Findings on the demo data ({BANNER}) ==")
    print(findings(table).to_string(index=False, float_format=lambda x: f"{x:6.2f}"))
    from lartcore.notebooks import run as run_notebooks  # the paper's tables/figures -> reports/*.html
    print("\n== Notebooks reproducing the paper's tables and figures ==", flush=True)
    run_notebooks(params={"data_root": str(root)})
    print(f"\nlart demo: {time.perf_counter() - start:.1f} s wall, {time.process_time() - cpu:.1f} s CPU")
    return 0
