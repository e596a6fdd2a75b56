"""Checkpoints: our format round-trips (weights-only, atomic); an official Lightning checkpoint with exactly
the 237 keys/shapes of lart_official_state_dict.tsv imports strictly; clear errors otherwise."""
import argparse
import collections
import dataclasses
import pickle
import re
import sys
import types
import typing
import zipfile
from pathlib import Path

import pytest
import torch

from lartcore import checkpoint as C
from lartcore.cli import main
from lartcore.data.dataset import DataConfig
from lartcore.model import LART, lart_official
from lartcore.variants import variant_config

TSV = Path(__file__).resolve().parent / "data" / "formats" / "lart_official_state_dict.tsv"   # data/README.md
LIGHTNING_SMALL = TSV.parents[1] / "official" / "lightning_small.ckpt"                          # data/README.md
INT_KEYS = {"smpl.faces_tensor", "smpl.parents", "smpl.joint_map", "smpl.vertex_joint_selector.extra_joints_idxs"}


def official_shapes() -> dict[str, tuple[int, ...]]:
    rows = [line.split("\t") for line in TSV.read_text().splitlines() if line.strip()]
    return {k: tuple(int(x) for x in s.strip("[]").split(",")) for k, s in rows}


@pytest.fixture(scope="module")
def official_state():
    g = torch.Generator().manual_seed(0)
    state = {}
    for key, shape in official_shapes().items():
        state[key] = torch.randint(0, 24, shape, generator=g) if key in INT_KEYS else torch.randn(shape, generator=g)
    state["encoder.pe"] = state["encoder.pos_embedding"]
    return state


@pytest.fixture(scope="module")
def official_ckpt(tmp_path_factory, official_state):
    path = tmp_path_factory.mktemp("official") / "epoch_002-EMA.ckpt"
    torch.save({"state_dict": official_state, "hyper_parameters": {"cfg": {"in_feat": 512, "mask_ratio": 0.4}},
                "epoch": 2, "global_step": 10}, path)
    return path


def test_tsv_has_237_keys():
    assert len(official_shapes()) == 237


def test_import_official_strict(official_ckpt, official_state, tmp_path):
    out = tmp_path / "ours.pt"
    res = C.import_official(official_ckpt, out)
    assert res.dropped == list(C.OFFICIAL_DROPPED)
    assert len(res.smpl_keys) == 10
    # every official key is either loaded, explicitly dropped, or an SMPL buffer kept aside: 237 in all
    assert res.loaded + len(res.dropped) + len(res.smpl_keys) == 237
    ck = C.load_checkpoint(out)
    sd = ck.model.state_dict()
    pairs = {"encoder.transformer.layers.3.0.fn.to_qkv.weight": "blocks.3.attn.qkv.weight",
             "encoder.transformer.layers.15.1.fn.net.3.bias": "blocks.15.mlp.3.bias",
             "encoder.apperance_encoder.4.weight": "encoders.appearance.4.weight",
             "encoder.action_head_ava.0.0.weight": "action_head.weight",
             "encoder.smpl_head.0.init_body_pose": "smpl_head.init_body_pose",
             "encoder.pos_embedding": "pos_embedding"}
    for theirs, ours in pairs.items():
        assert torch.equal(sd[ours], official_state[theirs]), ours
    assert torch.equal(ck.smpl["posedirs"], official_state["smpl.posedirs"])
    assert ck.smpl["faces_tensor"].dtype == torch.int64
    assert ck.config == lart_official() and ck.extra["dropped_keys"] == res.dropped
    assert torch.equal(sd["pose_std"], torch.ones(229))                    # identity: no --pose-stats


def test_imported_model_matches_hand_mapped_forward(official_ckpt, official_state, tmp_path):
    """The imported model computes with the official weights: check the first encoder layer by hand."""
    C.import_official(official_ckpt, tmp_path / "ours.pt")
    model = C.load_checkpoint(tmp_path / "ours.pt").model.eval()
    x = torch.randn(4, 229)
    w, b = official_state["encoder.pose_shape_encoder.0.weight"], official_state["encoder.pose_shape_encoder.0.bias"]
    torch.testing.assert_close(model.encoders["pose"][0](x), x @ w.T + b)


