"""Plotly figures of the reproduced results, shared by the notebooks and the dashboard.

Each function takes plain DataFrames (the per-class tables of `lartcore.registry`, the outputs of
`lartcore.tables`) and returns a `plotly.graph_objects.Figure`; nothing is shown or written here.
"""
from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

COLORS = {"a": "#8c9fb7", "b": "#d9534f", "up": "#2e8b57", "down": "#c0392b", "paper": "#444444"}


def _title(text: str, banner: str) -> str:
    return f"{text}<br><sup style='color:#b00'>{banner}</sup>" if banner else text


def per_class_ap(a: pd.DataFrame, b: pd.DataFrame, name_a: str, name_b: str, banner: str = "") -> go.Figure:
    """Per-class AP (points) of two variants side by side, classes with GT only, sorted by B's AP.
    a, b: per-class tables (id, name, type, ap in [0, 1])."""
    both = a[["id", "name", "type", "ap"]].merge(b[["id", "ap"]], on="id", suffixes=("_a", "_b"))
    both = both.dropna(subset=["ap_a", "ap_b"]).sort_values("ap_b", ascending=False)
    labels = both["name"] + " (" + both["type"] + ")"
    fig = go.Figure([go.Bar(name=name_a, x=labels, y=100 * both["ap_a"], marker_color=COLORS["a"]),
                     go.Bar(name=name_b, x=labels, y=100 * both["ap_b"], marker_color=COLORS["b"])])
    fig.update_layout(barmode="group", title=_title(f"Per-class AP: {name_b} vs {name_a}", banner),
                      yaxis_title="AP", xaxis_tickangle=-60, height=520, legend={"orientation": "h"})
    return fig


def class_gains(gains: pd.DataFrame, name_a: str, name_b: str, banner: str = "") -> go.Figure:
    """The paper's class-gain figure: top, AP of A and B per class; bottom, the gain B - A (AP points) with
    the relative gain as text. gains: `tables.figure_gains` / `registry.per_class_gain(relative=True)`
    output, already filtered (|gain| > 1 AP) and sorted by gain."""
    x = gains["name"]
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.04, row_heights=[0.55, 0.45])
    fig.add_trace(go.Bar(name=name_a, x=x, y=gains["ap_a"], marker_color=COLORS["a"]), row=1, col=1)
    fig.add_trace(go.Bar(name=name_b, x=x, y=gains["ap_b"], marker_color=COLORS["b"]), row=1, col=1)
    rel = gains["rel_gain_pct"] if "rel_gain_pct" in gains else pd.Series(float("nan"), index=gains.index)
    text = [f"{r:+.0f}%" if pd.notna(r) else "" for r in rel]
    colors = [COLORS["up"] if g > 0 else COLORS["down"] for g in gains["gain"]]
    fig.add_trace(go.Bar(name="gain (AP)", x=x, y=gains["gain"], marker_color=colors, text=text,
                         textposition="outside", showlegend=False), row=2, col=1)
    fig.update_yaxes(title_text="AP", row=1, col=1)
    fig.update_yaxes(title_text="gain (AP)", row=2, col=1)
    fig.update_layout(barmode="group", xaxis2_tickangle=-60, height=640, legend={"orientation": "h"},
                      title=_title(f"Classes with |gain| > 1 AP: {name_b} vs {name_a}", banner))
    return fig


def map_vs_people(df: pd.DataFrame, banner: str = "") -> go.Figure:
    """LART-pose mAP vs the number of people n (reproduced line, paper points where known).
    df: `tables.figure6` output (n_people, mAP, mAP_paper)."""
    fig = go.Figure(go.Scatter(x=df["n_people"], y=df["mAP"], mode="lines+markers", name="reproduced",
                               line={"color": COLORS["b"]}))
    known = df.dropna(subset=["mAP_paper"])
    fig.add_trace(go.Scatter(x=known["n_people"], y=known["mAP_paper"], mode="markers", name="paper",
                             marker={"color": COLORS["paper"], "symbol": "diamond", "size": 10}))
    fig.update_layout(title=_title("LART-pose mAP vs number of people", banner), xaxis_title="n (people)",
                      yaxis_title="mAP", xaxis={"dtick": 1}, height=420)
    return fig
