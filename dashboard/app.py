"""LART Studio dashboard: `streamlit run dashboard/app.py [-- --data-root ROOT --results DIR --smpl-dir D]`
(or `make dashboard [DATA=ROOT]`). Defaults: the demo data ($LART_DATA_ROOT/demo) and $LART_RESULTS_DIR."""
import argparse
import sys

import streamlit as st


def parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="dashboard/app.py")
    p.add_argument("--data-root", default=None, help="data root with ava/ and store/ (default: the demo data)")
    p.add_argument("--results", default=None, help="results registry (default: $LART_RESULTS_DIR)")
    p.add_argument("--smpl-dir", default=None, help="SMPL model folder (default: $LART_SMPL_DIR)")
    return p.parse_args(argv)


# The pages live in views/, not pages/: Streamlit would serve a pages/ folder by itself (its older
# multipage mode) to a deep link that arrives before this script first ran, without these settings.
st.set_page_config(page_title="LART Studio", layout="wide")
args = parse(sys.argv[1:])
for key, value in (("data_root", args.data_root), ("results", args.results), ("smpl_dir", args.smpl_dir)):
    if value:
        st.session_state[key] = value
page = st.navigation([st.Page("views/clip_browser.py", title="Clip browser", default=True),
                      st.Page("views/keyframes.py", title="Keyframe grid", url_path="keyframes"),
                      st.Page("views/per_class.py", title="Per-class comparison", url_path="per_class"),
                      st.Page("views/evaluation.py", title="Precision-recall & confusion", url_path="evaluation"),
                      st.Page("views/ablations.py", title="Ablations", url_path="ablations")])
page.run()