def test_disallowed_global_is_refused_without_running_it(official_state, tmp_path):
    path = tmp_path / "pickled.ckpt"
    torch.save({"state_dict": dict(official_state), "hyper_parameters": argparse.Namespace(cfg="x"),
                "callbacks": _Evil(tmp_path / "pwned")}, path)
    with pytest.raises(ValueError, match=r"pickled.ckpt: refused to unpickle '(argparse.Namespace|io.open|"
                                         r"builtins.open|open)' \(nothing of the file was run\).*--trusted"):
        C.import_official(path, tmp_path / "out.pt")
    assert not (tmp_path / "out.pt").exists() and not (tmp_path / "pwned").exists()
    torch.save({"state_dict": dict(official_state), "hyper_parameters": argparse.Namespace(cfg="x")}, path)
    res = C.import_official(path, tmp_path / "out.pt", trusted=True)    # --trusted: the file's own classes
    assert res.loaded == 237 - 5 - 10


class _Evil:
    def __init__(self, target):
        self.target = str(target)

    def __reduce__(self):
        return (open, (self.target, "w"))


def test_non_checkpoint_files_get_one_clear_error_without_trusted_advice(official_ckpt, tmp_path):
    text = tmp_path / "notes.ckpt"
    text.write_text("this is not a checkpoint\n")
    cut = tmp_path / "cut.ckpt"
    cut.write_bytes(official_ckpt.read_bytes()[:4000])
    for path, pattern in ((text, "not a PyTorch checkpoint"), (cut, "not a readable PyTorch checkpoint")):
        with pytest.raises(ValueError, match=f"{path.name}: {pattern}") as err:
            C.import_official(path, tmp_path / "out.pt")
        assert "trusted" not in str(err.value)


# ---------------------------------------------------------------- Lightning checkpoints with omegaconf configs

class _OmegaConfLike:
    """Pickles as an omegaconf object does (object.__reduce_ex__(2): GLOBAL, NEWOBJ, BUILD with __dict__)."""

    def __init__(self, **state):
        self.__dict__.update(state)


def _omegaconf_classes() -> dict[str, type]:
    """Stand-in classes named like omegaconf's (module, qualname) -- omegaconf itself is not needed."""
    names = {"DictConfig": "omegaconf.dictconfig", "ListConfig": "omegaconf.listconfig",
             "AnyNode": "omegaconf.nodes", "Metadata": "omegaconf.base", "ContainerMetadata": "omegaconf.base"}
    return {n: type(n, (_OmegaConfLike,), {"__module__": m, "__qualname__": n}) for n, m in names.items()}


def _config(value, cls: dict, parent=None, key=None):
    """A plain value -> the object graph omegaconf pickles (containers, AnyNodes, metadata, parent links)."""
    def meta(kind, **extra):
        return cls[kind](ref_type=typing.Any, object_type=extra.pop("object_type", None), optional=True,
                         key=key, flags=extra.pop("flags", {}), flags_root=False,
                         resolver_cache=collections.defaultdict(dict), **extra)
    if isinstance(value, (dict, list)):
        is_dict = isinstance(value, dict)
        node = cls["DictConfig" if is_dict else "ListConfig"](
            _metadata=meta("ContainerMetadata", object_type=dict if is_dict else list, key_type=typing.Any if is_dict
                           else int, element_type=typing.Any, flags={"allow_objects": True}), _parent=parent)
        items = value.items() if is_dict else enumerate(value)
        content = {k: _config(v, cls, node, k) for k, v in items}
        node._content = content if is_dict else list(content.values())
        return node
    return cls["AnyNode"](_metadata=meta("Metadata"), _parent=parent, _val=value)


CFG = {"transformer": {"depth": 3, "heads": 16, "dropout": 0.1, "conv": {"pad": 1}},
       "solver": {"name": "AdamW", "decay_steps": [10, 20], "layer_decay": None}, "test_type": "track.fullframe@",
       "extra_feat": {"enable": "joints_3D,apperance", "apperance": {"dim": 2048}}, "finetune": False}


