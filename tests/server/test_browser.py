"""The dashboard in headless Chromium (Selenium): sign in, submit a run from the page, watch
it finish, open the report and a comparison, create and step a live twin, with no console
errors.

Skips with a reason without selenium, chromium or chromedriver. With
``GPUTWIN_SCREENSHOTS=DIR`` it saves the screenshots used in docs/server.md.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.server.builders import Twin, make_twin

webdriver = pytest.importorskip("selenium.webdriver", reason="needs selenium")
if shutil.which("chromium") is None or shutil.which("chromedriver") is None:
    pytest.skip("needs chromium and chromedriver (apt-get install chromium chromium-driver)",
                allow_module_level=True)

from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402


@pytest.fixture()
def served(tmp_path: Path) -> Iterator[tuple[Twin, str]]:
    import uvicorn

    twin = make_twin(f"sqlite:///{tmp_path / 'ui.db'}")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(twin.app, host="127.0.0.1", port=port,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    yield twin, f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture()
def browser() -> Iterator[Any]:
    opts = webdriver.ChromeOptions()
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                "--window-size=1280,900"):
        opts.add_argument(arg)
    opts.binary_location = shutil.which("chromium")
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = webdriver.ChromeService(executable_path=shutil.which("chromedriver"))
    driver = webdriver.Chrome(options=opts, service=service)
    driver.set_page_load_timeout(30)
    # elements a script adds after the load (htmx swaps) may take a moment on a busy machine
    driver.implicitly_wait(10)
    yield driver
    driver.quit()


def _shot(driver: Any, name: str) -> None:
    folder = os.environ.get("GPUTWIN_SCREENSHOTS")
    if folder:
        driver.save_screenshot(str(Path(folder) / f"{name}.png"))


def _submit(driver: Any, base: str, sets: str) -> str:
    driver.get(f"{base}/ui/runs")
    driver.find_element(By.NAME, "set").send_keys(sets)
    driver.find_element(By.CSS_SELECTOR, "#submit button").click()
    WebDriverWait(driver, 20).until(lambda d: "/ui/runs/run_" in d.current_url)
    return str(driver.current_url.rsplit("/", 1)[1])


def test_dashboard_in_chromium(served: tuple[Twin, str], browser: Any) -> None:
    twin, base = served
    browser.get(f"{base}/ui/login")
    browser.find_element(By.NAME, "key").send_keys(twin.keys["alice"])
    browser.find_element(By.TAG_NAME, "button").click()
    WebDriverWait(browser, 20).until(lambda d: d.current_url.endswith("/ui/runs"))
    sets = "cluster.num_nodes=8\nworkload.synthetic.num_jobs=20"
    first = _submit(browser, base, sets)
    assert browser.find_element(By.ID, "state").text == "queued"
    twin.work()  # the worker processes' job, done here
    # the page listens to the run's events and reloads when it ends
    WebDriverWait(browser, 30).until(
        lambda d: d.find_elements(By.TAG_NAME, "iframe"))
    assert browser.find_element(By.ID, "state").text == "done"
    _shot(browser, "run")
    second = _submit(browser, base, sets + "\nscheduler.profile=backfill-easy")
    twin.work()
    browser.get(f"{base}/ui/runs")
    rows = browser.find_element(By.ID, "runs").text
    assert first in rows and second in rows and "20 jobs" in rows
    _shot(browser, "runs")
    browser.get(f"{base}/ui/compare?runs={first},{second}")
    WebDriverWait(browser, 30).until(
        lambda d: d.find_elements(By.CSS_SELECTOR, "#plot .main-svg"))
    _shot(browser, "compare")
    # a live twin: create it from the page, step it an hour
    browser.get(f"{base}/ui/twins")
    browser.find_element(By.ID, "new").click()
    WebDriverWait(browser, 30).until(
        lambda d: '"gpus_total": 256' in d.find_element(By.ID, "state").text)
    browser.find_element(By.CSS_SELECTOR, "button[data-s='3600']").click()
    WebDriverWait(browser, 30).until(
        lambda d: '"time_s": 3600' in d.find_element(By.ID, "state").text)
    _shot(browser, "twin")
    severe = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert severe == [], severe
