"""AVA annotations: the schema's classes vs the reference table, label-map styles, CSV round trips,
timestamp forms, every validation error (message names file, line and column), what the official
evaluator reads anyway (lenient reading), and a fuzz test of every reader."""
import csv
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lartcore import schema
from lartcore.data import ava, strict_csv

SHARED = Path(__file__).resolve().parent / "data" / "ava"      # reference copies, see tests/data/README.md
ROW = "v0000000001,0902,0.100,0.200,0.500,0.900,12,0\n"


def _write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text)
    return p


# ------------------------------------------------------------------ classes and label maps


def test_class_counts_and_types():
    t = ava.classes()
    assert list(t["id"]) == list(range(1, 81))
    assert t.groupby("type").size().to_dict() == {"PM": 14, "OM": 49, "PI": 17}
    assert t[t.evaluated].groupby("type").size().to_dict() == {"PM": 13, "OM": 32, "PI": 15}
    assert len(schema.EVALUATED_IDS) == 60 and list(schema.EVALUATED_IDS) == sorted(schema.EVALUATED_IDS)
    # types are contiguous id ranges: PM 1..14, OM 15..63, PI 64..80
    assert (t.set_index("id")["type"] == pd.cut(t["id"], [0, 14, 63, 80], labels=["PM", "OM", "PI"])
            .astype(str).to_numpy()).all()


def test_schema_classes_equal_the_reference_table():
    with open(SHARED / "ava_v2.2_classes.tsv") as f:
        ref = list(csv.DictReader(f, delimiter="\t"))
    t = ava.classes()
    assert [int(r["id"]) for r in ref] == t["id"].tolist()
    assert [r["name"] for r in ref] == t["name"].tolist()
    assert [r["label_type"] for r in ref] == t["type"].tolist()
    assert [r["evaluated_in_60"] == "yes" for r in ref] == t["evaluated"].tolist()
    for name in ("ava_action_list_v2.2.pbtxt", "ava_action_list_v2.2_for_activitynet_2019.pbtxt"):
        assert (ava.RESOURCES / name).read_bytes() == (SHARED / name).read_bytes()


def test_packaged_label_maps_agree_with_table():
    t = ava.classes().set_index("id")
    full = ava.read_labelmap(ava.LABELMAP_80)
    assert full == t["name"].to_dict()
    assert ava.read_labelmap_types(ava.LABELMAP_80) == t["type"].to_dict()
    sixty = ava.read_labelmap(ava.LABELMAP_60)
    assert tuple(sixty) == schema.EVALUATED_IDS and all(full[i] == n for i, n in sixty.items())
    assert ava.read_labelmap_types(ava.LABELMAP_60) == {}          # item{} style carries no types


def test_mmaction2_label_maps():
    # item{} pbtxt with two ids sharing a name: both kept (keyed by id)
    assert ava.read_labelmap(SHARED / "mmaction2" / "action_list.txt") == {
        12: "action1", 17: "action2", 79: "action3", 80: "action3"}
    # the `id: name` list: same 60 ids and names as the 2019 pbtxt
    assert ava.read_labelmap(SHARED / "mmaction2" / "label_map.txt") == ava.read_labelmap(ava.LABELMAP_60)


def test_one_line_and_commented_pbtxt(tmp_path):
    p = _write(tmp_path, "m.pbtxt", '# comment\nitem { name: "a b" id: 3 }\nlabel {\n  name: "c"\n  label_id: 70\n'
                                    '  label_type: PERSON_INTERACTION\n}\n')
    assert ava.read_labelmap(p) == {3: "a b", 70: "c"}
    assert ava.read_labelmap_types(p) == {70: "PI"}


@pytest.mark.parametrize("text, line, words", [
    ('item {\n  name: "a"\n  id: 1\n}\nitem {\n  name: "b"\n  id: x\n}\n', 7, "id: expected an integer"),
    ('item {\n  name: "a"\n  id: 1\n}\nitem {\n  name: "b"\n  id: 1\n}\n', 5, "duplicate id 1"),
    ('item {\n  name: "a"\n', 2, "missing '}'"),
    ('item {\n  name: "a"\n}\n', 1, "needs both a name and an id"),
    ('itme {\n  name: "a"\n  id: 1\n}\n', 1, "expected 'label {' or 'item {'"),
    ('item {\n  nmae: "a"\n  id: 1\n}\n', 2, "expected one of"),
    ('label {\n  name: "a"\n  label_id: 1\n  label_type: WALKING\n}\n', 1, "label_type"),
])
def test_label_map_errors_name_file_and_line(tmp_path, text, line, words):
    p = _write(tmp_path, "bad.pbtxt", text)
    with pytest.raises(ava.AvaFormatError) as e:
        ava.read_labelmap_types(p)
    assert f"bad.pbtxt:{line}:" in str(e.value) and words in str(e.value)