def lightning_checkpoint(path, state, monkeypatch) -> None:
    """Write what Lightning's `trainer.save_checkpoint` writes for LART (top-level keys of a validate run,
    DictConfigs in hyper_parameters and datamodule_hyper_parameters) with torch.save, without omegaconf."""
    cls = _omegaconf_classes()
    ckpt = {"epoch": 0, "global_step": 0, "pytorch-lightning_version": "2.6.6", "state_dict": state,
            "loops": {"fit_loop": {}, "validate_loop": {}}, "callbacks": {"Timer": {"time_elapsed": {}}},
            "optimizer_states": [], "lr_schedulers": [], "hparams_name": "kwargs",
            "hyper_parameters": {"cfg": _config(CFG, cls)}, "datamodule_hparams_name": "kwargs",
            "datamodule_hyper_parameters": {"cfg": _config(CFG, cls), "train": False}}
    with monkeypatch.context() as patch:         # pickle checks a class is importable by its name
        patch.setitem(sys.modules, "omegaconf", types.ModuleType("omegaconf"))
        for name, c in cls.items():
            module = sys.modules.get(c.__module__) or types.ModuleType(c.__module__)
            setattr(module, name, c)
            patch.setitem(sys.modules, c.__module__, module)
        torch.save(ckpt, path)


def test_lightning_checkpoint_with_dictconfig_imports_without_trusted(official_state, tmp_path, monkeypatch):
    state = {k: v for k, v in official_state.items()
             if not (m := re.match(r"encoder\.transformer\.layers\.(\d+)\.", k)) or int(m.group(1)) < 3}
    path = tmp_path / "epoch_002-EMA.ckpt"
    lightning_checkpoint(path, state, monkeypatch)
    names = re.findall(rb"omegaconf\.\w+\n\w+", zipfile.ZipFile(path).read("epoch_002-EMA/data.pkl"))
    assert {n.replace(b"\n", b".").decode() for n in names} == {
        "omegaconf.dictconfig.DictConfig", "omegaconf.listconfig.ListConfig", "omegaconf.nodes.AnyNode",
        "omegaconf.base.Metadata", "omegaconf.base.ContainerMetadata"}
    assert "omegaconf" not in sys.modules
    with pytest.raises(pickle.UnpicklingError, match="omegaconf.dictconfig.DictConfig"):
        torch.load(path, weights_only=True)      # what a plain weights-only load (and the official code) hits
    read = C.read_official(path)
    assert read.hyper_parameters == {"cfg": CFG} and len(read.state) == len(state)
    res = C.import_official(path, tmp_path / "ours.pt")                  # no trusted=True
    assert res.config == lart_official(depth=3)                          # depth from the checkpoint's layers
    assert res.loaded + len(res.dropped) + len(res.smpl_keys) == len(state)
    ck = C.load_checkpoint(tmp_path / "ours.pt")
    assert ck.extra["hyper_parameters"] == {"cfg": CFG} and len(ck.model.blocks) == 3
    torch.testing.assert_close(ck.model.state_dict()["blocks.2.attn.qkv.weight"],
                               state["encoder.transformer.layers.2.0.fn.to_qkv.weight"], atol=0, rtol=0)


def test_real_lightning_checkpoint_reads_without_omegaconf(tmp_path):
    """A checkpoint written by the official code's `trainer.fit` (EMACheckpoint), cut to 2 tensors."""
    read = C.read_official(LIGHTNING_SMALL)
    assert list(read.state) == ["encoder.mask_token", "encoder.action_head_ava.0.0.bias"]
    cfg = read.hyper_parameters["cfg"]
    assert cfg["transformer"]["depth"] == 16 and cfg["solver"]["decay_steps"] == [10, 20]
    assert cfg["extra_feat"]["apperance"]["dim"] == 2048 and cfg["weights_path"] is None
    with pytest.raises(ValueError, match="'encoder.apperance_encoder.0.weight' missing") as err:
        C.import_official(LIGHTNING_SMALL, tmp_path / "o.pt")
    assert "trusted" not in str(err.value)


