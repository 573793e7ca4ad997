"""The search page in a real browser: Debian's chromium + chromium-driver (installed by the project's set-up, never
downloaded by a test tool), headless, against the app served by uvicorn on 127.0.0.1.

Screenshots of every step are kept as test artifacts in ``tests/artifacts/browser/`` (ignored by git; the
``REGWIRE_TEST_ARTIFACTS`` variable moves them), at 1400 px and at a 390 px phone width. The browser's console is
read after each page: a Content-Security-Policy violation (an inline script or style) fails the test."""

from __future__ import annotations

import csv
import os
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
from test_web_features import fill_many

from pipeline.alerts import SQLiteAlertStore
from pipeline.store import EmbeddedBackend, SQLiteStore
from pipeline.web import create_app

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
ARTIFACTS = Path(os.environ.get("REGWIRE_TEST_ARTIFACTS") or Path(__file__).parent / "artifacts") / "browser"
DESKTOP, PHONE = (1400, 1000), (390, 844)

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


def _serve(store: SQLiteStore) -> Iterator[str]:
    port = _free_port()
    app = create_app(lambda: EmbeddedBackend(store.path, articles=store))
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, name="uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not srv.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert srv.started, "uvicorn did not start"
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        srv.should_exit = True
        thread.join(timeout=10)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    store = SQLiteStore(tmp_path / "browser.db")
    ids = fill(store)
    try:
        for base in _serve(store):
            yield base, ids
    finally:
        store.close()


@pytest.fixture
def big_server(tmp_path: Path) -> Iterator[tuple[str, SQLiteStore]]:
    """46 articles over several days (test_web_features.fill_many): pages, histogram, filters."""
    store = SQLiteStore(tmp_path / "home" / "regwire.db")
    fill_many(store)
    try:
        for base in _serve(store):
            yield base, store
    finally:
        store.close()


@pytest.fixture
def downloads(tmp_path: Path) -> Path:
    folder = tmp_path / "downloads"
    folder.mkdir()
    return folder


@pytest.fixture
def browser(tmp_path: Path, downloads: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[webdriver.Chrome]:
    monkeypatch.setenv("SE_OFFLINE", "true")  # Selenium Manager must never try to download a browser or driver
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
                 "--disable-dev-shm-usage", f"--user-data-dir={tmp_path / 'chromium-profile'}",
                 f"--window-size={DESKTOP[0]},{DESKTOP[1]}"):
        options.add_argument(flag)
    options.add_experimental_option("prefs", {"download.default_directory": str(downloads),
                                              "download.prompt_for_download": False})
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(20)
    driver.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(tmp_path / "chromium-profile", ignore_errors=True)


