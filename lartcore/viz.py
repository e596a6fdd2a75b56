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
# Legends sit above the plot area, so they never cover the rotated class names below it.
TOP_LEGEND = {"orientation": "h", "yanchor": "bottom", "y": 1.02, "xanchor": "right", "x": 1.0}


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
                      yaxis_title="AP", xaxis_tickangle=-60, height=560, legend=TOP_LEGEND,
                      margin={"t": 90, "b": 10})
    return fig


def class_gains(gains: pd.DataFrame, name_a: str, name_b: str, banner: str = "", min_gain: float = 1.0) -> go.Figure:
    """The paper's class-gain figure: top, AP of A and B per class; bottom, the gain B - A (AP points) with
    the relative gain as text. gains: `tables.figure_gains` / `registry.per_class_gain(relative=True)`
    output, already filtered (|gain| > min_gain AP, which the title states) and sorted by gain."""
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
    fig.update_layout(barmode="group", xaxis2_tickangle=-60, height=680, legend=TOP_LEGEND, margin={"t": 90},
                      title=_title(f"Classes with |gain| > {min_gain:g} AP: {name_b} vs {name_a}", banner))
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

def _vspans(spans, **style) -> list[dict]:
    """Full-height shaded x-ranges [(x0, x1)] as layout shapes (one dict each: cheaper than add_vrect)."""
    return [{"type": "rect", "xref": "x", "yref": "paper", "x0": x0, "x1": x1, "y0": 0, "y1": 1, "layer": "below",
             "line": {"width": 0}, **style} for x0, x1 in spans]


THIS_FRAME = "this frame"     # the name of the dotted line at the shown frame (`move_frame_line`)


def _vlines(xs, color: str, dash: str, width: float = 2, name: str | None = None) -> list[dict]:
    """Full-height vertical lines at xs as layout shapes."""
    return [{"type": "line", "xref": "x", "yref": "paper", "x0": x, "x1": x, "y0": 0, "y1": 1,
             "line": {"color": color, "dash": dash, "width": width}, **({"name": name} if name else {})}
            for x in xs]


def move_frame_line(fig: go.Figure, frame: int) -> go.Figure:
    """Move the "this frame" line of a timeline figure to `frame` (in place; the rest is unchanged), so a
    figure built once per person can follow the frame slider."""
    for shape in fig.layout.shapes:
        if shape.name == THIS_FRAME:
            shape.update(x0=schema.timestamp_of(frame), x1=schema.timestamp_of(frame))
    return fig


def video_timeline(lanes: pd.DataFrame, cuts: np.ndarray, span: tuple[int, int], frame: int,
                   selected: int | None = None):
    """Plotly strip over the whole video: one lane per track (its stable colour, the followed one
    outlined), shots shaded alternately with the cuts marked, a dotted line at the shown frame. One bar
    trace for all lanes and the shapes as plain dicts: built in a few ms on every frame change."""
    ts = schema.timestamp_of
    shots = browse.shot_spans(cuts, *span)
    shapes = [*[s for k, (a, b) in enumerate(shots)
                for s in _vspans([(ts(a), ts(b + 1))], fillcolor="#888" if k % 2 else "#ccc", opacity=0.15)],
              *_vlines([ts(a) for a, _ in shots[1:]], "#d62728", "dash"),     # every shot after the first: a cut
              *_vlines([ts(frame)], "black", "dot", 1, THIS_FRAME)]
    notes = [{"x": ts(a), "y": 1, "xref": "x", "yref": "paper", "text": "shot change", "showarrow": False,
              "yanchor": "bottom"} for a, _ in shots[1:]]
    ids = lanes["track_id"].astype(int).tolist()
    fig = go.Figure(go.Bar(x=((lanes["last"] + 1 - lanes["first"]) / schema.FPS).tolist(),
                           base=[ts(f) for f in lanes["first"]], y=[f"#{i}" for i in ids], orientation="h",
                           marker={"color": ["rgb({},{},{})".format(*track_color(i)) for i in ids],
                                   "line": {"width": [3 if i == selected else 0 for i in ids], "color": "black"}},
                           hovertext=[f"track #{i}" for i in ids], hoverinfo="text", showlegend=False))
    fig.update_layout(height=60 + 18 * len(lanes), margin={"l": 10, "r": 10, "t": 30, "b": 10}, barmode="overlay",
                      title=f"video timeline: {len(lanes)} tracks, {len(shots)} shot{'s' if len(shots) > 1 else ''}",
                      yaxis={"type": "category", "autorange": "reversed"},    # plotly.js would read "#2" as 2
                      xaxis_title=None, shapes=shapes, annotations=notes)
    return fig


