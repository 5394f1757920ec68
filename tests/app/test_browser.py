"""A real browser (Debian's Chromium driven by Playwright) against the real server: every page renders with no
exception text, a SQL query runs, a prediction is made. Screenshots land in the test's tmp dir."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from app_helpers import MAIN, first_run_env, stop

from retailsim.app.cli import free_port, streamlit_command
from retailsim.app.settings import ENV_DATASETS
from retailsim.storage.dataset import Dataset

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PAGES = [
    ("Overview", "Overview"),
    ("Explore (EDA)", "Explore (EDA)"),
    ("Schema & data", "Schema & data"),
    ("SQL explorer", "SQL explorer"),
    ("Data quality", "Data quality"),
    ("Loyalty", "Loyalty"),
    ("Customer 360 & prediction", "Customer 360 & prediction"),
    ("Batch scoring", "Batch scoring"),
    ("Models", "Models"),
]
BAD_TEXT = ("Traceback (most recent call last)", "Exception:", "Error: ", "StreamlitAPIException")


@pytest.fixture(scope="module")
def server(app_dataset: Dataset, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The dashboard served by ``streamlit run`` exactly as ``retailsim app`` (and so ``make demo``) starts it,
    for a first-time user with an AI coding agent installed: the case in which Streamlit would add its
    "Deploy" button and its "Help agents write better apps" pop-up (its browser is a recording xdg-open)."""
    port = free_port()
    cmd = streamlit_command(
        [app_dataset.path], port=port, host="127.0.0.1", headless=False, python=sys.executable
    )
    assert cmd[4] == MAIN
    root = tmp_path_factory.mktemp("server")
    env, _opened = first_run_env(root, dict(os.environ, **{ENV_DATASETS: str(app_dataset.path)}), agent=True)
    log = root / "streamlit.log"
    with log.open("wb") as fh:
        proc = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL, stdout=fh, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                    if r.read() == b"ok":
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"streamlit did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.3)
        yield url
    finally:
        stop(proc)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: run scripts/ensure-chromium.sh (make test does)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


def _settle(page: object, timeout_s: float = 60) -> None:
    """Wait until Streamlit has finished the script run (the "running" indicator is gone for a moment)."""
    deadline = time.monotonic() + timeout_s
    quiet = 0
    while time.monotonic() < deadline:
        running = page.locator('[data-testid="stStatusWidget"]').count()  # type: ignore[attr-defined]
        quiet = quiet + 1 if running == 0 else 0
        if quiet >= 4:
            return
        page.wait_for_timeout(250)  # type: ignore[attr-defined]
    raise AssertionError("the page kept running")


def _assert_viewer_mode(page: object) -> None:
    """Users see the dashboard, not Streamlit's developer chrome: no "Deploy" button, no promotional pop-up,
    and the main menu has no developer items (rerun, clear cache)."""
    for testid in ("stSkillsNudge", "stAppDeployButton"):
        assert page.locator(f'[data-testid="{testid}"]').count() == 0, testid  # type: ignore[attr-defined]
    body = page.locator("body").inner_text()  # type: ignore[attr-defined]
    assert "Help agents" not in body and "Deploy" not in body
    menu = page.locator('[data-testid="stMainMenu"]')  # type: ignore[attr-defined]
    if menu.count():
        menu.first.click()
        items = page.locator('[data-testid="stMainMenuPopover"]').inner_text()  # type: ignore[attr-defined]
        page.keyboard.press("Escape")  # type: ignore[attr-defined]
        assert "Clear cache" not in items and "Rerun" not in items, items


def _assert_clean(page: object, what: str) -> None:
    exc = page.locator('[data-testid="stException"]').count()  # type: ignore[attr-defined]
    text = page.locator('[data-testid="stMain"]').inner_text()  # type: ignore[attr-defined]
    assert exc == 0, f"{what}: an exception is shown:\n{text[:2000]}"
    bad = [b for b in BAD_TEXT if b in text]
    assert not bad, f"{what}: {bad} on the page:\n{text[:2000]}"


def test_every_page_in_a_real_browser(server: str, browser: object, tmp_path: Path) -> None:
    page = browser.new_page(viewport={"width": 1400, "height": 1000})  # type: ignore[attr-defined]
    console_errors: list[str] = []
    page.on("pageerror", lambda e: console_errors.append(str(e)))
    page.goto(server, wait_until="domcontentloaded")
    page.wait_for_selector("h1:has-text('Overview')", timeout=60_000)
    _settle(page)
    _assert_viewer_mode(page)

    for link, title in PAGES:
        page.locator('[data-testid="stSidebarNav"]').get_by_text(link, exact=True).click()
        page.wait_for_selector(f"h1:has-text({title!r})", timeout=60_000)
        _settle(page)
        _assert_clean(page, link)
        page.screenshot(path=str(tmp_path / f"{link.split()[0].lower()}.png"), full_page=True)
        # the sidebar keeps the dataset summary on every page
        assert "transactions" in page.locator('[data-testid="stSidebar"]').inner_text()

        if link == "SQL explorer":
            box = page.locator('[data-testid="stTextArea"] textarea')
            box.fill("SELECT format, count(*) AS n FROM stores GROUP BY 1 ORDER BY n DESC")
            box.press("Control+Enter")
            _settle(page)
            page.get_by_role("button", name="Run query").click()
            page.wait_for_selector("text=rows in", timeout=30_000)
            _settle(page)
            _assert_clean(page, "SQL result")
            assert page.locator('[data-testid="stDataFrame"]').count() >= 1
            page.screenshot(path=str(tmp_path / "sql-result.png"), full_page=True)

        if link == "Customer 360 & prediction":
            form = page.locator('[data-testid="stForm"]')
            if form.count() == 0:
                # no trained model in this dataset: the page must say how to make one
                assert "retailsim ml train" in page.locator('[data-testid="stMain"]').inner_text()
                continue
            assert "Predicted spend" in page.locator('[data-testid="stMain"]').inner_text()
            product = form.locator('[data-testid="stTextInput"] input').first
            product.fill("1")
            form.get_by_role("button", name="Predict with today's basket").click()
            page.wait_for_selector("text=With today's basket", timeout=60_000)
            _settle(page)
            _assert_clean(page, "prediction")
            page.screenshot(path=str(tmp_path / "prediction.png"), full_page=True)

    # a page opened by its URL runs through the router too (sidebar sections, wide layout, dataset summary)
    page.goto(f"{server}/loyalty", wait_until="domcontentloaded")
    page.wait_for_selector("h1:has-text('Loyalty')", timeout=60_000)
    _settle(page)
    _assert_clean(page, "Loyalty by URL")
    nav = page.locator('[data-testid="stSidebarNav"]').inner_text()
    assert "Explore" in nav and "Predict" in nav, nav
    assert "Page not found" not in page.locator("body").inner_text()

    assert not console_errors, console_errors
    assert len(list(tmp_path.glob("*.png"))) >= len(PAGES)
    page.close()
