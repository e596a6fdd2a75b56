"""DDP: 2 processes (gloo, CPU, launched by torchrun) == 1 process with the same global batch."""
from __future__ import annotations

import dataclasses
import subprocess
import sys

import pytest
import torch
from test_train import REPO, tiny_config, tiny_root  # noqa: F401  (tiny_root is a fixture)

from lartcore import train as tr
from lartcore.checkpoint import load_checkpoint
from lartcore.config import save_config


@pytest.mark.slow
def test_two_processes_equal_one(tiny_root, tmp_path):  # noqa: F811
    # no randomness inside the model (BERT masking, drop path, dropout), so both runs see the same function;
    # data order and samples are the same by construction (EpochSampler + seeded dataset)
    cfg = tiny_config(tiny_root, epochs=1, batch_size=4, base_lr=0.1, warmup_epochs=0.0)
    cfg = dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, mask_ratio=0.0, drop_path=0.0))
    save_config(cfg, tmp_path / "cfg.yaml")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "lartcore.cli", "train", str(tmp_path / "cfg.yaml"), "--run-dir", str(tmp_path / "ddp")]
    done = subprocess.run(cmd, check=False, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert done.stdout.count("train tiny: step 6/6") == 1            # one summary: only rank 0 prints
    tr.train(cfg, tmp_path / "single")

    multi, single = tr.read_log(tmp_path / "ddp"), tr.read_log(tmp_path / "single")
    assert [r["step"] for r in multi] == [r["step"] for r in single] == list(range(1, 7))
    assert [r["loss"] for r in multi] == pytest.approx([r["loss"] for r in single], rel=1e-5)
    a = load_checkpoint(tmp_path / "ddp" / tr.CHECKPOINT)
    b = load_checkpoint(tmp_path / "single" / tr.CHECKPOINT)
    assert a.meta.step == b.meta.step == 6
    for k, v in b.extra["model"].items():
        torch.testing.assert_close(a.extra["model"][k], v, rtol=1e-4, atol=1e-5, msg=k)
    moved = sum((b.extra["model"][k] - v).abs().max().item() > 1e-2
                for k, v in tr.build_state(cfg, torch.device("cpu")).model.state_dict().items())
    assert moved > 0                                                 # training changed the weights
