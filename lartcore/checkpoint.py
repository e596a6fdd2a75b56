"""Our checkpoint format, and import of official LART (Lightning) checkpoints.

Our file (torch.save, readable with `weights_only=True`):
    {"format": "lartcore-checkpoint-v2",
     "config": plain dict of ModelConfig,  "data": plain dict of the DataConfig it was trained with or None,
     "step": optimiser steps done, "finished": whether training completed, "train_config": the resolved
     TrainConfig dict of a run of ours or None,
     "state_dict": the model weights (EMA weights for our runs), "extra": dict (tensors / plain Python:
     the trainer's resume state, or where an imported model came from), "smpl": SMPL body buffers or None}
`read_metadata` reads everything but the weights without building the model (tensors are memory-mapped,
not read).

Official files: `state_dict` keys `encoder.*` (the network) and `smpl.*` (an SMPL body model's buffers,
kept under "smpl" for the renderer); `hyper_parameters` pickles an omegaconf config, which only
`trusted=True` (weights_only=False: it can run code) can read.
"""
from __future__ import annotations

import pickle
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import torch

from lartcore.config import from_dict, to_dict
from lartcore.data.dataset import DataConfig
from lartcore.fileio import atomic_path
from lartcore.model import LART, ModelConfig, lart_official

FORMAT = "lartcore-checkpoint-v2"

# official key (after the "encoder." prefix) -> our key; applied in order, first match wins
OFFICIAL_KEY_MAP = [
    (r"transformer\.layers\.(\d+)\.0\.norm\.", r"blocks.\1.norm1."),
    (r"transformer\.layers\.(\d+)\.0\.fn\.to_qkv\.", r"blocks.\1.attn.qkv."),
    (r"transformer\.layers\.(\d+)\.0\.fn\.to_out\.0\.", r"blocks.\1.attn.proj."),
    (r"transformer\.layers\.(\d+)\.1\.norm\.", r"blocks.\1.norm2."),
    (r"transformer\.layers\.(\d+)\.1\.fn\.net\.", r"blocks.\1.mlp."),
    (r"pose_shape_encoder\.", "encoders.pose."),
    (r"joint_encoder\.", "encoders.joints."),
    (r"apperance_encoder\.", "encoders.appearance."),
    (r"action_head_ava\.0\.0\.", "action_head."),
    (r"action_head_kinetics\.", "kinetics_head."),
    (r"loca_head\.0\.", "location_head."),
    (r"smpl_head\.0\.", "smpl_head."),
    (r"(mask_token|class_token|pos_embedding)$", r"\1"),
]
# official keys with no counterpart: unused convs (never called in forward) and `pe` (alias of pos_embedding)
OFFICIAL_DROPPED = ("encoder.pe", "encoder.conv_en.weight", "encoder.conv_en.bias",
                    "encoder.conv_de.weight", "encoder.conv_de.bias")
# our keys the official file cannot have: pose normalisation (PHALP mean_std.npy, see --pose-stats)
NOT_IN_OFFICIAL = ("pose_mean", "pose_std")


@dataclass(frozen=True)
class Metadata:
    """What a checkpoint says about its model, without the weights."""
    config: ModelConfig
    data: DataConfig | None = None      # the training windows (None: not trained by us, e.g. imported)
    step: int = 0                       # optimiser steps done
    finished: bool = False              # training ran all its epochs
    train_config: dict | None = None    # the resolved TrainConfig (plain dict) of a run of ours


@dataclass(frozen=True)
class Checkpoint:
    """A loaded checkpoint: the model (eval-ready weights), its metadata, extra state and SMPL buffers."""
    model: LART
    meta: Metadata
    extra: dict
    smpl: dict | None

    @property
    def config(self) -> ModelConfig:
        return self.meta.config

    @property
    def data(self) -> DataConfig | None:
        return self.meta.data


class ImportResult(NamedTuple):
    config: ModelConfig
    loaded: int              # tensors mapped into the model
    dropped: list[str]       # official keys deliberately not loaded
    smpl_keys: list[str]     # SMPL buffers kept in our checkpoint


def save_checkpoint(path: str | Path, model: LART, meta: Metadata, extra: dict | None = None,
                    smpl: dict | None = None) -> None:
    """Write atomically (a reader never sees a partial file)."""
    payload = {"format": FORMAT, "config": to_dict(meta.config),
               "data": None if meta.data is None else to_dict(meta.data), "step": meta.step,
               "finished": meta.finished, "train_config": meta.train_config,
               "state_dict": model.state_dict(), "extra": extra or {}, "smpl": smpl}
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def _read(path: Path, map_location, mmap: bool) -> dict:
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    raw = torch.load(path, map_location=map_location, weights_only=True, mmap=mmap)
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        found = raw.get("format") if isinstance(raw, dict) else type(raw).__name__
        hint = " (an official LART checkpoint? run `lart import-official` first)" if (
            isinstance(raw, dict) and "state_dict" in raw and "format" not in raw) else ""
        raise ValueError(f"{path}: expected format '{FORMAT}', found {found!r}{hint}")
    return raw


