"""Results registry: one folder per run, read by the notebooks, `lart demo` and the dashboard.

A run is one model variant evaluated on one dataset, stored under `<root>/<dataset>/<variant>/`:

    config.yaml       resolved config (when given)
    checkpoint.pt     optional; written by the trainer, recorded (path + sha256) in provenance.json
    predictions.csv   AVA detection CSV (video_id,timestamp,x1,y1,x2,y2,action_id,score)
    per_class.csv     id, name, type, ap, n_gt, n_det       (ap in [0, 1], NaN = class without GT)
    provenance.json   variant, config, checkpoint, data manifest hash, git commit, time, version, demo
    metrics.json      mAP, PM, OM, PI, evaluator flavor; written last, so a listed run is always complete

`evaluate_cached` keys an evaluation by the sha256 of (predictions, GT, label map, exclusions, evaluator
flavor and version) and stores it under `<cache_dir>/<key>.json|.csv`, so the same predictions are never
evaluated twice. Every write is atomic (`lartcore.fileio`).
"""
from __future__ import annotations

import dataclasses
import datetime
import hashlib
import json
import math
import shutil
import subprocess
from importlib import metadata
from pathlib import Path

import pandas as pd
import yaml

import lartcore
from lartcore import paths
from lartcore.config import to_dict
from lartcore.eval import VERSION as EVAL_VERSION
from lartcore.eval import EvalResult, evaluate_files
from lartcore.fileio import atomic_path, atomic_write_text

PER_CLASS_COLUMNS = ["id", "name", "type", "ap", "n_gt", "n_det"]
TYPES = ("PM", "OM", "PI")
DEMO_BANNER = "demo data: not comparable to the paper"
_CHUNK = 1 << 20


# ---- small file helpers -------------------------------------------------------------------------------

def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _json_safe(value):
    """NaN/inf -> None (strict JSON), recursively."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if hasattr(value, "item"):  # numpy scalar
        return _json_safe(value.item())
    return value


def _write_json(path: Path, obj: dict) -> None:
    atomic_write_text(path, json.dumps(_json_safe(obj), indent=2, allow_nan=False) + "\n")


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: not valid JSON ({e})") from None


def _nan(v) -> float:
    return math.nan if v is None else float(v)


def _write_per_class(path: Path, per_class: pd.DataFrame) -> None:
    missing = [c for c in PER_CLASS_COLUMNS if c not in per_class.columns]
    if missing:
        raise ValueError(f"per-class table for {path}: missing columns {missing}; "
                         f"expected {PER_CLASS_COLUMNS}, found {list(per_class.columns)}")
    with atomic_path(path) as tmp:
        per_class[PER_CLASS_COLUMNS].to_csv(tmp, index=False)


def read_per_class(path: str | Path) -> pd.DataFrame:
    """A per_class.csv back as a DataFrame with the evaluator's dtypes."""
    df = pd.read_csv(path, dtype={"name": str, "type": str}, keep_default_na=False, na_values=[""])
    missing = [c for c in PER_CLASS_COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"{path}: missing columns {missing}; expected {PER_CLASS_COLUMNS}")
    return df.astype({"id": "int64", "ap": "float64", "n_gt": "int64", "n_det": "int64"})


def _metrics_of(result) -> dict:
    by_type = {t: _nan(result.by_type.get(t)) for t in TYPES}
    return {"mAP": float(result.map), **by_type, "flavor": result.flavor}


# ---- evaluation cache ---------------------------------------------------------------------------------

def eval_version() -> str:
    """The version of the evaluator that cached results depend on: lartcore's and the evaluator's own."""
    return f"{lartcore.__version__}+eval{EVAL_VERSION}"


def eval_cache_key(predictions_csv, gt_csv, labelmap=None, exclusions=None, flavor="activitynet") -> str:
    """sha256 over each input file's sha256 (None = the default file) and the evaluator's flavor and version
    (`lartcore.eval.VERSION`)."""
    h = hashlib.sha256(f"lartcore-eval:{eval_version()}:{flavor}".encode())
    for name, path in [("pred", predictions_csv), ("gt", gt_csv), ("labelmap", labelmap),
                       ("exclusions", exclusions)]:
        digest = sha256_file(path) if path is not None else "default"
        h.update(f"|{name}:{digest}".encode())
    return h.hexdigest()


def _run_evaluator(predictions_csv, gt_csv, labelmap, exclusions, flavor):
    """`lartcore.eval.evaluate_files` (what `lart eval` runs; the one place the registry evaluates)."""
    return evaluate_files(gt_csv, predictions_csv, labelmap, exclusions, flavor)


def _load_cached(json_path: Path):
    """Rebuild the EvalResult stored in a cache entry (<key>.json + <key>.csv)."""
    entry = _read_json(json_path)
    return EvalResult(per_class=read_per_class(json_path.with_suffix(".csv")), map=_nan(entry["map"]),
                      by_type={t: _nan(v) for t, v in entry["by_type"].items()}, flavor=entry["flavor"])


