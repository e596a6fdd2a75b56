"""Training: LR schedule, param groups, loss, configs, checkpoints, bit-for-bit resume, signals, CLI."""
from __future__ import annotations

import dataclasses
import itertools
import math
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from test_store import random_track

from lartcore import model as lart_model
from lartcore import paper, variants
from lartcore import train as tr
from lartcore.checkpoint import load_checkpoint, read_metadata
from lartcore.config import to_dict
from lartcore.data.store import write_store
from lartcore.model import LART, ModelConfig
from lartcore.schema import EVALUATED_IDS

REPO = Path(__file__).resolve().parents[1]
TINY_MODEL = ModelConfig(streams=("pose",), pose_mlp=(32, 32), dim=32, depth=2, heads=2, dim_head=16,
                         mlp_dim=64, max_people=3, drop_path=0.2, mask_ratio=0.4)


@pytest.fixture(scope="session")
def tiny_root(tmp_path_factory) -> Path:
    """A data root with store/ava_train: 24 random tracks in 4 clips (others overlap in time)."""
    rng = np.random.default_rng(0)
    tracks = [random_track(rng, video=f"vid_{v:07d}", track_id=t, frame_start=int(rng.integers(0, 20)),
                           length=int(rng.integers(10, 40)), app_dim=0) for v in range(4) for t in range(6)]
    root = tmp_path_factory.mktemp("train_data")
    write_store(tracks, root / "store" / "ava_train")
    return root


def tiny_config(root: Path, **changes) -> tr.TrainConfig:
    cfg = tr.TrainConfig(name="tiny", dataset="test", data_root=str(root), split="ava_train", model=TINY_MODEL,
                         seq_len=16, epochs=2, warmup_epochs=1, batch_size=4, ema_decay=0.9)
    return dataclasses.replace(cfg, **changes)


def state_tensors(path: Path) -> dict[str, torch.Tensor]:
    """Every tensor that defines a run's future: EMA weights, raw weights, optimiser moments."""
    ckpt = load_checkpoint(path)
    out = {f"ema.{k}": v for k, v in ckpt.model.state_dict().items()}
    out.update({f"model.{k}": v for k, v in ckpt.extra["model"].items()})
    for i, s in ckpt.extra["optimizer"]["state"].items():
        out.update({f"opt.{i}.{k}": v for k, v in s.items()})
    return out


# ---------------------------------------------------------------- LR schedule, param groups, loss

def test_lr_schedule_values():
    peak, total, warmup = 2.0, 110, 10
    got = [tr.lr_at(s, total, warmup, peak) for s in range(total)]
    assert got[:3] == [0.2, 0.4, pytest.approx(0.6)] and got[9] == peak       # linear warm-up to the peak
    assert got[10] == peak                                                     # cosine starts at the peak
    assert got[60] == pytest.approx(peak / 2)                                  # half way: cos(pi/2) = 0
    assert got[35] == pytest.approx(peak * (1 + math.cos(math.pi / 4)) / 2)
    assert got[-1] == pytest.approx(peak * (1 + math.cos(math.pi * 99 / 100)) / 2) and got[-1] < 1e-3
    assert all(a >= b for a, b in itertools.pairwise(got[10:]))                   # monotone decay
    assert tr.lr_at(0, 10, 0, 1.0) == 1.0                                      # no warm-up


def test_lr_linear_scaling():
    assert tr.TrainConfig(batch_size=64, base_lr=1e-3).lr == pytest.approx(1e-3)
    assert tr.TrainConfig(batch_size=16, base_lr=1e-3).lr == pytest.approx(2.5e-4)
    assert tr.TrainConfig(batch_size=256, base_lr=1e-3).lr == pytest.approx(4e-3)


def test_layer_decay_groups():
    cfg = dataclasses.replace(TINY_MODEL, depth=3)
    model = LART(cfg)
    groups = tr.param_groups(model, 0.05, 0.9)
    scale = {id(p): g["lr_scale"] for g in groups for p in g["params"]}
    assert len(scale) == sum(1 for _ in model.parameters())                  # each parameter exactly once
    for i, block in enumerate(model.blocks):                                  # block i: 0.9 ** (depth - i)
        got = [scale[id(p)] for p in block.parameters()]
        assert got == pytest.approx([0.9 ** (3 - i)] * len(got))
    for p in [*model.encoders.parameters(), model.mask_token]:                # embeddings: lowest
        assert scale[id(p)] == pytest.approx(0.9 ** 4)
    for p in [*model.action_head.parameters(), *model.norm.parameters()]:     # heads: full lr
        assert scale[id(p)] == 1.0
    off = tr.param_groups(model, 0.05, 1.0)
    assert {g["lr_scale"] for g in off} == {1.0}


