"""The search page in a real browser: Debian's chromium + chromium-driver (installed by the project's set-up, never
downloaded by a test tool), headless, against the app served by uvicorn on 127.0.0.1."""

from __future__ import annotations

import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from selenium import webdriver
from selenium.common.exceptions import NoAlertPresentException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait
from test_web import XSS_TITLE, fill

from pipeline.store import EmbeddedBackend, SQLiteStore
from pipeline.web import create_app

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(120),
]


@pytest.fixture(scope="module", autouse=True)
def _chromium_installed() -> None:
    """Chromium is a real part of the suite: missing, the tests fail (``make test`` installs it), never skip."""
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        pytest.fail("needs Debian's chromium and chromium-driver: run `make system-deps` (or `make test`)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    store = SQLiteStore(tmp_path / "browser.db")
    ids = fill(store)
    port = _free_port()
    config = uvicorn.Config(create_app(lambda: EmbeddedBackend(store.path, articles=store)), host="127.0.0.1", port=port, log_level="warning")
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, name="uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not srv.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert srv.started, "uvicorn did not start"
    try:
        yield f"http://127.0.0.1:{port}", ids
    finally:
        srv.should_exit = True
        thread.join(timeout=10)
        store.close()


@pytest.fixture
def browser(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[webdriver.Chrome]:
    monkeypatch.setenv("SE_OFFLINE", "true")  # Selenium Manager must never try to download a browser or driver
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
                 "--disable-dev-shm-usage", f"--user-data-dir={tmp_path / 'chromium-profile'}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(20)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(tmp_path / "chromium-profile", ignore_errors=True)


def _no_alert(driver: webdriver.Chrome) -> None:
    try:
        alert = driver.switch_to.alert
    except NoAlertPresentException:
        return
    text = alert.text
    alert.dismiss()
    pytest.fail(f"a script ran in the page: alert({text!r})")


def _total(driver: webdriver.Chrome) -> str:
    return driver.find_element(By.ID, "total").text


def test_search_filter_open_article_and_xss_stays_text(server, browser: webdriver.Chrome) -> None:
    base, ids = server
    wait = WebDriverWait(browser, 10)
    browser.get(base + "/")
    assert browser.title == "regwire news search"

    # search
    box = browser.find_element(By.NAME, "q")
    box.send_keys("stablecoin")
    browser.find_element(By.ID, "search-button").click()
    wait.until(ec.text_to_be_present_in_element((By.ID, "total"), "3 articles"))
    _no_alert(browser)
    titles = [a.text for a in browser.find_elements(By.CSS_SELECTOR, "li.hit a.hit-title")]
    assert XSS_TITLE in titles, "the HTML title is shown as text"
    assert browser.find_elements(By.CSS_SELECTOR, "ol.hits img") == []
    assert browser.find_elements(By.CSS_SELECTOR, "li.hit mark"), "matches are highlighted"

    # filter by jurisdiction (the facet checkbox submits the form)
    facet = browser.find_element(By.CSS_SELECTOR, '#facet-jurisdiction input[value="GB"]')
    assert "(1)" in facet.find_element(By.XPATH, "..").text
    facet.click()
    wait.until(ec.text_to_be_present_in_element((By.ID, "total"), "1 article"))
    assert "jurisdiction=GB" in browser.current_url
    hits = browser.find_elements(By.CSS_SELECTOR, "li.hit")
    assert [h.get_attribute("data-id") for h in hits] == [ids["uk"]]
    assert browser.find_element(By.CSS_SELECTOR, '#facet-jurisdiction input[value="GB"]').is_selected()

    # open the article: tags and their evidence
    browser.find_element(By.CSS_SELECTOR, "li.hit a.hit-title").click()
    wait.until(ec.presence_of_element_located((By.ID, "article-title")))
    assert browser.find_element(By.ID, "article-title").text == "FCA sets stablecoin rules for UK payments"
    assert "GB" in browser.find_element(By.ID, "tags").text
    evidence = browser.find_element(By.ID, "evidence")
    assert evidence.find_element(By.TAG_NAME, "mark").text == "Financial Conduct Authority"

    # the article whose title is HTML: text on its page too, and no script ran anywhere
    browser.get(f"{base}/articles/{ids['xss']}")
    _no_alert(browser)
    assert browser.find_element(By.ID, "article-title").text == XSS_TITLE
    assert "<script>alert(2)</script>" in browser.find_element(By.ID, "text").text
    assert browser.find_elements(By.CSS_SELECTOR, "section img, section script") == []
    assert browser.execute_script("return document.querySelectorAll('img[onerror]').length") == 0
