"""Serve the dashboard on 127.0.0.1 and drive it with headless Chromium (Playwright): the browser test and
the README screenshots both use this.

    python dashboard/screenshots.py --data-root ROOT --results DIR --out docs/
"""
from __future__ import annotations

import argparse
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

APP = Path(__file__).resolve().parent / "app.py"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--no-first-run"]
# page -> (URL path, viewport height: Streamlit scrolls inside its own container, so a full-page shot is
# as tall as the viewport)
CLIP = "/?video=demo_va_001&t=903&track=2&run=demo/lart&b=demo/lart_pose_n5&class=11&xclass=11&edits=drop+others"
PAGES = {"clip_browser": (CLIP, 5200),
         "keyframes": ("/keyframes?run=demo/lart&class=79", 2400),
         "per_class": ("/per_class?a=demo/lart_pose_n1&b=demo/lart_pose_n5", 3400),
         "evaluation": ("/evaluation?run=demo/lart&b=demo/lart_pose_n5&class=79", 2200),
         "ablations": ("/ablations", 2600)}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(url: str, proc: subprocess.Popen, timeout: float = 90.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"streamlit exited with code {proc.returncode} before serving {url}")
        try:
            with urllib.request.urlopen(url + "/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(f"streamlit not healthy at {url} after {timeout} s")


@contextlib.contextmanager
def serve(data_root: Path, results: Path, log_path: Path):
    """`streamlit run dashboard/app.py` on a free 127.0.0.1 port -> its base URL; stopped by PID on exit."""
    port = free_port()
    cmd = [sys.executable, "-m", "streamlit", "run", str(APP), "--server.address", "127.0.0.1",
           "--server.port", str(port), "--server.headless", "true", "--browser.gatherUsageStats", "false",
           "--", "--data-root", str(data_root), "--results", str(results)]
    with open(log_path, "w") as log:
        proc = subprocess.Popen(cmd, cwd=APP.parents[1], stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
        try:
            wait_healthy(f"http://127.0.0.1:{port}", proc)
            yield f"http://127.0.0.1:{port}"
        finally:
            os.killpg(proc.pid, signal.SIGTERM)          # the process group of the server we started
            proc.wait(timeout=30)


def settle(pg, timeout_ms: int = 120_000) -> None:
    """Wait until Streamlit has finished running the script (no running-status widget, no loading
    skeletons, for 1.5 s in a row) and every plotly chart has drawn."""
    idle = ("!document.querySelector('[data-testid=stStatusWidget]') && "
            "!document.querySelector('[data-testid=stSkeleton]')")
    for _ in range(3):
        pg.wait_for_timeout(500)
        pg.wait_for_function(idle, timeout=timeout_ms)
    pg.wait_for_function("[...document.querySelectorAll('[data-testid=stPlotlyChart]')]"
                         ".every(c => c.querySelector('.main-svg'))", timeout=timeout_ms)


def choose(pg, label: str, option: str) -> None:
    """Pick `option` in the selectbox labelled `label` (data-testid locators: text locators hit plotly
    legends)."""
    box = pg.get_by_test_id("stSelectbox").filter(has=pg.get_by_text(label, exact=True))
    box.locator("input").click()
    pg.get_by_test_id("stSelectboxVirtualDropdown").get_by_text(option, exact=True).click()
    settle(pg)


def launch(p):
    return p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)


def capture(url: str, out: Path, width: int = 1400) -> list[Path]:
    """A full-page PNG of each page -> out/dashboard_<page>.png."""
    from playwright.sync_api import sync_playwright  # noqa: PLC0415  (the dev extra)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    with sync_playwright() as p:
        browser = launch(p)
        try:
            for name, (path, height) in PAGES.items():
                pg = browser.new_page(viewport={"width": width, "height": height})
                pg.goto(url + path, wait_until="networkidle")
                pg.get_by_test_id("stMainBlockContainer").get_by_role("heading").first.wait_for(timeout=120_000)
                settle(pg)
                if name == "clip_browser":                          # show the 3D view too
                    pg.get_by_text("3D view of the frame").click()
                    settle(pg)
                pg.screenshot(path=str(out / f"dashboard_{name}.png"), full_page=True)
                written.append(out / f"dashboard_{name}.png")
                pg.close()
        finally:
            browser.close()
    return written


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-root", required=True)
    p.add_argument("--results", required=True)
    p.add_argument("--out", default="docs")
    args = p.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with serve(Path(args.data_root), Path(args.results), out / "streamlit.log") as url:
        for path in capture(url, out):
            print(f"wrote {path}")
    (out / "streamlit.log").unlink()
    return 0


if __name__ == "__main__":
    sys.exit(main())