def pose_timeline(track, scores: np.ndarray | None, action_ids, classes: list[int], frame: int,
                  cuts=(), runs: tuple[str, str] = ("", ""), scores_b: np.ndarray | None = None):
    """Plotly figure: joint-angle heatmap (pose timeline) with missing detections shaded and shot changes
    marked, and prediction curves of the chosen classes below (of run `runs[0]`; dashed, of `runs[1]` when
    `scores_b` are given)."""
    t = schema.FIRST_SECOND + track.frame / schema.FPS
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.1, row_heights=[0.5, 0.5],
                        subplot_titles=("pose: body-joint rotation (deg)", "predicted score"))
    fig.add_trace(go.Heatmap(x=t, z=browse.joint_angles(track).T, colorscale="Viridis", showscale=False,
                             name="pose"), row=1, col=1)
    ts = schema.timestamp_of
    marked = [c for c in cuts if track.frame[0] <= c <= track.frame[-1] + 1]   # tracks end at a cut
    shapes = [*_vspans([(ts(a), ts(b + 1)) for a, b in browse.missing_spans(track)], fillcolor="red", opacity=0.25),
              *_vlines([ts(c) for c in marked], "#d62728", "dash"),
              *_vlines([ts(frame)], "#111", "dot", name=THIS_FRAME)]   # dark: seen on the heatmap and white
    palette = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf")
    for scores_x, dash, run in ((scores, "solid", runs[0]), (scores_b, "dash", runs[1])):
        if scores_x is None:
            continue
        curves = browse.curves(track, scores_x, action_ids, classes)
        for k, (name, c) in enumerate(curves.groupby("class", sort=False)):
            fig.add_trace(go.Scatter(x=c["timestamp"], y=c["score"], mode="lines", name=f"{name} ({run})" if run
                                     else name, line={"dash": dash, "color": palette[k % len(palette)]}),
                          row=2, col=1)
    fig.update_layout(height=440, margin={"l": 10, "r": 10, "t": 60, "b": 10}, shapes=shapes,
                      title=f"track #{track.track_id}: red = missing (in-filled), dotted = this frame"
                            + (", dashed = shot change" if marked else ""))
    fig.update_xaxes(title_text="AVA time (s)", row=2, col=1)
    return fig


# Camera-matched views of the 3D scene (display axes x right, y depth away from the camera, z up): "camera"
# looks from behind the camera, as the image does (x stays right: not mirrored); "side" from the right of
# the scene (the camera on the left); "top" from above (the camera at the bottom).
VIEWS = {"camera": {"eye": {"x": 0.0, "y": -2.0, "z": 0.25}, "up": {"x": 0, "y": 0, "z": 1}},
         "side": {"eye": {"x": 2.2, "y": 0.0, "z": 0.2}, "up": {"x": 0, "y": 0, "z": 1}},
         "top": {"eye": {"x": 0.0, "y": -0.001, "z": 2.4}, "up": {"x": 0, "y": 1, "z": 0}}}