def test_short_names():
    assert schema.short_name(17) == "carry/hold"
    assert schema.short_name(20) == "climb"
    assert (schema.short_name(61), schema.short_name(80)) == ("watch (TV)", "watch (person)")
    assert len({schema.short_name(i) for i in range(1, 81)}) == 80
    with pytest.raises(KeyError):
        schema.short_name(81)


# ------------------------------------------------------------------ CSV readers and writers


def _gt_frame():
    return pd.DataFrame({
        "video_id": ["vid_aaaaaaa", "vid_aaaaaaa", "vid_bbbbbbb", "vid_bbbbbbb"],
        "timestamp": [902.0, 902.0, 1798.0, 1000.0],
        "x1": [0.0, 0.123, np.nan, 0.5], "y1": [0.25, 0.0, np.nan, 0.5],
        "x2": [1.0, 0.5, np.nan, 0.5], "y2": [0.999, 1.0, np.nan, 0.75],
        "action_id": [12, 80, 0, 1], "person_id": [0, 1, -1, 7]})


def test_gt_round_trip_with_empty_keyframe(tmp_path):
    df = _gt_frame()
    ava.write_gt(df, tmp_path / "gt.csv")
    lines = (tmp_path / "gt.csv").read_text().splitlines()
    assert lines[0] == "vid_aaaaaaa,0902,0.000,0.250,1.000,0.999,12,0"
    assert lines[2] == "vid_bbbbbbb,1798"                       # a 2-column annotated-but-empty keyframe
    back = ava.read_gt(tmp_path / "gt.csv")
    assert list(back.columns) == ava.GT_COLUMNS
    assert back.dtypes.astype(str).tolist() == ["category", "float64", *["float64"] * 4, "int64", "int64"]
    pd.testing.assert_frame_equal(back.assign(video_id=back.video_id.astype(str)), df, check_dtype=False)


def test_writers_format_in_blocks(tmp_path, monkeypatch):
    """Written block by block (here 3 rows a block), the file equals the one-block file."""
    df = pd.concat([_gt_frame()] * 3, ignore_index=True)
    ava.write_gt(df, tmp_path / "one.csv")
    monkeypatch.setattr(strict_csv, "_WRITE_ROWS", 3)
    ava.write_gt(df, tmp_path / "blocks.csv")
    assert (tmp_path / "blocks.csv").read_bytes() == (tmp_path / "one.csv").read_bytes()
    assert len(ava.read_gt(tmp_path / "blocks.csv")) == 12


def test_detection_round_trip_is_exact(tmp_path):
    rng = np.random.default_rng(0)
    n = 500
    box = np.round(np.sort(rng.random((n, 2, 2)), axis=1), 3)     # x1 <= x2, y1 <= y2
    df = pd.DataFrame({"video_id": rng.choice(["aaaaaaaaaaa", "bbbbbbbbbbb"], n),
                       "timestamp": rng.integers(902, 1799, n).astype(float),
                       "x1": box[:, 0, 0], "y1": box[:, 0, 1], "x2": box[:, 1, 0], "y2": box[:, 1, 1],
                       "action_id": rng.integers(1, 81, n), "score": rng.random(n)})
    df.loc[0, "score"] = 1e-7
    ava.write_detections(df, tmp_path / "d.csv")
    back = ava.read_detections(tmp_path / "d.csv")
    assert back.dtypes.astype(str).tolist() == ["category", *["float64"] * 5, "int64", "float64"]
    pd.testing.assert_frame_equal(back.assign(video_id=back.video_id.astype(str)), df, check_dtype=False)
    # float32 scores are written with float32's shortest digits and read back to the same float32
    ava.write_detections(df.assign(score=df.score.astype(np.float32)), tmp_path / "d32.csv")
    back32 = ava.read_detections(tmp_path / "d32.csv")
    assert np.array_equal(back32.score.to_numpy().astype(np.float32), df.score.to_numpy().astype(np.float32))
    assert (tmp_path / "d32.csv").stat().st_size < (tmp_path / "d.csv").stat().st_size


