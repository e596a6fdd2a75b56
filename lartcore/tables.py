"""The paper's tables and figures, reproduced: one function per result, each returning a DataFrame with
the reproduced numbers next to the paper's (`lartcore.paper`), for the notebooks and the dashboard.

Numbers come from `Results`: runs of `lartcore.pipeline.ensure_run` (trained, predicted and evaluated on
first use, then read from the results registry). Metrics are AP points (x100). Column conventions:

    <metric>            reproduced value (NaN where the row cannot be reproduced here)
    <metric>_paper      the paper's value (NaN where the paper's number is unknown; see paper_note)
    variant             the pipeline variant reproducing the row ("" = none)
    status              "reproduced", or why not (e.g. "not available on demo data")

`df.attrs["banner"]` is "demo data: not comparable to the paper" when any number came from a demo-data run
(registry provenance), else "". `findings` computes the paper's claims (`CLAIMS`; those it cannot test:
`UNTESTED`) and the demo's sanity checks, each with its margin and PASS/FAIL.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import pandas as pd

from lartcore import paper, paths, pipeline
from lartcore.data import store
from lartcore.fileio import atomic_path
from lartcore.paths import DataRoot
from lartcore.registry import DEMO_BANNER, Registry, per_class_gain

METRICS = ("OM", "PI", "PM", "mAP")
REPRODUCED = "reproduced"
NOT_ON_DEMO = "not available on demo data"
SMPL_ONLY = "ours: SMPL pose tokens (229-d), no joints stream"

# Figures 2/3/5/7: (baseline A, model B, what stands in for what). Gains are B - A per class.
_JMRN = ("paper: JMRN (2D pose) vs LART-pose (multi-person); JMRN is not available, the single-person "
         "LART-pose stands in for it")
_MVIT = "paper: MViT (MaskFeat) vs LART; the single-frame appearance model stands in for MViT"
_V2 = "arXiv v2 figure not read, the pairing is ours"
FIGURE_PAIRS = {
    2: ("lart_pose_n1", "lart_pose_n5", _JMRN),
    3: ("appearance_single_frame", "lart", _MVIT),
    5: ("appearance_single_frame", "appearance_tracking", f"effect of tracking (appearance only -> + tracking); {_V2}"),
    7: ("appearance_tracking", "lart", f"effect of 3D pose (+ tracking -> + pose); {_V2}"),
}


@dataclass(frozen=True)
class Results:
    """Reproduced runs: `data_root` None = the bundled demo dataset (built on first use); size "demo" (small
    demo configs) or "paper" (paper configs, real data); `results_dir` None = $LART_RESULTS_DIR;
    `overrides`: key=value config overrides applied to every variant (e.g. ("epochs=1",) for a smoke run).
    read_only=True (the dashboard): only runs already in the registry under `dataset` are read, nothing is
    trained or built, and a missing run has NaN metrics."""
    data_root: str | Path | None = None
    size: str = "demo"
    results_dir: str | Path | None = None
    overrides: tuple[str, ...] = ()
    device: str | None = None          # "cpu", "cuda" or None (CUDA when available)
    read_only: bool = False
    dataset: str | None = None         # registry dataset folder of read-only runs (None: "demo" / "ava" by size)
    _runs: dict = field(default_factory=dict, compare=False, repr=False)   # variant -> run folder (memo)

    @property
    def registry(self) -> Registry:
        return Registry(self.results_dir)

    def root(self) -> Path:
        if self.read_only:
            return Path(self.data_root) if self.data_root is not None else paths.demo_root()
        return pipeline.resolve_data_root(self.data_root, self.size)

    def run(self, variant: str) -> Path | None:
        """The variant's registry run folder (trained/predicted/evaluated if not cached; read-only: the
        recorded run, or None when there is none)."""
        if variant not in self._runs:
            if self.read_only:
                run = self.registry.run_dir(self.dataset or ("demo" if self.size == "demo" else "ava"), variant)
                self._runs[variant] = run if (run / "metrics.json").is_file() else None
            else:
                self._runs[variant] = pipeline.ensure_run(variant, self.data_root, self.size, tuple(self.overrides),
                                                          self.registry, device=self.device)
        return self._runs[variant]

    def metrics(self, variant: str) -> dict[str, float]:
        """mAP, PM, OM, PI of the variant in AP points (NaN for a read-only run not made yet)."""
        run = self.run(variant)
        if run is None:
            return {k: math.nan for k in METRICS}
        m = self.registry.metrics(run.parent.name, run.name)
        return {k: 100.0 * m[k] for k in METRICS}

    def per_class(self, variant: str) -> pd.DataFrame:
        run = self.run(variant)
        if run is None:
            raise FileNotFoundError(f"no recorded run of {variant} in {self.registry.root}")
        return self.registry.per_class(run.parent.name, run.name)

    def provenance(self, variant: str) -> dict:
        """The run's provenance record ({} for a read-only run not made yet)."""
        run = self.run(variant)
        return {} if run is None else self.registry.provenance(run.parent.name, run.name)

    def is_demo(self, variant: str) -> bool:
        return bool(self.provenance(variant).get("demo"))


