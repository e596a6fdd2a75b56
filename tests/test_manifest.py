"""Data manifests: the shipped YAMLs load; a hand-built demo-layout tree checks present, and deleting or
corrupting files turns entries missing/malformed with a non-zero `lart data check` exit."""
import pickle
import shutil

import numpy as np
import pandas as pd
import pytest

from lartcore.cli import main as lart
from lartcore.data import ava, manifest
from lartcore.video import write_video


def _demo_tree(root):
    """The demo layout (data_manifests/demo.yaml) with tiny but well-formed files."""
    (root / "ava").mkdir(parents=True)
    shutil.copy(ava.LABELMAP_80, root / "ava")
    shutil.copy(ava.LABELMAP_60, root / "ava")
    gt = pd.DataFrame({"video_id": ["demo_tr_000"] * 3, "timestamp": [902.0, 902.0, 903.0],
                       "x1": [0.1, 0.1, np.nan], "y1": [0.2, 0.2, np.nan], "x2": [0.5, 0.5, np.nan],
                       "y2": [0.9, 0.9, np.nan], "action_id": [12, 80, 0], "person_id": [0, 0, -1]})
    ava.write_gt(gt, root / "ava" / "ava_train_v2.2.csv")
    ava.write_gt(gt.assign(video_id="demo_va_000"), root / "ava" / "ava_val_v2.2.csv")
    boxes = gt.iloc[:2].drop(columns=["action_id", "person_id"]).assign(video_id="demo_va_000", score=0.9)
    ava.write_person_boxes(boxes, root / "ava" / "ava_val_predicted_boxes.csv")
    ava.write_keyframes(pd.DataFrame({"video_id": [], "timestamp": []}),
                        root / "ava" / "ava_val_excluded_timestamps_v2.2.csv")
    for split, prefix in (("ava_train", "ava-train"), ("ava_val", "ava-val"), ("kinetics_train", "kinetics-train")):
        (root / "tracks" / split).mkdir(parents=True)
        for tid in range(2):
            (root / "tracks" / split / f"{prefix}_demo_tr_000_000060_{tid}_90.pkl").write_bytes(b"\x80\x04N.")
        (root / "tracks" / split / "shots.csv").write_text("dataset,video,frame\n")
        (root / "store" / split).mkdir(parents=True)
        (root / "store" / split / "store.json").write_text('{"version": 1}')
    write_video(root / "videos" / "demo_va_000.mp4", [np.zeros((16, 16, 3), np.uint8)] * 2)
    (root / "manifest.json").write_text('{"seed": 0}')
    (root / "BUILD_COMPLETE").write_text("{}")
    return root


def _status(table):
    return dict(zip(table.entry, table.status, strict=True))


@pytest.mark.parametrize("name", ["ava_v2.2", "lart_release", "ava_kinetics", "smpl", "demo"])
def test_shipped_manifests_load(name):
    m = manifest.load_manifest(name)
    assert m.path == manifest.MANIFEST_DIR / f"{name}.yaml" and m.entries
    assert all(e.check in manifest.CHECKS for e in m.entries)


def test_release_counts():
    counts = {e.name: e.count for e in manifest.load_manifest("lart_release").entries}
    assert counts == {"ava_train": 300_000, "ava_val": 97_148, "kinetics_train": 1_213_908, "shots": None}


def test_complete_tree_passes(tmp_path, capsys):
    root = _demo_tree(tmp_path / "demo")
    table = manifest.check_manifest(manifest.load_manifest("demo"), root)
    assert set(table.status) == {"present"}, table
    assert table.set_index("entry").loc["tracks_ava_val", "found"] == 2
    assert lart(["data", "check", "demo", str(root)]) == 0
    assert "ok: all 16 required entries present" in capsys.readouterr().out


def test_deleted_required_file_is_missing(tmp_path, capsys):
    root = _demo_tree(tmp_path / "demo")
    (root / "ava" / "ava_val_v2.2.csv").unlink()
    for p in (root / "tracks" / "ava_val").glob("*.pkl"):
        p.unlink()
    table = manifest.check_manifest(manifest.load_manifest("demo"), root)
    assert {k for k, v in _status(table).items() if v != "present"} == {"val_gt", "tracks_ava_val"}
    assert "found 0, expected at least 1" in table.set_index("entry").loc["tracks_ava_val", "detail"]
    assert lart(["data", "check", "demo", str(root)]) == 1
    assert "FAILED: 2 required entries" in capsys.readouterr().out


