"""lartcore.tables and lartcore.viz on hand-made results: reproduced numbers land next to the paper's,
unreproducible rows say why, findings compare the right numbers, Table 1 counts a real store."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from lartcore import paper, tables, viz
from lartcore.data.store import write_store
from lartcore.registry import DEMO_BANNER, read_per_class

VARIANTS = ["lart_pose_n1", "lart_pose_n2", "lart_pose_n3", "lart_pose_n4", "lart_pose_n5", "lart",
            "appearance_tracking", "appearance_single_frame", "class_prior"]


class FakeResults:
    """Duck-typed tables.Results: metrics as given (AP points), per-class tables as given, demo flag."""

    def __init__(self, metrics: dict, per_class: dict | None = None, demo: bool = True, root=None,
                 size: str = "demo"):
        self._metrics, self._per_class, self._demo, self._root, self.size = metrics, per_class, demo, root, size
        self.asked: list[str] = []

    def metrics(self, variant):
        self.asked.append(variant)
        return self._metrics[variant]

    def per_class(self, variant):
        return self._per_class[variant]

    def is_demo(self, _variant):
        return self._demo

    def root(self):
        return self._root


def metrics_for(seed=0) -> dict:
    rng = np.random.default_rng(seed)
    return {v: dict(zip(tables.METRICS, rng.uniform(5, 60, 4).round(3), strict=True)) for v in VARIANTS}


def test_table2_puts_each_variant_beside_its_paper_row():
    m = metrics_for()
    t = tables.table2(FakeResults(m))
    printed = paper.table2()
    assert list(t["method"]) == list(printed["method"])
    for metric in tables.METRICS:
        np.testing.assert_array_equal(t[f"{metric}_paper"].to_numpy(), printed[metric].to_numpy(float))
    n5 = t[(t["method"] == "LART-pose") & (t["n_people"] == 5)].iloc[0]
    n1 = t[(t["method"] == "LART-pose") & (t["n_people"] == 1)].iloc[0]
    assert (n5["variant"], n5["PI"], n5["mAP"], n5["mAP_paper"]) == ("lart_pose_n5", m["lart_pose_n5"]["PI"],
                                                                      m["lart_pose_n5"]["mAP"], 24.1)
    assert n1["OM"] == m["lart_pose_n1"]["OM"] and n1["mAP_paper"] == 22.9          # arXiv v2 row
    assert n5["status"].startswith(tables.REPRODUCED)
    others = t[t["method"].isin(["PoTion", "JMRN"])]
    assert others[list(tables.METRICS)].isna().all().all()
    assert others["status"].str.startswith(tables.NOT_ON_DEMO).all()
    assert t.attrs["banner"] == DEMO_BANNER and "Table 2" in t.attrs["source"]


def test_full_size_says_not_reproduced_instead_of_demo():
    t = tables.table2(FakeResults(metrics_for(), demo=False, size="paper"))
    assert t.attrs["banner"] == ""
    assert not t["status"].str.contains("demo").any()


def test_table5_ablation_rows_and_table6_backbones():
    m = metrics_for(1)
    t5 = tables.table5(FakeResults(m))
    assert list(t5["variant"]) == ["appearance_single_frame", "appearance_tracking", "lart"]
    assert list(t5["mAP"]) == [m[v]["mAP"] for v in t5["variant"]]
    assert list(t5["mAP_paper"]) == [40.2, 41.4, 42.3]
    t6 = tables.table6(FakeResults(m))
    hiera = t6[t6["backbone"] == "Hiera"]
    assert hiera["mAP"].isna().all() and (hiera["status"] == tables.NOT_ON_DEMO).all()
    assert hiera["mAP_paper"].tolist()[1] == 45.1
    assert t6.loc[t6["backbone"] == "MViT", "mAP"].tolist() == [m["appearance_single_frame"]["mAP"],
                                                                 m["lart"]["mAP"]]


def test_table3_and_table4_only_reproduce_what_exists(tmp_path):
    m = metrics_for(2)
    res = FakeResults(m)
    t3 = tables.table3(res)
    lart_mvit = t3[t3["method"] == "LART-MViT"].iloc[0]
    assert t3["mAP"].notna().sum() == 1 and lart_mvit["mAP"] == m["lart"]["mAP"]
    assert len(t3) == len(paper.table3()) and lart_mvit["mAP_paper"] == 42.6
    assert t3.loc[t3["method"] == "LART-Hiera", "status"].iloc[0] == tables.NOT_ON_DEMO
    t4 = tables.table4(FakeResults(m, root=tmp_path))
    assert t4["mAP"].isna().all() and (t4["status"] == tables.NOT_ON_DEMO).all()
    assert t4["mAP_paper"].tolist() == paper.table4()["mAP"].tolist()


def test_table4_banner_comes_from_the_data_root_marker(tmp_path):
    (tmp_path / "BUILD_COMPLETE").write_text("{}")
    assert tables.table4(FakeResults({}, root=tmp_path)).attrs["banner"] == DEMO_BANNER
    assert tables.table4(FakeResults({}, root=tmp_path / "real", size="paper")).attrs["banner"] == ""


def test_figure6_one_row_per_n():
    m = metrics_for(3)
    f = tables.figure6(FakeResults(m))
    assert f["n_people"].tolist() == [1, 2, 3, 4, 5]
    assert f["mAP"].tolist() == [m[f"lart_pose_n{n}"]["mAP"] for n in range(1, 6)]
    assert f["PI"].tolist() == [m[f"lart_pose_n{n}"]["PI"] for n in range(1, 6)]
    assert f["mAP_paper"].isna().tolist() == [False, True, True, True, False]   # n=1, 5 from Table 2


def test_findings_compare_the_claimed_numbers():
    m = {v: {"OM": 0.0, "PI": 0.0, "PM": 0.0, "mAP": 0.0} for v in VARIANTS}
    for n, value in zip(range(1, 6), [10.0, 14.0, 16.0, 16.5, 17.0], strict=True):     # grows, then saturates
        m[f"lart_pose_n{n}"]["mAP"] = value
    m["lart_pose_n5"]["PI"], m["lart_pose_n1"]["PI"] = 8.0, 9.0              # does not hold
    m["appearance_single_frame"]["mAP"], m["appearance_tracking"]["mAP"], m["lart"]["mAP"] = 20.0, 22.0, 21.0
    m["class_prior"]["mAP"] = 15.0
    f = tables.findings(FakeResults(m)).set_index("key")
    assert list(f.index) == list(tables.CLAIMS)
    assert (f.at["multi_person_pi", "value_a"], f.at["multi_person_pi", "value_b"]) == (8.0, 9.0)
    assert f.at["multi_person_pi", "margin"] == -1.0 and f.at["multi_person_pi", "result"] == tables.FAIL
    assert f.at["tracking", "result"] == tables.PASS and f.at["tracking", "margin"] == 2.0
    assert f.at["pose", "result"] == tables.FAIL
    assert [f.at[f"grows_with_n_{n}", "margin"] for n in range(2, 6)] == [4.0, 2.0, 0.5, 0.5]
    assert (f.at["saturates", "value_a"], f.at["saturates", "value_b"]) == pytest.approx((6.5 / 3, 0.5))
    assert f.at["n5_over_n1", "margin"] == 7.0
    # PI gain -1 (9 -> 8) vs OM and PM gains 0
    assert f.at["pi_gain_largest_om", "margin"] == f.at["pi_gain_largest_pm", "margin"] == -1.0
    prior = f.loc["beats_prior_appearance_single_frame"]
    assert (prior["result"], prior["margin"], prior["kind"], prior["where"]) == (tables.PASS, 5.0,
                                                                                 tables.SANITY_CHECK, "")
    assert (f["kind"] == tables.PAPER_CLAIM).sum() == len([c for c in tables.CLAIMS.values() if c.paper_key])
    said = paper.claims().set_index("key")
    assert f.at["tracking", "where"] == said.at["tracking", "where"] == "Sec. 4.3, Table 5"
    assert f.at["tracking", "paper_text"] == said.at["tracking", "text"]
    assert list(f.reset_index().columns) == tables.FINDINGS_COLUMNS


def test_every_paper_statement_is_computed_and_missing_runs_say_not_run():
    """Each claim of `paper.claims()` is tested by >= 1 computed claim; a missing run gives "not run"."""
    assert {c.paper_key for c in tables.CLAIMS.values()} - {""} == set(paper.claims()["key"])
    f = tables.findings(tables.Recorded({"lart": {k: 40.0 for k in tables.METRICS}}), ("pose", "beats_prior_lart"))
    assert f["result"].tolist() == [tables.NOT_RUN] * 2 and f["margin"].isna().all()
    assert tables.claim_where("tracking") == "Sec. 4.3, Table 5"
    assert tables.claim_where("beats_prior_lart") == tables.SANITY_CHECK


def test_findings_subset_only_runs_what_it_needs():
    res = FakeResults(metrics_for())
    f = tables.findings(res, ("tracking",))
    assert len(f) == 1 and set(res.asked) == {"appearance_tracking", "appearance_single_frame"}
    with pytest.raises(ValueError, match="unknown claims \\['nope'\\]"):
        tables.findings(res, ("nope",))


def per_class(aps: dict[int, float]) -> pd.DataFrame:
    names = {1: "bend/bow (at the waist)", 12: "stand", 14: "walk", 17: "carry/hold (an object)",
             20: "dance", 64: "fight/hit (a person)"}
    types = {1: "PM", 12: "PM", 14: "PM", 17: "OM", 20: "PM", 64: "PI"}
    return pd.DataFrame({"id": list(aps), "name": [names[i] for i in aps], "type": [types[i] for i in aps],
                         "ap": list(aps.values()), "n_gt": 5, "n_det": 9})


def test_figure_gains_filters_sorts_and_attaches_the_papers_stated_gain():
    a = per_class({1: 0.50, 12: 0.30, 14: 0.200, 17: 0.40, 20: 0.10, 64: math.nan})
    b = per_class({1: 0.505, 12: 0.45, 14: 0.150, 17: 0.41, 20: 0.30, 64: 0.9})
    g = tables.figure_gains(FakeResults({}, {"x": a, "y": b}), "x", "y", figure=2)
    # gains: 0.5 (dropped, <= 1), +15, -5, 1.0 (dropped: not > 1), +20; 64 has no AP in A
    assert g["id"].tolist() == [20, 12, 14]
    np.testing.assert_allclose(g["gain"], [20.0, 15.0, -5.0])
    np.testing.assert_allclose(g["rel_gain_pct"], [200.0, 50.0, -25.0])
    assert g.loc[0, "gain_paper"] == 39.8 and g.loc[0, "rel_gain_pct_paper"] == 30.1
    assert g.loc[1:, ["gain_paper", "rel_gain_pct_paper"]].isna().all().all()
    assert g.attrs["a"] == "x" and g.attrs["banner"] == DEMO_BANNER
    other = tables.figure_gains(FakeResults({}, {"x": a, "y": b}, demo=False), "x", "y", figure=3)
    assert other[["gain_paper", "rel_gain_pct_paper"]].isna().all().all() and other.attrs["banner"] == ""


def test_figure_pairs_name_pipeline_variants():
    from lartcore.pipeline import variant_names
    assert set(tables.FIGURE_PAIRS) == {2, 3, 5, 7}
    for a, b, note in tables.FIGURE_PAIRS.values():
        assert a in variant_names() and b in variant_names() and note
    for claim in tables.CLAIMS.values():
        assert all(v in variant_names() and m in tables.METRICS for v, m, _ in (*claim.a, *claim.b))


def test_table1_counts_a_store_per_paper_dataset(tmp_path):
    from tests.test_infer import make_track
    ava = [make_track("vid_aaaaaaa", 1, length=90), make_track("vid_aaaaaaa", 2, length=60,
                                                                 detected=np.arange(60) % 2 == 0),
           make_track("vid_bbbbbbb", 1, keyframe=90, length=30)]
    kin = [make_track("vid_kkkkkkk", 1, length=300)]
    for t in kin:
        t.dataset = "kinetics-train"
    write_store(ava, tmp_path / "store" / "ava_val")
    write_store(kin, tmp_path / "store" / "kinetics_train")
    t = tables.table1(FakeResults({}, root=tmp_path)).set_index("dataset")
    assert t.loc["AVA", ["clips", "tracks", "bbox"]].tolist() == [2, 3, 90 + 30 + 30]
    assert t.loc["Kinetics-400", ["clips", "tracks", "bbox"]].tolist() == [1, 1, 300]
    assert t.loc["Total", ["clips", "tracks", "bbox"]].tolist() == [3, 4, 450]
    assert t.loc["AVA", "mean_length_s"] == pytest.approx((90 + 60 + 30) / 3 / 30)
    assert t.loc["Total", "mean_length_s"] == pytest.approx(480 / 4 / 30)
    assert t.loc["Total", "hours"] == pytest.approx(480 / 30 / 3600)
    assert t.loc["AVA", "tracks_paper"] == 320_000 and t.loc["Total", "mean_length_s_paper"] == 3.4
    assert t.attrs["banner"] == ""                     # no BUILD_COMPLETE: not the demo build


def test_table1_without_a_store_names_the_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match=str(tmp_path / "store")):
        tables.table1(FakeResults({}, root=tmp_path))


def test_save_round_trip_and_show_caption(tmp_path):
    t = tables.table5(FakeResults(metrics_for()))
    path = tables.save(t, "table_5_ablation", tmp_path)
    assert path == tmp_path / "tables" / "table_5_ablation.csv"
    back = pd.read_csv(path)
    assert list(back.columns) == list(t.columns)
    np.testing.assert_allclose(back["mAP"], t["mAP"])
    assert DEMO_BANNER in tables.show(t).to_html()


def test_viz_figures_carry_the_data():
    a = per_class({1: 0.5, 12: 0.3, 14: 0.2, 20: 0.1})
    b = per_class({1: 0.6, 12: 0.1, 14: 0.2, 20: math.nan})
    fig = viz.per_class_ap(a, b, "A", "B", banner=DEMO_BANNER)
    assert [t.name for t in fig.data] == ["A", "B"]
    assert list(fig.data[1].y) == pytest.approx([60.0, 20.0, 10.0])         # sorted by B; 20 has no AP in B
    assert DEMO_BANNER in fig.layout.title.text
    g = tables.figure_gains(FakeResults({}, {"a": a, "b": b}), "a", "b")
    fig = viz.class_gains(g, "a", "b")
    assert list(fig.data[2].y) == pytest.approx(g["gain"].tolist()) and fig.data[2].text[0] == "+20%"
    f6 = tables.figure6(FakeResults(metrics_for()))
    fig = viz.map_vs_people(f6)
    assert list(fig.data[0].y) == f6["mAP"].tolist() and list(fig.data[1].x) == [1, 5]   # printed: n=1, 5


def test_results_reads_metrics_from_the_registry(tmp_path, monkeypatch):
    """Results.metrics/per_class read the run folder ensure_run returns, in AP points."""
    from lartcore.eval import EvalResult
    from lartcore.registry import Registry
    reg = Registry(tmp_path)
    pc = per_class({1: 0.25, 12: 0.5})
    pred = tmp_path / "p.csv"
    pred.write_text("v,902,0,0,1,1,1,0.5\n")
    run = reg.save_eval("demo", "lart", EvalResult(pc, 0.375, {"PM": 0.375, "OM": math.nan, "PI": 0.1}), pred)
    calls = []
    monkeypatch.setattr("lartcore.pipeline.ensure_run",
                        lambda variant, *_a, **_k: calls.append(variant) or reg.run_dir("demo", variant))
    res = tables.Results(results_dir=tmp_path)
    assert res.run("lart") == run
    got = res.metrics("lart")
    assert got["mAP"] == 37.5 and got["PM"] == 37.5 and got["PI"] == pytest.approx(10.0) and math.isnan(got["OM"])
    pd.testing.assert_frame_equal(res.per_class("lart"), read_per_class(run / "per_class.csv"))
    assert res.is_demo("lart") is False
    assert calls == ["lart"]                           # one pipeline call per variant and Results
