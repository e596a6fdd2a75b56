"""Every plotly figure of the product, shared by the notebooks and the dashboard.

Each function takes plain arrays / DataFrames (the per-class tables of `lartcore.registry`, the outputs of
`lartcore.tables`, tracks and people of `lartcore.browse` / `lartcore.render`) and returns a
`plotly.graph_objects.Figure`; nothing is shown or written here.
"""
from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from lartcore import browse, schema
from lartcore.render import People, person_colors, plot_points, track_color

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


# ---- the clip browser's figures ----------------------------------------------------------------------

def video_timeline(lanes: pd.DataFrame, cuts: np.ndarray, span: tuple[int, int], frame: int,
                   selected: int | None = None):
    """Plotly strip over the whole video: one lane per track (its stable colour, the followed one
    outlined), shots shaded alternately with the cuts marked, a dotted line at the shown frame."""
    ts = schema.timestamp_of
    fig = go.Figure()
    shots = browse.shot_spans(cuts, *span)
    for k, (a, b) in enumerate(shots):
        fig.add_vrect(x0=ts(a), x1=ts(b + 1), fillcolor="#888" if k % 2 else "#ccc", opacity=0.15, line_width=0)
        if k:                                                            # every shot after the first: a cut
            fig.add_vline(x=ts(a), line_color="#d62728", line_width=2, line_dash="dash",
                          annotation_text="shot change", annotation_position="top")
    for row in lanes.itertuples():
        rgb = "rgb({},{},{})".format(*track_color(int(row.track_id)))
        fig.add_trace(go.Bar(x=[(row.last + 1 - row.first) / schema.FPS], base=[ts(row.first)],
                             y=[f"#{row.track_id}"], orientation="h", marker_color=rgb, showlegend=False,
                             marker_line_width=3 if row.track_id == selected else 0,
                             marker_line_color="black", hovertemplate=f"track #{row.track_id}<extra></extra>"))
    fig.add_vline(x=ts(frame), line_color="black", line_dash="dot")
    fig.update_layout(height=60 + 18 * len(lanes), margin={"l": 10, "r": 10, "t": 30, "b": 10}, barmode="overlay",
                      title=f"video timeline: {len(lanes)} tracks, {len(shots)} shot{'s' if len(shots) > 1 else ''}",
                      yaxis={"autorange": "reversed"}, xaxis_title=None)
    return fig


def pose_timeline(track, scores: np.ndarray | None, action_ids, classes: list[int], frame: int,
                  cuts=()):
    """Plotly figure: joint-angle heatmap (pose timeline) with missing detections shaded and shot changes
    marked, and prediction curves of the chosen classes below."""
    t = schema.FIRST_SECOND + track.frame / schema.FPS
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.1, row_heights=[0.5, 0.5],
                        subplot_titles=("pose: body-joint rotation (deg)", "predicted score"))
    fig.add_trace(go.Heatmap(x=t, z=browse.joint_angles(track).T, colorscale="Viridis", showscale=False,
                             name="pose"), row=1, col=1)
    for a, b in browse.missing_spans(track):
        fig.add_vrect(x0=schema.timestamp_of(a), x1=schema.timestamp_of(b + 1), fillcolor="red",
                      opacity=0.25, line_width=0, row="all", col=1)
    marked = [c for c in cuts if track.frame[0] <= c <= track.frame[-1] + 1]   # tracks end at a cut
    for c in marked:
        fig.add_vline(x=schema.timestamp_of(c), line_color="#d62728", line_dash="dash", row="all", col=1)
    fig.add_vline(x=schema.timestamp_of(frame), line_color="white", line_dash="dot", row="all", col=1)
    if scores is not None:
        curves = browse.curves(track, scores, action_ids, classes)
        for name, c in curves.groupby("class", sort=False):
            fig.add_trace(go.Scatter(x=c["timestamp"], y=c["score"], mode="lines", name=name), row=2, col=1)
    fig.update_layout(height=440, margin={"l": 10, "r": 10, "t": 60, "b": 10},
                      title=f"track #{track.track_id}: red = missing (in-filled), dotted = this frame"
                            + (", dashed = shot change" if marked else ""))
    fig.update_xaxes(title_text="AVA time (s)", row=2, col=1)
    return fig


def meshes_3d(people: People, mode: Literal["root", "depth"] = "root",
              colors: dict[int, tuple] | None = None) -> go.Figure:
    """One Mesh3d per person of a frame ("root": side by side around their roots; "depth": their scene layout
    with depths rescaled, see `lartcore.render.plot_points`)."""
    pts = plot_points(people, mode)
    i, j, k = people.faces.T
    traces = [go.Mesh3d(x=p[:, 0], y=p[:, 1], z=p[:, 2], i=i, j=j, k=k, color=f"rgb{tuple(c)}",
                        name=f"#{tid}", showlegend=True, flatshading=False)
              for p, tid, c in zip(pts, people.track_ids, person_colors(people, colors), strict=True)]
    fig = go.Figure(traces)
    fig.update_layout(scene={"aspectmode": "data", "xaxis_title": "x (m)", "yaxis_title": "depth (m)",
                             "zaxis_title": "up (m)"}, margin={"l": 0, "r": 0, "t": 30, "b": 0},
                      title=f"{len(people)} people ({mode} view)")
    return fig