@dataclass(frozen=True)
class Recorded:
    """Metrics already measured, as `Results` gives them to `findings`: variant -> {metric: AP points}; a
    variant not in `values` has NaN metrics. `demo`: the numbers come from demo data."""
    values: dict[str, dict[str, float]]
    demo: bool = False

    def metrics(self, variant: str) -> dict[str, float]:
        return self.values.get(variant, dict.fromkeys(METRICS, math.nan))

    def is_demo(self, _variant: str) -> bool:
        return self.demo


def save(df: pd.DataFrame, name: str, results_dir: str | Path | None = None) -> Path:
    """Write a result table to `<results_dir>/tables/<name>.csv` (atomically); returns the path."""
    path = Registry(results_dir).root / "tables" / f"{name}.csv"
    with atomic_path(path) as tmp:
        df.to_csv(tmp, index=False)
    return path


def show(df: pd.DataFrame, precision: int = 1):
    """A styled view for notebooks: the banner (if any) as the caption, floats at `precision` decimals."""
    caption = df.attrs.get("banner") or df.attrs.get("title", "")
    style = df.style.format(precision=precision, na_rep="–").set_caption(caption)
    return style.set_table_styles([{"selector": "caption",
                                    "props": "color: #b00; font-weight: bold; font-size: 1.1em;"}])


def _finish(df: pd.DataFrame, name: str, demo: bool, title: str) -> pd.DataFrame:
    df.attrs.update(title=title, source=paper.SOURCES[name], banner=DEMO_BANNER if demo else "")
    return df


def _side_by_side(printed: pd.DataFrame, keys: list[str], plan: list[tuple[str, str]], results: Results,
                  metrics=METRICS) -> tuple[pd.DataFrame, bool]:
    """Paper rows (`printed`) + one (variant, text) per row: key columns, then `m`, `m_paper` for each
    metric, status and the paper's note. A row with variant "" is not reproduced (text says why); for a
    reproduced row the text (if any) qualifies it."""
    out = printed[keys].copy()
    out["variant"] = [v for v, _ in plan]
    got = {v: results.metrics(v) for v, _ in plan if v}
    for m in metrics:
        out[m] = [got[v][m] if v else math.nan for v, _ in plan]
        out[f"{m}_paper"] = printed[m].astype(float)
    out["status"] = [why if not v else f"{REPRODUCED} ({why})" if why else REPRODUCED for v, why in plan]
    out["paper_note"] = printed["note"]
    return out, any(results.is_demo(v) for v in got) if got else _demo_data(results)


def _demo_data(results: Results) -> bool:
    """The data root is a demo build: it carries the marker the registry's provenance checks too."""
    return (results.root() / "BUILD_COMPLETE").is_file()


def _unavailable(results: Results) -> str:
    return NOT_ON_DEMO if results.size == "demo" else "not reproduced by lartcore"


