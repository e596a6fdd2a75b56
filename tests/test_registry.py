"""Results registry: run round trips, provenance fields, evaluation cache hit/miss, per-class gains."""
import hashlib
import json
import math

import numpy as np
import pandas as pd
import pytest

import lartcore.eval as ev
from lartcore import registry
from lartcore.registry import Registry, banner, per_class_gain


def _per_class(aps):
    ids = [1, 12, 17, 79]
    return pd.DataFrame({"id": ids, "name": ["bend/bow (at the waist)", "stand", "carry/hold (an object)",
                                             "talk to (e.g., self, a person, a group)"],
                         "type": ["PM", "PM", "OM", "PI"], "ap": aps,
                         "n_gt": [3, 10, 0, 4], "n_det": [5, 12, 2, 0]})


def _result(aps=(0.5, 0.25, math.nan, 0.0)):
    pc = _per_class(list(aps))
    by_type = {t: pc.loc[pc.type == t, "ap"].mean() for t in ("PM", "OM", "PI")}
    return ev.EvalResult(per_class=pc, map=pc["ap"].mean(), by_type=by_type)


@pytest.fixture
def files(tmp_path):
    pred = tmp_path / "pred.csv"
    pred.write_text("vid00000001,0902,0.1,0.1,0.5,0.9,12,0.9\n")
    gt = tmp_path / "gt.csv"
    gt.write_text("vid00000001,0902,0.1,0.1,0.5,0.9,12,0\n")
    return pred, gt


def test_save_eval_round_trip(tmp_path, files):
    pred, _ = files
    reg = Registry(tmp_path / "results")
    res = _result()
    run = reg.save_eval("demo", "lart_pose", res, pred, config={"model": {"depth": 2}})
    assert run == tmp_path / "results" / "demo" / "lart_pose"
    assert sorted(p.name for p in run.iterdir()) == ["config.yaml", "metrics.json", "per_class.csv",
                                                     "predictions.csv", "provenance.json"]
    assert (run / "predictions.csv").read_bytes() == pred.read_bytes()
    pd.testing.assert_frame_equal(reg.per_class("demo", "lart_pose"), res.per_class)
    m = reg.metrics("demo", "lart_pose")
    assert m["mAP"] == pytest.approx(0.25) and m["PM"] == pytest.approx(0.375) and math.isnan(m["OM"])
    assert m["flavor"] == "activitynet"
    runs = reg.runs()
    assert runs[["dataset", "variant"]].values.tolist() == [["demo", "lart_pose"]]
    assert runs.loc[0, "mAP"] == pytest.approx(0.25) and runs.loc[0, "PI"] == 0.0
    # strict JSON on disk (NaN stored as null)
    assert json.loads((run / "metrics.json").read_text())["OM"] is None


def test_provenance_fields(tmp_path, files):
    pred, _ = files
    data_root = tmp_path / "data"
    data_root.mkdir()
    (data_root / "manifest.json").write_text('{"seed": 0}')
    (data_root / "BUILD_COMPLETE").write_text("")
    ckpt = tmp_path / "checkpoint.pt"
    ckpt.write_bytes(b"weights")
    reg = Registry(tmp_path / "results")
    reg.save_eval("demo", "lart", _result(), pred, config={"lr": 1e-4}, checkpoint=ckpt,
                  data_root=data_root)
    p = reg.provenance("demo", "lart")
    assert p["variant"] == "lart" and p["dataset"] == "demo" and p["config"] == {"lr": 1e-4}
    assert p["checkpoint"] == {"path": str(ckpt), "sha256": hashlib.sha256(b"weights").hexdigest()}
    assert p["data_manifest_sha256"] == hashlib.sha256(b'{"seed": 0}').hexdigest()
    assert p["predictions_sha256"] == hashlib.sha256(pred.read_bytes()).hexdigest()
    assert p["demo"] is True and banner(p) == "demo data: not comparable to the paper"
    assert p["git_commit"] == "unknown" or len(p["git_commit"]) == 40
    assert p["lartcore_version"] and p["created"].endswith("+00:00")


def test_real_data_has_no_banner(tmp_path, files):
    pred, _ = files
    reg = Registry(tmp_path)
    reg.save_eval("ava", "lart", _result(), pred, demo=False)
    assert banner(reg.provenance("ava", "lart")) == ""
    assert reg.provenance("ava", "lart")["data_manifest_sha256"] is None


def test_missing_run_error_names_path_and_known_runs(tmp_path, files):
    reg = Registry(tmp_path)
    reg.save_eval("demo", "a", _result(), files[0])
    with pytest.raises(FileNotFoundError, match=r"variant='b'.*demo/b.*\['demo/a'\]"):
        reg.metrics("demo", "b")
    with pytest.raises(ValueError, match="invalid variant"):
        reg.run_dir("demo", "../x")
    with pytest.raises(FileNotFoundError, match="checkpoint not found"):
        reg.save_eval("demo", "c", _result(), files[0], checkpoint=tmp_path / "none.pt")


