"""Keyframe grid: thumbnails of rendered keyframes of one run, filtered by GT label, predicted label,
score range and box outcome (TP / FP / FN of a class, the evaluator's matching), paged; each opens the
clip browser there."""
import panels as pn
import streamlit as st

from lartcore import browse, schema
from lartcore.registry import Registry

st.title("Keyframe grid")
cfg = pn.settings()
data, reg, table = cfg["data"], Registry(cfg["results"]), pn.runs(str(cfg["results"]))
run, note = pn.run_selector(table, "run", "grid_run", 0, where=st.sidebar, param="run")
if run is None:
    pn.no_runs_note(cfg["results"])
    st.stop()
if not data.gt(pn.EVAL_SPLIT).is_file() or pn.EVAL_SPLIT not in data.stores():
    st.info(f"No ground truth or track store of {pn.EVAL_SPLIT} under `{data.path}`: start with `-- --data-root` "
            "of the run's data.")
    st.stop()
st.query_params["run"] = pn.run_name(run)
pn.predictions_or_stop(reg, [run])
pn.run_captions(reg, {"": run})
m = pn.matches(data, reg.predictions_path(run["dataset"], run["variant"]))
gt, det = pn.gt_table(data.gt(pn.EVAL_SPLIT)), pn.detections(reg.predictions_path(run["dataset"], run["variant"]))
args, notes = pn.grid_filters(gt, m)
pn.link_notes([note, *notes])
rows = browse.keyframe_grid(m, gt, det, **args)
size = st.sidebar.select_slider("thumbnails per page", [8, 12, 16, 24], 12, key="grid_size")
pages = max(1, -(-len(rows) // size))
page = st.number_input(f"page (of {pages})", 1, pages, 1, key="grid_page")
shown, pages = browse.page_of(rows, page, size)
st.caption(f"{len(rows)} keyframes match · page {page} of {pages} · boxes of "
           f"{schema.short_name(args['action_id'])} at score >= {args['threshold']:.2f}: green TP, red FP, dashed "
           "orange FN (the evaluator's IoU-0.5 matching) over the meshes of the tracked people")
body, _ = pn.body(None if cfg["smpl_dir"] is None else str(cfg["smpl_dir"]))
pn.keyframe_cards(data, run, shown, args, body)