def test_official_preset_groups_tokens_without_decay():
    model = LART(lart_model.lart_official(appearance_dim=64))
    groups = tr.param_groups(model, 0.05, 0.9)
    wd = {id(p): g["weight_decay"] for g in groups for p in g["params"]}
    scale = {id(p): g["lr_scale"] for g in groups for p in g["params"]}
    for name, p in model.named_parameters():
        no_decay = p.ndim <= 1 or name in ("mask_token", "pos_embedding", "class_token")
        assert wd[id(p)] == (0.0 if no_decay else 0.05), name
    for token in (model.pos_embedding, model.class_token, model.mask_token):
        assert scale[id(token)] == pytest.approx(0.9 ** 17)


def test_no_weight_decay_on_norms_biases():
    model = LART(TINY_MODEL)
    wd = {id(p): g["weight_decay"] for g in tr.param_groups(model, 0.05, 1.0) for p in g["params"]}
    for name, p in model.named_parameters():
        is_exempt = name.endswith(".bias") or ".norm" in name or name.startswith("norm.") or name == "mask_token"
        assert wd[id(p)] == (0.0 if is_exempt else 0.05), name
    assert sum(wd[id(p)] == 0.05 for p in model.parameters()) > 0


def test_loss_hand_computed():
    """Only detected tokens with a label count, weighted by label kind; 60-class heads read columns id-1."""
    present = torch.tensor([[[True, True, False, True]]])                     # (B=1, T=1, P=4)
    has_gt = torch.tensor([[[2, 1, 2, 0]]], dtype=torch.int8)
    w = tr.token_weights(present, has_gt, gt_weight=1.0, pseudo_weight=0.5)
    assert w.tolist() == [[[1.0, 0.5, 0.0, 0.0]]]
    labels = torch.zeros(1, 1, 4, 80)
    labels[0, 0, 0, 0] = 1.0                       # class id 1 on the GT token
    labels[0, 0, 1, 2] = 0.25                      # soft pseudo label on id 3
    logits = torch.zeros(1, 1, 4, 2)
    logits[0, 0, 0] = torch.tensor([2.0, -1.0])
    logits[0, 0, 1] = torch.tensor([0.5, 1.0])
    logits[0, 0, 2:] = 1e4                         # absent / unlabelled tokens: anything, ignored

    def bce(x, y):
        return -(y * math.log(1 / (1 + math.exp(-x))) + (1 - y) * math.log(1 - 1 / (1 + math.exp(-x))))
    tok0 = (bce(2.0, 1.0) + bce(-1.0, 0.0)) / 2    # ids (1, 3)
    tok1 = (bce(0.5, 0.0) + bce(1.0, 0.25)) / 2
    total = tr.action_loss_sum(logits, labels, w, (1, 3))
    assert total.item() == pytest.approx(1.0 * tok0 + 0.5 * tok1, rel=1e-6)
    assert (total / w.sum()).item() == pytest.approx((tok0 + 0.5 * tok1) / 1.5, rel=1e-6)


def test_loss_maps_the_60_evaluated_classes():
    labels = torch.rand(2, 3, 1, 80)
    logits = torch.randn(2, 3, 1, 60)
    w = torch.ones(2, 3, 1)
    cols = [i - 1 for i in EVALUATED_IDS]
    want = torch.nn.functional.binary_cross_entropy_with_logits(logits, labels[..., cols], reduction="sum") / 60
    assert tr.action_loss_sum(logits, labels, w, EVALUATED_IDS).item() == pytest.approx(want.item(), rel=1e-5)


# ---------------------------------------------------------------- configs

CONFIGS = REPO / "lartcore" / "configs"


