"""Dataclass configs: defaults <- YAML <- key=value overrides, strict about unknown keys and types."""
from dataclasses import dataclass, field
from typing import Literal

import pytest

from lartcore.config import ConfigError, load_config, save_config


@dataclass(frozen=True)
class Inner:
    depth: int = 4
    streams: tuple[str, ...] = ("pose",)


@dataclass(frozen=True)
class Outer:
    lr: float = 1e-3
    name: str = "x"
    pool: Literal["frame", "avg"] = "avg"
    resume: bool = False
    model: Inner = field(default_factory=Inner)


def test_yaml_then_overrides(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("lr: 0.5\nmodel:\n  depth: 8\n")
    cfg = load_config(Outer, f, ["model.streams=[pose, appearance]", "lr=3e-4", "pool=frame"])
    assert cfg.lr == 3e-4 and cfg.model.depth == 8
    assert cfg.model.streams == ("pose", "appearance") and cfg.pool == "frame"


def test_save_round_trip(tmp_path):
    cfg = load_config(Outer, None, ["model.depth=2", "resume=true"])
    save_config(cfg, tmp_path / "out.yaml")
    assert load_config(Outer, tmp_path / "out.yaml") == cfg


@pytest.mark.parametrize("override, msg", [
    ("modle.depth=2", "modle"),            # unknown section
    ("model.width=2", "width"),            # unknown key
    ("lr=fast", "expected a number"),
    ("model.depth=2.5", "expected an integer"),
    ("pool=max", "expected one of"),
    ("resume=1", "true/false"),
    ("lr", "key=value"),
])
def test_bad_overrides_name_the_key(override, msg):
    with pytest.raises(ConfigError, match=msg):
        load_config(Outer, None, [override])


def test_yaml_errors_name_the_file(tmp_path):
    f = tmp_path / "bad.yaml"
    f.write_text("lrr: 1\n")
    with pytest.raises(ConfigError, match="bad.yaml"):
        load_config(Outer, f)
    with pytest.raises(FileNotFoundError):
        load_config(Outer, tmp_path / "missing.yaml")
