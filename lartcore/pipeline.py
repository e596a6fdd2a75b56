"""The experiment pipeline the notebooks, `lart demo` and the tests call: train -> predict -> evaluate ->
record, each step cached.

`ensure_run(variant, data_root, size, protocol)` returns the run folder `<results>/<dataset>/<run>/`
(registry layout, lartcore.registry; `<run>` = the variant, `<variant>-official` for the official protocol)
holding checkpoint.pt, predictions.csv, metrics.json, per_class.csv and provenance.json (and code.json: the
`registry.code_stamp()` of the code that trained it, which tests use to share runs). Steps:
1. train: `lartcore.train.train` with the variant's config (`lartcore.variants`), unless checkpoint.pt is a
   finished run of the same config; an interrupted run is resumed; a run of another config (e.g. an edited
   YAML) is moved to `<dataset>/.replaced/` and the variant retrained. At the paper size the recipe's first
   stage (`<variant>_pretrain`) is trained first and the fine-tuning starts from it.
2. predict: `lartcore.infer` on the val store (`paper` protocol: the provided person boxes; `official`: the
   released code's protocol on the same checkpoint), skipped when `predict.json` records the same
   checkpoint, protocol and inputs.
3. evaluate: `registry.evaluate_cached` (activitynet flavor, the 60-class label map; like the official LART
   code, excluded timestamps are not applied), recorded with `Registry.save_eval`.

Sizes: "demo" = the demo configs on the synthetic demo data (built on first use, default root
`$LART_DATA_ROOT/demo`); "paper" = the paper configs on real data (`data_root` required). Data roots are laid
out as `lartcore.paths.DataRoot` says. `class_prior` is a baseline "variant": every provided box gets each
class's training-set frequency.
"""
from __future__ import annotations

import dataclasses
import datetime
import json
from pathlib import Path

import numpy as np
import pandas as pd

import lartcore
from lartcore import infer, paths, variants
from lartcore.checkpoint import read_metadata
from lartcore.data import ava
from lartcore.demodata.synthetic import build_demo
from lartcore.fileio import atomic_write_text
from lartcore.registry import Registry, code_stamp, eval_version, evaluate_cached, sha256_file
from lartcore.schema import EVALUATED_IDS, NUM_CLASSES
from lartcore.train import CHECKPOINT, TrainConfig, check_resumable, train

CLASS_PRIOR = "class_prior"
CODE_RECORD = "code.json"     # in a run folder: `registry.code_stamp()` of the code that last trained it
PROTOCOLS = infer.PROTOCOLS
VAL_SPLIT = "ava_val"
SIZES = variants.SIZES
# What this process read: the run folders `ensure_run` returned and the data roots it resolved. The
# notebook cache (lartcore.notebooks) keys each executed notebook by the files of what it read.
_READ: dict[str, set[str]] = {"runs": set(), "data_roots": set()}


def reads() -> dict[str, list[str]]:
    """The run folders and data roots this process has used so far (absolute paths, sorted)."""
    return {k: sorted(v) for k, v in _READ.items()}


def variant_names() -> list[str]:
    """Every name `ensure_run` accepts."""
    return [*variants.names(), CLASS_PRIOR]


def run_name(variant: str, protocol: str = "paper") -> str:
    """The registry folder of a variant's run under a protocol: `<variant>` or `<variant>-official`."""
    if protocol not in PROTOCOLS:
        raise ValueError(f"protocol: expected one of {PROTOCOLS}, found {protocol!r}")
    return variant if protocol == "paper" else f"{variant}-{protocol}"


def resolve_data_root(data_root, size: str) -> Path:
    """The data root (absolute); size demo builds the synthetic demo data there if needed."""
    if size not in SIZES:
        raise ValueError(f"size: expected one of {SIZES}, found {size!r}")
    if data_root is None and size == "paper":
        raise ValueError("size 'paper' needs data_root (a folder with ava/ and store/)")
    root = Path(data_root) if data_root is not None else paths.demo_root()
    if size == "demo":
        build_demo(root)
    _READ["data_roots"].add(str(root.resolve()))
    return root.resolve()