def test_detections_with_exact_unclipped_boxes(tmp_path):
    """The official test path writes track boxes unclipped at full precision (x2 = 1.06...)."""
    df = pd.DataFrame({"video_id": ["x000330abcF"] * 2, "timestamp": [911.0, 911.0],
                       "x1": [0.40065689086914064, -0.01], "y1": [0.2251766840616862, 0.5],
                       "x2": [1.0612092852592467, 0.5], "y2": [0.793605359395345, 1.0], "action_id": [45, 24],
                       "score": np.array([0.98636717, 0.97857374], np.float32)})
    with pytest.raises(ava.AvaFormatError, match="column x2: expected a box coordinate in"):
        ava.write_detections(df, tmp_path / "d.csv")
    ava.write_detections(df, tmp_path / "d.csv", exact_boxes=True)
    assert (tmp_path / "d.csv").read_text().splitlines()[0] == \
        "x000330abcF,0911,0.40065689086914064,0.2251766840616862,1.0612092852592467,0.793605359395345,45,0.98636717"
    odd: list = []
    back = ava.read_detections(tmp_path / "d.csv", oddities=odd)          # as `lart eval` reads it
    assert (back[ava.BOX].to_numpy() == df[ava.BOX].to_numpy()).all()
    assert [o.kind for o in odd] == ["box coordinates outside [0, 1]"] and odd[0].count == 2
    assert (back["score"].to_numpy().astype(np.float32) == df["score"].to_numpy()).all()
    bad = _write(tmp_path, "nan.csv", "v0000000001,0902,0.1,nan,0.5,0.9,1,0.5\n")
    with pytest.raises(ava.AvaFormatError, match="nan.csv:1: column y1: expected a box coordinate in"):
        ava.read_detections(bad)


def test_person_boxes_and_keyframes_round_trip(tmp_path):
    boxes = pd.DataFrame({"video_id": ["aaaaaaaaaaa"] * 2, "timestamp": [902.0, 903.0], "x1": [0.1, 0.2],
                          "y1": [0.1, 0.2], "x2": [0.3, 0.4], "y2": [0.9, 1.0], "score": [0.99, 0.5]})
    ava.write_person_boxes(boxes, tmp_path / "pb.csv")
    assert (tmp_path / "pb.csv").read_text().splitlines()[0] == "aaaaaaaaaaa,0902,0.100,0.100,0.300,0.900,,0.99"
    back = ava.read_person_boxes(tmp_path / "pb.csv")
    assert list(back.columns) == ava.PERSON_BOX_COLUMNS
    pd.testing.assert_frame_equal(back.assign(video_id=back.video_id.astype(str)), boxes)
    keys = pd.DataFrame({"video_id": ["aaaaaaaaaaa", "b"], "timestamp": [1038.0, 902.0]})
    ava.write_keyframes(keys, tmp_path / "k.csv")
    assert (tmp_path / "k.csv").read_text() == "aaaaaaaaaaa,1038\nb,0902\n"
    back = ava.read_keyframes(tmp_path / "k.csv")
    pd.testing.assert_frame_equal(back.assign(video_id=back.video_id.astype(str)), keys)


def test_empty_files(tmp_path):
    ava.write_keyframes(pd.DataFrame({"video_id": [], "timestamp": []}), tmp_path / "k.csv")
    assert (tmp_path / "k.csv").read_bytes() == b""
    k = ava.read_keyframes(tmp_path / "k.csv")
    assert len(k) == 0 and list(k.columns) == ava.KEYFRAME_COLUMNS
    assert ava.read_gt(tmp_path / "k.csv").dtypes.astype(str).tolist()[-2:] == ["int64", "int64"]


def test_timestamp_forms_are_numeric(tmp_path):
    p = _write(tmp_path, "d.csv", "".join(f"aaaaaaaaaaa,{t},0.1,0.1,0.5,0.9,1,0.5\n"
                                          for t in ["0902", "902", "902.0", " 902", "0903"]))
    assert ava.read_detections(p).timestamp.tolist() == [902.0] * 4 + [903.0]


def test_mixed_column_counts_keep_file_order(tmp_path):
    p = _write(tmp_path, "gt.csv", "video_id,timestamp,x1,y1,x2,y2,action_id,person_id\n"   # header skipped
               "a0000000001,0903\n" + ROW + "v0000000001,0902,0.1,0.2,0.5,0.9,3\n" + ROW + "v0000000002,904\n")
    g = ava.read_gt(p)
    assert g.timestamp.tolist() == [903.0, 902.0, 902.0, 902.0, 904.0]
    assert g.action_id.tolist() == [0, 12, 3, 12, 0] and g.person_id.tolist() == [-1, 0, -1, 0, -1]
    assert g.x1.isna().tolist() == [True, False, False, False, True]
    assert g.video_id.astype(str).tolist() == ["a0000000001", "v0000000001", "v0000000001", "v0000000001",
                                               "v0000000002"]
    d = ava.read_detections(_write(tmp_path, "d7.csv", "v0000000001,0902,0.1,0.2,0.5,0.9,3\n"))
    assert d.score.tolist() == [1.0]


