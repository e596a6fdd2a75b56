"""Per-class comparison: per-class AP of two runs (or two per_class.csv files) side by side, the sorted
gain chart, a table with #GT (CSV), and a box-level A/B drill-down linked to the clip browser."""
import panels as pn
import streamlit as st

from lartcore import browse
from lartcore.registry import DEMO_BANNER, TYPES, Registry

st.title("Per-class comparison")
cfg = pn.settings()
reg, table = Registry(cfg["results"]), pn.runs(str(cfg["results"]))
source = st.sidebar.radio("compare", ["registry runs", "per_class.csv files"], key="source")
if source == "registry runs":
    if len(table) < 2:
        pn.no_runs_note(cfg["results"]) if table.empty else st.info("Only one run: need two to compare.")
        st.stop()
    run_a, note_a = pn.run_selector(table, "A (baseline)", "run_a", 0, param="a")
    run_b, note_b = pn.run_selector(table, "B", "run_b", 1, param="b")
    pn.link_notes([note_a, note_b])
    st.query_params.update(a=pn.run_name(run_a), b=pn.run_name(run_b))     # deep link
    pn.run_captions(reg, {"A: ": run_a, "B: ": run_b})
    a, b = reg.per_class(run_a["dataset"], run_a["variant"]), reg.per_class(run_b["dataset"], run_b["variant"])
    names = (run_a["variant"], run_b["variant"])
    demo = bool(run_a["demo"]) or bool(run_b["demo"])
else:
    a, b, names = pn.uploaded_pair()
    demo = False
    if a is None:
        st.info("Upload two per_class.csv files (columns id, name, type, ap, n_gt, n_det; AP as fractions in "
                "[0, 1] or points in [0, 100]).")
        st.stop()
types = st.multiselect("class types", list(TYPES), default=list(TYPES), key="types")
both = browse.side_by_side(a, b, tuple(types))
st.caption(f"A = {names[0]}, B = {names[1]}; AP in points; {both['gain'].notna().sum()} classes with GT")
pn.comparison_charts(a, b, types, names, DEMO_BANNER if demo else "")
pn.table(both, key="table")
st.download_button("table (CSV)", both.to_csv(index=False), f"per_class_{names[0]}_vs_{names[1]}.csv",
                   "text/csv", key="dl_table")
if source == "registry runs":
    pn.ab_drilldown_panel(reg, run_a, run_b, both, cfg["data"])
