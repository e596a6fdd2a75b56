"""Training: `lart train CONFIG [key=value ...] [--resume]`, or on K processes / GPUs
`torchrun --nproc_per_node K -m lartcore.cli train CONFIG [key=value ...] [--resume]`.

The whole loop is in this file, in sections: config (DDP set-up: lartcore.distributed), data order, loss, optimiser
(param groups + LR schedule), EMA, checkpoint state, the loop. Letters as in model.py: B batch, T frames,
P people, C classes.

Recipe (the paper's, as the official code trains it): BCE on labelled, detected tokens (has_gt 2 = ground truth, 1 = pseudo label, each
with a configurable weight); AdamW (0.9, 0.95), weight decay 0.05 except norms, biases and tokens; cosine
schedule with linear warm-up, stepped per optimiser step; lr = base_lr * batch_size / 64; layer-wise lr decay
(MAE style, keyed by `model.blocks`); EMA weights, which are what the checkpoint's `state_dict` holds (they
are evaluated). Random trimming and random other people come from the dataset.
Deviations from the official code (lart/utils/losses.py `compute_loss` multiplies the BCE by 10;
lart/models/lart.py steps the schedule per epoch and matches layer-decay groups by a module name that does
not exist), on purpose: no `10 *` loss factor (AdamW is
invariant to it), per-step instead of per-epoch schedule, layer decay actually reaches the blocks, and the
EMA decay ramps up as min(decay, (1 + n) / (10 + n)) so that short runs are not dominated by the init.

Resume is bit-for-bit: the data order is a pure function of (seed, epoch) (`EpochSampler`), each sample of
(seed, epoch, index) (the dataset), and the checkpoint holds the step, optimiser, EMA and RNG states; the
DataLoader has its own generator so workers never draw from the global torch RNG the model uses.

Speed on small CPUs: the demo-size models are made of small matrix products; with other processes on the
same cores, one thread per process (OMP_NUM_THREADS=1 / torch.set_num_threads(1)) was ~10x faster per step
than two threads on the 2-core development machine.
"""
from __future__ import annotations

import contextlib
import math
import random
import signal
import threading
import time
from copy import deepcopy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Self

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import BatchSampler, DataLoader, Sampler

from lartcore import paths
from lartcore.checkpoint import Metadata, load_checkpoint, save_checkpoint
from lartcore.config import require, save_config, to_dict
from lartcore.data.dataset import Batches, DataConfig, TrackDataset
from lartcore.data.store import TrackStore
from lartcore.distributed import Dist, all_sum, process_group
from lartcore.fileio import atomic_write_text
from lartcore.model import LART, ModelConfig
from lartcore.progress import progress
from lartcore.schema import GT_LABEL, PSEUDO_LABEL

CHECKPOINT, LOG, CONFIG = "checkpoint.pt", "train_log.csv", "config.yaml"
LR_REFERENCE_BATCH = 64                     # base_lr is the lr for this global batch (linear scaling)
MAX_EPOCHS, MAX_BATCH = 100_000, 1 << 20     # sanity bounds of the config values
# config keys that may differ between a run and its resume (they do not change the computation)
RESUME_MAY_CHANGE = ("num_workers", "max_steps", "tensorboard")


# ---------------------------------------------------------------- config

