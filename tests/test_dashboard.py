"""The dashboard pages in Streamlit's AppTest (widgets present, a selection changes what is shown, notes
instead of tracebacks), and one real-browser run: `streamlit run` + headless Chromium via Playwright."""
import json
from pathlib import Path

import pytest
from dashboard_fixture import VARIANTS, build

from lartcore import tables
from lartcore.paths import DataRoot
from lartcore.registry import Registry

ROOT = Path(__file__).resolve().parents[1]
DASHBOARD = ROOT / "dashboard"


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    return build(tmp_path_factory.mktemp("dashboard"))


@pytest.fixture(autouse=True)
def panels_importable(monkeypatch):
    monkeypatch.syspath_prepend(str(DASHBOARD))     # what `streamlit run dashboard/app.py` does


def page(name: str, data: Path, results: Path, **query):
    from streamlit.testing.v1 import AppTest
    at = AppTest.from_file(str(DASHBOARD / "pages" / f"{name}.py"), default_timeout=120)
    at.session_state["data_root"] = str(data)
    at.session_state["results"] = str(results)
    for k, v in query.items():
        at.query_params[k] = v
    at.run()
    assert not at.exception, at.exception
    return at


def charts(at) -> list[dict]:
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


def chart(at, title: str) -> dict:
    """The plotly chart whose title starts with `title`."""
    return next(c for c in charts(at) if c["layout"].get("title", {}).get("text", "").startswith(title))


def image_caption(at) -> str:
    return next(e for e in at.main if type(e).__name__ == "Image").proto.imgs[0].caption


def test_app_entry_reads_command_line_and_navigates(demo, monkeypatch):
    from streamlit.testing.v1 import AppTest
    data, results = demo
    monkeypatch.setattr("sys.argv", ["app.py", "--data-root", str(data), "--results", str(results)])
    at = AppTest.from_file(str(DASHBOARD / "app.py"), default_timeout=120).run()
    assert not at.exception and [t.value for t in at.title] == ["Clip browser"]
    assert at.session_state["data_root"] == str(data) and at.session_state["results"] == str(results)
    for path, title in (("pages/per_class.py", "Per-class comparison"), ("pages/ablations.py", "Ablations")):
        at.switch_page(path).run()
        assert not at.exception and [t.value for t in at.title] == [title]


# ---- clip browser ---------------------------------------------------------------------------------------

def test_clip_browser_widgets_and_selections(demo):
    data, results = demo
    at = page("clip_browser", data, results)
    assert at.selectbox(key="video").value == "demo_va_000"
    assert at.selectbox(key="run").value == f"demo/{VARIANTS[0]}"
    assert at.slider(key="frame").value == 60                       # first keyframe (AVA second 902)
    assert "demo_va_000 · t = 902.00 s" in image_caption(at)
    people = at.dataframe[0].value
    assert len(people) >= 1 and people["labels"].str.contains("%").all()     # predicted chips shown
    assert {"dl_png", "dl_csv", "dl_glb", "dl_obj"} <= {b.key for b in at.get("download_button")}

    at.button(key="next_kf").click().run()
    assert at.slider(key="frame").value == 90 and "t = 903.00 s" in image_caption(at)
    at.selectbox(key="video").select("demo_va_001").run()
    assert not at.exception and "demo_va_001" in image_caption(at)
    assert at.query_params["video"] == "demo_va_001"
    timeline = chart(at, "track #")
    tid = at.selectbox(key="track").options[-1]
    at.selectbox(key="track").select(int(tid)).run()
    assert chart(at, "track #")["layout"]["title"]["text"] != timeline["layout"]["title"]["text"]
    assert f"track #{tid}" in chart(at, "track #")["layout"]["title"]["text"]


def test_clip_browser_marks_and_steps_shot_changes(demo):
    """demo_va_001 (tiny data) cuts to a second scene at frame 135 (t = 904.5 s); demo_va_000 has no cut."""
    data, results = demo
    at = page("clip_browser", data, results)
    assert "prev_shot" not in {b.key for b in at.button} and "shot " not in image_caption(at)
    assert chart(at, "video timeline")["layout"]["title"]["text"].endswith(", 1 shot")
    at = page("clip_browser", data, results, video="demo_va_001", t="903")
    assert "shot 1/2" in image_caption(at)
    strip = chart(at, "video timeline")
    assert strip["layout"]["title"]["text"].endswith(", 2 shots")
    cut_lines = [sh for sh in strip["layout"]["shapes"] if sh.get("line", {}).get("dash") == "dash"]
    assert [sh["x0"] for sh in cut_lines] == [904.5]
    assert [a["text"] for a in strip["layout"]["annotations"]] == ["shot change"]
    lanes = {tr["y"][0]: tr["base"][0] for tr in strip["data"]}             # track lanes: start times
    assert min(lanes.values()) < 904.5 and max(lanes.values()) >= 904.5    # tracks on both sides of the cut
    at.button(key="next_shot").click().run()
    assert at.slider(key="frame").value == 135 and "shot 2/2" in image_caption(at)
    at.button(key="prev_shot").click().run()
    assert at.slider(key="frame").value == 0 and "shot 1/2" in image_caption(at)
    after = next(int(y[1:]) for y, t0 in lanes.items() if t0 == 904.5)     # a track that starts at the cut
    at = page("clip_browser", data, results, video="demo_va_001", t="905", track=str(after))
    assert at.selectbox(key="track").value == after
    assert chart(at, "track #")["layout"]["title"]["text"].endswith("dashed = shot change")