BAD_GT = [  # (file text, line, words in the message)
    (ROW + "v0000000001,0902,0.1,0.1,0.5\n", 2, "expected 8 or 7 or 2 comma-separated columns"),
    (ROW + ROW + "v0000000001,0902,0.1,abc,0.5,0.9,1,0\n", 3, "column y1: expected a number, found 'abc'"),
    (ROW + "v0000000001,0902,0.1,0.1,0.5,0.9,x,0\n", 2, "column action_id: expected an integer"),
    (ROW + "v0000000001,0902,0.1,0.1,1.5,0.9,1,0\n", 2, "column x2: expected a box coordinate in [0, 1]"),
    (ROW + "v0000000001,0902,-0.1,0.1,0.5,0.9,1,0\n", 2, "column x1: expected a box coordinate in [0, 1]"),
    (ROW + "v0000000001,0902,0.6,0.1,0.5,0.9,1,0\n", 2, "column x2: expected x2 >= x1"),
    (ROW + "v0000000001,0902,0.1,0.9,0.5,0.8,1,0\n", 2, "column y2: expected y2 >= y1"),
    (ROW + "v0000000001,0902,0.1,0.1,0.5,0.9,81,0\n", 2, "column action_id: expected an action id in 1..80"),
    (ROW + "v0000000001,0902,0.1,0.1,0.5,0.9,0,0\n", 2, "column action_id: expected an action id in 1..80"),
    (ROW + "video_id,timestamp,x1,y1,x2,y2,action_id,person_id\n" + ROW, 2, "header line in the middle"),
    (ROW + "\n" + ROW, 2, "empty line"),
    (ROW + "v0000000001,09x3\n", 2, "column timestamp: expected a number, found '09x3'"),
    (ROW + "v0000000001,0902,0.1,nan,0.5,0.9,1,0\n", 2, "column y1: expected a box coordinate"),
]


@pytest.mark.parametrize("text, line, words", BAD_GT)
def test_gt_errors_name_file_line_column(tmp_path, text, line, words):
    p = _write(tmp_path, "bad_gt.csv", text)
    with pytest.raises(ava.AvaFormatError) as e:
        ava.read_gt(p)
    assert isinstance(e.value, ValueError)
    assert f"bad_gt.csv:{line}:" in str(e.value) and words in str(e.value)


@pytest.mark.parametrize("reader, text, line, words", [
    (ava.read_detections, "v0000000001,0902,0.1,0.1,0.5,0.9,1,0.5\n" * 3 + "v0000000001,0902,0.1,0.1,0.5,0.9,1,inf\n",
     4, "column score: expected a finite score"),
    (ava.read_detections, "v0000000001,0902,0.1,0.1,0.5,0.9,1,0.5\nv0000000001,0902\n", 2, "columns"),
    (ava.read_person_boxes, "v0000000001,0902,0.1,0.1,0.5,0.9,,0.9\nv0000000001,0902,0.1,0.1,0.5,0.9,3,0.9\n",
     2, "column action_id: expected an empty field"),
    (ava.read_keyframes, "v0000000001,0902\nv0000000001,-5\n", 2, "column timestamp: expected a finite timestamp"),
])
def test_other_reader_errors(tmp_path, reader, text, line, words):
    p = _write(tmp_path, "bad.csv", text)
    with pytest.raises(ava.AvaFormatError) as e:
        reader(p)
    assert f"bad.csv:{line}:" in str(e.value) and words in str(e.value)


def test_error_line_counts_rows_of_other_widths(tmp_path):
    """Line numbers stay physical when 2-column rows are set aside during the fast parse."""
    text = ROW + "v0000000001,0903\n" * 3 + ROW + "v0000000001,0902,0.1,0.1,0.5,0.9,99,0\n"
    with pytest.raises(ava.AvaFormatError, match=r"bad.csv:6: column action_id"):
        ava.read_gt(_write(tmp_path, "bad.csv", text))
    text = ROW + "v0000000001,0903\n" * 3 + "v0000000001,0902,0.1,zz,0.5,0.9,9,0\n"
    with pytest.raises(ava.AvaFormatError, match=r"bad.csv:5: column y1: expected a number"):
        ava.read_gt(_write(tmp_path, "bad.csv", text))