@dataclass(frozen=True)
class TrainConfig:
    name: str = "lart_pose_n5"          # registry variant: results/<dataset>/<name>/
    dataset: str = "ava"                # registry dataset folder
    data_root: str = ""                 # folder holding store/<split>; relative to $LART_DATA_ROOT ("" = it)
    split: str = "kinetics_train"       # packed store to train on
    model: ModelConfig = field(default_factory=ModelConfig)
    seq_len: int = 128                  # frames per training window (people and features: see `data`)
    init_from: str = ""                 # our checkpoint to start from (relative to $LART_RESULTS_DIR); "" = none
    gt_weight: float = 1.0              # loss weight of tokens with ground truth (has_gt 2)
    pseudo_weight: float = 1.0          # loss weight of pseudo-labelled tokens (has_gt 1); 0 = GT only
    epochs: int = 30
    warmup_epochs: float = 5.0
    batch_size: int = 64                # global batch, split evenly over DDP processes
    base_lr: float = 1e-3               # lr at batch 64; the lr used is base_lr * batch_size / 64
    weight_decay: float = 0.05
    betas: tuple[float, float] = (0.9, 0.95)
    layer_decay: float = 1.0            # block i gets lr * layer_decay ** (depth - i); 1 = off
    grad_clip: float = 2.0              # max global gradient norm; 0 = no clipping
    ema_decay: float = 0.9999
    seed: int = 0
    num_workers: int = 0                # DataLoader worker processes
    max_steps: int = 0                  # stop (and checkpoint) once this many steps are done; 0 = all epochs
    tensorboard: bool = False           # also log to <run>/tensorboard (needs the tensorboard package)

    def __post_init__(self):
        m, inf = self.model, math.inf
        require(f"TrainConfig '{self.name}'", [
            ("seq_len", self.seq_len, 1 <= self.seq_len <= m.max_frames, f"1..model.max_frames ({m.max_frames})"),
            ("epochs", self.epochs, 1 <= self.epochs <= MAX_EPOCHS, f"1..{MAX_EPOCHS}"),
            ("batch_size", self.batch_size, 1 <= self.batch_size <= MAX_BATCH, f"1..{MAX_BATCH}"),
            ("warmup_epochs", self.warmup_epochs, 0 <= self.warmup_epochs < inf, ">= 0"),
            ("max_steps", self.max_steps, self.max_steps >= 0, ">= 0 (0 = all epochs)"),
            ("gt_weight", self.gt_weight, 0 <= self.gt_weight < inf, ">= 0"),
            ("pseudo_weight", self.pseudo_weight, 0 <= self.pseudo_weight < inf, ">= 0"),
            ("base_lr", self.base_lr, 0 < self.base_lr < inf, "> 0"),
            ("weight_decay", self.weight_decay, 0 <= self.weight_decay < inf, ">= 0"),
            ("betas", self.betas, len(self.betas) == 2 and all(0 <= b < 1 for b in self.betas), "two values in [0, 1)"),
            ("layer_decay", self.layer_decay, 0 < self.layer_decay <= 1, "in (0, 1] (1 = off)"),
            ("grad_clip", self.grad_clip, 0 <= self.grad_clip < inf, ">= 0 (0 = off)"),
            ("ema_decay", self.ema_decay, 0 <= self.ema_decay < 1, "in [0, 1)"),
            ("num_workers", self.num_workers, self.num_workers >= 0, ">= 0"),
        ])

    @property
    def data(self) -> DataConfig:
        """The training windows: seq_len frames of the model's people, with appearance iff the model has it."""
        return DataConfig(seq_len=self.seq_len, max_people=self.model.max_people,
                          appearance="appearance" in self.model.streams, appearance_dim=self.model.appearance_dim)

    @property
    def lr(self) -> float:
        return self.base_lr * self.batch_size / LR_REFERENCE_BATCH

    def store_path(self) -> Path:
        root = Path(self.data_root)
        return paths.DataRoot(root if root.is_absolute() else paths.data_root() / root).store(self.split)


# ---------------------------------------------------------------- data order

