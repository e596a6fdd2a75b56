"""The LART network: person tokens -> transformer over (time x people) -> per-token AVA action logits.

Letters: B batch, T frames, P person slots (slot 0 = person of interest), N = T*P tokens ordered
time-major / person-minor, D width, C action classes, H heads.

Masks (bool, shape (B, T, P)), polarity stated once here:
    present  True = the person is detected in that frame (batch key `present`)
    masked   True = the token is replaced by the learned mask token after encoding
Train mode: `masked` = a random `mask_ratio` of the present tokens (BERT style), attention lives on
`present`. Eval mode: `masked` = ~present (gaps, padding, empty slots are in-filled), every query lives.
Attention (the official `Attention.forward`, lart/models/components/lart_transformer/transformer.py of
brjathu/LART): query i may attend key j iff i and j are live and
j is not masked. The official code *replaces* forbidden logits by -1e3, so a query with no allowed key
attends uniformly to all keys (never NaN); we reproduce that exactly (see `plan_attention`). Deviation:
attention dropout is not applied to those uniform rows (they are outside every loss).

Two presets of one model (`ModelConfig`): the paper's recipe (`lart_pose`, `lart`, ...) and the
released code (`lart_official`), whose module layout maps onto official checkpoints (checkpoint.py).
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from lartcore.config import require
from lartcore.schema import EVALUATED_IDS, JOINTS_DIM, NUM_CLASSES, POSE_DIM

KINETICS_CLASSES = 400
MAX_SIZE = 1 << 20        # sanity bound of every size in a ModelConfig
STREAM_KEYS = {"pose": "pose_shape", "joints": "joints_3d", "appearance": "appearance"}
Stream = Literal["pose", "joints", "appearance"]


@dataclass(frozen=True)
class ModelConfig:
    streams: tuple[Stream, ...] = ("pose",)        # concatenated in this order
    pose_mlp: tuple[int, ...] = (512, 512)           # hidden..., output widths of each stream's MLP
    joints_mlp: tuple[int, ...] = (256, 256, 128)
    appearance_mlp: tuple[int, ...] = (512, 512)
    appearance_dim: int = 2048                       # 1152 MViT / 2048 Hiera
    dim: int = 512
    depth: int = 16
    heads: int = 16
    dim_head: int = 32
    mlp_dim: int = 2048
    dropout: float = 0.0
    drop_path: float = 0.1
    drop_path_schedule: Literal["linear", "shared"] = "linear"
    final_norm: bool = True
    learned_pos: bool = False                        # official: learned table initialised with sin-cos
    max_frames: int = 250
    max_people: int = 10
    num_classes: int = 80                            # 80 = AVA ids 1..80; 60 = EVALUATED_IDS, ascending
    kinetics_head: bool = False                      # class token -> Kinetics-400 logits
    pose_heads: bool = False                         # location + SMPL heads (official checkpoints)
    mask_ratio: float = 0.4
    single_frame: bool = False                       # each token attends only to itself

    def __post_init__(self):
        widths = {"pose": self.pose_mlp, "joints": self.joints_mlp, "appearance": self.appearance_mlp}
        total = sum(widths[s][-1] for s in self.streams)
        positive = [("depth", self.depth), ("heads", self.heads), ("dim_head", self.dim_head), ("dim", self.dim),
                    ("mlp_dim", self.mlp_dim), ("max_frames", self.max_frames), ("max_people", self.max_people),
                    ("appearance_dim", self.appearance_dim)]
        require("ModelConfig", [
            ("streams", list(self.streams), len(set(self.streams)) == len(self.streams) >= 1,
             "one or more distinct streams"),
            *[(f"{s}_mlp", list(w), len(w) >= 1 and min(w) >= 1, "positive widths") for s, w in widths.items()],
            ("stream output widths", [(s, widths[s][-1]) for s in self.streams], total == self.dim,
             f"a sum equal to dim={self.dim}"),
            *[(name, v, 1 <= v <= MAX_SIZE, f"1..{MAX_SIZE}") for name, v in positive],
            ("dropout", self.dropout, 0 <= self.dropout < 1, "in [0, 1)"),
            ("drop_path", self.drop_path, 0 <= self.drop_path < 1, "in [0, 1)"),
            ("mask_ratio", self.mask_ratio, 0 <= self.mask_ratio < 1, "in [0, 1)"),
            ("num_classes", self.num_classes, self.num_classes in (60, 80), "60 or 80"),
        ])


# ---------------------------------------------------------------- the released network

def lart_official(appearance_dim: int = 2048, depth: int = 16) -> ModelConfig:
    """The released code's `lart.yaml` network (depth: `configs.transformer.depth`, 16 released); loads
    official checkpoints strictly."""
    return ModelConfig(streams=("pose", "joints", "appearance"), pose_mlp=(229, 128),
                       joints_mlp=(256, 256, 128), appearance_mlp=(512, 512, 256),
                       appearance_dim=appearance_dim, dim=512, depth=depth, heads=16, dim_head=64,
                       mlp_dim=512, dropout=0.1, drop_path=0.4, drop_path_schedule="shared",
                       final_norm=False, learned_pos=True, max_frames=250, max_people=10,
                       num_classes=60, kinetics_head=True, pose_heads=True)


class LARTOutput(NamedTuple):
    action_logits: torch.Tensor                  # (B, T, P, C)
    features: torch.Tensor                       # (B, T, P, D) final token features (for decode_pose)
    kinetics_logits: torch.Tensor | None = None  # (B, P, 400) from the class token


# ---------------------------------------------------------------- building blocks

def sincos_table(dim: int, frames: int, people: int) -> torch.Tensor:
    """(dim, frames, people) 2D sin-cos: channels [0, dim/2) encode the person slot, [dim/2, dim) time;
    within a half, channel 2i = sin(pos * w_i), 2i+1 = cos(pos * w_i), w_i = 10000^(-2i / (dim/2))."""
    half = dim // 2
    w = torch.exp(torch.arange(0, half, 2, dtype=torch.float32) * (-math.log(10000.0) / half))  # (half/2,)
    table = torch.zeros(dim, frames, people)
    slot = torch.arange(people, dtype=torch.float32)[:, None] * w        # (people, half/2)
    time = torch.arange(frames, dtype=torch.float32)[:, None] * w        # (frames, half/2)
    table[0:half:2] = slot.sin().T[:, None, :]
    table[1:half:2] = slot.cos().T[:, None, :]
    table[half::2] = time.sin().T[:, :, None]
    table[half + 1::2] = time.cos().T[:, :, None]
    return table


def _mlp(widths: list[int]) -> nn.Sequential:
    """Linear layers with ReLU between (Linear at indices 0, 2, 4: the official layout)."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(itertools.pairwise(widths)):
        layers += [nn.Linear(a, b)] + ([nn.ReLU()] if i < len(widths) - 2 else [])
    return nn.Sequential(*layers)


