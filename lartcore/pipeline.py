"""The experiment pipeline the notebooks, `lart demo` and the tests call: train -> predict -> evaluate ->
record, each step cached.

`ensure_run(variant, data_root, size)` returns the run folder `<results>/<dataset>/<variant>/` (registry
layout, lartcore.registry) holding checkpoint.pt, predictions.csv, metrics.json, per_class.csv and
provenance.json. Steps:
1. train: `lartcore.train.train` with the variant's config, unless checkpoint.pt is a finished run of the
   same config; an interrupted run is resumed; a run of another config (e.g. an edited YAML) is moved to
   `<dataset>/.replaced/` and the variant retrained. A paper config with `init_from` (pretrain -> fine-tune) trains its `_pretrain` stage first.
2. predict: `lartcore.infer` on the val store (`paper` protocol: the provided boxes
   `ava/ava_val_predicted_boxes.csv`; variants ending in `-official` use the official `avg.6` protocol on
   the same checkpoint), skipped when `predict.json` records the same checkpoint, protocol and inputs.
3. evaluate: `registry.evaluate_cached` (activitynet flavor, label map `ava/..._for_activitynet_2019.pbtxt`;
   like the official LART code, excluded timestamps are not applied), recorded with `Registry.save_eval`.

Sizes: "demo" = the packaged `demo_*` configs on the synthetic demo data (built on first use, default root
`$LART_DATA_ROOT/demo`); "full" = the paper configs on real data (`data_root` required). Data roots hold
`ava/` and `store/<split>/` as `lart data build-demo` writes them.
`class_prior` is a baseline "variant": every provided box gets each class's training-set frequency.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from lartcore import paths
from lartcore.data import ava
from lartcore.fileio import atomic_write_text
from lartcore.registry import Registry, evaluate_cached, sha256_file
from lartcore.schema import EVALUATED_IDS, NUM_CLASSES

CLASS_PRIOR = "class_prior"
OFFICIAL_SUFFIX = "-official"
VAL_SPLIT = "ava_val"
GT_FILE, BOXES_FILE = "ava/ava_val_v2.2.csv", "ava/ava_val_predicted_boxes.csv"
TRAIN_GT_FILE, LABELMAP_FILE = "ava/ava_train_v2.2.csv", "ava/ava_action_list_v2.2_for_activitynet_2019.pbtxt"
SIZES = ("demo", "full")


@dataclass(frozen=True)
class Variant:
    """A packaged config (`<config>.yaml`, `demo_<config>.yaml` for size demo) plus overrides."""
    config: str
    overrides: tuple[str, ...] = ()


def _n_people(n: int) -> Variant:
    """LART-pose with n people (Figure 6): the n=5 config with n slots."""
    return Variant("lart_pose_n5", (f"name=lart_pose_n{n}", f"model.max_people={n}", f"data.max_people={n}"))


VARIANTS: dict[str, Variant] = {
    "lart_pose_n1": Variant("lart_pose_n1"),
    **{f"lart_pose_n{n}": _n_people(n) for n in (2, 3, 4)},
    "lart_pose_n5": Variant("lart_pose_n5"),
    "lart": Variant("lart"),
    "appearance_tracking": Variant("appearance_tracking"),
    "appearance_single_frame": Variant("appearance_single_frame"),
}


def variant_names() -> list[str]:
    """Every name `ensure_run` accepts."""
    return [*VARIANTS, *(v + OFFICIAL_SUFFIX for v in VARIANTS), CLASS_PRIOR]


def resolve_data_root(data_root, size: str) -> Path:
    """The data root (absolute); size demo builds the synthetic demo data there if needed."""
    if size not in SIZES:
        raise ValueError(f"size: expected one of {SIZES}, found {size!r}")
    if data_root is None and size == "full":
        raise ValueError("size 'full' needs data_root (a folder with ava/ and store/)")
    root = Path(data_root) if data_root is not None else paths.demo_root()
    if size == "demo":
        from lartcore.data.synthetic import build_demo
        build_demo(root)
    return root.resolve()


def train_config(variant: str, data_root: Path, size: str, extra: tuple[str, ...] = ()):
    """The TrainConfig of a (non-baseline) variant with its data root set to `data_root`."""
    from lartcore.train import load_train_config
    base = variant.removesuffix(OFFICIAL_SUFFIX)
    if base not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}; known: {variant_names()}")
    v = VARIANTS[base]
    name = f"demo_{v.config}" if size == "demo" else v.config
    return load_train_config(name, [*v.overrides, f"data_root={data_root}", *extra])


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
    from lartcore.infer import detection_rows
    prior = class_prior(train_gt_csv).loc[list(EVALUATED_IDS)].to_numpy(np.float64)     # (60,)
    boxes = ava.read_person_boxes(boxes_csv)
    rows = detection_rows(boxes["video_id"].astype(str).to_numpy(object), boxes["timestamp"].to_numpy(),
                          boxes[ava.BOX].to_numpy(np.float64), np.tile(prior, (len(boxes), 1)),
                          EVALUATED_IDS)
    ava.write_detections(rows, out_csv)
    return Path(out_csv)


# ---------------------------------------------------------------- cached steps

def ensure_trained(cfg, run_dir: Path, device: str | None = None) -> Path:
    """A finished checkpoint of `cfg` in run_dir: reused, resumed, or trained. A run trained with another
    config or on other data (run/trained.json: the train store's index hash) is first `_set_aside`."""
    from lartcore.checkpoint import load_checkpoint
    from lartcore.train import CHECKPOINT, check_resumable, checkpoint_finished, train
    ckpt, data = run_dir / CHECKPOINT, _stamp(train_store=cfg.store_path() / "index.parquet")
    if ckpt.is_file():
        extra = load_checkpoint(ckpt).extra
        try:
            check_resumable(extra.get("train_config", {}), cfg, ckpt)
            if (run_dir / "trained.json").is_file() and not _cached(run_dir, "trained.json", data, ckpt):
                raise ValueError(f"{ckpt}: trained on other data than {cfg.store_path()}")
        except ValueError as e:
            _set_aside(run_dir, str(e))
        else:
            if extra.get("finished"):
                _record(run_dir, "trained.json", data)
                return ckpt
    ckpt = train(cfg, run_dir, resume=True, device=device)
    _record(run_dir, "trained.json", data)
    if not checkpoint_finished(ckpt):   # stopped by a signal or max_steps: never evaluate a partial run
        raise RuntimeError(f"training of {cfg.name} stopped before the end ({ckpt}); run again to resume")
    return ckpt


def _set_aside(run_dir: Path, why: str) -> Path:
    """Move a stale run folder to <dataset>/.replaced/<variant>-<UTC time> (out of the registry's view)."""
    import datetime
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%S")
    target = run_dir.parent / ".replaced" / f"{run_dir.name}-{now}"
    target.parent.mkdir(parents=True, exist_ok=True)
    run_dir.rename(target)
    print(f"note: {why.split(' (saved')[0]}; the old run is kept in {target}, retraining")
    return target


def _stamp(**inputs) -> dict:
    import lartcore
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
    from lartcore import infer
    pred, boxes = run / "predictions.csv", root / BOXES_FILE
    if ckpt is None:
        stamp = _stamp(kind=CLASS_PRIOR, train_gt=root / TRAIN_GT_FILE, boxes=boxes)
    else:
        stamp = _stamp(kind=protocol, checkpoint=ckpt, boxes=boxes, store=root / "store" / VAL_SPLIT / "index.parquet")
    if _cached(run, "predict.json", stamp, pred):
        return pred
    run.mkdir(parents=True, exist_ok=True)
    if ckpt is None:
        class_prior_baseline(root / TRAIN_GT_FILE, boxes, pred)
    else:
        infer.predict(ckpt, root / "store" / VAL_SPLIT, pred, boxes if protocol == "paper" else None, protocol,
                      device=device)
    _record(run, "predict.json", stamp)
    return pred


def ensure_evaluated(reg: Registry, dataset: str, variant: str, pred: Path, root: Path, config=None,
                     ckpt: Path | None = None) -> Path:
    """Evaluate (cached by content) and record metrics + provenance, unless already recorded."""
    run = reg.run_dir(dataset, variant)
    stamp = _stamp(predictions=pred, gt=root / GT_FILE)
    if _cached(run, "evaluated.json", stamp, run / "metrics.json"):
        return run
    result = evaluate_cached(pred, root / GT_FILE, labelmap=root / LABELMAP_FILE, cache_dir=reg.root / "eval_cache")
    reg.save_eval(dataset, variant, result, pred, config=config, checkpoint=ckpt, data_root=root)
    _record(run, "evaluated.json", stamp)
    return run


def ensure_run(variant: str, data_root: str | Path | None = None, size: str = "demo",
               overrides: tuple[str, ...] = (), registry: Registry | None = None, device: str | None = None) -> Path:
    """Train (if needed), predict, evaluate and record one variant; returns its registry run folder.
    `overrides`: extra key=value config overrides (e.g. a faster config for tests); `device`: "cpu", "cuda"
    or None (CUDA when available) for training and prediction."""
    root = resolve_data_root(data_root, size)
    reg = registry or Registry()
    if variant == CLASS_PRIOR:
        run = reg.run_dir("demo" if size == "demo" else "ava", CLASS_PRIOR)
        return ensure_evaluated(reg, run.parent.name, CLASS_PRIOR, ensure_predictions(run, None, root, "paper"), root)
    cfg = train_config(variant, root, size, overrides)
    if cfg.init_from:
        cfg = _with_pretrained(cfg, variant, root, overrides, reg, device)
    ckpt = ensure_trained(cfg, reg.run_dir(cfg.dataset, cfg.name), device)
    protocol = "official" if variant.endswith(OFFICIAL_SUFFIX) else "paper"
    run = reg.run_dir(cfg.dataset, cfg.name + (OFFICIAL_SUFFIX if protocol == "official" else ""))
    pred = ensure_predictions(run, ckpt, root, protocol, device)
    return ensure_evaluated(reg, cfg.dataset, run.name, pred, root, cfg, ckpt)


def _with_pretrained(cfg, variant: str, root: Path, overrides, reg: Registry, device: str | None = None):
    """Paper recipe: train `<config>_pretrain` first; the fine-tune config starts from its checkpoint."""
    from dataclasses import replace

    from lartcore.train import load_train_config
    v = VARIANTS[variant.removesuffix(OFFICIAL_SUFFIX)]
    name = f"{cfg.name}_pretrain"
    pre = load_train_config(f"{v.config}_pretrain", [*v.overrides, f"name={name}", f"data_root={root}", *overrides])
    ckpt = ensure_trained(pre, reg.run_dir(pre.dataset, name), device)
    return replace(cfg, init_from=str(ckpt.resolve()))
