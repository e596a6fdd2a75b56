"""Ablations: the paper's Tables 2, 5, 6 and Figure 6 with the reproduced numbers of the results registry beside."""
import panels as pn
import streamlit as st

from lartcore import browse, paper

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
for name, title in (("table2", "Table 2: AVA with 3D pose only"),
                    ("table5", "Table 5: tracking and pose on top of MViT features"),
                    ("table6", "Table 6: backbones with and without LART"),
                    ("figure6", "Figure 6: LART-pose mAP vs number of people")):
    st.subheader(title)
    shown = browse.ablation_table(name, paper.TABLES[name](), runs)
    st.dataframe(shown, hide_index=True, key=name)
    st.caption(f"paper: {shown.attrs.get('source', '')}")
    st.download_button(f"{name} (CSV)", shown.to_csv(index=False), f"{name}_{dataset}.csv", "text/csv",
                       key=f"dl_{name}")
st.subheader("All runs")
st.dataframe(runs, hide_index=True, key="runs")
st.caption("Provenance of each run (checkpoint, config, data manifest, commit) is in its provenance.json; "
           "the git_commit column above is the commit that produced the numbers.")