def test_import_rejects_wrong_shape_and_unknown_key(official_state, tmp_path):
    bad = dict(official_state)
    bad["encoder.action_head_ava.0.0.weight"] = torch.zeros(80, 512)
    torch.save({"state_dict": bad}, tmp_path / "shape.ckpt")
    with pytest.raises(ValueError, match=r"'encoder.action_head_ava.0.0.weight' \(-> 'action_head.weight'\) "
                                         r"expected shape \(60, 512\), found \(80, 512\)"):
        C.import_official(tmp_path / "shape.ckpt", tmp_path / "o.pt")
    extra = dict(official_state, **{"encoder.new_head.weight": torch.zeros(3)})
    missing = {k: v for k, v in official_state.items() if k != "encoder.mask_token"}
    for name, state, pattern in (("extra", extra, r"1 unexpected.*encoder.new_head.weight"),
                                 ("missing", missing, r"1 model key\(s\) missing \['mask_token'\]")):
        torch.save({"state_dict": state}, tmp_path / f"{name}.ckpt")
        with pytest.raises(ValueError, match=pattern):
            C.import_official(tmp_path / f"{name}.ckpt", tmp_path / "o.pt")
    torch.save({"model": {}}, tmp_path / "notlightning.ckpt")
    with pytest.raises(ValueError, match="expected a Lightning checkpoint with key 'state_dict'"):
        C.import_official(tmp_path / "notlightning.ckpt", tmp_path / "o.pt")


def test_save_load_round_trip_is_exact_and_atomic(tmp_path):
    cfg = dataclasses.replace(variant_config("lart", "demo").model, max_people=3, appearance_dim=8)
    model = LART(cfg).eval()
    path = tmp_path / "run" / "last.pt"
    meta = C.Metadata(cfg, DataConfig(seq_len=16, max_people=3, appearance=True, appearance_dim=8), step=7,
                      finished=True, train_config={"name": "x"})
    C.save_checkpoint(path, model, meta, extra={"epoch": 3, "opt": {"lr": torch.tensor(1e-3)}})
    assert sorted(p.name for p in path.parent.iterdir()) == ["last.pt"]    # no temp file left behind
    ck = C.load_checkpoint(path)
    assert ck.meta == meta == C.read_metadata(path) and ck.extra["epoch"] == 3 and ck.smpl is None
    batch = {"pose_shape": torch.randn(1, 4, 3, 229), "appearance": torch.randn(1, 4, 3, 8),
             "present": torch.ones(1, 4, 3, dtype=torch.bool)}
    torch.testing.assert_close(ck.model.eval()(batch).action_logits, model(batch).action_logits, atol=0, rtol=0)


