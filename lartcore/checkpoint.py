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

Official files (Lightning checkpoints): `state_dict` keys `encoder.*` (the network) and `smpl.*` (an SMPL
body model's buffers, kept under "smpl" for the renderer); `hyper_parameters` and
`datamodule_hyper_parameters` pickle omegaconf `DictConfig`s. `read_official` reads them without omegaconf
and without running code (see there); `trusted=True` (weights_only=False: it can run code) is only for
files that need more than tensors, plain Python types and omegaconf configs.
"""
from __future__ import annotations

import json
import pickle
import pickletools
import re
import zipfile
from collections import OrderedDict
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


class CheckpointError(ValueError):
    """A file is not a readable checkpoint of ours (another kind of file, truncated, corrupt or malformed);
    the message names the file, what was expected and what was found."""


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
    """Write atomically (a reader never sees a partial file; a failed write, e.g. a full disk, leaves the
    previous file as it was and is an OSError naming `path`)."""
    payload = {"format": FORMAT, "config": to_dict(meta.config),
               "data": None if meta.data is None else to_dict(meta.data), "step": meta.step,
               "finished": meta.finished, "train_config": meta.train_config,
               "state_dict": model.state_dict(), "extra": extra or {}, "smpl": smpl}
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        sink = _Sink(f)
        try:
            torch.save(payload, sink)
        except RuntimeError:
            if sink.error is not None:   # e.g. ENOSPC, which atomic_path re-raises naming `path`
                raise sink.error from None
            raise


class _Sink:
    """The file torch.save writes through, keeping the OSError of a failed write: torch reports it as a
    RuntimeError such as 'unexpected pos 704 vs 598' (a full disk would read as a torch bug)."""

    def __init__(self, f):
        self._f, self.error = f, None

    def write(self, data) -> int:
        try:
            return self._f.write(data)
        except OSError as e:
            self.error = e
            raise

    def flush(self) -> None:
        self._f.flush()


def _read(path: Path, map_location, mmap: bool) -> dict:
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}" + (" (a folder)" if path.is_dir() else ""))
    try:
        raw = torch.load(path, map_location=map_location, weights_only=True, mmap=mmap)
    except Exception as e:   # untrusted bytes: whatever torch/zipfile/pickle raise on them
        raise CheckpointError(_unreadable(path, e)) from e
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        found = (repr(raw["format"]) if "format" in raw else "no 'format' key") if isinstance(raw, dict) else (
            f"a {type(raw).__name__}")
        hint = " (an official LART checkpoint? run `lart import-official` first)" if (
            isinstance(raw, dict) and "state_dict" in raw and "format" not in raw) else ""
        raise CheckpointError(f"{path}: expected format '{FORMAT}', found {found}{hint}")
    return raw


def _unreadable(path: Path, e: Exception) -> str:
    """Why torch could not load `path` weights-only, in one line: another kind of file, an official
    Lightning checkpoint (its pickled hyper-parameters; told by the names in its pickle, never unpickled),
    or a truncated/corrupt torch file."""
    detail = (str(e).strip().splitlines() or [type(e).__name__])[0].split(". ")[0][:200]   # torch's first sentence
    expected = f"{path}: expected a lartcore checkpoint (a torch.save zip file)"
    with open(path, "rb") as f:
        head = f.read(64)
    if not head:
        return f"{expected}, found an empty file"
    if not head.startswith(b"PK\x03\x04"):
        return f"{expected}, found a file starting with {head[:24]!r}"
    if _lightning_names(path):
        return (f"{path}: an official LART (Lightning) checkpoint, not one of ours: convert it with "
                f"`lart import-official {path} OUT.pt` first")
    return f"{expected}, found a truncated or corrupt one ({type(e).__name__}: {detail})"


def _lightning_names(path: Path, max_pickle: int = 64 << 20) -> bool:
    """Whether the zip's data.pkl names Lightning's checkpoint keys (read with pickletools: nothing runs)."""
    try:
        with zipfile.ZipFile(path) as z:
            name = next(n for n in z.namelist() if n.endswith("/data.pkl"))
            if z.getinfo(name).file_size > max_pickle:
                return False
            names = {arg for _op, arg, _pos in pickletools.genops(z.read(name)) if isinstance(arg, str)}
    except (OSError, EOFError, ValueError, LookupError, StopIteration, RuntimeError, NotImplementedError,
            zipfile.BadZipFile):   # unreadable zip / pickle: not recognisably Lightning
        return False
    return "pytorch-lightning_version" in names or {"state_dict", "hyper_parameters"} <= names


def _metadata(raw: dict, path: Path) -> Metadata:
    try:
        data = raw["data"]
        return Metadata(config=from_dict(ModelConfig, raw["config"]),
                        data=None if data is None else from_dict(DataConfig, data), step=int(raw["step"]),
                        finished=bool(raw["finished"]), train_config=raw["train_config"])
    except KeyError as e:
        raise CheckpointError(f"{path}: malformed lartcore checkpoint: key {e} missing") from None
    except (TypeError, ValueError) as e:   # ConfigError (a ValueError) names the config key
        raise CheckpointError(f"{path}: malformed lartcore checkpoint: {e}") from None


def read_metadata(path: str | Path) -> Metadata:
    """The checkpoint's metadata only: the weights are memory-mapped, never read, and no model is built."""
    return _metadata(_read(Path(path), "cpu", mmap=True), Path(path))


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> Checkpoint:
    """Weights-only load of our format; rebuilds the model from the stored config. Any unreadable or
    malformed file raises CheckpointError (FileNotFoundError if absent), naming it."""
    path = Path(path)
    raw = _read(path, map_location, mmap=False)
    meta = _metadata(raw, path)
    model = LART(meta.config)
    try:
        model.load_state_dict(raw["state_dict"])
        return Checkpoint(model, meta, raw["extra"], raw["smpl"])
    except KeyError as e:
        raise CheckpointError(f"{path}: malformed lartcore checkpoint: key {e} missing") from None
    except (RuntimeError, TypeError, AttributeError) as e:   # mismatched / non-tensor weights
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise CheckpointError(f"{path}: its weights do not fit its model config ({first})") from None


# ---------------------------------------------------------------- official (Lightning) checkpoints
#
# A Lightning checkpoint pickles its `hyper_parameters` as omegaconf objects. Each container and node is
# pickled by `object.__reduce_ex__(2)`: GLOBAL class, NEWOBJ (`cls.__new__(cls)`, no __init__), then BUILD
# with a state dict (DictConfig/ListConfig: `_metadata`, `_parent`, `_content`; nodes: `_metadata`,
# `_parent`, `_val`; Metadata/ContainerMetadata: dataclass fields, with `typing.Any`, `builtins.dict`/
# `list`/`int` as type values and `resolver_cache = collections.defaultdict(dict)`). `read_official`
# unpickles with torch's weights-only unpickler, which allows tensors and plain Python types only, plus
# the inert stand-ins below registered under those names: their only code is keeping the state dict, so
# nothing of the file runs. `_plain` then turns them into dicts, lists and values.

class _Pickled:
    """An omegaconf object as data: created by `object.__new__`, its pickled state kept by BUILD."""

    def __setstate__(self, state: dict) -> None:
        self.__dict__["state"] = state


class _DictConfig(_Pickled):
    pass


class _ListConfig(_Pickled):
    pass


class _Node(_Pickled):
    """AnyNode (untyped yaml configs, as LART's), or a typed node of a structured config."""


class _Any:
    """`typing.Any` (only a metadata value: ref_type, key_type, element_type)."""


def _resolver_cache(*_factory) -> dict:
    """`collections.defaultdict(dict)` of a node's metadata: dropped with the metadata."""
    return {}


_OMEGACONF_NODES = ("AnyNode", "StringNode", "IntegerNode", "FloatNode", "BooleanNode", "BytesNode",
                    "PathNode", "EnumNode", "UnionNode")
OFFICIAL_GLOBALS = [
    (_DictConfig, "omegaconf.dictconfig.DictConfig"), (_ListConfig, "omegaconf.listconfig.ListConfig"),
    (_Pickled, "omegaconf.base.Metadata"), (_Pickled, "omegaconf.base.ContainerMetadata"),
    *[(_Node, f"omegaconf.nodes.{name}") for name in _OMEGACONF_NODES],
    (_Any, "typing.Any"), (_resolver_cache, "collections.defaultdict"),
    *[(t, f"builtins.{t.__name__}") for t in (dict, list, tuple, int, float, str, bool, bytes)],
]


def _plain(x: Any) -> Any:
    """Stand-ins -> plain Python: DictConfig -> dict, ListConfig -> list, node -> its value; a container
    whose content is None or a string ('???' missing, '${...}' interpolation) -> that value."""
    if isinstance(x, (_DictConfig, _ListConfig)):
        content = x.state["_content"]
        if content is None or isinstance(content, str):
            return content
        return {k: _plain(v) for k, v in content.items()} if isinstance(x, _DictConfig) else [
            _plain(v) for v in content]
    if isinstance(x, _Node):
        return _plain(x.state["_val"])
    if isinstance(x, dict):                     # OrderedDict (state_dict) stays one; its _metadata goes
        out = {k: _plain(v) for k, v in x.items()}
        return OrderedDict(out) if isinstance(x, OrderedDict) else out
    if isinstance(x, (list, tuple)):
        return type(x)(_plain(v) for v in x)
    return x


class OfficialFile(NamedTuple):
    state: dict[str, torch.Tensor]      # the `state_dict` (`._orig_mod` of torch.compile removed)
    hyper_parameters: dict | None       # the model's config as plain dicts/lists (None if absent)


def _refusal(path: Path, error: Exception) -> ValueError:
    """The error for a file the weights-only unpickler refused: a global outside the allowed set (name it;
    only then can --trusted help), or a file that is no checkpoint at all."""
    text = str(error)
    hit = re.search(r"GLOBAL (\S+) was not an allowed global", text)
    if hit:
        return ValueError(f"{path}: refused to unpickle '{hit.group(1)}' (nothing of the file was run). An "
                          f"official LART checkpoint holds only tensors, plain Python types and omegaconf "
                          f"configs, which are read without --trusted. If you trust this file, --trusted "
                          f"(trusted=True) unpickles it with its own classes, which can execute code.")
    first = next((line for line in text.splitlines() if "WeightsUnpickler error" not in line and line.strip()
                  and "Weights only load failed" not in line), text)
    return ValueError(f"{path}: not a readable PyTorch checkpoint (truncated or corrupt?): {first.strip()}")


def read_official(path: str | Path, trusted: bool = False) -> OfficialFile:
    """The state_dict and hyper_parameters of an official LART (Lightning) checkpoint.

    Untrusted (default): torch's weights-only unpickler plus the omegaconf stand-ins above, so no code of
    the file runs and omegaconf is not needed. `trusted=True` unpickles everything (weights_only=False:
    can execute code; configs come back as the file's own objects, e.g. omegaconf if installed)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"official checkpoint not found: {path}")
    with open(path, "rb") as f:
        head = f.read(2)
    if head == b"PK" and not zipfile.is_zipfile(path):
        raise ValueError(f"{path}: not a readable PyTorch checkpoint: a truncated or corrupt zip archive")
    if head != b"PK" and head[:1] != b"\x80":
        raise ValueError(f"{path}: not a PyTorch checkpoint (neither a torch.save zip archive nor a pickle)")
    try:
        if trusted:
            raw = torch.load(path, map_location="cpu", weights_only=False)
        else:
            with torch.serialization.safe_globals(OFFICIAL_GLOBALS):
                raw = _plain(torch.load(path, map_location="cpu", weights_only=True))
    except pickle.UnpicklingError as e:
        raise _refusal(path, e) from None
    except (RuntimeError, EOFError) as e:
        raise ValueError(f"{path}: not a readable PyTorch checkpoint (truncated or corrupt?): "
                         f"{str(e).splitlines()[0]}") from None
    if not isinstance(raw, dict) or "state_dict" not in raw:
        keys = sorted(raw) if isinstance(raw, dict) else type(raw).__name__
        raise ValueError(f"{path}: expected a Lightning checkpoint with key 'state_dict', found {keys}")
    state = {k.replace("._orig_mod", ""): v for k, v in raw["state_dict"].items()}
    return OfficialFile(state, raw.get("hyper_parameters"))


def _official_config(state: dict[str, torch.Tensor], path: Path) -> ModelConfig:
    """The lart.yaml network; the appearance width (2048 Hiera / 1152 MViT) and the transformer depth
    (`configs.transformer.depth`, 16 released) are read from the weights."""
    key = "encoder.apperance_encoder.0.weight"
    if key not in state:
        raise ValueError(f"{path}: '{key}' missing; only the released lart.yaml architecture "
                         f"(pose + joints + appearance) is supported")
    layers = sorted({int(m.group(1)) for k in state if (m := re.match(r"encoder\.transformer\.layers\.(\d+)\.", k))})
    if not layers or layers != list(range(len(layers))):
        raise ValueError(f"{path}: transformer layers {layers[:20]} found; expected layers 0..depth-1")
    return lart_official(appearance_dim=state[key].shape[1], depth=len(layers))


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


def _json_or_none(value: Any) -> Any:
    """`value` if it is plain JSON data (what our weights-only checkpoint can hold), else None."""
    try:
        return json.loads(json.dumps(value, allow_nan=True))
    except (TypeError, ValueError):
        return None


def import_official(ckpt: str | Path, out: str | Path, trusted: bool = False,
                    pose_stats: str | Path | None = None) -> ImportResult:
    """Convert an official LART checkpoint into ours (strict: 0 missing, 0 unexpected, every shape)."""
    ckpt = Path(ckpt)
    state, hparams = read_official(ckpt, trusted)
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
                             "pose_stats": str(pose_stats) if pose_stats else None,
                             "hyper_parameters": _json_or_none(hparams)}
    save_checkpoint(out, model, Metadata(cfg), extra, smpl)
    return ImportResult(cfg, len(mapped), dropped, sorted(smpl or {}))
