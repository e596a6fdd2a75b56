"""`lart demo`'s report on hand-made metrics (no training): every claim printed with its margin and PASS/FAIL,
failures included; what it cannot test and why; the Markdown block of the README and its rewrite."""
from __future__ import annotations

import math
import re
from pathlib import Path

import pytest

from lartcore import demo, pipeline, tables

ALL = (pipeline.CLASS_PRIOR, *demo.DEMO_VARIANTS)


def metrics(**changes) -> dict[str, dict[str, float]]:
    """AP points per variant: every claim holds except the ones `changes` break."""
    base = {pipeline.CLASS_PRIOR: 5.0, "appearance_single_frame": 15.0, "appearance_tracking": 20.0, "lart": 40.0,
            **{f"lart_pose_n{n}": v for n, v in zip(range(1, 6), (30.0, 33.0, 35.0, 36.0, 36.5), strict=True)}}
    out = {v: {"mAP": m, "PM": m, "OM": m, "PI": m} for v, m in base.items()}
    out["lart_pose_n5"]["PI"] = 45.0                          # the PI gain n=1 -> 5 is the largest
    for key, value in changes.items():
        variant, metric = key.rsplit("__", 1)
        out[variant][metric] = value
    return out


def test_every_claim_is_reported_with_margin_and_mark_failures_included():
    result = demo.summarize(metrics(appearance_tracking__mAP=14.0), Path("root"), {})
    f = result.findings.set_index("key")
    assert list(f.index) == list(tables.CLAIMS) == list(demo.testable_claims())   # every variant is trained
    assert f.at["tracking", "result"] == tables.FAIL and f.at["tracking", "margin"] == -1.0
    assert (f.drop(["tracking", "pose"])["result"] == tables.PASS).all()          # pose: 40 > 14 still holds
    assert f["margin"].map(math.isfinite).all()
    text = demo.findings_text(result.findings)
    for r in result.findings.itertuples():                                       # one line per claim
        line = next(ln for ln in text.splitlines() if f"  {r.claim}  [" in ln)
        assert line.startswith(r.result) and f"{r.margin:+.1f}" in line
    assert re.search(r"^FAIL +-1\.0 +14\.0 +15\.0  appearance \+ tracking > appearance only", text, re.MULTILINE)
    assert "[sanity check]" in text and "[Sec. 4.3, Table 5]" in text


def test_claims_the_demo_cannot_test_say_why():
    assert demo.untested()["claim"].tolist() == [c for _, c, _ in tables.UNTESTED]
    some = demo.untested((pipeline.CLASS_PRIOR, "lart_pose_n1", "lart_pose_n5"))
    row = some.set_index("claim").loc[tables.CLAIMS["tracking"].text]
    assert row["where"] == "Sec. 4.3, Table 5"
    assert row["why"] == "needs appearance_single_frame, appearance_tracking"
    assert "multi_person_pi" in demo.testable_claims((pipeline.CLASS_PRIOR, "lart_pose_n1", "lart_pose_n5"))
    assert "no Hiera features" in demo.untested_text()


def test_markdown_has_the_table_every_finding_and_the_untested(tmp_path):
    result = demo.summarize(metrics(), Path("root"), {})
    md = demo.markdown(result)
    assert "| LART (pose + appearance) | 40.0 | 40.0 | 40.0 | 40.0 |" in md
    assert md.count("| **PASS** |") == len(tables.CLAIMS) and "FAIL" not in md
    assert "| **PASS** | appearance + tracking > appearance only (mAP) | +5.0 | 20.0 | 15.0 | Sec. 4.3, Table 5 |" in md
    assert all(f"- {c} (" in md for _, c, _ in tables.UNTESTED)
    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n\n{demo.README_BEGIN}\nold\n{demo.README_END}\n\nrest\n")
    demo.update_readme(readme, result)
    text = readme.read_text()
    assert demo.readme_block(text) == md and text.startswith("# x\n\n") and text.endswith("\n\nrest\n")
    demo.update_readme(readme, result)                                           # idempotent
    assert readme.read_text() == text
    with pytest.raises(ValueError, match="no block between"):
        demo.readme_block("no markers")


def test_lart_demo_markdown_and_readme(monkeypatch, tmp_path, capsys):
    from lartcore.cli import commands
    from lartcore.cli import main as lart_main
    result = demo.summarize(metrics(), tmp_path, {})
    monkeypatch.setattr(pipeline, "resolve_data_root", lambda root, _size: Path(root))
    monkeypatch.setattr(demo, "run", lambda *_a, **_k: result)
    monkeypatch.setattr(commands.notebooks, "run", lambda **_k: pytest.fail("--markdown runs no notebook"))
    readme = tmp_path / "README.md"
    readme.write_text(f"{demo.README_BEGIN}\n{demo.README_END}\n")
    assert lart_main(["demo", "--root", str(tmp_path), "--markdown", "--readme", str(readme)]) == 0
    out = capsys.readouterr().out
    assert demo.markdown(result) in out and demo.readme_block(readme.read_text()) == demo.markdown(result)