def test_writers_refuse_bad_values(tmp_path):
    df = _gt_frame()
    with pytest.raises(ava.AvaFormatError, match=r"row 1: column x2"):
        ava.write_gt(df.assign(x2=[1.0, 1.5, np.nan, 0.5]), tmp_path / "g.csv")
    with pytest.raises(ava.AvaFormatError, match=r"row 0: column timestamp: expected whole seconds"):
        ava.write_gt(df.assign(timestamp=[902.5, 902, 903, 904]), tmp_path / "g.csv")
    with pytest.raises(ValueError, match="lacks columns"):
        ava.write_detections(df, tmp_path / "d.csv")
    assert not (tmp_path / "g.csv").exists()


def test_mmaction2_sample_and_reference_files():
    g = ava.read_gt(SHARED / "mmaction2" / "ava_sample.csv")
    assert len(g) == 8 and g.video_id.nunique() == 2 and (g.person_id == 0).all()
    assert sorted(g.action_id.unique()) == [12, 17, 74, 79, 80]
    assert g.loc[0, ["x1", "y1", "x2", "y2"]].tolist() == [0.031, 0.162, 0.670, 0.995]
    ex = ava.read_keyframes(SHARED / "mmaction2" / "ava_excluded_timestamps_sample.csv")
    assert ex.timestamp.tolist() == [903.0, 902.0]
    real = ava.read_keyframes(SHARED / "ava_val_excluded_timestamps_v2.2.csv")
    assert len(real) == 37 and real.video_id.nunique() == 7
    inc = ava.read_included_timestamps(SHARED / "ava_included_timestamps_v2.2.txt")
    assert np.array_equal(inc, np.arange(schema.KEYFRAME_SECONDS[0], schema.KEYFRAME_SECONDS[1] + 1)) and len(inc) == 897


def test_eval_cases_read_like_a_plain_csv_parse():
    for case in sorted((SHARED / "eval_cases").iterdir()):
        if not case.is_dir():
            continue
        for name, reader in (("gt.csv", ava.read_gt), ("dets.csv", ava.read_detections)):
            df = reader(case / name, oddities=[])                 # as the official reads them
            with open(case / name, newline="", encoding="utf-8-sig") as f:
                rows = list(csv.reader(f))
            assert df.video_id.astype(str).tolist() == [r[0] for r in rows]
            assert df.timestamp.tolist() == [float(r[1]) for r in rows]
            assert np.array_equal(df[["x1", "y1", "x2", "y2"]].to_numpy(),
                                  np.array([[float(v) for v in r[2:6]] for r in rows]).reshape(-1, 4), equal_nan=True)
            assert df.action_id.tolist() == [int(r[6]) for r in rows]
        labels = ava.read_labelmap(case / "labelmap.pbtxt")
        assert {1: "a", 2: "b"}.items() <= labels.items() and set(labels) <= {1, 2, 3}


# ------------------------------------------------------------------ what the official evaluator reads


ODD_DET = ("v1,0902,-0.01,0.1,0.5,1.1,12,0.9\n"        # coordinates outside [0, 1]
           "v1,0902,0.6,0.1,0.5,0.9,12,0.8\n"          # x2 < x1
           "v1,0902,0.1,0.1,0.5,0.9,81,0.7\n"          # action id outside 1..80
           "v1,0902,0.1,nan,0.5,0.9,12,0.6\n"          # NaN coordinate
           "v1,0902,0.1,0.1,0.5,0.9,12,nan\n"          # NaN score
           "v1,0902,0.1,0.1,0.5,1.2,12,inf\n")         # outside [0, 1] again, infinite score


def test_lenient_reading_keeps_odd_rows_and_summarises_each_kind(tmp_path):
    p = _write(tmp_path, "d.csv", ODD_DET)
    with pytest.raises(ava.AvaFormatError, match=r"d.csv:1: column x1: expected a box coordinate in \[0, 1\]"):
        ava.read_detections(p)                                       # strict: the first odd row
    odd = []
    d = ava.read_detections(p, oddities=odd)
    assert len(d) == 6 and d.action_id.tolist()[2] == 81 and np.isnan(d.score[4]) and d.x1[0] == -0.01
    by_kind = {o.kind: (o.count, o.first) for o in odd}
    assert by_kind == {"box coordinates outside [0, 1]": (2, f"{p}:1"), "x2 < x1 or y2 < y1": (1, f"{p}:2"),
                       "action ids outside 1..80": (1, f"{p}:3"), "non-finite box coordinates": (1, f"{p}:4"),
                       "non-finite scores": (2, f"{p}:5")}
    assert str(odd[0]).startswith(f"{p}:") and all(o.what == "detections" for o in odd)