def evaluate_cached(predictions_csv, gt_csv, labelmap=None, exclusions=None, flavor="activitynet",
                    cache_dir=None):
    """`frame_map` of a detection CSV against a GT CSV, computed once per distinct input.

    cache_dir defaults to `<results_dir>/eval_cache`. A hit returns the stored result without reading the
    CSVs into DataFrames or running the evaluator; the key is stored in the entry's JSON.
    """
    cache_dir = Path(cache_dir) if cache_dir is not None else paths.results_dir() / "eval_cache"
    key = eval_cache_key(predictions_csv, gt_csv, labelmap, exclusions, flavor)
    json_path = cache_dir / f"{key}.json"
    if json_path.is_file():
        return _load_cached(json_path)
    result = _run_evaluator(predictions_csv, gt_csv, labelmap, exclusions, flavor)
    _write_per_class(json_path.with_suffix(".csv"), result.per_class)
    inputs = {"predictions": str(predictions_csv), "gt": str(gt_csv),
              "labelmap": None if labelmap is None else str(labelmap),
              "exclusions": None if exclusions is None else str(exclusions)}
    _write_json(json_path, {"key": key, "flavor": flavor, "lartcore_version": lartcore.__version__,
                            "map": result.map, "by_type": dict(result.by_type), "inputs": inputs})
    return result


# ---- provenance ---------------------------------------------------------------------------------------