def _shot(driver: webdriver.Chrome, name: str) -> Path:
    """A full-page screenshot kept as a test artifact."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    size = driver.get_window_size()
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(size["width"], min(max(height, 600), 6000))
    path = ARTIFACTS / f"{name}-{size['width']}px.png"
    try:
        assert driver.save_screenshot(str(path)), path
    finally:
        driver.set_window_size(size["width"], size["height"])
    return path


def _no_csp_violation(driver: webdriver.Chrome) -> None:
    errors = [e["message"] for e in driver.get_log("browser") if "Content Security Policy" in e["message"]
              or "Refused to" in e["message"]]
    assert errors == [], errors


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
    assert not evidence.is_displayed(), "the evidence starts folded"
    browser.find_element(By.CSS_SELECTOR, "#evidence-details summary").click()
    assert evidence.find_element(By.TAG_NAME, "mark").text == "Financial Conduct Authority"
    _no_csp_violation(browser)

    # the article whose title is HTML: text on its page too, and no script ran anywhere
    browser.get(f"{base}/articles/{ids['xss']}")
    _no_alert(browser)
    assert browser.find_element(By.ID, "article-title").text == XSS_TITLE
    assert "<script>alert(2)</script>" in browser.find_element(By.ID, "text").text
    assert browser.find_elements(By.CSS_SELECTOR, "section img, section script") == []
    assert browser.execute_script("return document.querySelectorAll('img[onerror]').length") == 0


def _go(driver: webdriver.Chrome, url: str) -> None:
    driver.get(url)
    _no_alert(driver)
    _no_csp_violation(driver)


def _query_pairs(url: str) -> list[tuple[str, str]]:
    from urllib.parse import parse_qsl, urlsplit

    return sorted(parse_qsl(urlsplit(url).query))


def _submit_and_wait(driver: webdriver.Chrome, click) -> None:
    """Click something that loads a new page and wait for it (the old page's <html> goes stale)."""
    old = driver.find_element(By.TAG_NAME, "html")
    click()
    WebDriverWait(driver, 10).until(ec.staleness_of(old))


def test_every_filter_sort_histogram_and_pages(big_server, browser: webdriver.Chrome) -> None:
    base, _store = big_server
    _go(browser, base + "/")
    browser.find_element(By.NAME, "q").send_keys("stablecoin")
    _submit_and_wait(browser, browser.find_element(By.ID, "search-button").click)
    assert _total(browser) == "45 articles" and browser.find_element(By.ID, "page-of").text == "page 1 of 3"
    _shot(browser, "search")

    # histogram: one bar per day from the 1st to the 5th, empty days drawn empty; a bar narrows to its day
    bars = browser.find_elements(By.CSS_SELECTOR, "#histogram a.bar-link")
    assert [(b.get_attribute("data-label"), b.get_attribute("data-count")) for b in bars] == [
        ("2026-03-01", "15"), ("2026-03-02", "15"), ("2026-03-03", "0"), ("2026-03-04", "0"), ("2026-03-05", "15")]
    assert browser.find_element(By.CSS_SELECTOR, "#histogram svg").size["width"] > 600
    _submit_and_wait(browser, bars[1].find_element(By.CSS_SELECTOR, "rect.hit-area").click)
    assert _total(browser) == "15 articles"
    assert ("since", "2026-03-02") in _query_pairs(browser.current_url)
    assert browser.find_element(By.ID, "since").get_attribute("value") == "2026-03-02"
    _shot(browser, "histogram-day")

    # dates typed in the form (cleared first), then every facet: each tick submits the form (search.js)
    browser.execute_script("document.getElementById('since').value = '2026-03-01';"
                           "document.getElementById('until').value = '2026-03-02';")
    _submit_and_wait(browser, browser.find_element(By.ID, "apply").click)
    assert _total(browser) == "30 articles"
    for facet, value, expected in (("topic", "stablecoins", "22 articles"), ("jurisdiction", "KZ", "15 articles"),
                                   ("source", "wire-a", "10 articles")):
        box = browser.find_element(By.CSS_SELECTOR, f'#facet-{facet} input[value="{value}"]')
        _submit_and_wait(browser, box.click)
        assert _total(browser) == expected, facet
        assert browser.find_element(By.CSS_SELECTOR, f'#facet-{facet} input[value="{value}"]').is_selected()
    # relevance: typed, applied
    field = browser.find_element(By.ID, "min-relevance")
    field.clear()
    field.send_keys("0.5")
    _submit_and_wait(browser, browser.find_element(By.ID, "apply").click)
    assert _total(browser) == "8 articles"
    assert all(float(r.text.split()[-1]) >= 0.5 for r in browser.find_elements(By.CSS_SELECTOR, ".relevance"))
    # entity: typed, applied, then shown as a ticked filter
    browser.find_element(By.ID, "entity-input").send_keys("AIFC")
    _submit_and_wait(browser, browser.find_element(By.ID, "apply").click)
    assert _total(browser) == "8 articles"
    assert browser.find_element(By.CSS_SELECTOR, '#facet-entity input[value="AIFC"]').is_selected()
    # sort: the select submits; the permalink reproduces everything
    from selenium.webdriver.support.ui import Select

    _submit_and_wait(browser, lambda: Select(browser.find_element(By.ID, "sort")).select_by_value("date"))
    dates = [h.text for h in browser.find_elements(By.CSS_SELECTOR, "li.hit .meta")]
    assert dates == sorted(dates, key=lambda m: m.split(" · ")[1], reverse=True)
    expected = [("entity", "AIFC"), ("jurisdiction", "KZ"), ("min_relevance", "0.5"), ("q", "stablecoin"), ("since", "2026-03-01"),
                ("sort", "date"), ("source", "wire-a"), ("topic", "stablecoins"), ("until", "2026-03-02")]
    assert _query_pairs(browser.current_url) == expected
    permalink = browser.find_element(By.ID, "permalink").get_attribute("href")
    assert _query_pairs(permalink) == expected
    _shot(browser, "filtered")

    # a fresh visit of the permalink shows the same search
    _go(browser, permalink)
    assert _total(browser) == "8 articles"
    _go(browser, base + "/?entity=Astana+Financial+Services+Authority")
    assert _total(browser) == "1 article"

    # pages
    _go(browser, base + "/?q=stablecoin")
    _submit_and_wait(browser, browser.find_element(By.ID, "next").click)
    assert browser.find_element(By.ID, "page-of").text == "page 2 of 3"
    _submit_and_wait(browser, browser.find_elements(By.CSS_SELECTOR, "nav.pages a.page")[-1].click)
    assert browser.find_element(By.ID, "page-of").text == "page 3 of 3"
    assert len(browser.find_elements(By.CSS_SELECTOR, "li.hit")) == 5 and not browser.find_elements(By.ID, "next")


def test_export_download(big_server, browser: webdriver.Chrome, downloads: Path) -> None:
    base, _store = big_server
    _go(browser, base + "/?q=stablecoin&jurisdiction=KZ")
    browser.find_element(By.ID, "export-csv").click()
    target = downloads / "regwire-search.csv"
    WebDriverWait(browser, 15).until(lambda _d: target.exists() and target.stat().st_size > 0)
    rows = list(csv.DictReader(target.open(encoding="utf-8")))
    assert len(rows) == 22 and {r["jurisdictions"] for r in rows} == {"KZ"}
    browser.find_element(By.ID, "export-ndjson").click()
    ndjson = downloads / "regwire-search.ndjson"
    WebDriverWait(browser, 15).until(lambda _d: ndjson.exists() and ndjson.stat().st_size > 0)
    assert len(ndjson.read_text(encoding="utf-8").splitlines()) == 22


def test_save_as_alert(big_server, browser: webdriver.Chrome, monkeypatch: pytest.MonkeyPatch) -> None:
    base, store = big_server
    _go(browser, base + "/?q=stablecoin&jurisdiction=KZ&min_relevance=0.5")
    browser.find_element(By.CSS_SELECTOR, "#save-alert summary").click()
    browser.find_element(By.ID, "alert-name").send_keys("KZ stablecoins")
    browser.find_element(By.ID, "alert-owner").send_keys("desk")
    browser.find_element(By.ID, "alert-channel").send_keys("mailtos://desk:hunter2@smtp.example.org")
    _shot(browser, "save-alert")
    _submit_and_wait(browser, browser.find_element(By.ID, "alert-save").click)
    error = browser.find_element(By.ID, "alert-error").text
    assert "environment variable" in error, "a literal secret is refused"
    channel = browser.find_element(By.ID, "alert-channel")
    channel.clear()
    channel.send_keys("mailtos://desk:${SMTP_PASSWORD}@smtp.example.org")
    _submit_and_wait(browser, browser.find_element(By.ID, "alert-save").click)
    assert browser.find_element(By.ID, "notice").text == "Alert 'KZ stablecoins' saved."
    assert _total(browser) == "18 articles", "back on the same search"
    alerts = SQLiteAlertStore(store.path)
    try:
        [alert] = alerts.list_alerts()
    finally:
        alerts.close()
    assert (alert.q, alert.jurisdictions, alert.min_relevance, alert.owner) == ("stablecoin", ["KZ"], 0.5, "desk")
    assert alert.channels == ["mailtos://desk:${SMTP_PASSWORD}@smtp.example.org"]


def test_article_view_highlights_and_back_keeps_the_query(big_server, browser: webdriver.Chrome) -> None:
    base, _store = big_server
    _go(browser, base + "/?q=Kazakhstan+regul*&source=%3Dcmd%7C%27+%2FC+calc%27%21A0")
    _submit_and_wait(browser, browser.find_element(By.CSS_SELECTOR, "li.hit a.hit-title").click)
    _no_csp_violation(browser)
    marks = [m.text for m in browser.find_elements(By.CSS_SELECTOR, "#article-title mark, #text mark")]
    assert marks == ["regulator", "Kazakhstan", "regulator", "Kazakhstan"]
    assert browser.find_element(By.ID, "authors").text == "Aigerim Nurlanovna, J. Smith"
    assert browser.find_element(By.ID, "relevance").text == "0.95"
    tags_y = browser.find_element(By.ID, "tags").location["y"]
    assert tags_y < browser.find_element(By.ID, "text").location["y"]
    assert not browser.find_element(By.ID, "evidence").is_displayed()
    _shot(browser, "article")
    _submit_and_wait(browser, browser.find_element(By.ID, "back").click)
    assert browser.find_element(By.NAME, "q").get_attribute("value") == "Kazakhstan regul*"
    assert _total(browser) == "1 article"


def test_phone_width_layout(big_server, browser: webdriver.Chrome) -> None:
    base, _store = big_server
    browser.set_window_size(*PHONE)
    _go(browser, base + "/?q=stablecoin")
    width = browser.execute_script("return document.documentElement.clientWidth")
    assert width <= 390
    assert browser.execute_script("return document.documentElement.scrollWidth") <= width, "no sideways scroll"
    hit = browser.find_element(By.CSS_SELECTOR, "li.hit")
    assert hit.size["width"] >= width - 40, f"result cards use the width ({hit.size['width']} of {width} px)"
    aside, section = browser.find_element(By.TAG_NAME, "aside"), browser.find_element(By.TAG_NAME, "section")
    assert aside.location["y"] < section.location["y"], "filters stack above the results"
    assert browser.find_element(By.CSS_SELECTOR, "#histogram svg").size["width"] >= width - 60
    _shot(browser, "search")
    _submit_and_wait(browser, browser.find_element(By.CSS_SELECTOR, "li.hit a.hit-title").click)
    assert browser.execute_script("return document.documentElement.scrollWidth") <= width
    _shot(browser, "article")


def test_api_docs_render_offline(big_server, browser: webdriver.Chrome) -> None:
    """Swagger UI from the app's own files (the browser has no route off the machine here anyway)."""
    base, _store = big_server
    _go(browser, base + "/api/docs")
    WebDriverWait(browser, 15).until(ec.presence_of_element_located((By.CSS_SELECTOR, ".swagger-ui .info .title")))
    assert "regwire news search" in browser.find_element(By.CSS_SELECTOR, ".swagger-ui .info .title").text
    WebDriverWait(browser, 10).until(lambda d: d.find_elements(By.CSS_SELECTOR, ".opblock-summary-path"))
    paths = {e.get_attribute("data-path") for e in browser.find_elements(By.CSS_SELECTOR, ".opblock-summary-path")}
    assert {"/api/search", "/api/export.{fmt}", "/api/alerts"} <= paths
    _no_csp_violation(browser)
    _shot(browser, "api-docs")