def table1(results: Results) -> pd.DataFrame:
    """Tracking statistics (#clips, #tracks, #bbox, mean track length, hours) of the data root's stores,
    per paper dataset (AVA = ava_* stores, Kinetics-400 = kinetics_* stores) and in total."""
    data = DataRoot(results.root())
    if not data.stores():
        raise FileNotFoundError(f"table1: no packed track store under {data.path / 'store'} (expected store/<split>/)")
    stats = pd.concat([store.stats(data.store(split)) for split in data.stores()])
    stats["paper_dataset"] = ["Kinetics-400" if d.startswith("kinetics") else "AVA" for d in stats["dataset"]]
    stats["frames"] = stats["#tracks"] * stats["mean track length (s)"]      # track-seconds, for the mean
    g = stats.groupby("paper_dataset").sum(numeric_only=True)
    g.loc["Total"] = g.sum()
    printed = paper.table1().set_index("dataset")
    out = pd.DataFrame({"dataset": ["AVA", "Kinetics-400", "Total"]})
    for ours, col in [("#clips", "clips"), ("#tracks", "tracks"), ("#bbox", "bbox")]:
        out[col] = out["dataset"].map(g[ours]).astype("Int64")
        out[f"{col}_paper"] = out["dataset"].map(printed[col])
    out["mean_length_s"] = out["dataset"].map(g["frames"] / g["#tracks"])
    out["mean_length_s_paper"] = out["dataset"].map(printed["mean_length_s"])
    out["hours"] = out["dataset"].map(g["hours"])
    out["hours_paper"] = out["dataset"].map(printed["hours"])
    out["paper_note"] = out["dataset"].map(printed["note"])
    return _finish(out, "table1", _demo_data(results), "Table 1: tracking statistics")


def table2(results: Results) -> pd.DataFrame:
    """AVA with 3D pose only: PoTion, JMRN (not reproducible: 2D-pose methods), LART-pose n=1 and n=5."""
    printed = paper.table2()
    other = _unavailable(results)
    plan = [("", f"{other} (2D-pose baseline, not implemented)")] * 2 + [
        ("lart_pose_n1", SMPL_ONLY), ("lart_pose_n5", SMPL_ONLY)]
    out, demo = _side_by_side(printed, ["method", "pose", "n_people"], plan, results)
    return _finish(out, "table2", demo, "Table 2: AVA with 3D pose only")


def table3(results: Results) -> pd.DataFrame:
    """State of the art on AVA v2.2: only LART-MViT is reproducible (the data's appearance feature stands in for
    MViT; no Hiera features; the other rows are other methods)."""
    printed = paper.table3()
    hiera = NOT_ON_DEMO if results.size == "demo" else "no Hiera features in lartcore"
    why = {"LART-MViT": ("lart", ""), "LART-Hiera": ("", hiera)}
    plan = [why.get(m, ("", f"{_unavailable(results)} (other method)")) for m in printed["method"]]
    out, demo = _side_by_side(printed, ["method", "pretrain"], plan, results, metrics=("mAP",))
    return _finish(out, "table3", demo, "Table 3: comparison with the state of the art")


def table4(results: Results) -> pd.DataFrame:
    """AVA-Kinetics: not reproducible here (no AVA-Kinetics data or evaluation in lartcore)."""
    printed = paper.table4()
    why = NOT_ON_DEMO if results.size == "demo" else "AVA-Kinetics evaluation not implemented"
    out, demo = _side_by_side(printed, ["method"], [("", why)] * len(printed), results, metrics=("mAP",))
    return _finish(out, "table4", demo, "Table 4: AVA-Kinetics")


def table5(results: Results) -> pd.DataFrame:
    """Ablation on the same detections: appearance only -> + tracking -> + 3D pose."""
    plan = [("appearance_single_frame", ""), ("appearance_tracking", ""), ("lart", "")]
    out, demo = _side_by_side(paper.table5(), ["model", "tracking", "pose"], plan, results)
    return _finish(out, "table5", demo, "Table 5: ablation (appearance -> + tracking -> + pose)")


def table6(results: Results) -> pd.DataFrame:
    """Backbones with and without LART. The appearance feature of the data stands in for MViT (on the demo
    data a synthetic feature); a Hiera backbone is not available."""
    hiera = NOT_ON_DEMO if results.size == "demo" else "no Hiera features in lartcore"
    plan = [("appearance_single_frame", ""), ("lart", ""), ("", hiera), ("", hiera)]
    out, demo = _side_by_side(paper.table6(), ["backbone", "lart"], plan, results)
    return _finish(out, "table6", demo, "Table 6: backbones with and without LART")