def _metadata(raw: dict) -> Metadata:
    data = raw["data"]
    return Metadata(config=from_dict(ModelConfig, raw["config"]),
                    data=None if data is None else from_dict(DataConfig, data), step=int(raw["step"]),
                    finished=bool(raw["finished"]), train_config=raw["train_config"])


def read_metadata(path: str | Path) -> Metadata:
    """The checkpoint's metadata only: the weights are memory-mapped, never read, and no model is built."""
    return _metadata(_read(Path(path), "cpu", mmap=True))


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> Checkpoint:
    """Weights-only load of our format; rebuilds the model from the stored config."""
    raw = _read(Path(path), map_location, mmap=False)
    meta = _metadata(raw)
    model = LART(meta.config)
    model.load_state_dict(raw["state_dict"])
    return Checkpoint(model, meta, raw["extra"], raw["smpl"])


def _read_official(path: Path, trusted: bool) -> dict[str, torch.Tensor]:
    if not path.is_file():
        raise FileNotFoundError(f"official checkpoint not found: {path}")
    try:
        raw = torch.load(path, map_location="cpu", weights_only=not trusted)
    except pickle.UnpicklingError as e:
        raise ValueError(f"{path}: cannot be read weights-only (its 'hyper_parameters' pickle Python objects, "
                         f"e.g. an omegaconf config). If you trust this file, rerun with --trusted "
                         f"(trusted=True), which unpickles it and can execute code. Detail: "
                         f"{str(e).splitlines()[0]}") from None
    if not isinstance(raw, dict) or "state_dict" not in raw:
        keys = sorted(raw) if isinstance(raw, dict) else type(raw).__name__
        raise ValueError(f"{path}: expected a Lightning checkpoint with key 'state_dict', found {keys}")
    return {k.replace("._orig_mod", ""): v for k, v in raw["state_dict"].items()}


def _official_config(state: dict[str, torch.Tensor], path: Path) -> ModelConfig:
    """The lart.yaml network; the appearance width (2048 Hiera / 1152 MViT) is read from the weights."""
    key = "encoder.apperance_encoder.0.weight"
    if key not in state:
        raise ValueError(f"{path}: '{key}' missing; only the released lart.yaml architecture "
                         f"(pose + joints + appearance) is supported")
    return lart_official(appearance_dim=state[key].shape[1])


def _map_key(official: str) -> str | None:
    name = official.removeprefix("encoder.")
    for pattern, target in OFFICIAL_KEY_MAP:
        if re.match(pattern, name):
            return re.sub("^" + pattern, target, name)
    return None


def map_official_state(state: dict[str, torch.Tensor], model: LART, path: Path) -> dict[str, torch.Tensor]:
    """Official `encoder.*` tensors -> our state_dict; raises on any unknown, missing or mis-shaped key."""
    ours = model.state_dict()
    mapped, unexpected = {}, []
    for key, value in state.items():
        if key.startswith("smpl.") or key in OFFICIAL_DROPPED:
            continue
        target = _map_key(key) if key.startswith("encoder.") else None
        if target is None or target not in ours:
            unexpected.append(key)
            continue
        if tuple(value.shape) != tuple(ours[target].shape):
            raise ValueError(f"{path}: '{key}' (-> '{target}') expected shape {tuple(ours[target].shape)}, "
                             f"found {tuple(value.shape)}")
        mapped[target] = value
    missing = sorted(set(ours) - set(mapped) - set(NOT_IN_OFFICIAL))
    if unexpected or missing:
        raise ValueError(f"{path}: {len(unexpected)} unexpected official key(s) {unexpected[:5]}, "
                         f"{len(missing)} model key(s) missing {missing[:5]}")
    return mapped


def import_official(ckpt: str | Path, out: str | Path, trusted: bool = False,
                    pose_stats: str | Path | None = None) -> ImportResult:
    """Convert an official LART checkpoint into ours (strict: 0 missing, 0 unexpected, every shape)."""
    ckpt = Path(ckpt)
    state = _read_official(ckpt, trusted)
    cfg = _official_config(state, ckpt)
    model = LART(cfg)
    mapped = map_official_state(state, model, ckpt)
    result = model.load_state_dict(mapped, strict=False)
    assert not result.unexpected_keys and set(result.missing_keys) <= set(NOT_IN_OFFICIAL), result
    if pose_stats is not None:
        model.load_pose_stats(pose_stats)
    smpl = {k.removeprefix("smpl."): v for k, v in state.items() if k.startswith("smpl.")} or None
    dropped = [k for k in OFFICIAL_DROPPED if k in state]
    extra: dict[str, Any] = {"source": str(ckpt), "dropped_keys": dropped,
                             "pose_stats": str(pose_stats) if pose_stats else None}
    save_checkpoint(out, model, Metadata(cfg), extra, smpl)
    return ImportResult(cfg, len(mapped), dropped, sorted(smpl or {}))