def test_load_checkpoint_errors(official_ckpt, tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.pt"):
        C.load_checkpoint(tmp_path / "nope.pt")
    with pytest.raises(ValueError, match="run `lart import-official` first"):
        C.load_checkpoint(official_ckpt)


def test_cli_import_official(official_ckpt, tmp_path, capsys):
    out = tmp_path / "cli.pt"
    assert main(["import-official", str(official_ckpt), str(out)]) == 0
    text = capsys.readouterr().out
    assert "imported 222 tensors" in text and "kept 10 SMPL buffers" in text and "identity" in text
    assert C.load_checkpoint(out).config == dataclasses.replace(lart_official())


# ---- unreadable files: one line naming the file, never a traceback, no --trusted advice ----------------

@pytest.fixture(scope="module")
def our_ckpt(tmp_path_factory):
    cfg = dataclasses.replace(variant_config("lart_pose_n1", "demo").model, depth=1, dim=16, heads=2, dim_head=8,
                              mlp_dim=16, pose_mlp=(16,), max_people=2)
    path = tmp_path_factory.mktemp("ours") / "ours.pt"
    C.save_checkpoint(path, LART(cfg), C.Metadata(cfg))
    return path


def _unreadable_files(tmp_path, our_ckpt, official_state) -> dict[str, tuple[Path, str]]:
    """name -> (file, the message expected after 'lart: error: ')."""
    data = our_ckpt.read_bytes()
    files = {"truncated": data[: len(data) // 2], "empty": b"", "csv": b"video_id,timestamp,x1\nabc,902,0.1\n",
             "zip garbage": b"PK\x03\x04" + bytes(200)}
    paths = {}
    for name, content in files.items():
        paths[name] = tmp_path / f"{name.replace(' ', '_')}.pt"
        paths[name].write_bytes(content)
    lightning = tmp_path / "epoch_002-EMA.ckpt"      # hyper_parameters pickle a Python object
    torch.save({"state_dict": official_state, "hyper_parameters": argparse.Namespace(cfg="omegaconf-like"),
                "pytorch-lightning_version": "2.0.0"}, lightning)
    expected = "expected a lartcore checkpoint (a torch.save zip file), found"
    return {"truncated": (paths["truncated"], f"{paths['truncated']}: {expected} a truncated or corrupt one ("),
            "empty": (paths["empty"], f"{paths['empty']}: {expected} an empty file"),
            "csv": (paths["csv"], f"{paths['csv']}: {expected} a file starting with b'video_id,timestamp,x1"),
            "zip garbage": (paths["zip garbage"], f"{paths['zip garbage']}: {expected} a truncated or corrupt"),
            "lightning": (lightning, (f"{lightning}: an official LART (Lightning) checkpoint, not one of ours: "
                                      f"convert it with `lart import-official {lightning} OUT.pt` first"))}


def test_unreadable_checkpoints_are_one_clear_error(tmp_path, our_ckpt, official_state, capsys):
    for name, (path, message) in _unreadable_files(tmp_path, our_ckpt, official_state).items():
        for read in (C.load_checkpoint, C.read_metadata):
            with pytest.raises(C.CheckpointError) as err:
                read(path)
            assert str(err.value).startswith(message), (name, str(err.value))
        rc = main(["predict", str(path), "--store", str(tmp_path), "--out", str(tmp_path / "p.csv")])
        err = capsys.readouterr().err
        assert rc == 2 and err.startswith(f"lart: error: {message}") and err.count("\n") == 1, (name, err)
        assert "Traceback" not in err and "--trusted" not in err
    with pytest.raises(C.CheckpointError):               # --debug: the error itself, with its traceback
        main(["--debug", "predict", str(tmp_path / "empty.pt"), "--store", ".", "--out", "x.csv"])


def test_malformed_checkpoints_name_the_problem(tmp_path, our_ckpt):
    raw = torch.load(our_ckpt, weights_only=True)
    for change, message in [(lambda r: r.pop("config"), "malformed lartcore checkpoint: key 'config' missing"),
                            (lambda r: r["config"].update(depth=-1), r"depth: expected 1..\d+, found -1"),
                            (lambda r: r["state_dict"].pop("mask_token"), "weights do not fit its model config"),
                            (lambda r: r.pop("smpl"), "key 'smpl' missing")]:
        bad = {k: (dict(v) if isinstance(v, dict) else v) for k, v in raw.items()}
        change(bad)
        torch.save(bad, tmp_path / "bad.pt")
        with pytest.raises(C.CheckpointError, match=message) as err:
            C.load_checkpoint(tmp_path / "bad.pt")
        assert str(err.value).startswith(f"{tmp_path / 'bad.pt'}: ")
    with pytest.raises(FileNotFoundError, match=r"checkpoint not found: .* \(a folder\)"):
        C.load_checkpoint(tmp_path)
    torch.save({"state_dict": raw["state_dict"]}, tmp_path / "weights.pt")
    with pytest.raises(C.CheckpointError, match=r"weights.pt: expected format 'lartcore-checkpoint-v2', found no "
                                                r"'format' key \(an official LART checkpoint\? run `lart import-"):
        C.load_checkpoint(tmp_path / "weights.pt")
    torch.save([1, 2], tmp_path / "list.pt")
    with pytest.raises(C.CheckpointError, match=r"list.pt: expected format 'lartcore-checkpoint-v2', found a list$"):
        C.load_checkpoint(tmp_path / "list.pt")
