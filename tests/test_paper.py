"""The paper's numbers: provenance on every table, NaN only with a reason, and cross-table consistency
(the same reported number must agree wherever the paper prints it)."""
import math

import pandas as pd
import pytest

from lartcore import paper


@pytest.mark.parametrize("name", sorted(paper.TABLES))
def test_every_table_carries_its_source(name):
    df = paper.TABLES[name]()
    assert isinstance(df, pd.DataFrame) and len(df) > 0
    src = df.attrs["source"]
    assert paper.ARXIV in src and "http" in src
    assert df.attrs["paper"] == paper.PAPER


@pytest.mark.parametrize("name", sorted(paper.TABLES))
def test_missing_values_are_explained(name):
    df = paper.TABLES[name]()
    numeric = df.select_dtypes("number")
    for i, row in numeric.iterrows():
        if row.isna().any():
            assert df.loc[i, "note"].strip(), f"{name} row {i} has NaN without a note"


def test_table2_pose_only_values():
    t = paper.table2().set_index(["method", "pose"])
    assert t.loc[("JMRN", "2D"), ["OM", "PI", "PM", "mAP"]].tolist() == [7.1, 17.2, 27.6, 14.1]
    assert math.isnan(t.loc[("PoTion", "2D"), "OM"]) and t.loc[("PoTion", "2D"), "mAP"] == 13.1
    n5 = paper.table2().query("n_people == 5").iloc[0]
    assert [n5.OM, n5.PI, n5.PM, n5.mAP] == [13.3, 25.9, 48.7, 24.1]


def test_same_number_agrees_across_tables():
    t3 = paper.table3().set_index(["method", "pretrain"])["mAP"]
    t5 = paper.table5().set_index("model")["mAP"]
    t6 = paper.table6().set_index(["backbone", "lart"])["mAP"]
    assert t3[("LART", "K400")] == t5["MViT + Tracking + Pose"] == t6[("MViT", True)] == 42.3
    assert t5["MViT"] == t6[("MViT", False)] == 40.2
    # printed "(+2.8)" over Video MAE K400
    assert round(t3[("LART", "K400")] - t3[("Video MAE", "K400")], 1) == 2.8
    # printed "(+1.2)" for tracking
    assert round(t5["MViT + Tracking"] - t5["MViT"], 1) == 1.2
    f6 = paper.figure6().set_index("n_people")["mAP"]
    assert f6[5] == paper.table2().query("n_people == 5")["mAP"].iloc[0] == 24.1


def test_known_headline_numbers():
    assert paper.table6().set_index(["backbone", "lart"]).loc[("Hiera", True), "mAP"] == 45.1
    t4 = paper.table4().set_index("method")["mAP"]
    assert t4["LART"] == 38.91 and round(t4["LART"] - t4["RM"], 2) == 1.57
    t1 = paper.table1().set_index("dataset")
    assert t1.loc["AVA", "tracks"] + t1.loc["Kinetics-400", "tracks"] == 1_006_000  # "1m" total
    assert t1.loc["AVA", "bbox"] + t1.loc["Kinetics-400", "bbox"] == t1.loc["Total", "bbox"]


def test_unverified_numbers_are_absent():
    # v2-only values that could not be read must not appear as numbers
    n1 = paper.table2().query("n_people == 1").iloc[0]
    assert math.isnan(n1.mAP) and "not verified" in n1.note
    assert paper.figure6().query("n_people < 5")["mAP"].isna().all()
