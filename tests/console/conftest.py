"""A worker with the demo's experiments and simulated traffic, and a headless Chromium.

The browser is Debian's `chromium` driven through its `chromedriver` (both installed
by `./run test`); nothing is downloaded at run time. Screenshots go to
ABSTREAM_SCREENSHOTS (docs/console/ refreshes the documentation's) or a temporary folder.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.wait import WebDriverWait

from abstream.worker_process import WorkerProcess
from tests.agents.test_faults import FaultRun
from tests.servers import Servers


@dataclass
class Console:
    worker: WorkerProcess
    run: FaultRun
    shots: Path

    @property
    def url(self) -> str:
        return self.worker.url

    def shot(self, browser: WebDriver, name: str) -> Path:
        """A screenshot of the whole page, as tall as its content."""
        height = browser.execute_script("return document.documentElement.scrollHeight")
        browser.set_window_size(1280, min(max(height, 600), 6000))
        path = self.shots / f"{name}.png"
        browser.save_screenshot(str(path))
        browser.set_window_size(1280, 900)
        return path


@pytest.fixture(scope="package")
def console(servers: Servers, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    run = FaultRun(servers, tmp_path_factory.mktemp("console"),
                   ABSTREAM_SRM_CHECK_INTERVAL_S="1")
    try:
        worker = run.start()
        asyncio.run(run.send(run.simulate()))
        asyncio.run(run.settle())
        shots = Path(os.environ.get("ABSTREAM_SCREENSHOTS") or tmp_path_factory.mktemp("shots"))
        shots.mkdir(parents=True, exist_ok=True)
        yield Console(worker, run, shots)
    finally:
        run.close()


@pytest.fixture(scope="package")
def browser() -> Iterator[WebDriver]:
    binary, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if binary is None or driver is None:
        pytest.fail("the console's tests need Debian's chromium and chromium-driver: "
                    "./run test installs them (apt-get install chromium chromium-driver)")
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu",
                     "--disable-dev-shm-usage", "--window-size=1280,900"):
        options.add_argument(argument)
    chrome = webdriver.Chrome(service=Service(driver), options=options)
    chrome.set_page_load_timeout(60)
    try:
        yield chrome
    finally:
        chrome.quit()


def sign_in(browser: WebDriver, console: Console, token: str) -> None:
    browser.get(console.url + "/ui/login")
    browser.delete_all_cookies()  # of this origin: the one the browser is on
    browser.find_element(By.ID, "token").send_keys(token)
    click_and_wait(browser, browser.find_element(By.ID, "sign-in-button"))


def click_and_wait(browser: WebDriver, element: WebElement) -> None:
    """Click what submits a form, and wait until the next page has replaced this one and
    loaded: a mark left on this page's window is gone with it."""
    browser.execute_script("window.abstreamBefore = true")
    element.click()
    WebDriverWait(browser, 30, ignored_exceptions=(WebDriverException,)).until(
        lambda driver: driver.execute_script(
            "return window.abstreamBefore === undefined && document.readyState === 'complete'"))