def test_clip_browser_deep_link_and_label_toggles(demo):
    data, results = demo
    at = page("clip_browser", data, results, video="demo_va_001", t="904", track="2", run=f"demo/{VARIANTS[1]}")
    assert at.selectbox(key="video").value == "demo_va_001" and at.slider(key="frame").value == 120
    assert at.selectbox(key="run").value == f"demo/{VARIANTS[1]}"
    assert at.selectbox(key="track").value == 2
    labels = at.dataframe[0].value["labels"]
    assert labels.str.contains("GT ").any() and labels.str.contains("%").any()   # keyframe: GT + predictions
    at.sidebar.toggle[0].set_value(False).run()                                  # predicted labels off
    labels = at.dataframe[0].value["labels"]
    assert not labels.str.contains("%").any() and labels.str.contains("GT ").any()


def test_clip_browser_plays_and_exports_an_mp4(demo):
    data, results = demo
    at = page("clip_browser", data, results)
    at.button(key="play").click().run()
    assert not at.exception
    at.slider(key="mp4_seconds").set_value(1).run()
    at.button(key="mp4").click().run()
    assert not at.exception
    assert "dl_mp4" in {b.key for b in at.get("download_button")}
    assert len(at.get("video")) == 1


def test_clip_browser_notes_instead_of_tracebacks(demo, tmp_path):
    data, _ = demo
    at = page("clip_browser", data, tmp_path / "no_results")
    assert any("No results" in i.value for i in at.info)
    assert any("stand-in body" in c.value for c in at.caption)
    assert any("No video for" in c.value for c in at.caption)
    at = page("clip_browser", tmp_path / "no_data", tmp_path / "no_results")
    assert any("No track store" in w.value for w in at.warning)


# ---- per-class comparison -------------------------------------------------------------------------------

def test_per_class_page_compares_two_runs(demo):
    data, results = demo
    at = page("per_class", data, results)
    reg = Registry(results)
    a, b = (reg.per_class("demo", v).set_index("id") for v in VARIANTS)
    table = at.dataframe[0].value
    row = table.dropna(subset=["gain"]).iloc[0]
    assert row["gain"] == pytest.approx(100 * (b.at[row["id"], "ap"] - a.at[row["id"], "ap"]))
    assert table["gain"].dropna().is_monotonic_decreasing and "n_gt" in table
    gain_chart = charts(at)[1]                                     # lartcore.viz.class_gains, |gain| > 1
    big = table[table["gain"].abs() > 1.0]
    assert gain_chart["data"][2]["x"] == big["name"].tolist() and len(big)
    at.multiselect(key="types").set_value(["OM"]).run()
    assert set(at.dataframe[0].value["type"]) <= {"OM"}
    drill = at.dataframe[1].value
    assert drill["open"].str.startswith("/?video=").all()
    at.selectbox(key="run_b").select(f"demo/{VARIANTS[0]}").run()            # B = A: no gains
    assert (at.dataframe[0].value["gain"].dropna() == 0).all()
    assert any(c.value.startswith("A: **demo/") for c in at.caption)          # provenance beside numbers


def test_per_class_page_deep_link(demo):
    data, results = demo
    at = page("per_class", data, results, a=f"demo/{VARIANTS[1]}", b=f"demo/{VARIANTS[0]}")
    assert at.selectbox(key="run_a").value == f"demo/{VARIANTS[1]}"
    assert at.selectbox(key="run_b").value == f"demo/{VARIANTS[0]}"
    assert at.caption[0].value.startswith(f"A = {VARIANTS[1]}, B = {VARIANTS[0]}")
    assert at.query_params["a"] == f"demo/{VARIANTS[1]}"


def test_per_class_page_without_runs(demo, tmp_path):
    data, _ = demo
    at = page("per_class", data, tmp_path / "empty")
    assert any("No results" in i.value for i in at.info)