def figure6(results: Results) -> pd.DataFrame:
    """LART-pose mAP (and PI) vs the number of people n = 1..5 the model sees."""
    printed = paper.figure6()
    printed["OM"] = printed["PI"] = printed["PM"] = math.nan
    plan = [(f"lart_pose_n{n}", "") for n in printed["n_people"]]
    out, demo = _side_by_side(printed, ["n_people"], plan, results, metrics=("mAP", "PI"))
    return _finish(out, "figure6", demo, "Figure 6: LART-pose mAP vs number of people")


def figure_gains(results: Results, a: str, b: str, figure: int | None = None,
                 min_gain: float = 1.0) -> pd.DataFrame:
    """Per-class AP of variant `b` minus variant `a` (AP points), sorted by gain, only |gain| > min_gain, with
    relative gains; where the paper states a class's gain (figure given), `gain_paper`/`rel_gain_pct_paper`.
    Columns: id, name, type, ap_a, ap_b, gain, rel_gain_pct, gain_paper, rel_gain_pct_paper."""
    out = per_class_gain(results.per_class(a), results.per_class(b), min_gain=min_gain, relative=True)
    stated = paper.figure_gains()
    stated = stated[stated["figure"] == figure]
    for quantity, col in [("ap_gain", "gain_paper"), ("relative_gain_pct", "rel_gain_pct_paper")]:
        values = stated[stated["quantity"] == quantity].set_index("class_name")["value"]
        out[col] = out["name"].map(values).astype(float)
    out.attrs.update(a=a, b=b, figure=figure, note=FIGURE_PAIRS.get(figure, ("", "", ""))[2])
    name = f"Figure {figure}" if figure is not None else "Per-class gains"
    return _finish(out, "figure_gains", results.is_demo(a) or results.is_demo(b), f"{name}: {b} vs {a}")


# ---------------------------------------------------------------- claims

class Claim(NamedTuple):
    """A comparison "a > b" of reproduced numbers: each side is a sum of (variant, metric, weight) terms."""
    text: str               # the comparison as computed
    a: tuple
    b: tuple
    paper_key: str = ""     # the statement of `paper.claims()` it tests; "" = a sanity check of the demo


def _m(variant: str, metric: str = "mAP", weight: float = 1.0) -> tuple[str, str, float]:
    return variant, metric, weight


def _pose(n: int) -> str:
    return f"lart_pose_n{n}"


PAPER_CLAIM, SANITY_CHECK = "paper claim", "sanity check"
PASS, FAIL, NOT_RUN = "PASS", "FAIL", "not run"
CLAIMS: dict[str, Claim] = {
    # sanity checks of the demo (not claims of the paper): a trained model beats the class prior
    **{f"beats_prior_{v}": Claim(f"{v} mAP > class prior", (_m(v),), (_m("class_prior"),))
       for v in ("lart_pose_n1", "lart_pose_n5", "lart", "appearance_tracking", "appearance_single_frame")},
    # the paper's claims (`paper.claims()` has its words and where)
    "multi_person_pi": Claim("LART-pose n=5 > n=1 on PI", (_m(_pose(5), "PI"),), (_m(_pose(1), "PI"),),
                             "multi_person_pi"),
    **{f"pi_gain_largest_{k.lower()}": Claim(
        f"gain n=1 -> 5 of LART-pose: PI > {k}", (_m(_pose(5), "PI"), _m(_pose(1), "PI", -1)),
        (_m(_pose(5), k), _m(_pose(1), k, -1)), "pi_gain_largest") for k in ("OM", "PM")},
    **{f"grows_with_n_{n}": Claim(f"LART-pose mAP n={n} > n={n - 1}", (_m(_pose(n)),), (_m(_pose(n - 1)),),
                                  "grows_with_n") for n in range(2, 6)},
    "saturates": Claim("LART-pose mAP gain n=4 -> 5 < mean gain per step n=1 -> 4",
                       (_m(_pose(4), weight=1 / 3), _m(_pose(1), weight=-1 / 3)),
                       (_m(_pose(5)), _m(_pose(4), weight=-1)), "saturates"),
    "n5_over_n1": Claim("LART-pose mAP n=5 > n=1", (_m(_pose(5)),), (_m(_pose(1)),), "n5_over_n1"),
    "appearance_over_pose": Claim("LART > LART-pose n=5 (mAP)", (_m("lart"),), (_m(_pose(5)),),
                                  "appearance_over_pose"),
    "tracking": Claim("appearance + tracking > appearance only (mAP)", (_m("appearance_tracking"),),
                      (_m("appearance_single_frame"),), "tracking"),
    "pose": Claim("+ pose > + tracking: LART > appearance + tracking (mAP)", (_m("lart"),),
                  (_m("appearance_tracking"),), "pose"),
    **{f"lart_over_baseline_{k.lower()}": Claim(f"LART > appearance only on {k}", (_m("lart", k),),
                                                (_m("appearance_single_frame", k),), "lart_over_baseline")
       for k in ("OM", "PI", "PM")},
}

