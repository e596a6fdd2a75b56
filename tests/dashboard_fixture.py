"""Tiny demo data plus two evaluated runs with small random checkpoints (no training): what the dashboard
tests browse. Built once per session by the fixtures in test_dashboard.py / test_browser.py."""
from __future__ import annotations

from pathlib import Path

import torch

from lartcore.checkpoint import Metadata, save_checkpoint
from lartcore.data.dataset import DataConfig
from lartcore.demodata.synthetic import build_demo
from lartcore.infer import predict
from lartcore.model import LART, ModelConfig
from lartcore.registry import Registry, evaluate_cached

TINY = ModelConfig(streams=("pose",), pose_mlp=(32, 32), dim=32, depth=1, heads=2, dim_head=16, mlp_dim=32,
                   max_frames=64, max_people=3, drop_path=0.0)
DATA = DataConfig(seq_len=32, max_people=3, appearance=False)
VARIANTS = ("lart_pose_n1", "lart_pose_n5")


def build(root: Path) -> tuple[Path, Path]:
    """-> (data root, results dir) under `root`."""
    data, results = root / "data", root / "results"
    build_demo(data, size="tiny")
    reg = Registry(results)
    for seed, variant in enumerate(VARIANTS):
        torch.manual_seed(seed)
        run = reg.run_dir("demo", variant)
        run.mkdir(parents=True)
        save_checkpoint(run / "checkpoint.pt", LART(TINY), Metadata(TINY, DATA))
        pred = run / "predictions.csv"
        predict(run / "checkpoint.pt", data / "store" / "ava_val", pred,
                data / "ava" / "ava_val_predicted_boxes.csv", "paper", device="cpu")
        (run / "predict.json").write_text('{"kind": "paper"}')        # as lartcore.pipeline records it
        result = evaluate_cached(pred, data / "ava" / "ava_val_v2.2.csv",
                                 labelmap=data / "ava" / "ava_action_list_v2.2_for_activitynet_2019.pbtxt",
                                 cache_dir=results / "eval_cache")
        reg.save_eval("demo", variant, result, pred, config={"name": variant},
                      checkpoint=run / "checkpoint.pt", data_root=data)
    return data, results