def test_evaluate_cached_hit_and_miss(tmp_path, files, monkeypatch):
    pred, gt = files
    calls = []
    real = ev.frame_map

    def counting(*args, **kw):
        calls.append(kw["flavor"])
        return real(*args, **kw)

    monkeypatch.setattr(ev, "frame_map", counting)   # the registry runs evaluate_files, which calls it
    cache = tmp_path / "cache"
    first = registry.evaluate_cached(pred, gt, cache_dir=cache)
    second = registry.evaluate_cached(pred, gt, cache_dir=cache)
    assert len(calls) == 1
    pd.testing.assert_frame_equal(second.per_class, first.per_class)
    assert second.map == first.map == 1.0 and second.by_type["PM"] == first.by_type["PM"] == 1.0
    assert math.isnan(second.by_type["OM"]) and second.flavor == "activitynet"
    key = registry.eval_cache_key(pred, gt)
    assert json.loads((cache / f"{key}.json").read_text())["key"] == key
    # a different flavor, different predictions bytes: misses
    registry.evaluate_cached(pred, gt, flavor="slowfast", cache_dir=cache)
    pred.write_text(pred.read_text() + "vid00000001,0902,0.1,0.1,0.5,0.9,17,0.2\n")
    registry.evaluate_cached(pred, gt, cache_dir=cache)
    assert calls == ["activitynet", "slowfast", "activitynet"]
    registry.evaluate_cached(pred, gt, cache_dir=cache)
    assert len(calls) == 3


def test_cache_key_depends_on_every_input(tmp_path, files):
    pred, gt = files
    lm = tmp_path / "labels.pbtxt"
    lm.write_text('item { name: "stand" id: 12 }\n')
    keys = {registry.eval_cache_key(pred, gt), registry.eval_cache_key(gt, pred),
            registry.eval_cache_key(pred, gt, labelmap=lm), registry.eval_cache_key(pred, gt, exclusions=lm),
            registry.eval_cache_key(pred, gt, flavor="slowfast")}
    assert len(keys) == 5
    assert registry.eval_cache_key(pred, gt) == registry.eval_cache_key(str(pred), str(gt))


def test_a_new_evaluator_version_evaluates_again(tmp_path, files, monkeypatch):
    """Cached evaluations depend on the evaluator's version: after a change that can move a number (and a
    bump of eval.VERSION), the same files are evaluated again, never read from a stale cache."""
    pred, gt = files
    before = registry.eval_cache_key(pred, gt)
    registry.evaluate_cached(pred, gt, cache_dir=tmp_path / "cache")
    monkeypatch.setattr(registry, "EVAL_VERSION", registry.EVAL_VERSION + 1)
    assert registry.eval_cache_key(pred, gt) != before
    calls = []
    real = ev.frame_map
    monkeypatch.setattr(ev, "frame_map", lambda *a, **k: calls.append(1) or real(*a, **k))
    registry.evaluate_cached(pred, gt, cache_dir=tmp_path / "cache")
    assert calls == [1]


def test_per_class_gain_hand_numbers():
    a = _per_class([0.10, 0.50, 0.20, 0.0])
    b = _per_class([0.35, 0.505, 0.10, 0.03])
    g = per_class_gain(a, b)  # gains: +25, +0.5 (dropped), -10, +3 points
    assert g["id"].tolist() == [1, 79, 17]
    np.testing.assert_allclose(g["gain"], [25.0, 3.0, -10.0])
    np.testing.assert_allclose(g["ap_a"], [10.0, 0.0, 20.0])
    r = per_class_gain(a, b, min_gain=5.0, relative=True)
    assert r["id"].tolist() == [1, 17]
    np.testing.assert_allclose(r["rel_gain_pct"], [250.0, -50.0])
    assert math.isnan(per_class_gain(a, b, relative=True).set_index("id").loc[79, "rel_gain_pct"])


def test_per_class_gain_drops_nan_classes():
    a = _per_class([0.1, math.nan, 0.2, 0.3])
    b = _per_class([0.3, 0.9, math.nan, 0.3])
    assert per_class_gain(a, b, min_gain=0.0)["id"].tolist() == [1]
    with pytest.raises(ValueError, match="lacks columns"):
        per_class_gain(a.drop(columns="ap"), b)


def test_evaluate_cached_with_real_evaluator(tmp_path, monkeypatch):
    gt = tmp_path / "gt.csv"
    gt.write_text("vid00000001,0902,0.1,0.1,0.5,0.9,12,0\n"
                  "vid00000001,0902,0.5,0.1,0.9,0.9,12,1\n")
    pred = tmp_path / "pred.csv"
    # class 12: TP (0.9), FP (0.8), TP (0.7) -> AP = (1 + 2/3) / 2; class 17 has no GT -> NaN
    pred.write_text("vid00000001,0902,0.1,0.1,0.5,0.9,12,0.9\n"
                    "vid00000001,0902,0.0,0.0,0.05,0.05,12,0.8\n"
                    "vid00000001,0902,0.5,0.1,0.9,0.9,12,0.7\n"
                    "vid00000001,0902,0.1,0.1,0.5,0.9,17,0.6\n")
    calls = []
    real = ev.frame_map
    monkeypatch.setattr(ev, "frame_map", lambda *a, **k: calls.append(1) or real(*a, **k))
    first = registry.evaluate_cached(pred, gt, cache_dir=tmp_path / "cache")
    second = registry.evaluate_cached(pred, gt, cache_dir=tmp_path / "cache")
    assert len(calls) == 1 and type(second) is type(first)
    assert first.map == pytest.approx((1 + 2 / 3) / 2)
    pc = second.per_class.set_index("id")
    assert pc.loc[12, "ap"] == pytest.approx((1 + 2 / 3) / 2) and pc.loc[12, "n_gt"] == 2
    assert math.isnan(pc.loc[17, "ap"]) and second.map == pytest.approx(first.map)
    reg = Registry(tmp_path / "results")
    reg.save_eval("demo", "v", second, pred)
    pd.testing.assert_frame_equal(reg.per_class("demo", "v"), first.per_class[registry.PER_CLASS_COLUMNS],
                                  check_dtype=False)
