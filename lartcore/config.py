"""Dataclass configs with YAML files and `key=value` overrides.

A config is a (possibly nested) dataclass. `load_config(Cls, "run.yaml", ["model.depth=4", "lr=3e-4"])`
starts from the dataclass defaults, applies the YAML file, then any deltas (nested dicts: a base file plus
small per-variant files, as `lartcore.variants` does), then the overrides (values parsed as YAML, so
`true`, `3e-4`, `[a, b]` work). Unknown keys are errors that name the key and the valid choices.
`save_config` writes the resolved config next to outputs so every run is reproducible.
"""
from __future__ import annotations

import copy
import dataclasses
import typing
from pathlib import Path
from typing import Any, TypeVar

import yaml

from lartcore.fileio import atomic_write_text

T = TypeVar("T")


class ConfigError(ValueError):
    pass


def require(owner: str, checks: list[tuple[str, Any, bool, str]]) -> None:
    """Raise one ConfigError naming every failed check: (field, value, ok, what was expected)."""
    bad = [f"{name}: expected {expected}, found {value!r}" for name, value, ok, expected in checks if not ok]
    if bad:
        raise ConfigError(f"{owner}: " + "; ".join(bad))


def to_dict(cfg: Any) -> dict:
    """Plain nested dict of a dataclass config (tuples become lists)."""
    def plain(v):
        if dataclasses.is_dataclass(v):
            return {f.name: plain(getattr(v, f.name)) for f in dataclasses.fields(v)}
        if isinstance(v, (list, tuple)):
            return [plain(x) for x in v]
        if isinstance(v, Path):
            return str(v)
        return v
    return plain(cfg)


def _coerce(value: Any, tp: Any, key: str) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise ConfigError(f"config key '{key}': expected a mapping, found {value!r}")
        return from_dict(tp, value, prefix=key + ".")
    if origin is typing.Union:  # Optional[X]
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _coerce(value, inner[0], key)
    if origin is typing.Literal:
        if value not in args:
            raise ConfigError(f"config key '{key}': expected one of {list(args)}, found {value!r}")
        return value
    if origin in (tuple, list):
        if not isinstance(value, (list, tuple)):
            value = [value]
        elem = args[0] if args else Any
        return tuple(_coerce(v, elem, key) for v in value) if origin is tuple else [
            _coerce(v, elem, key) for v in value]
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"config key '{key}': expected true/false, found {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"config key '{key}': expected an integer, found {value!r}")
        return value
    if tp is float:
        if isinstance(value, str):  # YAML 1.1 reads "3e-4" (no dot) as a string
            try:
                value = float(value)
            except ValueError:
                pass
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"config key '{key}': expected a number, found {value!r}")
        return float(value)
    if tp is str:
        return str(value)
    return value


def from_dict(cls: type[T], data: dict, prefix: str = "") -> T:
    """Build `cls` from a (partial) nested dict; missing keys keep their defaults."""
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = set(data) - names
    if unknown:
        raise ConfigError(f"unknown config key(s) {sorted(prefix + k for k in unknown)}; "
                          f"valid keys under '{prefix or '<root>'}': {sorted(names)}")
    kwargs = {}
    for name, value in data.items():
        tp = hints[name]
        if dataclasses.is_dataclass(tp) and isinstance(value, dict):
            base = to_dict(tp())
            base.update(value)
            value = base
        kwargs[name] = _coerce(value, tp, prefix + name)
    return cls(**kwargs)


def _set(tree: dict, dotted: str, value: Any) -> None:
    keys = dotted.split(".")
    node = tree
    for k in keys[:-1]:
        if not isinstance(node.get(k), dict):
            raise ConfigError(f"override '{dotted}': '{k}' is not a config section")
        node = node[k]
    if keys[-1] not in node:
        raise ConfigError(f"override '{dotted}': unknown key '{keys[-1]}'; valid: {sorted(node)}")
    node[keys[-1]] = value


def read_yaml(path: str | Path) -> dict:
    """A YAML mapping from a file (safe loader: no Python tags); errors name the file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"config file not found: {path}")
    try:
        loaded = yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        where = getattr(e, "problem_mark", None)
        line = f":{where.line + 1}" if where is not None else ""
        raise ConfigError(f"{path}{line}: expected a YAML mapping of config keys, found invalid YAML "
                          f"({getattr(e, 'problem', None) or e})") from None
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise ConfigError(f"{path}: expected a mapping of config keys, found {type(loaded).__name__}")
    return loaded


def apply_delta(tree: dict, delta: dict, source: str) -> dict:
    """The nested config dict `tree` with the (nested) `delta` applied; unknown keys name `source`."""
    tree = copy.deepcopy(tree)
    for k, v in _flatten(delta):
        try:
            _set(tree, k, v)
        except ConfigError as e:
            raise ConfigError(f"{source}: {e}") from None
    return tree


def load_config(cls: type[T], path: str | Path | None = None, overrides: list[str] | tuple = (),
                base: T | None = None, deltas: list[tuple[str, dict]] = ()) -> T:
    """Defaults (or `base`) <- YAML file <- `deltas` ((source, dict) in order) <- `key=value` overrides."""
    tree = to_dict(base if base is not None else cls())
    layers = ([(str(path), read_yaml(path))] if path is not None else []) + list(deltas)
    for source, delta in layers:
        tree = apply_delta(tree, delta, source)
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override '{item}': expected key=value")
        k, v = item.split("=", 1)
        try:
            value = yaml.safe_load(v) if v.strip() else ""
        except yaml.YAMLError:
            raise ConfigError(f"override '{item}': the value is not valid YAML") from None
        _set(tree, k.strip(), value)
    return from_dict(cls, tree)


def _flatten(d: dict, prefix: str = ""):
    for k, v in d.items():
        if isinstance(v, dict) and v:
            yield from _flatten(v, f"{prefix}{k}.")
        else:
            yield f"{prefix}{k}", v


def save_config(cfg: Any, path: str | Path) -> None:
    """Write the resolved config as YAML, atomically."""
    atomic_write_text(Path(path), yaml.safe_dump(to_dict(cfg), sort_keys=False))