def test_lenient_gt_keeps_errors_the_official_cannot_read(tmp_path):
    odd = []
    with pytest.raises(ava.AvaFormatError, match=r"g.csv:2: column timestamp: expected a finite timestamp"):
        ava.read_gt(_write(tmp_path, "g.csv", ROW + "v0000000001,-5,0.1,0.1,0.5,0.9,1,0\n"), oddities=odd)
    with pytest.raises(ava.AvaFormatError, match=r"g.csv:2: column y1: expected a number, found 'abc'"):
        ava.read_gt(_write(tmp_path, "g.csv", ROW + "v0000000001,0902,0.1,abc,0.5,0.9,1,0\n"), oddities=odd)
    g = ava.read_gt(_write(tmp_path, "g.csv", ROW + "v0000000001,0902,0.9,0.1,0.5,0.9,0,3\n"), oddities=odd)
    assert g.x1.tolist() == [0.1, 0.9] and [o.kind for o in odd] == ["x2 < x1 or y2 < y1", "action ids outside 1..80"]


def test_quoted_fields_read_as_the_csv_module_does(tmp_path):
    text = '"vid,1",0902,0.1,"0.1",0.5,0.9,12,0.5\nv2,0903,0.1,0.1,0.5,0.9,12,0.5\n"v\n3",0904,0.1,0.1,0.5,0.9,1,1\n'
    p = _write(tmp_path, "q.csv", text)
    with pytest.raises(ava.AvaFormatError, match=r"q.csv:1: expected unquoted fields"):
        ava.read_detections(p)
    odd = []
    d = ava.read_detections(p, oddities=odd)
    with open(p, newline="") as f:
        rows = list(csv.reader(f))
    assert d.video_id.astype(str).tolist() == [r[0] for r in rows] == ["vid,1", "v2", "v\n3"]
    assert d.y1.tolist() == [0.1] * 3
    assert [(o.kind, o.count, o.first) for o in odd] == [("quoted fields (RFC 4180)", 3, f"{p}:1")]
    with pytest.raises(ava.AvaFormatError, match=r"q.csv:5: column y1: expected a number"):   # line 5: 4 rows
        ava.read_detections(_write(tmp_path, "q.csv", text + "v4,0905,0.1,zz,0.5,0.9,1,1\n"), oddities=[])


def test_bom_is_skipped_and_reported(tmp_path):
    p = tmp_path / "b.csv"
    p.write_bytes(b"\xef\xbb\xbf" + ROW.encode())
    with pytest.raises(ava.AvaFormatError, match=r"b.csv:1: expected no byte-order mark"):
        ava.read_gt(p)
    odd = []
    assert ava.read_gt(p, oddities=odd).video_id.astype(str).tolist() == ["v0000000001"]
    assert [o.kind for o in odd] == ["a UTF-8 byte-order mark"] and "would differ" in str(odd[0])


@pytest.mark.parametrize("data, line", [(ROW.encode() * 3 + b"v0000000001,0902,0.1,0.\xff,0.5,0.9,1,0\n", 4),
                                        (b"v\xe9d,0902,0.1,0.1,0.5,0.9,12,0\n", 1),
                                        (ROW.encode() * 2 + b"v\xc3,0902,0.1,0.1,0.5,0.9,12,0\n", 3)])
def test_invalid_utf8_names_file_and_line(tmp_path, data, line):
    p = tmp_path / "u.csv"
    p.write_bytes(data)
    for read in (ava.read_gt, lambda q: ava.read_gt(q, oddities=[])):
        with pytest.raises(ava.AvaFormatError, match=rf"u.csv:{line}: expected UTF-8 text, found the byte 0x"):
            read(p)


def test_directories_and_empty_files(tmp_path):
    for read in (ava.read_gt, ava.read_detections, ava.read_person_boxes, ava.read_keyframes, ava.read_labelmap):
        with pytest.raises(ava.AvaFormatError, match=f"{tmp_path}: expected a file, found a directory"):
            read(tmp_path)
    empty = _write(tmp_path, "e.csv", "")
    with pytest.raises(ava.AvaFormatError, match=r"e.csv: expected person boxes, found an empty file"):
        ava.read_person_boxes(empty)
    with pytest.raises(ava.AvaFormatError, match=r"e.pbtxt: expected label-map entries"):
        ava.read_labelmap(_write(tmp_path, "e.pbtxt", "# nothing\n"))


@pytest.mark.parametrize("value, words", [("-1", "expected an AVA action id in 1..80, found -1"),
                                          ("0", "found 0"), ("81", "found 81"),
                                          ("1e12", "expected an integer, found '1e12'"),
                                          ("1e30", "expected an integer, found '1e30'"),
                                          ("1.5", "expected an integer, found '1.5'")])