def test_corrupt_files_are_malformed(tmp_path):
    root = _demo_tree(tmp_path / "demo")
    gt = root / "ava" / "ava_train_v2.2.csv"
    gt.write_text(gt.read_text() + "demo_tr_000,0904,0.1,0.2,1.7,0.9,12,0\n")            # x2 > 1 on line 4
    lm = root / "ava" / "ava_action_list_v2.2_for_activitynet_2019.pbtxt"
    lm.write_text(lm.read_text().split("item {\n  name: \"hand wave\"")[0])              # truncated: < 60 entries
    (root / "tracks" / "ava_train" / "ava-train_short_1_2.pkl").write_bytes(b"")          # bad release name
    (root / "manifest.json").write_text("{not json")
    (root / "tracks" / "ava_train" / "shots.csv").write_text("dataset,video,frame\nava-train,v,x\n")  # 1st match
    table = manifest.check_manifest(manifest.load_manifest("demo"), root).set_index("entry")
    assert _status(table.reset_index()) == {**{e: "present" for e in table.index},
                                           "train_gt": "malformed", "labelmap_60": "malformed",
                                           "tracks_ava_train": "malformed", "build_manifest": "malformed",
                                           "shots": "malformed"}
    assert "shots.csv:2: frame must be an integer" in table.loc["shots", "detail"]
    assert f"{gt}:4: column x2" in table.loc["train_gt", "detail"]
    assert "rows/entries, expected 60" in table.loc["labelmap_60", "detail"]
    assert "ava-train_short_1_2.pkl" in table.loc["tracks_ava_train", "detail"]


def test_optional_entries_do_not_fail_and_exact_counts(tmp_path):
    root = _demo_tree(tmp_path / "data")
    status = _status(manifest.check_manifest(manifest.load_manifest("ava_v2.2"), root))
    assert status["train_excluded"] == "missing" and status["labelmap_80"] == "present"
    assert status["val_excluded"] == "malformed"                     # empty file, the real one has 37 rows
    assert lart(["data", "check", "ava_v2.2", str(root)]) == 0      # only required entries decide the exit
    (root / "ava" / "ava_train_v2.2.csv").unlink()
    assert lart(["data", "check", "ava_v2.2", str(root)]) == 1
    custom = tmp_path / "two.yaml"
    custom.write_text("name: two\nentries:\n  - {name: t, path: 'tracks/ava_val/*.pkl', what: x, required: true,"
                      " count: 1, check: release_pkl_name}\n")
    table = manifest.check_manifest(manifest.load_manifest(custom), root)
    assert table.status.tolist() == ["malformed"] and "expected exactly 1" in table.detail[0]


def test_smpl_manifest_checks_pickle_magic(tmp_path):
    with open(tmp_path / "SMPL_NEUTRAL.pkl", "wb") as f:
        pickle.dump({"v_template": np.zeros((2, 3))}, f, protocol=2)
    (tmp_path / "SMPL_MALE.pkl").write_text("not a pickle")
    status = _status(manifest.check_manifest(manifest.load_manifest("smpl"), tmp_path))
    assert status == {"smpl_neutral": "present", "smpl_male": "malformed", "smpl_female": "missing"}


def test_bad_manifests_are_rejected(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\nentries:\n  - {name: a, path: x.csv, what: x, required: true, check: md5}\n")
    with pytest.raises(ValueError, match=r"bad.yaml: entry 0 \(a\): check 'md5' is not one of"):
        manifest.load_manifest(bad)
    bad.write_text("name: bad\nentries:\n  - {name: a, path: /abs.csv, what: x, required: true, check: exists}\n")
    with pytest.raises(ValueError, match="must be relative"):
        manifest.load_manifest(bad)
    with pytest.raises(FileNotFoundError, match="known names: .*demo"):
        manifest.load_manifest("no_such_manifest")
