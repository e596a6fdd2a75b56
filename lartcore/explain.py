"""Explain one prediction: which people, frames and cues drove one class's score for one person at one
keyframe, and how every class score moves under counterfactual edits of the input.

Letters: B windows, T frames of a window, P person slots (slot 0 = the person of interest), C model
classes, E edited inputs, F grid frames, Q grid people, K keyframe rows.

The input (`window`): the evaluation windows of `TrackDataset` (train=False, the ones `lart predict`
runs) that hold the keyframe's score frames [kf - 6, kf + 6) of the track: one window, or two where those
frames straddle a window boundary (each with its own other people). The keyframe score is computed as
`lart predict` computes it: the mean over those frames of the sigmoid of the person-of-interest logits
(`LART.poi_logits`), so an unedited explanation reproduces the predicted score. Results are laid out on
a grid of frames x people (F, Q): the frames of the windows, and the distinct tracks of their slots (the
person of interest first), named by track id; NaN = that person has no token there (not in that window).

Attribution maps (F, Q):
- "rollout": attention rollout (Abnar & Zuidema 2020) through every block: the head-mean attention A of
  each block, computed from its qkv weights under the model's eval rule (keys = detected tokens; a query
  with no key attends uniformly to all, as the official -1e3 fill), mixed with the residual, 0.5 A + 0.5 I,
  and multiplied through the blocks; the relevance of each input token for the score frames of slot 0,
  weighted as the score weights them. Class-agnostic; sums to 1. Undetected tokens are never keys: they
  count only through their own row (the mask token that in-fills a frame of the person of interest).
- "integrated_gradients": Captum `IntegratedGradients` on the model inputs of every token (the 229-d pose
  vector, whose last 3 dims are the location, and the appearance feature), baseline zero features (the cue
  absent, as the "drop" edits give it), target the class's keyframe score. A token's value is the sum over
  its features. We attribute on the inputs rather than on the token embedding because the pose MLP mixes
  pose and location into one embedding: only the inputs separate the three cues. Undetected tokens are
  replaced by the mask token whatever their features, so they get exactly 0. Completeness: the map sums to
  score(input) - score(zero features), up to `ig_delta`.
Per-cue totals (`cues`): integrated gradients summed over pose (dims 0..225: orientation, body pose,
shape), location (226..228), appearance and joints (official models); rollout has none (it moves whole
tokens).

Counterfactual edits (`Edit`, applied by the batch functions `hide`, `drop_others`, `drop_person`,
`drop_cue`, `hide_span`, `keyframe_only`, `swap_pose`): each returns a new batch, the input is never
modified; hidden tokens become missed detections (in-filled by the mask token, never keys). All edits of
an explanation are stacked along B and scored in one forward. `scan` runs edits over a whole store
(every keyframe of every track) for dataset-level summaries.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch.utils.data import default_collate

from lartcore.checkpoint import load_checkpoint
from lartcore.data.dataset import DataConfig, TrackDataset
from lartcore.data.store import TrackStore
from lartcore.infer import (
    HALF_WINDOW,
    clean_batch,
    data_config_of,
    keyframe_table,
    track_scores,
    window_means,
)
from lartcore.model import LART, STREAM_KEYS, Attention, plan_attention
from lartcore.paths import DataRoot
from lartcore.pipeline import VAL_SPLIT
from lartcore.registry import banner
from lartcore.schema import BODY_POSE, GT_LABEL, LOCATION, class_type, short_name

METHODS = ("rollout", "integrated_gradients")
EditKind = Literal["drop_others", "drop_person", "drop_cue", "hide_span", "keyframe_only", "swap_pose"]


@dataclass(frozen=True)
class Predictor:
    """A trained model as `lart predict` runs it (eval mode, its evaluation window) and what it is."""
    model: LART
    data_cfg: DataConfig
    name: str                  # what made the predictions, e.g. "run demo/lart"
    banner: str = ""           # registry.DEMO_BANNER for a model trained on demo data

    @classmethod
    def from_run(cls, run_dir: str | Path) -> Predictor:
        """The checkpoint of a registry run folder (`pipeline.ensure_run`), banner from its provenance."""
        run = Path(run_dir)
        ckpt = load_checkpoint(run / "checkpoint.pt")
        prov = run / "provenance.json"
        demo = banner(json.loads(prov.read_text())) if prov.is_file() else ""
        return cls(ckpt.model.eval(), data_config_of(ckpt), f"run {run.parent.name}/{run.name}", demo)


# ---------------------------------------------------------------- the input around one keyframe

@dataclass(frozen=True)
class Window:
    """The model input for one person at one keyframe (see the module docstring) and its grid."""
    batch: dict[str, torch.Tensor]   # TrackDataset samples (B = 1 or 2), cleaned as `lart predict` does,
                                     #   + slot_track_id (B, P) int64: track id in each slot, -1 = empty
    weights: torch.Tensor            # (B, T) 1/n on the n score frames of slot 0, else 0
    track: int                       # source row of the person of interest
    keyframe: int                    # absolute frame
    span: tuple[int, int]            # score frames, absolute, inclusive
    frames: np.ndarray               # (F,) absolute frame of each grid row
    people: np.ndarray               # (Q,) track id of each grid column; column 0 = the person of interest
    rows: np.ndarray                 # (B, T) grid row of each window row, -1 = padding
    cols: np.ndarray                 # (B, P) grid column of each slot, -1 = empty slot

    def to_grid(self, values) -> np.ndarray:
        """(B, T, P) per-token values -> (F, Q) grid, NaN where the person has no token."""
        values = np.asarray(values, dtype=np.float64)
        out = np.full((len(self.frames), len(self.people)), np.nan)
        b, t, p = np.nonzero((self.rows[:, :, None] >= 0) & (self.cols[:, None, :] >= 0))
        out[self.rows[b, t], self.cols[b, p]] = values[b, t, p]
        return out

    def tokens(self, grid: np.ndarray) -> torch.Tensor:
        """(F, Q) bool grid cells -> (B, T, P) bool tokens (the inverse of `to_grid`; e.g. for `hide`)."""
        grid = np.asarray(grid, bool)
        ok = (self.rows[:, :, None] >= 0) & (self.cols[:, None, :] >= 0)
        out = np.zeros(ok.shape, bool)
        b, t, p = np.nonzero(ok)
        out[b, t, p] = grid[self.rows[b, t], self.cols[b, p]]
        return torch.as_tensor(out)

    @property
    def present(self) -> np.ndarray:
        """(F, Q) bool: the person is detected there (in the model's input)."""
        return np.nan_to_num(self.to_grid(self.batch["present"].numpy()), nan=0.0) > 0


def window(pred: Predictor, source, track: int, keyframe: int) -> Window:
    """The windows `lart predict` scores frames [keyframe - 6, keyframe + 6) of source row `track` from."""
    data = TrackDataset(source, pred.data_cfg, train=False)
    T = pred.data_cfg.seq_len
    first, length = int(data.first[track]), int(data.length[track])
    local = int(keyframe) - first
    if not 0 <= local < length:
        raise ValueError(f"keyframe {keyframe} is outside track row {track} "
                         f"(frames {first}..{first + length - 1})")
    lo, hi = max(local - HALF_WINDOW, 0), min(local + HALF_WINDOW, length)
    starts = data.windows[:, 1]
    items = np.flatnonzero((data.windows[:, 0] == track) & (starts < hi) & (starts + T > lo))
    batch, _ = clean_batch(default_collate([data[int(k)] for k in items]), pred.model.cfg.streams)
    ids = source.index["track_id"].to_numpy(np.int64)
    slots = np.stack([data.slot_tracks(int(k)) for k in items])                   # (B, P) source rows
    slot_ids = np.where(slots >= 0, ids[np.maximum(slots, 0)], -1)
    valid = batch["frame"].numpy() >= 0                                            # (B, T)
    local_rows = starts[items][:, None] + np.arange(T)                             # (B, T)
    weights = ((local_rows >= lo) & (local_rows < hi) & valid) / (hi - lo)
    people = list(dict.fromkeys(int(x) for x in slot_ids.reshape(-1) if x >= 0))  # person of interest first
    return Window(batch={**batch, "slot_track_id": torch.as_tensor(slot_ids)},
                  weights=torch.as_tensor(weights, dtype=torch.float32), track=int(track),
                  keyframe=int(keyframe), span=(first + lo, first + hi - 1),
                  frames=batch["frame"].numpy()[valid], people=np.array(people, np.int64),
                  rows=np.where(valid, np.cumsum(valid).reshape(valid.shape) - 1, -1),
                  cols=np.array([[people.index(x) if x >= 0 else -1 for x in r] for r in slot_ids]))


# ---------------------------------------------------------------- counterfactual edits (batch -> new batch)

def hide(batch: dict, where: torch.Tensor) -> dict:
    """Tokens `where` (B, T, P) become missed detections: in-filled by the mask token, never keys."""
    return {**batch, "present": batch["present"] & ~where}


def _slots_of(batch: dict, track_id: int) -> torch.Tensor:
    """(B, P) bool: the slot holding `track_id` in each window; raises if it is in none."""
    hit = batch["slot_track_id"] == track_id
    if not hit.any():
        known = sorted({int(x) for x in batch["slot_track_id"].reshape(-1) if x >= 0})
        raise ValueError(f"track #{track_id} is not in this input (people: {known})")
    return hit


def drop_others(batch: dict) -> dict:
    """Every other person hidden: the n=1 view of the scene."""
    where = torch.zeros_like(batch["present"])
    where[:, :, 1:] = True
    return hide(batch, where)


def drop_person(batch: dict, track_id: int) -> dict:
    """One other person hidden in every frame."""
    hit = _slots_of(batch, track_id)
    if hit[:, 0].any():
        raise ValueError(f"track #{track_id} is the person of interest: hide its frames with hide_span")
    return hide(batch, hit[:, None, :].expand_as(batch["present"]))


def drop_cue(batch: dict, cue: str) -> dict:
    """One input stream ("pose", "appearance", "joints") set to zero features for everyone (the cue absent;
    a model without that stream never sees it); detections stay."""
    key = STREAM_KEYS.get(cue)
    if key is None or key not in batch:
        inputs = [c for c, k in STREAM_KEYS.items() if k in batch]
        raise ValueError(f"cue {cue!r} is not an input here (inputs: {inputs})")
    return {**batch, key: torch.zeros_like(batch[key])}


def hide_span(batch: dict, first: int, last: int, poi_only: bool = False) -> dict:
    """Frames first..last (absolute, inclusive) hidden, for everyone or only the person of interest."""
    rows = (batch["frame"] >= first) & (batch["frame"] <= last)                     # (B, T)
    where = rows[:, :, None].expand_as(batch["present"]).clone()
    if poi_only:
        where[:, :, 1:] = False
    return hide(batch, where)


def keyframe_only(batch: dict, keyframe: int) -> dict:
    """Everyone hidden except at the keyframe: one frame, no tracking (the score keeps its 12 frames,
    in-filled from the keyframe)."""
    return hide(batch, (batch["frame"] != keyframe)[:, :, None].expand_as(batch["present"]))


def swap_pose(batch: dict, track_id: int) -> dict:
    """The person of interest takes another person's body pose (the 23 joint rotations) in the frames where
    both are detected; own orientation, shape and location stay. The joints stream (official models) is
    not changed."""
    hit = _slots_of(batch, track_id)                                                # (B, P)
    q = hit.int().argmax(1)                                                         # (B,)
    rows = torch.arange(len(q))
    pose = batch["pose_shape"]
    both = batch["present"][:, :, 0] & batch["present"][rows, :, q] & hit.any(1)[:, None]   # (B, T)
    body = torch.zeros(pose.shape[-1], dtype=torch.bool)
    body[BODY_POSE] = True
    new = pose.clone()
    new[:, :, 0] = torch.where(both[..., None] & body, pose[rows, :, q], pose[:, :, 0])
    return {**batch, "pose_shape": new}


_PATTERNS = {  # str(Edit) forms (deep links, table columns) -> kind
    "drop_others": r"drop others", "drop_person": r"drop #(?P<track_id>\d+)",
    "drop_cue": r"drop (?P<cue>pose|appearance|joints)",
    "hide_span": r"hide (?P<poi>poi )?(?P<a>\d+)-(?P<b>\d+)",
    "keyframe_only": r"keyframe only", "swap_pose": r"swap pose #(?P<track_id>\d+)"}


@dataclass(frozen=True)
class Edit:
    """One counterfactual edit. track_id: drop_person / swap_pose; cue: drop_cue; span (absolute frames,
    inclusive) and poi_only: hide_span. `str(edit)` is its label and deep-link form (`Edit.parse`)."""
    kind: EditKind
    track_id: int = -1
    cue: str = ""
    span: tuple[int, int] = (0, -1)
    poi_only: bool = False

    def apply(self, batch: dict, keyframe: int | None = None) -> dict:
        """The edited batch (a new dict); `keyframe` (absolute frame) is needed by keyframe_only only."""
        match self.kind:
            case "drop_others":
                return drop_others(batch)
            case "drop_person":
                return drop_person(batch, self.track_id)
            case "drop_cue":
                return drop_cue(batch, self.cue)
            case "hide_span":
                return hide_span(batch, *self.span, poi_only=self.poi_only)
            case "keyframe_only" if keyframe is not None:
                return keyframe_only(batch, keyframe)
            case "swap_pose":
                return swap_pose(batch, self.track_id)
        why = "without the keyframe" if self.kind == "keyframe_only" else "(unknown kind)"
        raise ValueError(f"cannot apply edit {self.kind!r} {why}")

    def __str__(self) -> str:
        return {"drop_others": "drop others", "drop_person": f"drop #{self.track_id}",
                "drop_cue": f"drop {self.cue}", "keyframe_only": "keyframe only",
                "hide_span": f"hide {'poi ' if self.poi_only else ''}{self.span[0]}-{self.span[1]}",
                "swap_pose": f"swap pose #{self.track_id}"}[self.kind]

    @classmethod
    def parse(cls, text: str) -> Edit:
        for kind, pattern in _PATTERNS.items():
            m = re.fullmatch(pattern, text.strip())
            if m:
                g = m.groupdict()
                span = (int(g["a"]), int(g["b"])) if "a" in g else (0, -1)
                return cls(kind, track_id=int(g.get("track_id") or -1), cue=g.get("cue") or "", span=span,
                           poi_only=bool(g.get("poi")))
        raise ValueError(f"not an edit: {text!r} (forms: drop others, drop #ID, drop pose|appearance|joints, "
                         "hide [poi ]FIRST-LAST, keyframe only, swap pose #ID)")


EditGroup = Edit | tuple[Edit, ...]   # a group is applied in order and scored as one input


def label(group: EditGroup) -> str:
    return " + ".join(str(e) for e in (group if isinstance(group, tuple) else (group,)))


def parse_group(text: str) -> tuple[Edit, ...]:
    """"drop others + drop appearance" -> its edits (the deep-link form of combined toggles)."""
    return tuple(Edit.parse(part) for part in text.split("+"))


def default_edits(win: Window, streams: tuple[str, ...]) -> list[Edit]:
    """Every edit of the issue on this input: others, each other person, each cue, the person of interest
    hidden over the score frames, keyframe only, the pose of the first other person swapped in."""
    others = [int(x) for x in win.people[1:]]
    edits = [Edit("drop_others")] if others else []
    edits += [Edit("drop_person", track_id=t) for t in others]
    edits += [Edit("drop_cue", cue=s) for s in streams]
    edits += [Edit("hide_span", span=win.span, poi_only=True), Edit("keyframe_only")]
    if others and "pose" in streams:
        edits.append(Edit("swap_pose", track_id=others[0]))
    return edits


def _apply(group: EditGroup, batch: dict, keyframe: int) -> dict:
    for e in group if isinstance(group, tuple) else (group,):
        batch = e.apply(batch, keyframe)
    return batch


# ---------------------------------------------------------------- scores

def keyframe_scores(pred: Predictor, win: Window, batches: list[dict]) -> np.ndarray:
    """(E, C) keyframe scores of E versions of the window's batch, in one forward."""
    keys = [STREAM_KEYS[s] for s in pred.model.cfg.streams] + ["present"]
    stacked = {k: torch.cat([b[k] for b in batches]) for k in keys}
    with torch.inference_mode():
        probs = torch.sigmoid(pred.model.poi_logits(stacked).float())               # (E*B, T, C)
    B, T = win.weights.shape
    return torch.einsum("ebtc,bt->ec", probs.view(len(batches), B, T, -1), win.weights).numpy()


def whatif(pred: Predictor, win: Window, edits: list[EditGroup]) -> tuple[pd.Series, pd.DataFrame]:
    """Keyframe scores (by action id) and, per edit, the change of every class score (edited - original):
    a DataFrame action id x edit label."""
    out = keyframe_scores(pred, win, [win.batch] + [_apply(g, win.batch, win.keyframe) for g in edits])
    ids = pd.Index(pred.model.action_ids, name="action_id")
    deltas = pd.DataFrame((out[1:] - out[0]).T, index=ids, columns=[label(g) for g in edits])
    return pd.Series(out[0], index=ids, name="score"), deltas


# ---------------------------------------------------------------- attribution

def attention_weights(attn: Attention, h: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
    """Per-head attention (B, H, N, N) of `attn` on its normed input h (B, N, D): keys (B, N) bool are the
    attendable tokens; a sample without any key attends uniformly (the official -1e3 fill)."""
    B, N, _ = h.shape
    H, dh = attn.heads, attn.dim_head
    qk = F.linear(h, attn.qkv.weight[:2 * H * dh])                                 # (B, N, 2*H*dh)
    q, k = qk.view(B, N, 2, H, dh).permute(2, 0, 3, 1, 4)                          # (B, H, N, dh) each
    logits = (q @ k.transpose(-1, -2)) * dh ** -0.5                                # (B, H, N, N)
    logits = logits.masked_fill(~keys[:, None, None, :], float("-inf"))
    logits = torch.where(keys.any(1)[:, None, None, None], logits, 0.0)
    return logits.softmax(-1)


@torch.inference_mode()
def rollout(pred: Predictor, win: Window) -> np.ndarray:
    """(B, T, P) attention-rollout relevance of each token for the score frames of slot 0 (sums to 1)."""
    model, batch = pred.model, win.batch
    present = batch["present"].bool()
    B, T, P = present.shape
    live, masked = model.make_masks(present)                                       # eval: all live
    x = model.apply_mask(model.embed(batch), masked)                               # (B, N, D)
    eye = torch.eye(T * P).expand(B, -1, -1)
    R = eye
    if not model.cfg.single_frame:                           # single frame: each token sees only itself
        plan = plan_attention(live.flatten(1), masked.flatten(1))
        keys = (live & ~masked).flatten(1)
        for block in model.blocks:
            A = attention_weights(block.attn, block.norm1(x), keys).mean(1)       # (B, N, N)
            R = (0.5 * A + 0.5 * eye) @ R
            x = block(x, plan)
    relevance = torch.einsum("btn,bt->bn", R[:, ::P], win.weights)               # rows of slot 0
    return relevance.view(B, T, P).numpy()


def integrated_gradients(pred: Predictor, win: Window, action_id: int, n_steps: int = 16
                         ) -> tuple[dict[str, np.ndarray], float]:
    """Per-cue (B, T, P) attributions of the class's keyframe score (see the module docstring) and the
    completeness gap |sum - (score - baseline score)|."""
    from captum.attr import IntegratedGradients  # noqa: PLC0415  (a 1-2 s import, needed by this method only)
    model = pred.model
    streams = model.cfg.streams
    column = _column(model, action_id)

    def score(*args):                  # stream inputs..., present, weights -> (n, C) partial keyframe scores
        *inputs, present, weights = args
        batch = {**dict(zip((STREAM_KEYS[s] for s in streams), inputs, strict=True)), "present": present}
        logits = model.poi_logits(batch)
        return torch.einsum("ntc,nt->nc", torch.sigmoid(logits.float()), weights)

    inputs = tuple(win.batch[STREAM_KEYS[s]].float() for s in streams)
    attr, delta = IntegratedGradients(score).attribute(
        inputs, baselines=tuple(torch.zeros_like(x) for x in inputs), target=column, n_steps=n_steps,
        additional_forward_args=(win.batch["present"], win.weights), return_convergence_delta=True)
    cues = {}
    for stream, a in zip(streams, attr, strict=True):
        a = a.detach().double()
        if stream == "pose":
            cues["pose"] = a[..., :LOCATION.start].sum(-1).numpy()
            cues["location"] = a[..., LOCATION].sum(-1).numpy()
        else:
            cues[stream] = a.sum(-1).numpy()
    return cues, float(delta.abs().sum())


def _column(model: LART, action_id: int) -> int:
    if int(action_id) not in model.action_ids:
        ids = model.action_ids
        raise ValueError(f"action id {action_id} is not a class of this model ({len(ids)} classes: "
                         f"{ids[0]}..{ids[-1]})")
    return model.action_ids.index(int(action_id))


# ---------------------------------------------------------------- one explanation

@dataclass(frozen=True)
class Explanation:
    """Why `pred` gave `action_id` its score for one person at one keyframe (see the module docstring).
    Grid arrays are (F, Q): frames x people, NaN where the person has no token."""
    name: str                        # the predictor (e.g. "run demo/lart")
    banner: str                      # demo-data warning, "" for real data
    track: int                       # source row of the person of interest
    keyframe: int                    # absolute frame
    action_id: int
    span: tuple[int, int]            # score frames, absolute, inclusive
    frames: np.ndarray               # (F,)
    people: np.ndarray               # (Q,) track ids, people[0] = the person of interest
    present: np.ndarray              # (F, Q) bool
    maps: dict[str, np.ndarray]      # method -> (F, Q)
    cues: pd.DataFrame               # method x cue totals (NaN: the method has no cue split)
    scores: pd.Series                # keyframe score per action id
    deltas: pd.DataFrame             # action id x edit label: edited - original score
    ig_delta: float                  # integrated-gradients completeness gap (NaN if not computed)

    @property
    def score(self) -> float:
        return float(self.scores[self.action_id])

    @property
    def title(self) -> str:
        return (f"{short_name(self.action_id)} {self.score:.0%} for #{self.people[0]} at frame "
                f"{self.keyframe}: prediction of {self.name}")

    def people_totals(self, method: str = "integrated_gradients") -> pd.Series:
        """Total attribution per person (track id), largest first: who drove the score."""
        return pd.Series(np.nansum(self.maps[method], 0), index=pd.Index(self.people, name="track_id"),
                         name=method).sort_values(ascending=False)

    def top_classes(self, k: int = 5) -> list[int]:
        return [int(i) for i in self.scores.nlargest(k).index]


def explain(pred: Predictor, source, track: int, keyframe: int, action_id: int | None = None,
            edits: list[EditGroup] | None = None, methods: tuple[str, ...] = METHODS,
            n_steps: int = 16) -> Explanation:
    """Explain the keyframe score of `action_id` (None: the top class) for source row `track` at absolute
    frame `keyframe`; `edits` None = `default_edits`."""
    unknown = set(methods) - set(METHODS)
    if unknown:
        raise ValueError(f"unknown methods {sorted(unknown)}; known: {METHODS}")
    win = window(pred, source, track, keyframe)
    streams = pred.model.cfg.streams
    scores, deltas = whatif(pred, win, default_edits(win, streams) if edits is None else list(edits))
    action_id = int(scores.idxmax()) if action_id is None else int(action_id)
    _column(pred.model, action_id)
    cue_names = [c for s in streams for c in (("pose", "location") if s == "pose" else (s,))]
    cues = pd.DataFrame(np.nan, index=pd.Index(methods, name="method"), columns=cue_names)
    maps, gap = {}, np.nan
    if "rollout" in methods:
        maps["rollout"] = win.to_grid(rollout(pred, win))
    if "integrated_gradients" in methods:
        parts, gap = integrated_gradients(pred, win, action_id, n_steps)
        maps["integrated_gradients"] = win.to_grid(sum(parts.values()))
        cues.loc["integrated_gradients"] = [float(parts[c].sum()) for c in cue_names]
    exp = Explanation(pred.name, pred.banner, win.track, win.keyframe, action_id, win.span, win.frames,
                      win.people, win.present, maps, cues, scores, deltas, gap)
    for table, what in [(cues, "Per-cue attribution totals"), (deltas, "What if: score change per edit")]:
        table.attrs.update(title=f"{what}: {exp.title}", banner=pred.banner)
    return exp


# ---------------------------------------------------------------- whole-store scans

SCAN_EDITS = (Edit("drop_others"), Edit("drop_cue", cue="pose"), Edit("drop_cue", cue="appearance"))


@dataclass(frozen=True)
class Scan:
    """Keyframe scores of every person at every keyframe of a store, with and without edits."""
    table: pd.DataFrame              # `infer.keyframe_table` rows + track_id, frame (absolute keyframe)
    scores: np.ndarray               # (K, C)
    deltas: dict[str, np.ndarray]    # edit label -> (K, C) edited - original
    gt: np.ndarray                   # (K, C) bool: the class is annotated for the person at the keyframe
    action_ids: tuple[int, ...]
    name: str
    banner: str


def scan(pred: Predictor, source, edits=SCAN_EDITS, batch_size: int = 16) -> Scan:
    """`lart predict`'s keyframe scores on `source`, then again under each edit (edits that need no
    keyframe or track: drop others, drop a cue; cues the model lacks are skipped). GT from the track
    labels at the keyframe (frames with ground truth)."""
    model, streams = pred.model, pred.model.cfg.streams
    edits = [e for e in edits if e.kind != "drop_cue" or e.cue in streams]
    bad = [str(e) for e in edits if e.kind not in ("drop_others", "drop_cue")]
    if bad:
        raise ValueError(f"scan: edits {bad} need one keyframe or person; use explain() for them")
    table, kf = keyframe_table(source, track_scores(model, source, pred.data_cfg, batch_size))
    track, local = table["track"].to_numpy(np.int64), table["local"].to_numpy(np.int64)
    length = source.index["length"].to_numpy(np.int64)
    deltas = {str(e): window_means(track_scores(model, source, pred.data_cfg, batch_size, edit=e.apply),
                                   track, local, length) - kf for e in edits}
    table = table.assign(track_id=source.index["track_id"].to_numpy(np.int64)[track],
                         frame=source.index["frame_start"].to_numpy(np.int64)[track] + local)
    return Scan(table, kf, deltas, _keyframe_gt(source, track, local, model.action_ids), model.action_ids,
                pred.name, pred.banner)


def _keyframe_gt(source, track: np.ndarray, local: np.ndarray, action_ids) -> np.ndarray:
    """(K, C) bool GT of each (track row, local frame), one read per track."""
    out = np.zeros((len(track), len(action_ids)), bool)
    cols = np.asarray(action_ids) - 1
    for i in np.unique(track):
        rows = np.flatnonzero(track == i)
        t = source.track(int(i))
        out[rows] = (t.labels[local[rows]][:, cols] > 0.5) & (t.has_gt[local[rows]] == GT_LABEL)[:, None]
    return out


def _classes(action_ids) -> pd.DataFrame:
    return pd.DataFrame({"id": list(action_ids), "name": [short_name(a) for a in action_ids],
                         "type": [class_type(a) for a in action_ids]})


def class_drops(s: Scan, edit: str = "drop others") -> pd.DataFrame:
    """Per class with ground truth: n_gt keyframes, the mean score there, and the mean score drop
    (original - edited) on those keyframes (`drop_gt`) and on all keyframes (`drop_all`). Sorted by type,
    then drop_gt (largest first)."""
    drop = -s.deltas[edit]                                                         # (K, C)
    n = s.gt.sum(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = _classes(s.action_ids).assign(
            n_gt=n, score_gt=(s.scores * s.gt).sum(0) / n, drop_gt=(drop * s.gt).sum(0) / n,
            drop_all=drop.mean(0))
    out = out[out["n_gt"] > 0].sort_values(["type", "drop_gt"], ascending=[True, False], ignore_index=True)
    out.attrs.update(title=f"Mean score drop per class under '{edit}': {s.name}", banner=s.banner)
    return out


FIGURE4 = (  # situation, class type, edit whose drop is maximised ("" = the highest score), undetected only
    ("interaction helped by others", "PI", "drop others", False),
    ("pose-driven movement", "PM", "drop pose", False),
    ("object seen in appearance", "OM", "drop appearance", False),
    ("occlusion in-filled by the mask token", "", "", True),
)


def figure4_cases(s: Scan) -> pd.DataFrame:
    """The paper's Figure 4 situations found by search over annotated (keyframe, class) pairs: per
    situation the pair with the largest score drop under its edit, or (occlusion) the highest score of a
    person undetected at the keyframe; each situation on another (person, keyframe). Situations whose edit
    was not scanned or with no candidate are left out. Columns: situation, video_id, timestamp, track,
    track_id, frame, action_id, name, type, score, edit, drop."""
    rows = []
    types = np.array([class_type(a) for a in s.action_ids])
    undetected = ~s.table["detected"].to_numpy(bool)
    free = np.ones(len(s.table), bool)                     # each situation shows another person-keyframe
    for situation, ctype, edit, occluded in FIGURE4:
        if edit and edit not in s.deltas:
            continue
        ok = s.gt & free[:, None] & ((types == ctype) if ctype else True)
        ok &= undetected[:, None] if occluded else True
        value = -s.deltas[edit] if edit else s.scores
        if not ok.any():
            continue
        k, c = np.unravel_index(np.argmax(np.where(ok, value, -np.inf)), ok.shape)
        free[k] = False
        r = s.table.iloc[k]
        rows.append({"situation": situation, "video_id": r["video_id"], "timestamp": r["timestamp"],
                     "track": int(r["track"]), "track_id": int(r["track_id"]), "frame": int(r["frame"]),
                     "action_id": s.action_ids[c], "name": short_name(s.action_ids[c]), "type": types[c],
                     "score": float(s.scores[k, c]), "edit": edit,
                     "drop": float(-s.deltas[edit][k, c]) if edit else np.nan})
    out = pd.DataFrame(rows, columns=["situation", "video_id", "timestamp", "track", "track_id", "frame",
                                      "action_id", "name", "type", "score", "edit", "drop"])
    out.attrs.update(title=f"Figure 4 situations found by search: {s.name}", banner=s.banner)
    return out


def val_source(data_root: str | Path) -> TrackStore:
    """The validation track store of a data root (what the pipeline predicts)."""
    return TrackStore(DataRoot(data_root).store(VAL_SPLIT))
