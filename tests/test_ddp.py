"""DDP and sharded prediction: processes launched by torchrun (gloo, CPU).

- training: 2 processes == 1 process with the same global batch, step for step, and a 2-process run stopped
  mid-epoch resumes on 1 process in the same data order;
- data order: per step, the union of the ranks' batches is the one-process batch whatever the world size
  (in-process, no process group needed);
- `lart predict` under torchrun: 2 ranks share the batches and rank 0 writes a CSV identical to one process's.
"""
from __future__ import annotations

import dataclasses
import subprocess
import sys

import pandas as pd
import pytest
import torch
from test_infer import DATA, TINY, make_track, norm_box, tiny_model
from test_train import REPO, tiny_config, tiny_root  # noqa: F401  (tiny_root is a fixture)

from lartcore import train as tr
from lartcore.checkpoint import Metadata, load_checkpoint, save_checkpoint
from lartcore.cli import main as lart_main
from lartcore.config import save_config
from lartcore.data import ava
from lartcore.data.dataset import TrackDataset
from lartcore.data.store import TrackStore, write_store
from lartcore.distributed import Dist


def torchrun(*args: str, nproc: int = 2) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(nproc),
           "-m", "lartcore.cli", *args]
    done = subprocess.run(cmd, check=False, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done


@pytest.mark.slow
def test_two_processes_equal_one_and_resume_on_one(tiny_root, tmp_path):  # noqa: F811
    # no randomness inside the model (BERT masking, drop path, dropout), so both runs see the same function;
    # data order and samples are the same by construction (EpochSampler + seeded dataset)
    cfg = tiny_config(tiny_root, epochs=2, batch_size=4, base_lr=0.1, warmup_epochs=0.0)
    cfg = dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, mask_ratio=0.0, drop_path=0.0))
    save_config(dataclasses.replace(cfg, max_steps=9), tmp_path / "cfg.yaml")   # 6 steps an epoch: stop mid-epoch 2
    done = torchrun("train", str(tmp_path / "cfg.yaml"), "--run-dir", str(tmp_path / "ddp"))
    assert done.stdout.count("train tiny: step 9/12") == 1            # one summary: only rank 0 prints
    tr.train(cfg, tmp_path / "ddp", resume=True)                     # steps 10..12 on one process
    tr.train(cfg, tmp_path / "single")

    multi, single = tr.read_log(tmp_path / "ddp"), tr.read_log(tmp_path / "single")
    assert [r["step"] for r in multi] == [r["step"] for r in single] == list(range(1, 13))
    assert [r["loss"] for r in multi] == pytest.approx([r["loss"] for r in single], rel=1e-5)
    a = load_checkpoint(tmp_path / "ddp" / tr.CHECKPOINT)
    b = load_checkpoint(tmp_path / "single" / tr.CHECKPOINT)
    assert a.meta.step == b.meta.step == 12 and a.meta.finished
    for k, v in b.extra["model"].items():
        torch.testing.assert_close(a.extra["model"][k], v, rtol=1e-4, atol=1e-5, msg=k)
    moved = sum((b.extra["model"][k] - v).abs().max().item() > 1e-2
                for k, v in tr.build_state(cfg, torch.device("cpu")).model.state_dict().items())
    assert moved > 0                                                 # training changed the weights


def test_data_order_does_not_depend_on_the_world_size(tiny_root):  # noqa: F811
    """The training loaders of W ranks (in-process: make_loader needs no process group) give, per step, the
    samples of the one-process batch, and a resume at step k (skip) continues with step k's samples."""
    cfg = tiny_config(tiny_root, batch_size=8)
    ds = TrackDataset(TrackStore(cfg.store_path()), cfg.data, train=True, seed=cfg.seed)
    cpu = torch.device("cpu")

    def steps(world: int, epoch: int, skip: int = 0) -> list[dict]:
        """Per step: track -> its sample (frames) over all ranks."""
        per_rank = [list(tr.make_loader(ds, cfg, Dist(r, world, cpu), epoch, skip)) for r in range(world)]
        return [{int(t): b["pose_shape"][j] for b in batches for j, t in enumerate(b["track"])}
                for batches in zip(*per_rank, strict=True)]

    for epoch in (0, 1):
        one = steps(1, epoch)
        assert len(one) == len(ds) // 8 and all(len(s) == 8 for s in one)
        for world, skip in ((2, 0), (4, 0), (2, 1), (4, 2)):
            got = steps(world, epoch, skip)
            assert [sorted(s) for s in got] == [sorted(s) for s in one[skip:]], (world, skip)
            assert all(torch.equal(s[t], w[t]) for s, w in zip(got, one[skip:], strict=True) for t in s)
    assert sorted(steps(1, 0)[0]) != sorted(steps(1, 1)[0])           # a new order every epoch


@pytest.mark.slow
def test_predict_under_torchrun_writes_the_csv_of_one_process(tmp_path):
    """`torchrun --nproc_per_node 2 -m lartcore.cli predict ...` (paper protocol): the ranks score alternate
    batches, rank 0 gathers and writes; the CSV is byte-identical to a one-process run."""
    tracks = [make_track(f"vid_{v:07d}", t, x0=40 + 150 * t, start=5 * t, length=90 - 10 * t, seed=10 * v + t)
              for v in range(3) for t in range(1, 4)]
    store = write_store(tracks, tmp_path / "store")
    boxes = pd.DataFrame([(t.video, 902.0 + s, *norm_box(t, 60 + 30 * s - int(t.frame[0])), 0.9)
                          for t in tracks for s in (0, 1) if t.frame[0] <= 60 + 30 * s <= t.frame[-1]],
                         columns=ava.PERSON_BOX_COLUMNS)
    ava.write_person_boxes(boxes, tmp_path / "boxes.csv")
    ckpt = tmp_path / "m.pt"
    save_checkpoint(ckpt, tiny_model(), Metadata(TINY, DATA))
    args = ["predict", str(ckpt), "--store", str(store), "--boxes", str(tmp_path / "boxes.csv"), "--batch-size", "2"]
    done = torchrun(*args, "--out", str(tmp_path / "two.csv"))
    assert done.stdout.count("predict (paper): 9 tracks") == 1       # rank 0 reports
    threads = torch.get_num_threads()
    torch.set_num_threads(1)                                         # as torchrun's ranks (OMP_NUM_THREADS=1)
    try:
        assert lart_main([*args, "--out", str(tmp_path / "one.csv")]) == 0
    finally:
        torch.set_num_threads(threads)
    one = (tmp_path / "one.csv").read_bytes()
    assert len(ava.read_detections(tmp_path / "one.csv")) == len(boxes) * 80
    assert (tmp_path / "two.csv").read_bytes() == one