def train_config(variant: str, data_root: Path, size: str, overrides=(), stage: str = "finetune") -> TrainConfig:
    """The TrainConfig of a (non-baseline) variant with its data root set to `data_root`."""
    if variant not in variants.names():
        raise ValueError(f"unknown variant {variant!r}; known: {variant_names()}")
    return variants.variant_config(variant, size, stage, overrides, data_root=str(data_root))


# ---------------------------------------------------------------- class-prior baseline

def class_prior(train_gt_csv: str | Path) -> pd.Series:
    """Training frequency of each AVA id 1..80: the fraction of annotated person boxes (distinct video,
    second, box, person) that carry the class."""
    gt = ava.read_gt(train_gt_csv)
    gt = gt[gt["action_id"] > 0]
    box_key = ["video_id", "timestamp", *ava.BOX, "person_id"]
    n_boxes = len(gt[box_key].drop_duplicates())
    if n_boxes == 0:
        raise ValueError(f"{train_gt_csv}: no annotated boxes to compute a class prior from")
    per_class = gt.drop_duplicates([*box_key, "action_id"]).groupby("action_id").size()
    return (per_class.reindex(np.arange(1, NUM_CLASSES + 1), fill_value=0) / n_boxes).rename("prior")


def class_prior_baseline(train_gt_csv: str | Path, boxes_csv: str | Path, out_csv: str | Path) -> Path:
    """Detection CSV giving every provided person box each evaluated class's training frequency."""
    prior = class_prior(train_gt_csv).loc[list(EVALUATED_IDS)].to_numpy(np.float64)     # (60,)
    boxes = ava.read_person_boxes(boxes_csv)
    rows = infer.detection_rows(boxes["video_id"].astype(str).to_numpy(object), boxes["timestamp"].to_numpy(),
                                boxes[ava.BOX].to_numpy(np.float64), np.tile(prior, (len(boxes), 1)),
                                EVALUATED_IDS)
    ava.write_detections(rows, out_csv)
    return Path(out_csv)


# ---------------------------------------------------------------- cached steps

def ensure_trained(cfg: TrainConfig, run_dir: Path, device: str | None = None) -> Path:
    """A finished checkpoint of `cfg` in run_dir: reused, resumed, or trained. A run trained with another
    config or on other data (run/trained.json: the train store's index hash) is first `_set_aside`."""
    ckpt, data = run_dir / CHECKPOINT, _stamp(train_store=cfg.store_path() / "index.parquet")
    if ckpt.is_file():
        meta = read_metadata(ckpt)
        try:
            check_resumable(meta.train_config, cfg, ckpt)
            if (run_dir / "trained.json").is_file() and not _cached(run_dir, "trained.json", data, ckpt):
                raise ValueError(f"{ckpt}: trained on other data than {cfg.store_path()}")
        except ValueError as e:
            _set_aside(run_dir, str(e))
        else:
            if meta.finished:
                _record(run_dir, "trained.json", data)
                return ckpt
    ckpt = train(cfg, run_dir, resume=True, device=device)
    _record(run_dir, "trained.json", data)
    _record(run_dir, CODE_RECORD, code_stamp())    # which code trained it (informational: not a cache key)
    if not read_metadata(ckpt).finished:   # stopped by a signal or max_steps: never evaluate a partial run
        raise RuntimeError(f"training of {cfg.name} stopped before the end ({ckpt}); run again to resume")
    return ckpt


def _set_aside(run_dir: Path, why: str) -> Path:
    """Move a stale run folder to <dataset>/.replaced/<variant>-<UTC time> (out of the registry's view)."""
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%S")
    target = run_dir.parent / ".replaced" / f"{run_dir.name}-{now}"
    target.parent.mkdir(parents=True, exist_ok=True)
    run_dir.rename(target)
    print(f"note: {why.split(' (saved')[0]}; the old run is kept in {target}, retraining")
    return target


def _stamp(**inputs) -> dict:
    return {"lartcore_version": lartcore.__version__, **{k: sha256_file(v) if isinstance(v, Path) else v
                                                          for k, v in inputs.items()}}