def test_every_variant_is_a_small_delta_on_a_size_base():
    """Configs are a base per size plus a 2-5 line delta per variant; every packaged name loads, the demo and
    paper configs of a variant have the same tokens and people, and each delta names only TrainConfig keys."""
    fields = {f.name for f in dataclasses.fields(tr.TrainConfig)}
    assert sorted(p.name for p in CONFIGS.glob("*.yaml")) == ["demo.yaml", "paper.yaml"]
    assert variants.names() == ["appearance_single_frame", "appearance_tracking", "lart",
                                *[f"lart_pose_n{n}" for n in range(1, 6)]]
    assert len(variants.config_names()) == 3 * len(variants.names())
    for name in variants.names():
        path = CONFIGS / "variants" / f"{name}.yaml"
        lines = [ln for ln in path.read_text().splitlines() if ln.strip() and not ln.startswith("#")]
        assert 1 <= len(lines) <= 5, path
        assert set(yaml.safe_load(path.read_text())) <= fields | set(variants.SIZES), path
        paper, demo = variants.load_train_config(name), variants.load_train_config(f"demo_{name}")
        assert (paper.name, demo.name) == (name, name)
        for key in ("streams", "max_people", "single_frame"):
            assert getattr(paper.model, key) == getattr(demo.model, key), (name, key)
        assert demo.dataset == "demo" and demo.data_root == "demo" and demo.split == "ava_train"
        assert (paper.model.dim, paper.model.depth, demo.model.dim, demo.model.depth) == (512, 16, 64, 2)
        # the data window follows the model: people, appearance on/off and width are never restated
        for cfg in (paper, demo):
            assert cfg.data.max_people == cfg.model.max_people
            assert cfg.data.appearance == ("appearance" in cfg.model.streams)
            assert cfg.data.appearance_dim == cfg.model.appearance_dim
    assert variants.load_train_config("demo_lart").model.appearance_mlp == (32, 8)      # a size-only delta
    assert variants.load_train_config("lart").model.appearance_mlp == (512, 512, 256)


def test_paper_recipe_chains_pretrain_to_finetune_and_follows_table_7():
    """Stage 1 (pretrain, Kinetics pseudo labels, Table 7's Kinetics-400 column) chains into stage 2 (AVA
    ground truth, the AVA column); every setting Table 7 prints is the config's; the network of Sec. 4.4 /
    C.2 (width 512, 16 layers, 16 heads, 128 frames, MLP encoders with two hidden layers)."""
    t7 = paper.table7().set_index("setting")
    for variant in variants.names():
        pre, fine = variants.load_train_config(f"{variant}_pretrain"), variants.load_train_config(variant)
        assert pre.name == f"{variant}_pretrain" and not pre.init_from
        assert pre.split == "kinetics_train" and pre.pseudo_weight > 0
        assert fine.split == "ava_train" and fine.pseudo_weight == 0.0
        assert fine.init_from == f"{pre.dataset}/{pre.name}/{tr.CHECKPOINT}"
        assert dataclasses.replace(pre.model, mask_ratio=0.0, drop_path=0.1) == fine.model
        for cfg, column in ((pre, "kinetics_400"), (fine, "ava")):
            t = t7[column]
            assert cfg.betas == tuple(float(b) for b in t["betas"].split(","))
            assert (cfg.weight_decay, cfg.warmup_epochs, cfg.model.dropout) == (t["weight decay"],
                                                                               t["warmup epochs"], t["dropout"])
            assert (cfg.base_lr, cfg.batch_size, cfg.epochs) == (t["base learning rate"], t["batch size"],
                                                                 t["training epochs"])
            assert cfg.layer_decay == (t["layer-wise decay"] or 1.0)        # "-": none
            assert cfg.model.drop_path == (t["drop path"] or 0.0)
            assert cfg.model.mask_ratio == t["mask ratio"] and cfg.seq_len == t["sequence length (frames)"]
            m = cfg.model
            assert f"{m.dim} / {m.depth} / {m.heads}" == t["width / layers / heads"] == "512 / 16 / 16"
            widths = {"pose": m.pose_mlp, "appearance": m.appearance_mlp}
            assert all(len(widths[s]) == 3 for s in m.streams)               # two hidden layers + output
    lart = variants.load_train_config("lart").model
    assert (lart.pose_mlp[-1], lart.appearance_mlp[-1]) == (256, 256)       # C.2.2: 256 | 256 -> 512


