"""The paper's reported numbers, once, as data.

"On the Benefits of 3D Pose and Tracking for Human Action Recognition", Rajasegaran, Pavlakos, Kanazawa,
Feichtenhofer, Malik, CVPR 2023 (arXiv 2304.01199). Each `tableN()` / `figure6()` returns a tidy DataFrame
of the values as printed; `df.attrs["source"]` says where they were read and what is missing.

Provenance rule: every number here was read in a source named in `SOURCES`; a value that could not be read
is NaN and the row's `note` says why. Nothing is inferred or recomputed.

Which version: the full text that could be read is the CVPR 2023 camera-ready (Tables 1-5, Figures 2-4).
arXiv v2 re-numbers and extends the results (Hiera backbone, "Table 6", "Figure 6" mAP vs number of
people n); only its abstract (best model 45.1 mAP) could be read, so v2-only numbers are NaN with a note.
"""
from __future__ import annotations

import math

import pandas as pd

PAPER = ("J. Rajasegaran, G. Pavlakos, A. Kanazawa, C. Feichtenhofer, J. Malik. On the Benefits of 3D Pose "
         "and Tracking for Human Action Recognition. CVPR 2023, pp. 640-649. arXiv:2304.01199.")
ARXIV = "2304.01199"

CVPR_URL = ("http://openaccess.thecvf.com/content/CVPR2023/html/"
            "Rajasegaran_On_the_Benefits_of_3D_Pose_and_Tracking_for_Human_CVPR_2023_paper.html")
ARXIV_V2_URL = "https://ar5iv.labs.arxiv.org/html/2304.01199"
PROJECT_URL = "https://people.eecs.berkeley.edu/~jathushan/LART/index.html"
CVPR_TEXT = ("full text of the CVPR 2023 version (Markdown conversion of the paper PDF, public GitHub "
             "index file id 61311564022); landing page " + CVPR_URL)

NAN = math.nan

SOURCES = {
    "table1": f"arXiv {ARXIV}, CVPR version Table 1 and its caption; read from {CVPR_TEXT}",
    "table2": f"arXiv {ARXIV}, CVPR version Table 2 and Sec. 4.1 text; read from {CVPR_TEXT}",
    "table3": f"arXiv {ARXIV}, CVPR version Table 3; read from {CVPR_TEXT}",
    "table4": f"arXiv {ARXIV}, CVPR version Table 4; read from {CVPR_TEXT}",
    "table5": f"arXiv {ARXIV}, CVPR version Table 5 and Sec. 4.3 text; read from {CVPR_TEXT}",
    "table6": (f"arXiv {ARXIV} v2 abstract ({ARXIV_V2_URL}) and project page ({PROJECT_URL}) for the best "
               f"model; MViT rows from CVPR version Table 5 ({CVPR_TEXT}). v2 Table 6 itself not read."),
    "figure6": (f"arXiv {ARXIV}, CVPR version Sec. 4.1 text ('24.1 mAP on multi-person (N=5) setting'); "
                f"read from {CVPR_TEXT}. v2 Figure 6 itself not read."),
    "figure_gains": f"arXiv {ARXIV}, CVPR version Figure 2/3 captions and Sec. 4.1-4.2 text; read from {CVPR_TEXT}",
}


def _frame(rows: list[dict], name: str) -> pd.DataFrame:
    df = pd.DataFrame(rows)
    if "note" in df:
        df["note"] = df["note"].fillna("")
    df.attrs["source"] = SOURCES[name]
    df.attrs["paper"] = PAPER
    return df


def table1() -> pd.DataFrame:
    """Tracking statistics: [dataset, clips, tracks, bbox, mean_length_s, hours, note]."""
    per_dataset = "not given per dataset (caption gives totals only)"
    rows = [
        dict(dataset="AVA", clips=184_000, tracks=320_000, bbox=32_900_000, mean_length_s=NAN, hours=NAN,
             note=per_dataset),
        dict(dataset="Kinetics-400", clips=217_000, tracks=686_000, bbox=71_400_000, mean_length_s=NAN,
             hours=NAN, note=per_dataset),
        dict(dataset="Total", clips=400_000, tracks=1_000_000, bbox=104_300_000, mean_length_s=3.4, hours=NAN,
             note="printed as 184k/320k/32.9m etc.; caption: 'over 900 hours' (a bound, not a value) and "
                  "'mean length of 3.4 seconds (with overlaps)'"),
    ]
    return _frame(rows, "table1")


def table2() -> pd.DataFrame:
    """AVA with 3D pose only: [method, pose, n_people, OM, PI, PM, mAP, note]."""
    rows = [
        dict(method="PoTion", pose="2D", n_people=NAN, OM=NAN, PI=NAN, PM=NAN, mAP=13.1,
             note="OM/PI/PM printed as '-'; n_people: not stated for baselines"),
        dict(method="JMRN", pose="2D", n_people=NAN, OM=7.1, PI=17.2, PM=27.6, mAP=14.1,
             note="n_people: not stated for baselines"),
        dict(method="LART-pose", pose="SMPL", n_people=NAN, OM=11.9, PI=24.6, PM=45.8, mAP=22.3,
             note="CVPR row 'SMPL'; number of people not stated for this row"),
        dict(method="LART-pose", pose="SMPL+Joints", n_people=5, OM=13.3, PI=25.9, PM=48.7, mAP=24.1,
             note="text: '24.1 mAP on multi-person (N=5) setting'"),
        dict(method="LART-pose", pose="SMPL+Joints", n_people=1, OM=NAN, PI=NAN, PM=NAN, mAP=NAN,
             note="arXiv v2 row n=1 (reported elsewhere as 22.9 mAP) not verified: v2 table not readable"),
    ]
    return _frame(rows, "table2")