def meshes_3d(people: People, mode: Literal["root", "depth"] = "root",
              colors: dict[int, tuple] | None = None, view: str = "camera",
              paths: dict[int, np.ndarray] | None = None) -> go.Figure:
    """One Mesh3d per person of a frame ("root": side by side around their roots; "depth": their scene layout
    with depths rescaled, see `lartcore.render.plot_points`), seen from one of VIEWS; in "depth" layout,
    `paths` {track id: (n, 2) ground positions x, depth (`lartcore.render.ground_path`)} are drawn on the
    floor under the people, each in its track's colour, a circle where it starts."""
    pts = plot_points(people, mode)
    i, j, k = people.faces.T
    cols = person_colors(people, colors)
    traces = [go.Mesh3d(x=p[:, 0], y=p[:, 1], z=p[:, 2], i=i, j=j, k=k, color=f"rgb{tuple(c)}",
                        name=f"#{tid}", showlegend=True, flatshading=False)
              for p, tid, c in zip(pts, people.track_ids, cols, strict=True)]
    if mode == "depth" and paths:
        floor = float(pts[..., 2].min()) if len(people) else 0.0
        for tid, xy in paths.items():
            c = f"rgb{tuple((colors or {}).get(int(tid), track_color(int(tid))))}"
            traces.append(go.Scatter3d(x=xy[:, 0], y=xy[:, 1], z=np.full(len(xy), floor), mode="lines",
                                       line={"color": c, "width": 5}, name=f"#{tid} path", showlegend=False))
            traces.append(go.Scatter3d(x=xy[:1, 0], y=xy[:1, 1], z=[floor], mode="markers", showlegend=False,
                                       marker={"color": c, "size": 4, "symbol": "circle-open"}))
    fig = go.Figure(traces)
    fig.update_layout(scene={"aspectmode": "data", "xaxis_title": "x (m)", "yaxis_title": "depth",
                             "zaxis_title": "up (m)", "camera": {**VIEWS[view], "center": {"x": 0, "y": 0, "z": 0}}},
                      margin={"l": 0, "r": 0, "t": 30, "b": 0}, uirevision=view,
                      title=f"{len(people)} {'person' if len(people) == 1 else 'people'} ({mode} layout, {view} view"
                            + (", ground paths" if mode == "depth" and paths else "") + ")")
    return fig


# ---- evaluation views --------------------------------------------------------------------------------

def pr_curves(curves: dict[str, pd.DataFrame], class_name: str, ap: dict[str, float] | None = None,
              banner: str = "") -> go.Figure:
    """Precision-recall curves of one class for one or two runs (`lartcore.matches.pr_curve` per run name),
    a marker per detection (filled: TP, open: FP) carrying its rank and row (customdata) so a click can
    open it."""
    fig = go.Figure()
    for (name, c), color in zip(curves.items(), (COLORS["b"], COLORS["a"]), strict=False):
        label = f"{name} (AP {100 * ap[name]:.1f})" if ap and name in ap and np.isfinite(ap[name]) else name
        fig.add_trace(go.Scatter(
            x=c["recall"], y=c["precision"], mode="lines+markers", name=label, line={"color": color},
            marker={"symbol": np.where(c["tp"], "circle", "circle-open"), "size": 7, "color": color},
            customdata=np.c_[c["rank"], c["row"], c["score"]],
            hovertemplate="rank %{customdata[0]}: score %{customdata[2]:.3f}<br>recall %{x:.3f}, "
                          "precision %{y:.3f}<extra>" + name + "</extra>"))
    fig.update_layout(title=_title(f"Precision-recall: {class_name} (filled = TP, open = FP; click a point)",
                                   banner), xaxis_title="recall", yaxis_title="precision",
                      xaxis={"range": [0, 1.02]}, yaxis={"range": [0, 1.05]}, height=460, legend=TOP_LEGEND,
                      margin={"t": 90})
    return fig


def confusion_bars(conf: pd.DataFrame, gt_id: int, runs: dict[str, pd.DataFrame] | None = None, top: int = 12,
                   banner: str = "") -> go.Figure:
    """For the GT boxes of class `gt_id`: the share where each class is predicted (`browse.label_confusion`
    rows), the `top` classes of the first run, one bar per run (`runs` {name: its confusion table}; default
    one unnamed run)."""
    runs = runs or {"": conf}
    first = next(iter(runs.values()))
    mine = first[first["gt_id"] == gt_id].sort_values("rate", ascending=False).head(top)
    fig = go.Figure()
    for (name, c), color in zip(runs.items(), (COLORS["b"], COLORS["a"]), strict=False):
        rows = c[c["gt_id"] == gt_id].set_index("pred_id").reindex(mine["pred_id"])
        fig.add_trace(go.Bar(x=[schema.short_name(int(a)) + (" (itself)" if a == gt_id else "")
                                for a in mine["pred_id"]], y=100 * rows["rate"], name=name or "rate",
                             marker_color=color))
    n = int(mine["n_boxes"].iloc[0]) if len(mine) else 0
    fig.update_layout(title=_title(f"Predicted on the {n} GT boxes of {schema.short_name(gt_id)}", banner),
                      yaxis_title="% of those boxes", barmode="group", xaxis_tickangle=-45, height=440,
                      legend=TOP_LEGEND, margin={"t": 90})
    return fig