def test_every_train_config_field_is_read():
    source = (REPO / "lartcore" / "train.py").read_text()
    body = source.split("def store_path", 1)[0].split("class TrainConfig", 1)[1].split("def __post_init__")[0]
    for f in dataclasses.fields(tr.TrainConfig):
        reads = re.findall(rf"\.{f.name}\b", source.replace(body, ""))
        assert reads, f"TrainConfig.{f.name} is never read"


def test_config_errors_name_the_problem():
    with pytest.raises(ValueError, match=r"seq_len: expected 1..model.max_frames \(250\), found 300"):
        tr.TrainConfig(seq_len=300)
    with pytest.raises(FileNotFoundError, match="packaged: .*demo_lart_pose_n5"):
        variants.load_train_config("no_such_config")
    with pytest.raises(ValueError, match="unknown key 'epoch'"):
        variants.load_train_config("demo_lart", ["epoch=3"])
    with pytest.raises(ValueError, match="size 'demo' has one stage"):
        variants.variant_config("lart", "demo", "pretrain")


@pytest.mark.parametrize("override, message", [
    ("model.depth=-1", r"depth: expected 1..1048576, found -1"),
    ("ema_decay=5", r"ema_decay: expected in \[0, 1\), found 5.0"),
    ("grad_clip=-1", r"grad_clip: expected >= 0 \(0 = off\), found -1.0"),
    ("epochs=100000000000000000000000000000000000000000000000000", r"epochs: expected 1..100000"),
    ("base_lr=.nan", r"base_lr: expected > 0, found nan"),
    ("model.mask_ratio=1.5", r"mask_ratio: expected in \[0, 1\), found 1.5"),
])
def test_out_of_range_values_are_rejected(override, message):
    with pytest.raises(ValueError, match=message):
        variants.load_train_config("demo_lart", [override])


# ---------------------------------------------------------------- runs, checkpoints, resume

def test_run_outputs(tiny_root, tmp_path):
    cfg = tiny_config(tiny_root)
    ckpt = tr.train(cfg, tmp_path / "run")
    rows = tr.read_log(tmp_path / "run")
    steps_per_epoch = 24 // 4
    assert [r["step"] for r in rows] == list(range(1, 2 * steps_per_epoch + 1))
    assert [r["epoch"] for r in rows] == [0] * steps_per_epoch + [1] * steps_per_epoch
    assert rows[0]["lr"] == pytest.approx(cfg.lr / steps_per_epoch) and all(np.isfinite(r["loss"]) for r in rows)
    loaded = load_checkpoint(ckpt)
    assert loaded.config == cfg.model and loaded.meta.finished and loaded.meta.step == 12
    assert read_metadata(ckpt) == loaded.meta and loaded.data == cfg.data
    assert variants.load_train_config(tmp_path / "run" / "config.yaml") == cfg
    assert loaded.meta.train_config == to_dict(cfg)
    raw = LART(cfg.model)
    raw.load_state_dict(loaded.extra["model"])
    ema_differs = any(not torch.equal(a, b) for a, b in zip(raw.state_dict().values(),
                                                           loaded.model.state_dict().values(), strict=True))
    assert ema_differs                                    # state_dict holds the EMA, not the raw weights
    assert tr.train(cfg, tmp_path / "run", resume=True) == ckpt      # finished: returns at once
    with pytest.raises(ValueError, match="exists: resume it"):
        tr.train(cfg, tmp_path / "run")
    with pytest.raises(ValueError, match=r"config differs in \['base_lr'\]"):
        tr.train(dataclasses.replace(cfg, base_lr=5e-4), tmp_path / "run", resume=True)
    deeper = dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, depth=3))
    with pytest.raises(ValueError, match=r"config differs in \['model.depth'\] \(saved \[2\], now \[3\]\)"):
        tr.train(deeper, tmp_path / "run", resume=True)


def _send_sigterm_after(monkeypatch, n_steps: int) -> None:
    """Make the process receive SIGTERM during step `n_steps` (as from a scheduler)."""
    real, count = tr.train_step, [0]

    def step(*args):
        count[0] += 1
        if count[0] == n_steps:
            os.kill(os.getpid(), signal.SIGTERM)
        return real(*args)
    monkeypatch.setattr(tr, "train_step", step)