class DropPath(nn.Module):
    """Per-sample residual-branch drop, scaled by 1/keep in training."""

    def __init__(self, p: float):
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        keep = x.new_empty((x.shape[0],) + (1,) * (x.dim() - 1)).bernoulli_(1 - self.p)
        return x * keep / (1 - self.p)


class AttentionPlan(NamedTuple):
    """Which tokens take part in attention, computed once per forward (see `plan_attention`)."""
    query: torch.Tensor | None  # (B, Nq) index of each live query, padding = N (a discarded extra row);
                                #   None = every query is live (eval mode with detections: no gather)
    key: torch.Tensor        # (B, Nk) index of each attendable key; padding = 0
    key_valid: torch.Tensor  # (B, 1, 1, Nk) bool, False = padding


def _packed(select: torch.Tensor, fill: int) -> tuple[torch.Tensor, torch.Tensor]:
    """select (B, N) bool -> indices of the True entries in order (B, M), M = max count >= 1, and validity."""
    count = select.sum(1, keepdim=True)                                         # (B, 1)
    m = max(int(count.max()), 1)
    order = select.to(torch.uint8).argsort(dim=1, descending=True, stable=True)[:, :m]
    valid = torch.arange(m, device=select.device) < count                       # (B, M)
    return torch.where(valid, order, fill), valid