def test_label_map_ids_outside_ava_are_one_clear_error(tmp_path, value, words):
    p = _write(tmp_path, "m.pbtxt", f'item {{\n  name: "a"\n  id: 1\n}}\nitem {{\n  name: "b"\n  id: {value}\n}}\n')
    with pytest.raises(ava.AvaFormatError) as e:
        ava.read_labelmap(p)
    assert str(e.value).startswith(f"{p}:7: id: ") and words in str(e.value) and "\n" not in str(e.value)


FUZZ_PARTS = [b"v1", b"vid", b",", b",", b",", b"0902", b"902.5", b"0.5", b"1", b"12", b"-1", b"81", b"nan",
              b"inf", b"1e400", b"99999999999999999999", b'"', b'""', b"\n", b"\n", b"\r\n", b" ", b"",
              b"\xef\xbb\xbf", b"\xff", b"\xc3", b"x", b"video_id,timestamp", b"item {", b"}", b"id:", b"name:"]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(FUZZ_PARTS), max_size=40))
def test_readers_raise_only_their_own_errors(tmp_path_factory, parts):
    """Whatever the bytes, a reader returns a frame or raises one AvaFormatError (a ValueError naming the
    file); never a pyarrow, Unicode, index or key error."""
    p = tmp_path_factory.mktemp("fuzz") / "f.csv"
    p.write_bytes(b"".join(parts))
    readers = [ava.read_gt, ava.read_detections, ava.read_person_boxes, ava.read_keyframes, ava.read_labelmap,
               lambda q: ava.read_gt(q, oddities=[]), lambda q: ava.read_detections(q, oddities=[])]
    for read in readers:
        try:
            read(p)
        except ava.AvaFormatError as e:
            assert str(p) in str(e) and "\n" not in str(e).replace(repr("\n")[1:-1], ""), str(e)


# ------------------------------------------------------------------ large files: parsed in byte ranges

def _read_both_ways(monkeypatch, path: Path, read) -> tuple:
    """read(path) as a small file is read (one reader) and as a large one (cut at line ends into byte
    ranges parsed in parallel, here 4 of them): (result or error message) of each."""
    def attempt():
        try:
            df = read(path)
        except ava.AvaFormatError as e:
            return str(e)
        return df.assign(video_id=df["video_id"].astype(str)), list(df["video_id"].cat.categories)
    serial = attempt()
    with monkeypatch.context() as m:
        m.setattr(strict_csv, "_PART_BYTES", 1)
        m.setattr(strict_csv.pa, "cpu_count", lambda: 4)
        parts = attempt()
    return serial, parts


def _same(a, b) -> bool:
    if isinstance(a, str) or isinstance(b, str):
        return a == b
    return a[0].equals(b[0]) and a[1] == b[1]


_BULK = "".join(f"v{i % 3},{902 + i // 7},0.{i % 9}00,0.100,0.950,0.9{i % 10}0,{1 + i % 80},0.{i:04d}\n"
                for i in range(40))