@pytest.mark.parametrize("workers", [0, 2])
def test_resume_is_bit_for_bit(tiny_root, tmp_path, monkeypatch, workers):
    """2N steps in one go == N steps, stop (SIGTERM or max_steps), resume N steps: same losses, same state."""
    cfg = tiny_config(tiny_root, num_workers=workers)
    full = tr.train(cfg, tmp_path / "full")
    if workers == 0:
        with monkeypatch.context() as m:
            _send_sigterm_after(m, 8)                      # mid-epoch 2 (6 steps per epoch)
            tr.train(cfg, tmp_path / "split")
        assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL     # handlers restored
    else:
        tr.train(dataclasses.replace(cfg, max_steps=8), tmp_path / "split")
    stopped = read_metadata(tmp_path / "split" / tr.CHECKPOINT)
    assert stopped.step == 8 and not stopped.finished
    assert len(tr.read_log(tmp_path / "split")) == 8
    tr.train(cfg, tmp_path / "split", resume=True)
    assert tr.read_log(tmp_path / "split") == [dict(r, time=pytest.approx(r["time"], abs=1e9))
                                              for r in tr.read_log(tmp_path / "full")]
    a, b = state_tensors(full), state_tensors(tmp_path / "split" / tr.CHECKPOINT)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_resume_drops_log_rows_after_the_checkpoint(tiny_root, tmp_path):
    cfg = tiny_config(tiny_root, max_steps=3)
    tr.train(cfg, tmp_path / "run")
    with open(tmp_path / "run" / tr.LOG, "a") as f:            # a crash after logging step 4, before saving
        f.write("4,0,0.5,0.001,1.0\n")
    tr.train(dataclasses.replace(cfg, max_steps=5), tmp_path / "run", resume=True)
    assert [r["step"] for r in tr.read_log(tmp_path / "run")] == [1, 2, 3, 4, 5]
    assert tr.read_log(tmp_path / "run")[3]["loss"] != 0.5


def test_crash_during_save_keeps_previous_checkpoint(tiny_root, tmp_path, monkeypatch):
    cfg = tiny_config(tiny_root)
    state = tr.build_state(cfg, torch.device("cpu"))
    path = tmp_path / tr.CHECKPOINT
    state.save(path, cfg, finished=False)
    before = path.read_bytes()
    state.step = 99

    def crash(_obj, f, *_a, **_k):
        f.write(b"partial")
        raise OSError("disk full")
    monkeypatch.setattr(torch, "save", crash)
    with pytest.raises(OSError, match="disk full"):
        state.save(path, cfg, finished=True)
    assert path.read_bytes() == before and read_metadata(path).step == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == [tr.CHECKPOINT]      # no temp file left


def test_init_from_starts_at_the_source_ema_weights(tiny_root, tmp_path, monkeypatch):
    src = tr.train(tiny_config(tiny_root, max_steps=2), tmp_path / "results" / "test" / "pre")
    monkeypatch.setenv("LART_RESULTS_DIR", str(tmp_path / "results"))
    fine = tiny_config(tiny_root, init_from=f"test/pre/{tr.CHECKPOINT}", layer_decay=0.9)
    state = tr.build_state(fine, torch.device("cpu"))
    ema = load_checkpoint(src).model.state_dict()
    assert all(torch.equal(v, ema[k]) for k, v in state.model.state_dict().items())
    with pytest.raises(FileNotFoundError, match="nope.pt"):
        tr.build_state(dataclasses.replace(fine, init_from="nope.pt"), torch.device("cpu"))