def git_commit() -> str:
    """`git rev-parse HEAD` of the repository holding this package, else "unknown"."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).resolve().parent,
                             capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return out.stdout.strip() if out.returncode == 0 and out.stdout.strip() else "unknown"


CODE_PACKAGES = ("torch", "numpy", "pandas", "plotly", "nbconvert")    # versions that shape results / reports


def code_stamp() -> dict:
    """What code made a result: lartcore's version, a sha256 over the files of the lartcore package (sources,
    configs, resources; uncommitted edits count, commits that touch only docs or tests do not), and the
    versions of CODE_PACKAGES. Keys the notebook cache and the test suite's cache of trained demo runs."""
    package = Path(lartcore.__file__).parent
    h = hashlib.sha256()
    for f in sorted(p for p in package.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
        h.update(f"{f.relative_to(package)}\0".encode() + f.read_bytes() + b"\0")
    versions = {}
    for name in CODE_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return {"lartcore": lartcore.__version__, "package_sha256": h.hexdigest(), "versions": versions}


def _manifest_hash(data_root, manifest) -> str | None:
    path = Path(manifest) if manifest is not None else (
        Path(data_root) / "manifest.json" if data_root is not None else None)
    if path is None:
        return None
    if not path.is_file():
        raise FileNotFoundError(f"data manifest not found: {path}")
    return sha256_file(path)


def _is_demo(data_root) -> bool:
    """A data root built by `lart data build-demo` carries its BUILD_COMPLETE marker."""
    return data_root is not None and (Path(data_root) / "BUILD_COMPLETE").is_file()


def make_provenance(dataset, variant, predictions_sha256, config=None, checkpoint=None, data_root=None,
                    manifest=None, demo=None) -> dict:
    """The provenance record stored beside a run's numbers."""
    ckpt = None
    if checkpoint is not None:
        if not Path(checkpoint).is_file():
            raise FileNotFoundError(f"checkpoint not found: {checkpoint}")
        ckpt = {"path": str(checkpoint), "sha256": sha256_file(checkpoint)}
    return {
        "dataset": dataset, "variant": variant,
        "config": _config_dict(config),
        "checkpoint": ckpt,
        "data_root": None if data_root is None else str(data_root),
        "data_manifest_sha256": _manifest_hash(data_root, manifest),
        "predictions_sha256": predictions_sha256,
        "git_commit": git_commit(),
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "lartcore_version": lartcore.__version__,
        "demo": bool(_is_demo(data_root) if demo is None else demo),
    }


def _config_dict(config) -> dict | None:
    if config is None:
        return None
    if dataclasses.is_dataclass(config):
        return to_dict(config)
    if isinstance(config, dict):
        return config
    raise TypeError(f"config must be a dataclass or a dict, found {type(config).__name__}")


def banner(provenance: dict) -> str:
    """The warning to show above reproduced numbers ("" for real data)."""
    return DEMO_BANNER if provenance.get("demo") else ""


# ---- the registry -------------------------------------------------------------------------------------

class Registry:
    """Runs under `root` (default `lartcore.paths.results_dir()`)."""

    def __init__(self, root: str | Path | None = None):
        self.root = Path(root) if root is not None else paths.results_dir()

    def run_dir(self, dataset: str, variant: str) -> Path:
        for what, name in [("dataset", dataset), ("variant", variant)]:
            if not name or "/" in name or "\\" in name or name in (".", ".."):
                raise ValueError(f"invalid {what} name {name!r}: must be a plain, non-empty folder name")
        return self.root / dataset / variant

    def _file(self, dataset: str, variant: str, name: str) -> Path:
        path = self.run_dir(dataset, variant) / name
        if not path.is_file():
            known = [f"{r.dataset}/{r.variant}" for r in self.runs().itertuples()]
            raise FileNotFoundError(f"no {name} for dataset={dataset!r} variant={variant!r} ({path}); "
                                    f"runs in {self.root}: {known}")
        return path

    def runs(self) -> pd.DataFrame:
        """One row per complete run: dataset, variant, mAP, PM, OM, PI, demo, created, git_commit, path."""
        rows = []
        for metrics_path in sorted(self.root.glob("*/*/metrics.json")):
            run = metrics_path.parent
            prov_path = run / "provenance.json"
            prov = _read_json(prov_path) if prov_path.is_file() else {}
            m = _read_json(metrics_path)
            rows.append({"dataset": run.parent.name, "variant": run.name,
                         **{k: _nan(m.get(k)) for k in ("mAP", *TYPES)},
                         "demo": prov.get("demo"), "created": prov.get("created"),
                         "git_commit": prov.get("git_commit"), "path": str(run)})
        columns = ["dataset", "variant", "mAP", *TYPES, "demo", "created", "git_commit", "path"]
        return pd.DataFrame(rows, columns=columns)

    def metrics(self, dataset: str, variant: str) -> dict:
        m = _read_json(self._file(dataset, variant, "metrics.json"))
        return {k: (_nan(v) if k in ("mAP", *TYPES) else v) for k, v in m.items()}

    def per_class(self, dataset: str, variant: str) -> pd.DataFrame:
        return read_per_class(self._file(dataset, variant, "per_class.csv"))

    def provenance(self, dataset: str, variant: str) -> dict:
        return _read_json(self._file(dataset, variant, "provenance.json"))

    def predictions_path(self, dataset: str, variant: str) -> Path:
        return self._file(dataset, variant, "predictions.csv")

    def save_eval(self, dataset, variant, result, predictions_path, config=None, checkpoint=None,
                  data_root=None, manifest=None, demo=None) -> Path:
        """Record an evaluated run (see the module docstring for the files). Returns the run folder."""
        run = self.run_dir(dataset, variant)
        predictions_path = Path(predictions_path)
        if not predictions_path.is_file():
            raise FileNotFoundError(f"predictions file not found: {predictions_path}")
        target = run / "predictions.csv"
        if not (target.exists() and target.resolve() == predictions_path.resolve()):
            with atomic_path(target) as tmp:
                shutil.copyfile(predictions_path, tmp)
        prov = make_provenance(dataset, variant, sha256_file(target), config, checkpoint, data_root,
                               manifest, demo)
        if prov["config"] is not None:
            atomic_write_text(run / "config.yaml", yaml.safe_dump(prov["config"], sort_keys=False))
        _write_per_class(run / "per_class.csv", result.per_class)
        _write_json(run / "provenance.json", prov)
        _write_json(run / "metrics.json", _metrics_of(result))
        return run


# ---- per-class comparison (the paper's Figures 2/3/5/7) -----------------------------------------------

def per_class_gain(a: pd.DataFrame, b: pd.DataFrame, min_gain: float = 1.0,
                   relative: bool = False) -> pd.DataFrame:
    """Per-class AP of B minus A, in AP points (x100), sorted by gain (largest first).

    `a`, `b`: per-class tables (id, name, type, ap with ap in [0, 1]). Classes missing or NaN in either are
    dropped. Only classes with |gain| > min_gain points are kept (the paper plots gains beyond 1 AP).
    relative=True adds `rel_gain_pct` = 100 * (B - A) / A (NaN where A's AP is 0).
    Returns: id, name, type, ap_a, ap_b, gain[, rel_gain_pct].
    """
    for label, df in [("a", a), ("b", b)]:
        missing = [c for c in ("id", "name", "type", "ap") if c not in df.columns]
        if missing:
            raise ValueError(f"per_class_gain: table {label} lacks columns {missing}")
    both = a[["id", "name", "type", "ap"]].merge(b[["id", "ap"]], on="id", suffixes=("_a", "_b"))
    both = both.dropna(subset=["ap_a", "ap_b"])
    both["ap_a"] = both["ap_a"] * 100.0
    both["ap_b"] = both["ap_b"] * 100.0
    both["gain"] = both["ap_b"] - both["ap_a"]
    if relative:
        base = both["ap_a"].where(both["ap_a"] != 0)
        both["rel_gain_pct"] = 100.0 * both["gain"] / base
    both = both[both["gain"].abs() > min_gain]
    return both.sort_values(["gain", "id"], ascending=[False, True]).reset_index(drop=True)