@pytest.mark.parametrize("text", [
    _BULK,
    "video_id,timestamp,x1,y1,x2,y2,action_id,score\n" + _BULK,               # a header
    _BULK.replace("\n", "\r\n"),                                               # CRLF
    _BULK.rstrip("\n"),                                                        # no final newline
    "\ufeff" + _BULK,                                                          # a BOM
    _BULK.replace(",0.0001\n", ",1e-3\n").replace(",0.0002\n", ",  .5\n"),     # number forms
    _BULK.replace("v1,", "vid é-1 x,").replace("v2,", "v#2;!,"),               # odd ids
    _BULK + _BULK,                                                             # duplicate rows
    _BULK[:200] + "\n" + _BULK[200:],                                          # a blank line
    _BULK.replace("\n", ",\n", 1),                                             # a trailing comma
    _BULK.replace(",0.0003\n", ",abc\n"),                                      # a bad field
    _BULK.replace(",0.0030\n", "\n"),                                          # a 7-column row: score 1.0
    _BULK.replace("v1,", '"v1",'),                                             # quoted: one reader
    _BULK.replace("0.950", "1.950"),                                           # an odd value
    *(_BULK * 45 + late for late in (                                          # quotes after the sniffed 64 KB:
        '"v1",0903,0.1,0.1,0.9,0.9,5,0.5\n',                                   # a quoted key
        '"v,1",0903,0.1,0.1,0.9,0.9,5,0.5\n',                                  # a key with a comma
        'v"1,0903,0.1,0.1,0.9,0.9,5,0.5\n',                                    # a quote inside a key
        'v1,0903,"0.1",0.1,0.9,0.9,5,0.5\n',                                   # a quoted number
        'v1,0903,0.1,0.1,0.9,0.9,5,"0.5\n0.6"\n')),                            # a line break in quotes
])
def test_large_files_read_in_byte_ranges_exactly_as_small_ones(tmp_path, monkeypatch, text):
    """The parallel reading of large files gives the same frame (same categories in the same order) or
    the same one-line error and the same lenient warnings as one reader."""
    path = tmp_path / "d.csv"
    path.write_bytes(text.encode())
    for read in (ava.read_detections, ava.read_gt):
        serial, parts = _read_both_ways(monkeypatch, path, read)
        assert _same(serial, parts), (serial, parts)
    odd: list[list] = [[], []]
    for i, bytes_ in enumerate((None, 1)):
        with monkeypatch.context() as m:
            if bytes_:
                m.setattr(strict_csv, "_PART_BYTES", bytes_)
            try:
                ava.read_detections(path, oddities=odd[i])
            except ava.AvaFormatError as e:
                odd[i].append(str(e))
    assert odd[0] == odd[1]


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(st.lists(st.sampled_from(FUZZ_PARTS), max_size=20), st.integers(0, len(_BULK)))
def test_byte_ranges_fuzz(tmp_path_factory, monkeypatch, parts, at):
    """Any bytes inserted into a valid file: the parallel reading gives what one reader gives."""
    path = tmp_path_factory.mktemp("ranges") / "d.csv"
    path.write_bytes(_BULK[:at].encode() + b"".join(parts) + _BULK[at:].encode())
    serial, parallel = _read_both_ways(monkeypatch, path, ava.read_detections)
    assert _same(serial, parallel), (serial, parallel)


def test_arrow_columns_become_numpy_views_of_their_data():
    """The reader takes numeric Arrow arrays as numpy views of their data buffer (pyarrow's own conversion
    imports pandas): offsets of sliced arrays respected, values equal, nulls refused."""
    for values, typ in (([3, -1, 7, 2**40, 5], pa.int64()), ([3, 1, 7, 9, 5], pa.int32()),
                        ([0.5, np.nan, -np.inf, 1e-300, 2.0], pa.float64())):
        arr = pa.array(values, typ)
        for part in (arr, arr.slice(2), arr.slice(1, 3)):
            got = strict_csv._numpy(part)
            assert got.dtype == np.dtype(typ.to_pandas_dtype())
            np.testing.assert_array_equal(got, np.array(part.to_pylist(), got.dtype))
    with pytest.raises(AssertionError, match="nulls"):
        strict_csv._numpy(pa.array([1, None], pa.int64()))
    text = pa.array(["", "ab", "é", "", "xyz"])
    for part in (text, text.slice(1), text.slice(2, 2)):
        np.testing.assert_array_equal(strict_csv._lengths(part), [len(v.encode()) for v in part.to_pylist()])


_GT_BULK = "".join(f"v{i % 3},{902 + i // 7},0.1,0.2,0.{5 + i % 4},0.9,{1 + i % 80},{i % 5}\n" for i in range(40))


@pytest.mark.parametrize("text, layout, widths", [
    (_BULK, ava._DET, 1),
    (_BULK.replace("0.950", "nan", 3).replace(",0.0007\n", ",-inf\n"), ava._DET, 1),   # NaN, -inf
    (_BULK.replace(",0.0030\n", "\n"), ava._DET, 2),                         # a 7-column row
    (_GT_BULK.replace("\n", "\nv1,0903\n", 1), ava._GT, 2),                    # a 2-column row
    ("v1,0902\nv2,0903\n", ava._GT, 1),                                        # only 2-column rows
])
def test_reader_bounds_are_the_columns_min_and_max(monkeypatch, tmp_path, text, layout, widths):
    """The bounds the parser takes batch by batch and range by range are each column's (min, max), NaN
    when the column has one, as the value checks use them; not taken when rows of other widths are
    interleaved."""
    path = tmp_path / "d.csv"
    path.write_bytes(text.encode())
    for parts in (False, True):
        with monkeypatch.context() as m:
            if parts:
                m.setattr(strict_csv, "_PART_BYTES", 1)
                m.setattr(strict_csv.pa, "cpu_count", lambda: 4)
            got = strict_csv.load(path, layout)
        if widths > 1:
            assert got.bounds is None
            continue
        assert set(got.bounds) == set(got.cols) - {"video_id"}
        for c, (lo, hi) in got.bounds.items():
            v = got.cols[c]
            np.testing.assert_array_equal([lo, hi], [v.min(), v.max()], err_msg=f"{c} parts={parts}")