def _cached(run: Path, name: str, stamp: dict, output: Path) -> bool:
    """True if `output` exists and run/<name> records the same inputs; see `_record`."""
    path = run / name
    return output.is_file() and path.is_file() and json.loads(path.read_text()) == stamp


def _record(run: Path, name: str, stamp: dict) -> None:
    atomic_write_text(run / name, json.dumps(stamp, indent=1, sort_keys=True) + "\n")


def ensure_predictions(run: Path, ckpt: Path | None, root: Path, protocol: str, device: str | None = None) -> Path:
    """run/predictions.csv of the checkpoint (or the class prior when ckpt is None), cached by inputs."""
    data = paths.DataRoot(root)
    pred, boxes = run / "predictions.csv", data.boxes(VAL_SPLIT)
    if ckpt is None:
        stamp = _stamp(kind=CLASS_PRIOR, train_gt=data.gt("ava_train"), boxes=boxes)
    else:
        stamp = _stamp(kind=protocol, checkpoint=ckpt, boxes=boxes, store=data.store(VAL_SPLIT) / "index.parquet")
    if _cached(run, "predict.json", stamp, pred):
        return pred
    run.mkdir(parents=True, exist_ok=True)
    if ckpt is None:
        class_prior_baseline(data.gt("ava_train"), boxes, pred)
    else:
        infer.predict(ckpt, data.store(VAL_SPLIT), pred, boxes if protocol == "paper" else None, protocol,
                      device=device)
    _record(run, "predict.json", stamp)
    return pred


def ensure_evaluated(reg: Registry, dataset: str, run_name: str, pred: Path, root: Path, config=None,
                     ckpt: Path | None = None) -> Path:
    """Evaluate (cached by content) and record metrics + provenance, unless already recorded."""
    data = paths.DataRoot(root)
    run = reg.run_dir(dataset, run_name)
    stamp = _stamp(predictions=pred, gt=data.gt(VAL_SPLIT), evaluator=eval_version())
    if _cached(run, "evaluated.json", stamp, run / "metrics.json"):
        return run
    result = evaluate_cached(pred, data.gt(VAL_SPLIT), labelmap=data.labelmap(), cache_dir=reg.root / "eval_cache")
    reg.save_eval(dataset, run_name, result, pred, config=config, checkpoint=ckpt, data_root=root)
    _record(run, "evaluated.json", stamp)
    return run


def ensure_run(variant: str, data_root: str | Path | None = None, size: str = "demo", overrides=(),
               registry: Registry | None = None, device: str | None = None, protocol: str = "paper") -> Path:
    """Train (if needed), predict, evaluate and record one variant; returns its registry run folder.
    `overrides`: extra key=value config overrides (e.g. a faster config for tests); `device`: "cpu", "cuda"
    or None (CUDA when available) for training and prediction; `protocol`: "paper" or "official"."""
    root = resolve_data_root(data_root, size)
    reg = registry or Registry()
    name = run_name(variant, protocol)
    if variant == CLASS_PRIOR:
        run = reg.run_dir("demo" if size == "demo" else "ava", name)
        run = ensure_evaluated(reg, run.parent.name, name, ensure_predictions(run, None, root, protocol), root)
    else:
        cfg = train_config(variant, root, size, overrides)
        if cfg.init_from and size == "paper":
            cfg = _with_pretrained(cfg, variant, root, overrides, reg, device)
        ckpt = ensure_trained(cfg, reg.run_dir(cfg.dataset, cfg.name), device)
        pred = ensure_predictions(reg.run_dir(cfg.dataset, name), ckpt, root, protocol, device)
        run = ensure_evaluated(reg, cfg.dataset, name, pred, root, cfg, ckpt)
    _READ["runs"].add(str(Path(run).resolve()))
    return run


def _with_pretrained(cfg: TrainConfig, variant: str, root: Path, overrides, reg: Registry,
                     device: str | None = None) -> TrainConfig:
    """Paper recipe: train the variant's pretraining stage first; the fine-tune config starts from it."""
    pre = train_config(variant, root, "paper", overrides, stage="pretrain")
    ckpt = ensure_trained(pre, reg.run_dir(pre.dataset, pre.name), device)
    return dataclasses.replace(cfg, init_from=str(ckpt.resolve()))
