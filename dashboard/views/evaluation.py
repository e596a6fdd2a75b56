"""Evaluation: per-class precision-recall curves of one or two runs from the evaluator's own pooled
detections (click a point: the detection at that rank), and the label confusion of GT classes."""
import panels as pn
import streamlit as st

from lartcore.registry import DEMO_BANNER, Registry

st.title("Precision-recall and label confusion")
cfg = pn.settings()
reg, table = Registry(cfg["results"]), pn.runs(str(cfg["results"]))
if table.empty:
    pn.no_runs_note(cfg["results"])
    st.stop()
run_a, note_a = pn.run_selector(table, "run (A)", "ev_run", 0, where=st.sidebar, param="run")
run_b, note_b = pn.run_selector(table, "second run (B)", "ev_run_b", 0, where=st.sidebar, param="b", optional=True)
pn.link_notes([note_a, note_b])
chosen = {pn.run_name(r): r for r in (run_a, run_b) if r is not None}
st.query_params.update({k: pn.run_name(r) for k, r in (("run", run_a), ("b", run_b)) if r is not None})
pn.run_captions(reg, {f"{k}: ": r for k, r in zip("AB", chosen.values(), strict=False)})
if not cfg["data"].gt(pn.EVAL_SPLIT).is_file():
    st.info(f"No ground truth at `{cfg['data'].gt(pn.EVAL_SPLIT)}`: start with `-- --data-root` of the runs' data.")
    st.stop()
pn.predictions_or_stop(reg, chosen.values())
banner = DEMO_BANNER if any(bool(r["demo"]) for r in chosen.values()) else ""
body, _ = pn.body(None if cfg["smpl_dir"] is None else str(cfg["smpl_dir"]))
st.subheader("Per-class precision-recall")
pn.pr_panel(reg, chosen, cfg["data"], banner, body)
st.subheader("Label confusion")
pn.confusion_panel(reg, chosen, cfg["data"], banner)