# ---- explanations (lartcore.explain) --------------------------------------------------------------------

METHOD_NAMES = {"rollout": "attention rollout", "integrated_gradients": "integrated gradients"}
TYPE_COLORS = {"PM": "#1f77b4", "OM": "#ff7f0e", "PI": "#2ca02c"}


def attribution_map(exp, method: str = "integrated_gradients") -> go.Figure:
    """Heat map of an `explain.Explanation`'s (frames x people) map: people as rows (a swatch in the track's
    colour, the person of interest on top), AVA time as columns, the keyframe dotted and the score frames
    shaded; x = missed detections (in-filled by the mask token); blank = the person is not in the input."""
    FPS, timestamp_of = schema.FPS, schema.timestamp_of
    t = [timestamp_of(f) for f in exp.frames]
    rows = [f"#{p}" + (" (person of interest)" if i == 0 else "") for i, p in enumerate(exp.people)]
    z = exp.maps[method].T                                                       # (Q, F)
    signed = method == "integrated_gradients"
    hover = "%{y}<br>frame %{customdata} (%{x:.2f} s)<br>%{z:.4f}<extra></extra>"
    fig = go.Figure(go.Heatmap(x=t, y=rows, z=z, colorscale="RdBu_r" if signed else "Blues",
                               zmid=0 if signed else None, customdata=np.broadcast_to(exp.frames, z.shape),
                               colorbar={"title": "attribution"}, hovertemplate=hover))
    q, f = np.nonzero(~exp.present.T & np.isfinite(z))
    fig.add_trace(go.Scatter(x=[t[i] for i in f], y=[rows[i] for i in q], mode="markers",
                             name="missed detection (mask token)", hoverinfo="skip",
                             marker={"symbol": "x-thin", "size": 5, "line": {"width": 1, "color": "#777"}}))
    swatches = ["<span style='color:rgb({},{},{})'>\u25a0</span> ".format(*track_color(int(p)))
                for p in exp.people]
    lo, hi = timestamp_of(exp.span[0]) - 0.5 / FPS, timestamp_of(exp.span[1]) + 0.5 / FPS
    fig.add_vrect(x0=lo, x1=hi, y0=1.01, y1=1.06, fillcolor="#e6a800", line_width=0)
    fig.add_annotation(x=(lo + hi) / 2, y=1.06, yref="paper", yanchor="bottom", text="score frames",
                       showarrow=False)
    fig.add_vline(x=timestamp_of(exp.keyframe), line_color="black", line_dash="dot")
    fig.update_layout(title=_title(f"{METHOD_NAMES.get(method, method)}: {exp.title}", exp.banner),
                      xaxis_title="AVA time (s), keyframe dotted", height=240 + 40 * len(rows),
                      yaxis={"autorange": "reversed", "tickvals": rows,
                             "ticktext": [s + r for s, r in zip(swatches, rows, strict=True)]},
                      legend={"orientation": "h", "y": -0.4}, margin={"t": 110})
    return fig


def whatif_bars(exp, k: int = 5, edits: list[str] | None = None) -> go.Figure:
    """Score change (edited - original) of the top-k classes (and the explained one) under each edit of an
    `explain.Explanation` (columns of `exp.deltas`, all by default)."""
    classes = list(dict.fromkeys([exp.action_id, *exp.top_classes(k)]))
    labels = [f"{schema.short_name(c)} ({exp.scores[c]:.0%})" for c in classes]
    edits = list(exp.deltas.columns) if edits is None else edits
    fig = go.Figure([go.Bar(name=e, x=labels, y=exp.deltas.loc[classes, e]) for e in edits])
    fig.update_layout(barmode="group", yaxis_title="score change", height=420, legend={"orientation": "h"},
                      title=_title(f"What if: {exp.title}", exp.banner))
    return fig


def class_drops(drops: pd.DataFrame) -> go.Figure:
    """Mean score drop per class on its annotated keyframes (`explain.class_drops`), coloured by type."""
    hover = "%{x}: %{y:.3f} (%{customdata} keyframes)<extra></extra>"
    fig = go.Figure([go.Bar(name=t, x=g["name"], y=g["drop_gt"], marker_color=TYPE_COLORS[t],
                            customdata=g["n_gt"], hovertemplate=hover)
                     for t, g in drops.groupby("type", sort=False)])
    title = drops.attrs.get("title", "Mean score drop per class")
    fig.update_layout(title=_title(title, drops.attrs.get("banner", "")), xaxis_tickangle=-60, height=480,
                      yaxis_title="mean score drop (annotated keyframes)")
    return fig