def table3() -> pd.DataFrame:
    """State of the art on AVA v2.2: [method, pretrain, mAP, note]."""
    merged = "pretrain cell merged/empty in the source extraction; not transcribed"
    rows = [
        dict(method="SlowFast R101, 8x8", pretrain="K400", mAP=23.8, note=""),
        dict(method="MViTv1-B, 64x3", pretrain="K400", mAP=27.3, note=""),
        dict(method="SlowFast 16x8 +NL", pretrain=None, mAP=27.5, note=merged),
        dict(method="X3D-XL", pretrain=None, mAP=27.4, note=merged),
        dict(method="MViTv1-B-24, 32x3", pretrain="K600", mAP=28.7, note=""),
        dict(method="Object Transformer", pretrain="K600", mAP=31.0, note=""),
        dict(method="ACAR R101, 8x8 +NL", pretrain=None, mAP=31.4, note=merged),
        dict(method="ACAR R101, 8x8 +NL", pretrain="K700", mAP=33.3, note=""),
        dict(method="MViT-L↑312, 40x3", pretrain="IN-21K+K400", mAP=31.6, note=""),
        dict(method="MaskFeat", pretrain="K400", mAP=37.5, note=""),
        dict(method="MaskFeat", pretrain="K600", mAP=38.8, note=""),
        dict(method="Video MAE", pretrain="K600", mAP=39.3, note=""),
        dict(method="Video MAE", pretrain="K400", mAP=39.5, note=""),
        dict(method="LART", pretrain="K400", mAP=42.3, note="printed '42.3 (+2.8)'; MViT (MaskFeat) features"),
    ]
    return _frame(rows, "table3")


def table4() -> pd.DataFrame:
    """AVA-Kinetics, single models: [method, mAP, note]."""
    rows = [dict(method=m, mAP=v, note="") for m, v in
            [("SlowFast", 32.98), ("ACAR", 36.36), ("RM", 37.34), ("LART", 38.91)]]
    return _frame(rows, "table4")


def table5() -> pd.DataFrame:
    """Ablation, same detections: [model, tracking, pose, OM, PI, PM, mAP, note]."""
    rows = [
        dict(model="MViT", tracking=False, pose=False, OM=32.2, PI=41.1, PM=58.6, mAP=40.2, note=""),
        dict(model="MViT + Tracking", tracking=True, pose=False, OM=33.4, PI=43.0, PM=59.3, mAP=41.4,
             note="printed '41.4 (+1.2)'"),
        dict(model="MViT + Tracking + Pose", tracking=True, pose=True, OM=34.4, PI=43.9, PM=59.9, mAP=42.3,
             note="printed '42.3 (+0.9)'; the text says +0.8"),
    ]
    return _frame(rows, "table5")


def table6() -> pd.DataFrame:
    """Backbones with/without LART: [backbone, lart, mAP, note]."""
    rows = [
        dict(backbone="MViT", lart=False, mAP=40.2, note="CVPR Table 5 row 'MViT' (same detections)"),
        dict(backbone="MViT", lart=True, mAP=42.3, note="CVPR Table 5 row 'MViT + Tracking + Pose'"),
        dict(backbone="Hiera", lart=False, mAP=NAN, note="arXiv v2 Table 6 not readable"),
        dict(backbone="Hiera", lart=True, mAP=45.1,
             note="v2 abstract: 'Our best model achieves 45.1 mAP on AVA 2.2'; released checkpoint is LART_Hiera"),
    ]
    return _frame(rows, "table6")


def figure6() -> pd.DataFrame:
    """LART-pose mAP vs number of people n: [n_people, mAP, note]."""
    rows = [dict(n_people=n, mAP=NAN, note="arXiv v2 Figure 6 not readable") for n in range(1, 5)]
    rows.append(dict(n_people=5, mAP=24.1, note="CVPR Table 2 / Sec. 4.1 (N=5)"))
    return _frame(rows, "figure6")


def figure_gains() -> pd.DataFrame:
    """Per-class gains the paper states in words (bar values are not given as numbers).

    [figure, class_name, quantity ('ap_gain' in AP points or 'relative_gain_pct'), value, note].
    """
    fig2 = "LART-pose (multi-person) vs JMRN"
    rows = [
        dict(figure=2, class_name="dance", quantity="ap_gain", value=39.8, note=fig2 + "; Sec. 4.1 text"),
        dict(figure=2, class_name="dance", quantity="relative_gain_pct", value=30.1, note=fig2 + "; caption"),
        dict(figure=2, class_name="martial art", quantity="relative_gain_pct", value=19.8,
             note=fig2 + "; caption"),
        dict(figure=2, class_name="hug (a person)", quantity="relative_gain_pct", value=62.1,
             note=fig2 + "; caption (the text says 'over +200%')"),
    ]
    return _frame(rows, "figure_gains")


TABLES = {"table1": table1, "table2": table2, "table3": table3, "table4": table4, "table5": table5,
          "table6": table6, "figure6": figure6, "figure_gains": figure_gains}
