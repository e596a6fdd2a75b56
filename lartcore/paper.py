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
    "figure_gains": f"arXiv {ARXIV}, CVPR version Figure 2 caption and Sec. 4.1 text; read from {CVPR_TEXT}",
}


def _frame(columns: list[str], rows: list[tuple], name: str) -> pd.DataFrame:
    """Rows as printed -> DataFrame with the table's source in `attrs`."""
    df = pd.DataFrame(rows, columns=columns)
    df.attrs["source"] = SOURCES[name]
    df.attrs["paper"] = PAPER
    return df


def table1() -> pd.DataFrame:
    """Tracking statistics: [dataset, clips, tracks, bbox, mean_length_s, hours, note]."""
    per_dataset = "mean length / hours not given per dataset (caption gives totals only)"
    total = ("printed 400k / 1m / 104.3m; caption: 'over 900 hours' (a bound, not a value) and "
             "'mean length of 3.4 seconds (with overlaps)'")
    rows = [
        ("AVA", 184_000, 320_000, 32_900_000, NAN, NAN, per_dataset),
        ("Kinetics-400", 217_000, 686_000, 71_400_000, NAN, NAN, per_dataset),
        ("Total", 400_000, 1_000_000, 104_300_000, 3.4, NAN, total),
    ]
    return _frame(["dataset", "clips", "tracks", "bbox", "mean_length_s", "hours", "note"], rows, "table1")


def table2() -> pd.DataFrame:
    """AVA with 3D pose only: [method, pose, n_people, OM, PI, PM, mAP, note]."""
    baseline = "n_people: not stated for baselines"
    rows = [
        ("PoTion", "2D", NAN, NAN, NAN, NAN, 13.1, "OM/PI/PM printed as '-'; " + baseline),
        ("JMRN", "2D", NAN, 7.1, 17.2, 27.6, 14.1, baseline),
        ("LART-pose", "SMPL", NAN, 11.9, 24.6, 45.8, 22.3, "CVPR row 'SMPL'; number of people not stated"),
        ("LART-pose", "SMPL+Joints", 5, 13.3, 25.9, 48.7, 24.1,
         "text: '24.1 mAP on multi-person (N=5) setting'"),
        ("LART-pose", "SMPL+Joints", 1, NAN, NAN, NAN, NAN,
         "arXiv v2 row n=1 (reported elsewhere as 22.9 mAP) not verified: v2 table not readable"),
    ]
    return _frame(["method", "pose", "n_people", "OM", "PI", "PM", "mAP", "note"], rows, "table2")


def table3() -> pd.DataFrame:
    """State of the art on AVA v2.2: [method, pretrain, mAP, note]."""
    merged = "pretrain cell merged/empty in the source extraction; not transcribed"
    rows = [
        ("SlowFast R101, 8x8", "K400", 23.8, ""),
        ("MViTv1-B, 64x3", "K400", 27.3, ""),
        ("SlowFast 16x8 +NL", None, 27.5, merged),
        ("X3D-XL", None, 27.4, merged),
        ("MViTv1-B-24, 32x3", "K600", 28.7, ""),
        ("Object Transformer", "K600", 31.0, ""),
        ("ACAR R101, 8x8 +NL", None, 31.4, merged),
        ("ACAR R101, 8x8 +NL", "K700", 33.3, ""),
        ("MViT-L↑312, 40x3", "IN-21K+K400", 31.6, ""),
        ("MaskFeat", "K400", 37.5, ""),
        ("MaskFeat", "K600", 38.8, ""),
        ("Video MAE", "K600", 39.3, ""),
        ("Video MAE", "K400", 39.5, ""),
        ("LART", "K400", 42.3, "printed '42.3 (+2.8)'; MViT (MaskFeat) features"),
    ]
    return _frame(["method", "pretrain", "mAP", "note"], rows, "table3")


def table4() -> pd.DataFrame:
    """AVA-Kinetics, single models: [method, mAP, note]."""
    rows = [("SlowFast", 32.98, ""), ("ACAR", 36.36, ""), ("RM", 37.34, ""), ("LART", 38.91, "")]
    return _frame(["method", "mAP", "note"], rows, "table4")


def table5() -> pd.DataFrame:
    """Ablation, same detections: [model, tracking, pose, OM, PI, PM, mAP, note]."""
    rows = [
        ("MViT", False, False, 32.2, 41.1, 58.6, 40.2, ""),
        ("MViT + Tracking", True, False, 33.4, 43.0, 59.3, 41.4, "printed '41.4 (+1.2)'"),
        ("MViT + Tracking + Pose", True, True, 34.4, 43.9, 59.9, 42.3,
         "printed '42.3 (+0.9)'; the text says +0.8"),
    ]
    return _frame(["model", "tracking", "pose", "OM", "PI", "PM", "mAP", "note"], rows, "table5")


def table6() -> pd.DataFrame:
    """Backbones with/without LART: [backbone, lart, mAP, note]."""
    rows = [
        ("MViT", False, 40.2, "CVPR Table 5 row 'MViT' (same detections)"),
        ("MViT", True, 42.3, "CVPR Table 5 row 'MViT + Tracking + Pose'"),
        ("Hiera", False, NAN, "arXiv v2 Table 6 not readable"),
        ("Hiera", True, 45.1,
         "v2 abstract: 'Our best model achieves 45.1 mAP on AVA 2.2'; released checkpoint is LART_Hiera"),
    ]
    return _frame(["backbone", "lart", "mAP", "note"], rows, "table6")


def figure6() -> pd.DataFrame:
    """LART-pose mAP vs number of people n: [n_people, mAP, note]."""
    rows = [(n, NAN, "arXiv v2 Figure 6 not readable") for n in range(1, 5)]
    rows.append((5, 24.1, "CVPR Table 2 / Sec. 4.1 (N=5)"))
    return _frame(["n_people", "mAP", "note"], rows, "figure6")


def figure_gains() -> pd.DataFrame:
    """Per-class gains the paper states in words (the bars' values are not printed as numbers).

    [figure, class_name, quantity ('ap_gain' in AP points or 'relative_gain_pct'), value, note].
    """
    fig2 = "LART-pose (multi-person) vs JMRN"
    rows = [
        (2, "dance", "ap_gain", 39.8, fig2 + "; Sec. 4.1 text"),
        (2, "dance", "relative_gain_pct", 30.1, fig2 + "; Figure 2 caption"),
        (2, "martial art", "relative_gain_pct", 19.8, fig2 + "; Figure 2 caption"),
        (2, "hug (a person)", "relative_gain_pct", 62.1,
         fig2 + "; Figure 2 caption (the text says 'over +200%')"),
    ]
    return _frame(["figure", "class_name", "quantity", "value", "note"], rows, "figure_gains")


TABLES = {"table1": table1, "table2": table2, "table3": table3, "table4": table4, "table5": table5,
          "table6": table6, "figure6": figure6, "figure_gains": figure_gains}