def plan_attention(live: torch.Tensor, masked: torch.Tensor) -> AttentionPlan:
    """live/masked (B, N). Official rule: query i attends key j iff live[i] & live[j] & ~masked[j]; a query
    with no such key ("dead") gets logits all -1e3, i.e. uniform attention over all N keys. Keys outside
    the rule get exactly zero weight, so computing attention only over live queries x attendable keys
    is exact and saves the work on masked/missing tokens."""
    keys = live & ~masked                                                       # (B, N)
    queries = live & keys.any(1, keepdim=True)
    query = None if bool(queries.all()) else _packed(queries, fill=live.shape[1])[0]
    key, valid = _packed(keys, fill=0)
    valid[:, 0] |= ~keys.any(1)          # a sample without keys has no live query: keep its padding finite
    return AttentionPlan(query, key, valid[:, None, None, :])


class Attention(nn.Module):
    """Multi-head self-attention (SDPA) over the planned live queries x attendable keys. Dead queries get
    the official uniform-attention output, the mean of all values (= values of the mean input: linear)."""

    def __init__(self, dim: int, heads: int, dim_head: int, dropout: float):
        super().__init__()
        self.heads, self.dim_head, self.p = heads, dim_head, dropout
        self.qkv = nn.Linear(dim, 3 * heads * dim_head, bias=False)   # rows: q | k | v, each (h d)
        self.proj = nn.Linear(heads * dim_head, dim)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, plan: AttentionPlan) -> torch.Tensor:
        B, N, D = x.shape
        H, dh, w = self.heads, self.dim_head, self.qkv.weight
        rows = torch.arange(B, device=x.device)[:, None]
        xq = x if plan.query is None else x[rows, plan.query.clamp_max(N - 1)]       # (B, Nq, D)
        q = F.linear(xq, w[:H * dh])                                                 # (B, Nq, H*dh)
        kv = F.linear(x[rows, plan.key], w[H * dh:])                                 # (B, Nk, 2*H*dh)
        q = q.view(B, -1, H, dh).transpose(1, 2)                                     # (B, H, Nq, dh)
        k, v = kv.view(B, -1, 2, H, dh).permute(2, 0, 3, 1, 4)                       # (B, H, Nk, dh)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=plan.key_valid,
                                             dropout_p=self.p if self.training else 0.0)
        out = self.proj(out.transpose(1, 2).reshape(B, -1, H * dh))                  # (B, Nq, D)
        if plan.query is None:
            return self.drop(out)
        uniform = self.proj(F.linear(x.mean(1, keepdim=True), w[2 * H * dh:]))      # (B, 1, D)
        full = uniform.expand(B, N + 1, D).index_put((rows, plan.query), out)       # (B, N + 1, D)
        return self.drop(full[:, :N])


class Block(nn.Module):
    """Pre-norm transformer block (official MLP: Linear, GELU, Dropout, Linear, Dropout)."""

    def __init__(self, cfg: ModelConfig, drop_path: float):
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(cfg.dim), nn.LayerNorm(cfg.dim)
        self.attn = Attention(cfg.dim, cfg.heads, cfg.dim_head, cfg.dropout)
        self.mlp = nn.Sequential(nn.Linear(cfg.dim, cfg.mlp_dim), nn.GELU(), nn.Dropout(cfg.dropout),
                                 nn.Linear(cfg.mlp_dim, cfg.dim), nn.Dropout(cfg.dropout))
        self.drop_path = DropPath(drop_path)

    def forward(self, x: torch.Tensor, plan: AttentionPlan) -> torch.Tensor:
        x = x + self.drop_path(self.attn(self.norm1(x), plan))
        return x + self.drop_path(self.mlp(self.norm2(x)))