def confusion_matrix(conf: pd.DataFrame, banner: str = "") -> go.Figure:
    """Heatmap GT class (rows) x predicted class (columns): the share of a GT class's boxes where the run
    predicts each class (`browse.label_confusion`), classes with GT only."""
    table = conf.pivot(index="gt_id", columns="pred_id", values="rate").fillna(0.0)
    table = table[[c for c in table.columns if c in table.index]]
    names = [schema.short_name(int(a)) for a in table.index]
    fig = go.Figure(go.Heatmap(z=100 * table.to_numpy(), x=[schema.short_name(int(a)) for a in table.columns],
                               y=names, colorscale="Blues", colorbar={"title": "%"},
                               hovertemplate="GT %{y} -> predicted %{x}: %{z:.0f}%<extra></extra>"))
    fig.update_layout(title=_title("Label confusion: what the run predicts on each GT class's boxes", banner),
                      xaxis_tickangle=-60, height=max(420, 16 * len(names) + 160), yaxis={"autorange": "reversed"})
    return fig


# ---- explanations (lartcore.explain) --------------------------------------------------------------------

METHOD_NAMES = {"rollout": "attention rollout", "integrated_gradients": "integrated gradients"}
TYPE_COLORS = {"PM": "#1f77b4", "OM": "#ff7f0e", "PI": "#2ca02c"}


def attribution_map(exp, method: str = "integrated_gradients") -> go.Figure:
    """Heat map of an `explain.Explanation`'s (frames x people) map: people as rows (a swatch and a band in the
    track's colour, the person of interest on top), AVA time as columns, the keyframe dotted and the score frames
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
                             name="missed detection (mask token)", hoverinfo="skip", showlegend=True,
                             marker={"symbol": "x-thin", "size": 5, "line": {"width": 1, "color": "#777"}}))
    swatches = ["<span style='color:rgb({},{},{})'>\u25a0</span> ".format(*track_color(int(p)))
                for p in exp.people]
    for i, p in enumerate(exp.people):               # each row in its track's colour: a band left of the map
        fig.add_shape(type="rect", xref="paper", xsizemode="pixel", xanchor=0, x0=-11, x1=-3, yref="y",
                      y0=i - 0.45, y1=i + 0.45, fillcolor="rgb({},{},{})".format(*track_color(int(p))),
                      line_width=0, name=f"track colour #{p}")
    lo, hi = timestamp_of(exp.span[0]) - 0.5 / FPS, timestamp_of(exp.span[1]) + 0.5 / FPS
    fig.add_vrect(x0=lo, x1=hi, y0=1.01, y1=1.06, fillcolor="#e6a800", line_width=0)
    fig.add_annotation(x=(lo + hi) / 2, y=1.06, yref="paper", yanchor="bottom", text="score frames",
                       showarrow=False)
    fig.add_vline(x=timestamp_of(exp.keyframe), line_color="black", line_dash="dot")
    fig.update_xaxes(range=[t[0] - 0.5 / FPS, t[-1] + 0.5 / FPS])      # no padding for the x markers
    fig.update_layout(title=_title(f"{METHOD_NAMES.get(method, method)}: {exp.title}", exp.banner),
                      xaxis_title="AVA time (s), keyframe dotted", height=240 + 40 * len(rows),
                      yaxis={"type": "category", "autorange": "reversed", "tickvals": rows, "ticklabelstandoff": 14,
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
