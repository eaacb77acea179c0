"""The chat page in headless Chromium: send a message, watch the answer stream in."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

from tests.serve.conftest import start_server

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
DRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"

pytestmark = pytest.mark.skipif(
    not (os.path.exists(CHROMIUM) and os.path.exists(DRIVER)),
    reason="needs Debian chromium + chromium-driver: apt-get install -y chromium chromium-driver")


@pytest.fixture
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-extensions", "--no-first-run",
                "--disable-sync", "--window-size=1000,800"):
        opts.add_argument(arg)
    driver = webdriver.Chrome(service=Service(DRIVER), options=opts)
    yield driver
    driver.quit()


def test_chat_page_streams_answer(model_dir, browser, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    live, stop = start_server(model_dir, api_key=None)
    try:
        browser.get(live.url + "/")
        # record every text the answer shows, to see that it grew in steps (streaming)
        browser.execute_script("""
            window.seen = [];
            new MutationObserver(() => {
              const a = document.querySelector('.assistant');
              if (a) window.seen.push(a.textContent);
            }).observe(document.getElementById('log'), {subtree: true, childList: true, characterData: true});""")
        browser.find_element(By.ID, "max_tokens").clear()
        browser.find_element(By.ID, "max_tokens").send_keys("40")
        # greedy: a sampled answer from this tiny model can be a single token (nothing to stream)
        browser.find_element(By.ID, "temperature").clear()
        browser.find_element(By.ID, "temperature").send_keys("0")
        browser.find_element(By.ID, "input").send_keys("The quick brown fox")
        browser.find_element(By.ID, "send").click()
        WebDriverWait(browser, 30).until(
            lambda d: d.find_elements(By.CSS_SELECTOR, ".assistant[data-done='1']")
            or d.find_elements(By.CSS_SELECTOR, ".error"))
        assert not browser.find_elements(By.CSS_SELECTOR, ".error")
        answer = browser.find_element(By.CSS_SELECTOR, ".assistant").text
        seen = [s for s in browser.execute_script("return window.seen") if s]
        shot = Path(os.environ.get("LMFORGE_ARTIFACTS", tmp_path)) / "chat_page.png"
        shot.parent.mkdir(parents=True, exist_ok=True)
        time.sleep(0.1)
        browser.save_screenshot(str(shot))
        assert answer.strip() and browser.find_element(By.CSS_SELECTOR, ".user").text == "The quick brown fox"
        assert len(set(seen)) > 1, f"answer did not stream: {seen}"
        assert shot.stat().st_size > 1000
    finally:
        stop()