def rot6d_to_rotmat(x: torch.Tensor) -> torch.Tensor:
    """(M, 6) -> (M, 3, 3): Gram-Schmidt on the two columns (HMR/PHALP layout [inferred])."""
    a = x.reshape(-1, 2, 3)
    b1 = F.normalize(a[:, 0], dim=-1)
    b2 = F.normalize(a[:, 1] - (b1 * a[:, 1]).sum(-1, keepdim=True) * b1, dim=-1)
    return torch.stack([b1, b2, torch.linalg.cross(b1, b2)], dim=-1)


class SMPLHead(nn.Module):
    """PHALP's iterative SMPL regressor (3 steps, 6D joint rotations), as LART builds it (input_dim=512,
    pool='pooled'; phalp/models/heads/smpl_head.py of brjathu/PHALP): each step feeds [x, pose, betas, cam]
    through fc1 -> ReLU -> Dropout(0.5) -> fc2 -> ReLU -> Dropout(0.5) and adds the three decoders' outputs
    to the current estimate (`smpl_head.py:77-84`)."""

    def __init__(self, dim: int, iterations: int = 3):
        super().__init__()
        self.iterations = iterations
        self.fc1, self.fc2 = nn.Linear(dim + 144 + 10 + 3, 1024), nn.Linear(1024, 1024)
        self.decpose, self.decshape, self.deccam = nn.Linear(1024, 144), nn.Linear(1024, 10), nn.Linear(1024, 3)
        self.drop = nn.Dropout(0.5)
        self.register_buffer("init_body_pose", torch.tensor([1.0, 0, 0, 0, 1, 0]).repeat(24)[None])  # identity
        self.register_buffer("init_betas", torch.zeros(1, 10))
        self.register_buffer("init_cam", torch.zeros(1, 3))

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        M = x.shape[0]                                                           # x (M, D)
        pose, betas, cam = (b.expand(M, -1) for b in (self.init_body_pose, self.init_betas, self.init_cam))
        for _ in range(self.iterations):
            h = self.drop(F.relu(self.fc1(torch.cat([x, pose, betas, cam], -1))))       # (M, 1024)
            h = self.drop(F.relu(self.fc2(h)))
            pose, betas, cam = self.decpose(h) + pose, self.decshape(h) + betas, self.deccam(h) + cam
        rot = rot6d_to_rotmat(pose).view(M, 24, 3, 3)
        return {"global_orient": rot[:, :1], "body_pose": rot[:, 1:], "betas": betas}


# ---------------------------------------------------------------- the network