# What the paper claims that these runs cannot test: (where, claim, why).
UNTESTED = (
    ("Sec. 4.1, Table 2", "LART-pose beats the 2D-pose methods PoTion and JMRN",
     "the 2D-pose baselines are not implemented"),
    ("Sec. 4.2, Table 3", "LART-MViT beats the state of the art (+2.8 mAP over Video MAE)",
     "the other methods are not implemented"),
    ("Sec. 4.2, Figure 3", "LART improves 56 of the 60 classes over MaskFeat",
     "a count over AVA's 60 classes: the demo has 35"),
    ("Sec. 4.2, Table 4", "LART+MViT beats the state of the art on AVA-Kinetics (+1.5 mAP)",
     "no AVA-Kinetics data or evaluation"),
    ("Sec. 4.5, Table 6", "LART-Hiera 45.1 mAP, +2.5 over Hiera", "no Hiera features"),
    ("Secs. 4.1-4.5", "the absolute numbers (e.g. 24.1, 42.3, 45.1 mAP)",
     "demo data are synthetic: only comparisons are meaningful"),
)


def claims_for(*paper_keys: str) -> tuple[str, ...]:
    """Keys of the CLAIMS that test the given statements of `paper.claims()`, in CLAIMS order."""
    return tuple(k for k, c in CLAIMS.items() if c.paper_key in paper_keys)


def claim_where(key: str) -> str:
    """Where the paper makes claim `key` ("sanity check" for a sanity check of the demo)."""
    paper_key = CLAIMS[key].paper_key
    return paper.claims().set_index("key").at[paper_key, "where"] if paper_key else SANITY_CHECK


def claim_variants(key: str) -> set[str]:
    """The variants a claim compares."""
    claim = CLAIMS[key]
    return {v for v, _, _ in (*claim.a, *claim.b)}


def _claim_value(results: Results, terms: tuple) -> float:
    return sum(weight * results.metrics(variant)[metric] for variant, metric, weight in terms)


FINDINGS_COLUMNS = ["key", "kind", "where", "claim", "value_a", "value_b", "margin", "result", "paper_text"]


def findings(results: Results, claims: tuple[str, ...] = tuple(CLAIMS)) -> pd.DataFrame:
    """The named `claims` (keys of CLAIMS) computed on `results`, one row each: key, kind (paper claim or
    sanity check), where the paper makes it, the claim as computed, value_a, value_b, margin = a - b (AP
    points), result (PASS: a > b, FAIL, or "not run" where a run is missing) and the paper's words."""
    unknown = [c for c in claims if c not in CLAIMS]
    if unknown:
        raise ValueError(f"findings: unknown claims {unknown}; known: {list(CLAIMS)}")
    said = paper.claims().set_index("key")
    rows = []
    for key in claims:
        claim = CLAIMS[key]
        va, vb = _claim_value(results, claim.a), _claim_value(results, claim.b)
        result = NOT_RUN if math.isnan(va - vb) else PASS if va > vb else FAIL
        where, words = (said.at[claim.paper_key, "where"], said.at[claim.paper_key, "text"]) if claim.paper_key \
            else ("", "")
        rows.append({"key": key, "kind": PAPER_CLAIM if claim.paper_key else SANITY_CHECK, "where": where,
                     "claim": claim.text, "value_a": va, "value_b": vb, "margin": va - vb, "result": result,
                     "paper_text": words})
    demo = any(results.is_demo(v) for key in claims for v in claim_variants(key))
    out = pd.DataFrame(rows, columns=FINDINGS_COLUMNS)
    out.attrs.update(title="Findings (computed)", source="lartcore.tables.CLAIMS",
                     banner=DEMO_BANNER if demo else "")
    return out
