"""Ablations: the paper's Tables 2, 5, 6 and Figure 6 with the reproduced numbers of the results registry beside,
and every claim computed (`lartcore.tables.findings`)."""
import panels as pn
import streamlit as st

from lartcore import browse, tables, viz

st.title("Ablations")
cfg = pn.settings()
table = pn.runs(str(cfg["results"]))
if table.empty:
    pn.no_runs_note(cfg["results"])
datasets = sorted(table["dataset"].unique()) or ["-"]
dataset = st.sidebar.selectbox("dataset of the runs", datasets, key="dataset")
runs = table[table["dataset"] == dataset]
if runs["demo"].fillna(False).astype(bool).any():
    st.warning("Demo data (synthetic): reproduced numbers are not comparable to the paper.")
st.caption("All numbers in AP points; `_paper` columns: the paper's value beside ours; '–': not reported / "
           "not run.")
results = tables.Results(data_root=cfg["data"].path, results_dir=cfg["results"], read_only=True,
                         dataset=dataset)
for name in browse.ABLATIONS:
    shown = browse.ablation_display(browse.ablation_table(name, results))
    st.subheader(shown.attrs["title"])
    pn.table(shown, key=name, precision=1)
    if name == "figure6":
        st.plotly_chart(viz.map_vs_people(shown, shown.attrs["banner"]), key="fig6")
    st.caption(f"paper: {shown.attrs['source']}")
    st.download_button(f"{name} (CSV)", shown.to_csv(index=False), f"{name}_{dataset}.csv", "text/csv",
                       key=f"dl_{name}")
st.subheader("Findings: every claim of the paper these runs test, and the demo's sanity checks")
pn.table(tables.findings(results), key="findings", precision=1)
st.caption(f"PASS: a > b; margin = a - b (AP points); '{tables.NOT_RUN}': a run is missing (`make demo`).")
st.subheader("All runs")
pn.table(browse.runs_display(runs), key="runs", precision=1)
st.caption("mAP, PM, OM, PI in AP points. Provenance of each run (checkpoint, config, data manifest, commit) is "
           "in its provenance.json; git_commit is the commit that produced the numbers.")