def test_cli_train_and_sigterm_subprocess(tiny_root, tmp_path):
    """`lart train` as a process: SIGTERM mid-run -> clean exit with a checkpoint; --resume finishes it."""
    run = tmp_path / "run"
    args = [sys.executable, "-m", "lartcore.cli", "train", "demo_lart_pose_n1", f"data_root={tiny_root}",
            "seq_len=16", "batch_size=2", "epochs=400", "model.depth=1", "--run-dir", str(run)]
    proc = subprocess.Popen(args, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + 120
    while time.time() < deadline and not ((run / tr.LOG).is_file() and len((run / tr.LOG).read_text()
                                                                            .splitlines()) > 2):
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0, out
    assert "stopped by SIGTERM; continue with --resume" in out
    meta = read_metadata(run / tr.CHECKPOINT)
    assert 2 <= meta.step < 400 * 12 and not meta.finished
    assert len(tr.read_log(run)) == meta.step


def test_device_choice_is_validated():
    from lartcore.distributed import setup_distributed
    d, created = setup_distributed("cpu")
    assert d.device.type == "cpu" and not created
    with pytest.raises(ValueError, match="expected 'cpu', 'cuda' or None"):
        setup_distributed("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA device"):
            setup_distributed("cuda")


# ---------------------------------------------------------------- every failure is one line

def _cli_train(root, run, *extra) -> list[str]:
    return ["train", "demo_lart_pose_n1", f"data_root={root}", "seq_len=16", "batch_size=4", "epochs=1",
            "model.depth=1", *extra, "--run-dir", str(run)]


def test_disk_full_during_training_is_one_line_and_keeps_the_last_checkpoint(tiny_root, tmp_path, monkeypatch,
                                                                            capsys):
    from disk_full import fill_disk

    from lartcore.cli import main
    run = tmp_path / "run"
    assert main(_cli_train(tiny_root, run, "max_steps=2")) == 0
    saved = (run / tr.CHECKPOINT).read_bytes()
    with monkeypatch.context() as m:                 # the checkpoint cannot be written (torch.save's write)
        fill_disk(m, run, name_contains=tr.CHECKPOINT)
        assert main([*_cli_train(tiny_root, run, "max_steps=4"), "--resume"]) == 2
    assert capsys.readouterr().err.endswith(f"lart: error: {run / tr.CHECKPOINT}: No space left on device\n")
    assert (run / tr.CHECKPOINT).read_bytes() == saved and read_metadata(run / tr.CHECKPOINT).step == 2
    assert sorted(p.name for p in run.iterdir()) == [tr.CHECKPOINT, tr.CONFIG, tr.LOG]   # no temp files
    with monkeypatch.context() as m:                 # the log's appended rows cannot be written
        fill_disk(m, run, name_contains=tr.LOG, modes="a")
        assert main([*_cli_train(tiny_root, run, "max_steps=4"), "--resume"]) == 2
    assert capsys.readouterr().err.endswith(f"lart: error: {run / tr.LOG}: No space left on device\n")
    assert read_metadata(run / tr.CHECKPOINT).step == 2 and [r["step"] for r in tr.read_log(run)] == [1, 2]


def test_config_errors_are_one_line(tmp_path, capsys):
    """Values out of range, malformed YAML and Python tags (never constructed) end as one 'lart: error:'."""
    from lartcore.cli import main
    bad_yaml = tmp_path / "bad.yaml"
    bad_yaml.write_text("epochs: 3\nmodel:\n  depth: [1, 2\n")
    tagged = tmp_path / "tagged.yaml"
    tagged.write_text(f'epochs: !!python/object/apply:os.system ["touch {tmp_path / "pwned"}"]\n')
    invalid = "expected a YAML mapping of config keys, found invalid YAML"
    cases = [
        (["demo_lart", "model.depth=-1"], "ModelConfig: depth: expected 1..1048576, found -1"),
        (["demo_lart", "ema_decay=5"], "TrainConfig 'lart': ema_decay: expected in [0, 1), found 5.0"),
        (["demo_lart", "grad_clip=-1"], "TrainConfig 'lart': grad_clip: expected >= 0 (0 = off), found -1.0"),
        (["demo_lart", f"epochs={10 ** 50}"], f"TrainConfig 'lart': epochs: expected 1..100000, found {10 ** 50}"),
        ([str(bad_yaml)], f"{bad_yaml}:4: {invalid} (expected ',' or ']', but got '<stream end>')"),
        ([str(tagged)], (f"{tagged}:1: {invalid} (could not determine a constructor for the tag "
                         "'tag:yaml.org,2002:python/object/apply:os.system')")),
    ]
    for args, message in cases:
        assert main(["train", *args, "--run-dir", str(tmp_path / "run")]) == 2
        assert capsys.readouterr().err == f"lart: error: {message}\n"
    assert not (tmp_path / "pwned").exists() and not (tmp_path / "run").exists()