class LART(nn.Module):
    """`forward(batch)`: embed -> make_masks -> apply_mask -> encode -> heads. Builds with no file I/O."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        dims = {"pose": POSE_DIM, "joints": JOINTS_DIM, "appearance": cfg.appearance_dim}
        widths = {"pose": cfg.pose_mlp, "joints": cfg.joints_mlp, "appearance": cfg.appearance_mlp}
        self.encoders = nn.ModuleDict({s: _mlp([dims[s], *widths[s]]) for s in cfg.streams})
        self.register_buffer("pose_mean", torch.zeros(POSE_DIM))   # identity until load_pose_stats
        self.register_buffer("pose_std", torch.ones(POSE_DIM))
        self.mask_token = nn.Parameter(torch.randn(cfg.dim))
        table = sincos_table(cfg.dim, cfg.max_frames, cfg.max_people)             # (D, T_max, P_max)
        if cfg.learned_pos:
            self.pos_embedding = nn.Parameter(table)
        else:
            self.register_buffer("pos_embedding", table, persistent=False)
        rates = [cfg.drop_path * (i / max(cfg.depth - 1, 1) if cfg.drop_path_schedule == "linear" else 1.0)
                 for i in range(cfg.depth)]
        self.blocks = nn.ModuleList(Block(cfg, r) for r in rates)
        self.norm = nn.LayerNorm(cfg.dim) if cfg.final_norm else nn.Identity()
        self.action_head = nn.Linear(cfg.dim, cfg.num_classes)
        if cfg.kinetics_head:  # official quirk: the class token is added after the blocks, never attends
            self.class_token = nn.Parameter(torch.randn(1, 1, cfg.dim))
            self.kinetics_head = _mlp([cfg.dim, cfg.dim, cfg.dim, KINETICS_CLASSES])
        if cfg.pose_heads:
            self.location_head = _mlp([cfg.dim, cfg.dim, cfg.dim, 3])
            self.smpl_head = SMPLHead(cfg.dim)

    @property
    def action_ids(self) -> tuple[int, ...]:
        """AVA action id of each output column."""
        return EVALUATED_IDS if self.cfg.num_classes == 60 else tuple(range(1, NUM_CLASSES + 1))

    def load_pose_stats(self, path: str | Path) -> None:
        """Read PHALP `mean_std.npy` ((mean, std), each (1, K) or (K,)); pad to 229 with mean 0, std 1."""
        stats = np.load(path, allow_pickle=False)
        if stats.ndim not in (2, 3) or stats.shape[0] != 2 or stats.shape[-1] > POSE_DIM:
            raise ValueError(f"{path}: expected (mean, std) of shape (2, 1, K<=229) or (2, K), "
                             f"found {stats.shape}")
        mean, std = torch.zeros(POSE_DIM), torch.ones(POSE_DIM)
        k = stats.shape[-1]
        mean[:k] = torch.as_tensor(stats[0].reshape(k), dtype=torch.float32)
        std[:k] = torch.as_tensor(stats[1].reshape(k), dtype=torch.float32)
        self.pose_mean.copy_(mean)
        self.pose_std.copy_(std)

    def forward(self, batch: dict[str, torch.Tensor], generator: torch.Generator | None = None) -> LARTOutput:
        tokens = self.embed(batch)                                             # (B, T, P, D)
        live, masked = self.make_masks(batch["present"].bool(), generator)     # (B, T, P) each
        x = self.apply_mask(tokens, masked)                                    # (B, N, D)
        x = self.encode(x, live.flatten(1), masked.flatten(1))                 # (B, N, D)
        return self.heads(x.view_as(tokens))

    def poi_logits(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Eval-mode action logits of the person of interest only, (B, T, C): what inference uses. Equal to
        `forward(batch).action_logits[:, :, 0]`, faster: an undetected token of another person (slot > 0) is
        never a key (eval keys = present tokens) and its own output is not needed, so it is dropped from
        the sequence before the transformer. Slot 0 keeps every frame (gaps are in-filled)."""
        if self.training:
            raise RuntimeError("poi_logits is the inference path: call model.eval() first")
        present = batch["present"].bool()                                      # (B, T, P)
        B, P = present.shape[0], present.shape[2]
        _, masked = self.make_masks(present)                                   # eval: every query live
        x = self.apply_mask(self.embed(batch), masked)                         # (B, N, D)
        keep = present.clone()
        keep[:, :, 0] = True
        keep |= ~present.flatten(1).any(1)[:, None, None]   # no detection at all: keep all (uniform rule)
        keep = keep.flatten(1)                                                 # (B, N)
        index, valid = _packed(keep, fill=0)                                   # (B, M)
        rows = torch.arange(B, device=x.device)[:, None]
        masked = masked.flatten(1)[rows, index] | ~valid                       # padding is never a key
        x = self.encode(x[rows, index], torch.ones_like(masked), masked)       # (B, M, D)
        slot0 = (keep.cumsum(1) - 1)[:, ::P]                                   # (B, T) position in the M
        return self.action_head(x[rows, slot0])                                # (B, T, C)

    def embed(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Encode each stream and concatenate: (B, T, P, D). NaN/inf inputs raise ValueError."""
        parts = []
        for stream in self.cfg.streams:
            key = STREAM_KEYS[stream]
            if key not in batch:
                raise ValueError(f"model streams {self.cfg.streams} need batch key '{key}'; "
                                 f"found keys {sorted(batch)}")
            x = batch[key].float()                                             # (B, T, P, F)
            if not torch.isfinite(x.sum()) and not torch.isfinite(x).all():     # cheap test first
                first = torch.nonzero(~torch.isfinite(x))[0].tolist()
                raise ValueError(f"batch['{key}'] has NaN/inf (first at index {first}); clean the input")
            if stream == "pose":
                x = (x - self.pose_mean) / (self.pose_std + 1e-10)             # official normalisation
            parts.append(self.encoders[stream](x))
        return torch.cat(parts, dim=-1)

    def make_masks(self, present: torch.Tensor, generator: torch.Generator | None = None):
        """(live, masked), each (B, T, P) bool; new tensors, the batch is never modified."""
        if not self.training:
            return torch.ones_like(present), ~present
        flat = present.flatten(1)                                              # (B, N)
        n_mask = (flat.sum(1).double() * self.cfg.mask_ratio).floor().long()   # int(n * ratio) per sample
        score = torch.rand(flat.shape, generator=generator, device=flat.device)
        score = score.masked_fill(~flat, 2.0)                                  # absent tokens rank last
        rank = score.argsort(dim=1).argsort(dim=1)                             # (B, N)
        return present, (rank < n_mask[:, None]).view_as(present)

    def apply_mask(self, tokens: torch.Tensor, masked: torch.Tensor) -> torch.Tensor:
        """Replace masked tokens by the mask token, then add (time, slot) positions: (B, N, D)."""
        B, T, P, D = tokens.shape
        if T > self.cfg.max_frames or P > self.cfg.max_people:
            raise ValueError(f"input has T={T} frames, P={P} people; this model allows at most "
                             f"{self.cfg.max_frames} x {self.cfg.max_people}")
        x = torch.where(masked[..., None], self.mask_token.to(tokens.dtype), tokens)     # (B, T, P, D)
        pos = self.pos_embedding[:, :T, :P].permute(1, 2, 0)                             # (T, P, D)
        return (x + pos).reshape(B, T * P, D)

    def encode(self, x: torch.Tensor, live: torch.Tensor, masked: torch.Tensor) -> torch.Tensor:
        """Transformer over tokens x (B, N, D); live/masked (B, N) bool. Returns (B, N, D)."""
        B, N, D = x.shape
        if self.cfg.single_frame:                    # every token is its own sequence of length 1
            x, live, masked = x.reshape(B * N, 1, D), live.reshape(B * N, 1), masked.reshape(B * N, 1)
        plan = plan_attention(live, masked)
        for block in self.blocks:
            x = block(x, plan)
        return self.norm(x).reshape(B, N, D)

    def heads(self, feats: torch.Tensor) -> LARTOutput:
        """feats (B, T, P, D) -> action logits (B, T, P, C) [+ Kinetics logits (B, P, 400)]."""
        kinetics = None
        if self.cfg.kinetics_head:
            B, _, P, D = feats.shape
            kinetics = self.kinetics_head(self.class_token.expand(B, P, D))   # (B, P, 400)
        return LARTOutput(self.action_head(feats), feats, kinetics)

    def decode_pose(self, feats: torch.Tensor) -> dict[str, torch.Tensor]:
        """Official location/SMPL heads on features (..., D): SMPL rotations, betas, location (tx, ty, tz/200)."""
        if not self.cfg.pose_heads:
            raise ValueError("decode_pose needs a model built with pose_heads=True (lart_official)")
        lead = feats.shape[:-1]
        flat = feats.reshape(-1, feats.shape[-1])                              # (M, D)
        out = self.smpl_head(flat)
        out["location"] = self.location_head(flat)
        return {k: v.reshape(*lead, *v.shape[1:]) for k, v in out.items()}