class EpochSampler(Sampler[int]):
    """One process's sample indices for one epoch: DistributedSampler's order (randperm seeded with
    seed + epoch; process r takes positions r, r + W, ...), cut to whole global batches, so the union over
    processes of step k is always the same global batch. `skip` = global batches already consumed (resume).
    Elastic: the order depends on (seed, epoch) only, never on the world size W, so a run stopped at step k
    on W processes resumes on any W' (dividing batch_size) with the same samples from step k on
    (tests/test_ddp.py)."""

    def __init__(self, n: int, batch_size: int, seed: int, epoch: int, d: Dist, skip: int = 0):
        self.n, self.batch_size, self.seed, self.epoch, self.d, self.skip = n, batch_size, seed, epoch, d, skip
        self.steps = n // batch_size

    def __iter__(self):
        g = torch.Generator().manual_seed(self.seed + self.epoch)
        order = torch.randperm(self.n, generator=g)[: self.steps * self.batch_size]
        mine = order[self.d.rank:: self.d.world]
        return iter(mine[self.skip * (self.batch_size // self.d.world):].tolist())

    def __len__(self) -> int:
        return (self.steps - self.skip) * (self.batch_size // self.d.world)


def make_loader(dataset: TrackDataset, cfg: TrainConfig, d: Dist, epoch: int, skip: int) -> DataLoader:
    """This process's batches of one epoch (from batch `skip` on). Each worker fills whole batches in place
    in shared memory (`Batches`), appearance in float16 (the store's precision; `train_step` casts it)."""
    dataset.set_epoch(epoch)
    sampler = EpochSampler(len(dataset), cfg.batch_size, cfg.seed, epoch, d, skip)
    batches = BatchSampler(sampler, cfg.batch_size // d.world, drop_last=True)
    return DataLoader(Batches(dataset, torch.float16), batch_size=None, sampler=batches,
                      num_workers=cfg.num_workers, persistent_workers=False,
                      generator=torch.Generator().manual_seed(cfg.seed + epoch),  # not the global RNG
                      pin_memory=d.device.type == "cuda")


# ---------------------------------------------------------------- loss

def token_weights(present: torch.Tensor, has_gt: torch.Tensor, gt_weight: float,
                  pseudo_weight: float) -> torch.Tensor:
    """(B, T, P) loss weight per token: gt_weight / pseudo_weight on detected labelled tokens, else 0."""
    w = torch.where(has_gt == GT_LABEL, gt_weight, torch.where(has_gt == PSEUDO_LABEL, pseudo_weight, 0.0))
    return w * present


def action_loss_sum(logits: torch.Tensor, labels: torch.Tensor, weights: torch.Tensor,
                    action_ids: tuple[int, ...]) -> torch.Tensor:
    """sum over tokens of weight * mean over classes of BCE-with-logits. logits (B, T, P, C) for AVA ids
    `action_ids` (ascending); labels (B, T, P, 80) at column id - 1; weights (B, T, P). Divide by the
    (global) weight sum for the weighted mean."""
    cols = torch.as_tensor(action_ids, device=labels.device) - 1
    bce = F.binary_cross_entropy_with_logits(logits.float(), labels[..., cols], reduction="none")  # (B,T,P,C)
    return (bce.mean(-1) * weights).sum()


# ---------------------------------------------------------------- optimiser

def param_groups(model: LART, weight_decay: float, layer_decay: float) -> list[dict]:
    """AdamW groups by (layer, decay). Layer 0 = stream encoders and tokens, i + 1 = `model.blocks[i]`,
    depth + 1 = final norm and heads; lr scale = layer_decay ** (depth + 1 - layer). No weight decay on
    1-d tensors (norms, biases, the mask token) nor on the position table and class token."""
    depth = len(model.blocks)
    layer = {id(p): i + 1 for i, block in enumerate(model.blocks) for p in block.parameters()}
    tokens = [getattr(model, n) for n in ("mask_token", "pos_embedding", "class_token")
              if isinstance(getattr(model, n, None), nn.Parameter)]
    layer.update({id(p): 0 for p in [*model.encoders.parameters(), *tokens]})
    no_decay = {id(p) for p in tokens}
    groups: dict[tuple[int, float], dict] = {}
    for p in model.parameters():
        if not p.requires_grad:
            continue
        lid = layer.get(id(p), depth + 1)
        wd = 0.0 if p.ndim <= 1 or id(p) in no_decay else weight_decay
        group = groups.setdefault((lid, wd), {"params": [], "weight_decay": wd, "layer": lid,
                                              "lr_scale": layer_decay ** (depth + 1 - lid)})
        group["params"].append(p)
    return [groups[k] for k in sorted(groups)]


def lr_at(step: int, total: int, warmup: int, peak: float) -> float:
    """Linear warm-up over `warmup` steps to `peak`, then cosine decay to 0 at `total`."""
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = (step - warmup) / max(total - warmup, 1)
    return peak * 0.5 * (1.0 + math.cos(math.pi * progress))


# ---------------------------------------------------------------- EMA

class EMA:
    """Exponential moving average of a model's floating-point parameters and buffers (`self.model`).
    Decay at update n is min(decay, (1 + n) / (10 + n)): a warm-up, so short runs average recent weights."""

    def __init__(self, model: nn.Module, decay: float):
        self.model = deepcopy(model).eval().requires_grad_(False)
        self.decay, self.updates = decay, 0

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        self.updates += 1
        d = min(self.decay, (1 + self.updates) / (10 + self.updates))
        for ema, cur in zip(self.model.state_dict().values(), model.state_dict().values(), strict=True):
            if ema.dtype.is_floating_point:
                ema.lerp_(cur, 1.0 - d)
            else:
                ema.copy_(cur)


# ---------------------------------------------------------------- checkpoint state

def rng_state() -> dict:
    _, keys, pos, has_gauss, gauss = np.random.get_state()
    state = {"torch": torch.get_rng_state(), "python": random.getstate(),
             "numpy": [torch.from_numpy(keys.astype(np.int64)), int(pos), int(has_gauss), float(gauss)]}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state()
    return state


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    random.setstate(state["python"])
    keys, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state(("MT19937", keys.numpy().astype(np.uint32), pos, has_gauss, gauss))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state(state["cuda"])


@dataclass
class State:
    """Everything that evolves during training; `save` / `restore` round-trip it exactly."""
    model: LART
    ema: EMA
    opt: torch.optim.AdamW
    step: int = 0
    elapsed: float = 0.0            # training seconds, summed over resumes

    def save(self, path: Path, cfg: TrainConfig, finished: bool) -> None:
        """The EMA weights (what is evaluated) with the metadata, and in `extra` the resume state."""
        meta = Metadata(cfg.model, cfg.data, self.step, finished, to_dict(cfg))
        extra = {"elapsed": self.elapsed, "model": self.model.state_dict(), "optimizer": self.opt.state_dict(),
                 "ema_updates": self.ema.updates, "rng": rng_state()}
        save_checkpoint(path, self.ema.model, meta, extra)

    def restore(self, path: Path, cfg: TrainConfig) -> None:
        ckpt = load_checkpoint(path, map_location=self.ema.model.mask_token.device)
        check_resumable(ckpt.meta.train_config, cfg, path)
        self.model.load_state_dict(ckpt.extra["model"])
        self.ema.model.load_state_dict(ckpt.model.state_dict())
        self.ema.updates = ckpt.extra["ema_updates"]
        self.opt.load_state_dict(ckpt.extra["optimizer"])
        self.step, self.elapsed = ckpt.meta.step, ckpt.extra["elapsed"]
        set_rng_state(ckpt.extra["rng"])


def _flat(tree: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in tree.items():
        out.update(_flat(v, f"{prefix}{k}.") if isinstance(v, dict) else {prefix + k: v})
    return out


def check_resumable(saved: dict | None, cfg: TrainConfig, path: Path) -> None:
    """Raise if the run saved in `path` (its train_config dict; None = not a training run of ours) is not
    `cfg` (ignoring RESUME_MAY_CHANGE)."""
    if saved is None:
        raise ValueError(f"{path}: not a training run of lartcore (no train_config); cannot resume it")
    saved, now = _flat(saved), _flat(to_dict(cfg))
    diff = sorted(k for k in set(saved) | set(now) if k not in RESUME_MAY_CHANGE and saved.get(k) != now.get(k))
    if diff:
        raise ValueError(f"{path}: cannot resume, config differs in {diff} "
                         f"(saved {[saved.get(k) for k in diff]}, now {[now.get(k) for k in diff]})")


# ---------------------------------------------------------------- logging and signals

class MetricLog:
    """<run>/train_log.csv: step (optimiser steps done), epoch (0-based), loss, lr, time (training seconds,
    summed over resumes) [+ TensorBoard]; only the main process writes. On resume, rows past the
    checkpoint's step (logged after it was saved) are dropped, so the file reads as one run."""

    HEADER = "step,epoch,loss,lr,time"

    def __init__(self, run_dir: Path, step: int, enabled: bool, tensorboard: bool):
        self.file, self.tb, self.path = None, None, run_dir / LOG
        if not enabled:
            return
        path = self.path
        rows = path.read_text().splitlines()[1:] if step and path.is_file() else []
        kept = [r for r in rows if int(r.split(",")[0]) <= step]
        atomic_write_text(path, "\n".join([self.HEADER, *kept]) + "\n")
        self.file = path.open("a")
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter  # noqa: PLC0415  (optional package)
                self.tb = SummaryWriter(str(run_dir / "tensorboard"))
            except ImportError:
                print("note: tensorboard=true but the tensorboard package is not installed; CSV only")

    def write(self, step: int, epoch: int, loss: float, lr: float, seconds: float) -> None:
        if self.file is None:
            return
        try:
            self.file.write(f"{step},{epoch},{loss!r},{lr!r},{seconds:.3f}\n")
            self.file.flush()
        except OSError as e:   # e.g. ENOSPC, which names no file
            self._drop()
            raise OSError(e.errno, e.strerror or str(e), str(self.path)) from e
        if self.tb is not None:
            self.tb.add_scalar("train/loss", loss, step)
            self.tb.add_scalar("train/lr", lr, step)

    def _drop(self) -> None:
        """Close the log after a failed write (closing flushes the unwritten rest, which fails again; the file
        is closed all the same)."""
        with contextlib.suppress(OSError):
            self.file.close()
        self.file = None

    def close(self) -> None:
        for f in (self.file, self.tb):
            if f is not None:
                f.close()


def read_log(run_dir: str | Path) -> list[dict]:
    """Rows of <run>/train_log.csv as dicts (step, epoch int; loss, lr, time float)."""
    lines = (Path(run_dir) / LOG).read_text().splitlines()
    keys = lines[0].split(",")
    return [{k: (int(v) if k in ("step", "epoch") else float(v)) for k, v in zip(keys, line.split(","), strict=True)}
            for line in lines[1:]]


class StopSignal:
    """SIGTERM / SIGINT set `signum`: the loop finishes its step, saves a checkpoint and returns. A second
    signal raises KeyboardInterrupt at once. Installed only in the main thread; restored on exit."""

    def __init__(self):
        self.signum: int | None = None
        self._previous: dict = {}

    def _handle(self, signum, _frame):
        if self.signum is not None:
            raise KeyboardInterrupt
        self.signum = signum

    def __enter__(self) -> Self:
        if threading.current_thread() is threading.main_thread():
            for s in (signal.SIGTERM, signal.SIGINT):
                self._previous[s] = signal.signal(s, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for s, handler in self._previous.items():
            signal.signal(s, handler)

    def agreed(self, d: Dist) -> bool:
        """Whether any process got a signal (all processes stop at the same step)."""
        return bool(all_sum(torch.tensor(float(self.signum is not None)), d) > 0)


# ---------------------------------------------------------------- the loop

def build_state(cfg: TrainConfig, device: torch.device) -> State:
    torch.manual_seed(cfg.seed)                       # identical initial weights on every process
    random.seed(cfg.seed)
    np.random.seed(cfg.seed)
    model = LART(cfg.model)
    if cfg.init_from:
        path = Path(cfg.init_from)
        path = path if path.is_absolute() else paths.results_dir() / path
        model.load_state_dict(load_checkpoint(path).model.state_dict())   # its EMA weights
    model.to(device).train()
    opt = torch.optim.AdamW(param_groups(model, cfg.weight_decay, cfg.layer_decay), lr=cfg.lr, betas=cfg.betas)
    return State(model, EMA(model, cfg.ema_decay), opt)


def train_step(state: State, net: nn.Module, batch: dict, cfg: TrainConfig, d: Dist, lr: float) -> float:
    """One optimiser step on this process's share of a global batch; returns the global mean loss."""
    batch = {k: v.to(d.device, non_blocking=True) for k, v in batch.items()}
    batch = {k: v.float() if v.dtype == torch.float16 else v for k, v in batch.items()}   # appearance
    for group in state.opt.param_groups:
        group["lr"] = lr * group["lr_scale"]
    with torch.autocast("cuda", dtype=torch.bfloat16, enabled=d.device.type == "cuda"):
        logits = net(batch).action_logits                                            # (b, T, P, C)
    w = token_weights(batch["present"], batch["has_gt"], cfg.gt_weight, cfg.pseudo_weight)  # (b, T, P)
    loss_sum = action_loss_sum(logits, batch["labels"], w, state.model.action_ids)
    denom = all_sum(w.sum().detach(), d).clamp_min(1e-12)   # weight of the whole global batch
    (loss_sum * d.world / denom).backward()                  # DDP averages gradients: * world undoes that
    if cfg.grad_clip > 0:
        nn.utils.clip_grad_norm_(state.model.parameters(), cfg.grad_clip)
    state.opt.step()
    state.opt.zero_grad(set_to_none=True)
    state.ema.update(state.model)
    return (all_sum(loss_sum.detach(), d) / denom).item()


def run_epoch(state: State, net: nn.Module, dataset: TrackDataset, cfg: TrainConfig, d: Dist,
              stop: StopSignal, log: MetricLog, plan: tuple[int, int, int, int], bar) -> list[float]:
    """Steps from state.step to the end of its epoch, `end` or a stop signal; returns the losses. `bar`:
    the run's progress (lartcore.progress), one update per step."""
    steps_per_epoch, total, warmup, end = plan
    epoch, skip = divmod(state.step, steps_per_epoch)
    losses, tick = [], time.perf_counter()
    for batch in make_loader(dataset, cfg, d, epoch, skip):
        lr = lr_at(state.step, total, warmup, cfg.lr)
        losses.append(train_step(state, net, batch, cfg, d, lr))
        state.step += 1
        now = time.perf_counter()
        state.elapsed, tick = state.elapsed + now - tick, now
        log.write(state.step, epoch, losses[-1], lr, state.elapsed)
        bar.set_postfix(epoch=f"{epoch + 1}/{cfg.epochs}", loss=f"{losses[-1]:.4f}")
        bar.update()
        if stop.agreed(d) or state.step >= end:
            break
    return losses


def train(cfg: TrainConfig, run_dir: str | Path, resume: bool = False, device: str | None = None) -> Path:
    """Train into `run_dir` (checkpoint.pt, config.yaml, train_log.csv) and return the checkpoint path.
    The checkpoint is written every epoch, at `max_steps` and on SIGTERM/SIGINT (after the current step).
    resume=True continues run_dir/checkpoint.pt bit-for-bit (a finished run returns at once; no checkpoint:
    start fresh). Under torchrun every process calls this; only rank 0 writes. `device`: "cpu", "cuda" or
    None (CUDA when available)."""
    with process_group(device) as d, StopSignal() as stop:
        return _train(cfg, Path(run_dir), resume, d, stop)


def _train(cfg: TrainConfig, run_dir: Path, resume: bool, d: Dist, stop: StopSignal) -> Path:
    ckpt = run_dir / CHECKPOINT
    if ckpt.exists() and not resume:
        raise ValueError(f"{ckpt} exists: resume it (--resume / resume=True) or remove the run folder")
    if cfg.batch_size % d.world:
        raise ValueError(f"batch_size {cfg.batch_size} is not divisible by {d.world} processes")
    dataset = TrackDataset(TrackStore(cfg.store_path()), cfg.data, train=True, seed=cfg.seed)
    steps_per_epoch = len(dataset) // cfg.batch_size
    if steps_per_epoch == 0:
        raise ValueError(f"{cfg.store_path()}: {len(dataset)} training samples < batch_size {cfg.batch_size}")
    state = build_state(cfg, d.device)
    if resume and ckpt.exists():
        state.restore(ckpt, cfg)
    elif resume and d.main:
        print(f"note: no {ckpt} to resume; starting a new run")
    if d.main:
        save_config(cfg, run_dir / CONFIG)
    total = cfg.epochs * steps_per_epoch
    plan = (steps_per_epoch, total, round(cfg.warmup_epochs * steps_per_epoch),
            min(total, cfg.max_steps) if cfg.max_steps else total)
    net = state.model if d.world == 1 else DistributedDataParallel(
        state.model, find_unused_parameters=cfg.model.kinetics_head or cfg.model.pose_heads)
    log, losses = MetricLog(run_dir, state.step, d.main, cfg.tensorboard), []
    bar = progress(total=plan[3], initial=state.step, desc=f"train {cfg.name}", unit="steps", disable=not d.main)
    try:
        while state.step < plan[3] and stop.signum is None:
            losses = run_epoch(state, net, dataset, cfg, d, stop, log, plan, bar) or losses
            if d.main:
                state.save(ckpt, cfg, finished=state.step == total)
    finally:
        bar.close()
        log.close()
    if d.main:
        print(summary(cfg, state, total, losses, ckpt, stop.signum))
    return ckpt


def summary(cfg: TrainConfig, state: State, total: int, losses: list[float], ckpt: Path, signum) -> str:
    loss = f"{sum(losses) / len(losses):.4f}" if losses else "n/a"
    line = (f"train {cfg.name}: step {state.step}/{total}, mean loss of the last epoch run {loss}, "
            f"{state.elapsed:.1f} s, checkpoint {ckpt}")
    if signum is not None:
        line += f" (stopped by {signal.Signals(signum).name}; continue with --resume)"
    return line
