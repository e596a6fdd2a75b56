"""The model variants of the paper's tables and the sizes they are trained at, registered once.

A training config is a size base plus a variant delta (`lartcore/configs/`):

    configs/paper.yaml          the paper's network and recipe (fine-tune stage; `pretrain:` = stage 1)
    configs/demo.yaml           the demo network and schedule (one stage), for the synthetic demo data
    configs/variants/<v>.yaml   what variant v changes: streams, people, ...; optional `paper:` / `demo:`
                                sub-deltas for one size (e.g. how two streams split the width)

Names accepted by `lart train` and `load_train_config`: `<v>` (paper, fine-tune), `<v>_pretrain` (paper,
stage 1) and `demo_<v>`; or the path of a YAML file holding a whole TrainConfig (a run's config.yaml).
"""
from __future__ import annotations

import dataclasses
from importlib import resources
from pathlib import Path

from lartcore.config import load_config, read_yaml
from lartcore.train import CHECKPOINT, TrainConfig

SIZES = ("paper", "demo")
STAGES = ("finetune", "pretrain")
_CONFIGS = Path(str(resources.files("lartcore") / "configs"))


def names() -> list[str]:
    """Every registered variant (configs/variants/*.yaml), sorted."""
    return sorted(p.stem for p in (_CONFIGS / "variants").glob("*.yaml"))


def config_names() -> list[str]:
    """Every packaged config name `load_train_config` accepts."""
    return sorted([*names(), *(f"{v}_pretrain" for v in names()), *(f"demo_{v}" for v in names())])


def _check(name: str, choice: str, allowed) -> None:
    if choice not in allowed:
        raise ValueError(f"{name}: expected one of {list(allowed)}, found {choice!r}")


def variant_config(variant: str, size: str = "paper", stage: str = "finetune", overrides=(),
                   **changes) -> TrainConfig:
    """The TrainConfig of `variant` at `size` ("paper" or "demo") and `stage` (paper only: "pretrain" =
    stage 1, "finetune" = stage 2, which starts from the stage-1 run's checkpoint). `overrides`: user
    `key=value` strings (applied last but one); `changes`: TrainConfig fields set last (e.g. data_root)."""
    _check("variant", variant, names())
    _check("size", size, SIZES)
    _check("stage", stage, STAGES)
    base = read_yaml(_CONFIGS / f"{size}.yaml")
    pretrain = base.pop("pretrain", None)
    if stage == "pretrain" and pretrain is None:
        raise ValueError(f"size {size!r} has one stage: no pretrain stage (configs/{size}.yaml)")
    delta = read_yaml(_CONFIGS / "variants" / f"{variant}.yaml")
    per_size = {s: delta.pop(s, None) or {} for s in SIZES}
    deltas = [(f"configs/{size}.yaml", base)]
    if stage == "pretrain":
        deltas.append((f"configs/{size}.yaml: pretrain", pretrain))
    deltas += [(f"configs/variants/{variant}.yaml", delta),
               (f"configs/variants/{variant}.yaml: {size}", per_size[size])]
    name = variant + ("_pretrain" if stage == "pretrain" else "")
    cfg = load_config(TrainConfig, None, list(overrides), deltas=[*deltas, ("name", {"name": name})])
    if pretrain is not None and stage == "finetune" and not cfg.init_from:
        cfg = dataclasses.replace(cfg, init_from=f"{cfg.dataset}/{variant}_pretrain/{CHECKPOINT}")
    return dataclasses.replace(cfg, **changes)


def parse_name(config: str) -> tuple[str, str, str]:
    """A packaged config name -> (variant, size, stage)."""
    if config.startswith("demo_"):
        return config.removeprefix("demo_"), "demo", "finetune"
    if config.endswith("_pretrain"):
        return config.removesuffix("_pretrain"), "paper", "pretrain"
    return config, "paper", "finetune"


def load_train_config(config: str | Path, overrides=()) -> TrainConfig:
    """A YAML file holding a TrainConfig, or a packaged config name (see the module doc), plus key=value
    overrides."""
    path = Path(config)
    if path.suffix in (".yaml", ".yml") or path.is_file():
        return load_config(TrainConfig, path, list(overrides))
    variant, size, stage = parse_name(str(config))
    if variant not in names():
        raise FileNotFoundError(f"config '{config}': no such file and no packaged config of that name; "
                                f"packaged: {config_names()}")
    return variant_config(variant, size, stage, overrides)