# ---- ablations ------------------------------------------------------------------------------------------

def test_ablations_page_shows_paper_and_registry_numbers(demo, tmp_path):
    data, results = demo
    at = page("ablations", data, results)
    t2 = at.dataframe[0].value
    row = t2[t2["variant"] == "lart_pose_n5"].iloc[0]
    assert row["mAP_paper"] == 24.1                                            # the paper's value
    assert row["mAP"] == pytest.approx(100 * Registry(results).metrics("demo", "lart_pose_n5")["mAP"])
    assert len(at.dataframe) == 6                       # tables 2, 5, 6, figure 6, findings + all runs
    found = at.dataframe[4].value.set_index("key")
    assert list(found.index) == list(tables.CLAIMS) and set(found["result"]) <= {tables.PASS, tables.FAIL,
                                                                                 tables.NOT_RUN}
    f6 = at.dataframe[3].value.set_index("n_people")
    assert f6.at[1, "mAP"] == pytest.approx(100 * Registry(results).metrics("demo", "lart_pose_n1")["mAP"])
    assert [d["name"] for d in charts(at)[0]["data"]] == ["reproduced", "paper"]   # Figure 6 plot
    assert any("Demo data" in w.value for w in at.warning)
    empty = page("ablations", data, tmp_path / "empty")
    assert any("No results" in i.value for i in empty.info)
    assert empty.dataframe[0].value["mAP"].isna().all()
    assert (empty.dataframe[4].value["result"] == tables.NOT_RUN).all()


# ---- real browser ---------------------------------------------------------------------------------------

@pytest.fixture
def server(demo, tmp_path):
    import screenshots
    with screenshots.serve(*demo, tmp_path / "streamlit.log") as url:
        yield url


@pytest.mark.browser
@pytest.mark.slow
def test_real_browser_selects_clip_and_person(server):
    import screenshots
    if not Path(screenshots.CHROMIUM).is_file():
        pytest.skip(f"{screenshots.CHROMIUM} missing: `.ci/run` installs Debian's chromium "
                    "(apt-get install -y chromium)")
    sync_playwright = pytest.importorskip("playwright.sync_api").sync_playwright
    reports = ROOT / "reports"
    reports.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = screenshots.launch(p)
        try:
            pg = browser.new_page(viewport={"width": 1400, "height": 2600})
            pg.goto(server + "/?video=demo_va_000&t=903", wait_until="networkidle")
            pg.get_by_test_id("stImage").first.wait_for(timeout=120_000)
            screenshots.choose(pg, "video", "demo_va_001")
            pg.get_by_test_id("stImage").get_by_text("demo_va_001").wait_for(timeout=120_000)
            table = pg.get_by_test_id("stDataFrame").first.bounding_box()      # people at this frame
            pg.mouse.click(table["x"] + 12, table["y"] + 36 + 35 + 17)          # 2nd row's selector: track 2
            screenshots.settle(pg)
            assert "track=2" in pg.url and "track #2" in plot_title(pg)
            screenshots.choose(pg, "follow person (track id)", "1")
            assert "video=demo_va_001" in pg.url and "track=1" in pg.url and "track #1" in plot_title(pg)
            caption = pg.get_by_test_id("stImage").first.inner_text()
            assert "t = 903.00 s" in caption and "2 people" in caption
            assert pg.get_by_test_id("stException").count() == 0
            pg.screenshot(path=str(reports / "dashboard_browser.png"), full_page=True)
        finally:
            browser.close()


def plot_title(pg) -> str:
    """Title of the followed person's pose timeline (the figure after the video timeline strip)."""
    return pg.locator(".js-plotly-plot .gtitle").filter(has_text="track #").first.text_content()


def test_chromium_install_step_in_ci():
    ci = (ROOT / ".ci" / "run").read_text()
    assert "apt-get install -y chromium" in ci and "apt-get update" in ci


def test_video_frame_reads_the_frame_shown_at_that_time(tmp_path):
    """A real video under <root>/videos is read at the frame's AVA time and resized to the tracks' size."""
    import numpy as np
    import panels

    from lartcore.video import write_video
    frames = [np.full((180, 320, 3), 5 * k, np.uint8) for k in range(50)]      # frame k: grey 5k
    write_video(tmp_path / "videos" / "vid_0000001.mp4", frames, fps=30)
    rgb, note = panels.video_frame(DataRoot(tmp_path), "vid_0000001", 30, (360, 640))
    assert note == "" and rgb.shape == (360, 640, 3)
    assert abs(float(rgb.mean()) - 150) < 3
    rgb, note = panels.video_frame(DataRoot(tmp_path), "other_video", 30, (360, 640))
    assert rgb is None and "No video for other_video" in note
