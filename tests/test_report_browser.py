"""report.html in a real browser: headless Chromium, driven by Selenium (marker ``browser``).

Skips with the reason when Chromium or its driver is missing; fails instead when
``CMFW_REQUIRE_BROWSER`` is set, as ``.ci/run`` does. Screenshots and the printed PDF
are kept in the test's temporary directory.
"""

from __future__ import annotations

import base64
import functools
import json
import os
import shutil
from pathlib import Path
from typing import Any, Iterator

import pytest

from builder.build import build

from .conftest import EXAMPLE

pytestmark = pytest.mark.browser


def _unavailable() -> str | None:
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e '.[test]')"
    if not (shutil.which("chromium") or shutil.which("chromium-browser")):
        return "Chromium is not installed (apt-get install chromium chromium-driver)"
    if not shutil.which("chromedriver"):
        return "chromedriver is not installed (apt-get install chromium-driver)"
    return None


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    out = tmp_path_factory.mktemp("report") / "contoso"
    build(EXAMPLE, out)
    return out, json.loads((out / "build.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    reason = _unavailable()
    if reason and os.environ.get("CMFW_REQUIRE_BROWSER"):
        pytest.fail(f"CMFW_REQUIRE_BROWSER is set (CI) but the browser test cannot run: {reason}")
    if reason:
        pytest.skip(reason)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or shutil.which("chromium-browser") or ""
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1400,1000"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(executable_path=shutil.which("chromedriver")), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def test_every_policy_and_rule_is_visible(browser: Any, built: tuple[Path, dict[str, Any]], tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    out, manifest = built
    browser.get((out / "report.html").as_uri())
    assert browser.title == "Windows Firewall policy for corp.contoso.com (cmfw)"
    text = browser.find_element(By.TAG_NAME, "body").text  # what is rendered and displayed
    for policy in manifest["policies"]:
        assert policy["name"] in text
        for rule_id in policy["rule_ids"]:
            assert rule_id in text, rule_id
    # Nothing was fetched: the page is all there is.
    resources = browser.execute_script("return performance.getEntriesByType('resource').length")
    assert resources == 0
    assert browser.save_screenshot(str(tmp_path / "report.png"))
    assert (tmp_path / "report.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_rule_tables_sort_by_any_column(browser: Any, built: tuple[Path, dict[str, Any]], tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    out, _ = built
    browser.get((out / "report.html").as_uri())
    table = browser.find_element(By.ID, "rules-Workstations")
    headers = table.find_elements(By.CSS_SELECTOR, "thead th")
    names = [h.text.replace("↕", "").strip() for h in headers]
    column = names.index("Local port")

    def column_values() -> list[str]:
        return [row.find_elements(By.TAG_NAME, "td")[column].text for row in table.find_elements(By.CSS_SELECTOR, "tbody tr")]

    before = column_values()
    headers[column].find_element(By.TAG_NAME, "button").click()
    ascending = column_values()
    assert headers[column].get_attribute("aria-sort") == "ascending"
    assert sorted(ascending, key=_natural) == ascending and ascending != before
    headers[column].find_element(By.TAG_NAME, "button").click()
    descending = column_values()
    assert headers[column].get_attribute("aria-sort") == "descending"
    assert descending == sorted(ascending, key=_natural, reverse=True)
    rule_ids = [row.find_elements(By.TAG_NAME, "td")[0].text for row in table.find_elements(By.CSS_SELECTOR, "tbody tr")]
    assert len(rule_ids) == 55 and len(set(rule_ids)) == 55  # rows moved whole, none lost
    assert browser.save_screenshot(str(tmp_path / "sorted.png"))


def test_the_report_prints(browser: Any, built: tuple[Path, dict[str, Any]], tmp_path: Path) -> None:
    from selenium.webdriver.common.print_page_options import PrintOptions

    out, _ = built
    browser.get((out / "report.html").as_uri())
    pdf = base64.b64decode(browser.print_page(PrintOptions()))
    (tmp_path / "report.pdf").write_bytes(pdf)
    assert pdf.startswith(b"%PDF-") and pdf.count(b"/Type /Page\n") + pdf.count(b"/Type /Page ") + pdf.count(b"/Type/Page") >= 7


@functools.cache
def _collator_key(text: str) -> tuple[Any, ...]:
    import re

    return tuple((0, int(part), "") if part.isdigit() else (1, 0, part.casefold()) for part in re.split(r"(\d+)", text) if part)


def _natural(text: str) -> tuple[Any, ...]:
    """What Intl.Collator(numeric, base sensitivity) does, for the values in these columns."""
    return _collator_key(text)


@pytest.mark.parametrize("width", [1024, 1400])
def test_the_page_fits_and_every_rule_id_shows(browser: Any, built: tuple[Path, dict[str, Any]], tmp_path: Path, width: int) -> None:
    """At 1024 and 1400 px: no horizontal scroll of the page, and every rule ID is displayed
    inside the window without scrolling its table sideways. Screenshots are kept."""
    from selenium.webdriver.common.by import By

    out, manifest = built
    browser.set_window_size(width, 900)
    browser.get((out / "report.html").as_uri())
    inner = browser.execute_script("return window.innerWidth")
    assert browser.execute_script("return document.documentElement.scrollWidth") <= inner
    for policy in manifest["policies"]:
        table = browser.find_element(By.ID, f"rules-{policy['key']}")
        cells = table.find_elements(By.CSS_SELECTOR, "tbody tr td:first-child")
        assert [c.text for c in cells] == policy["rule_ids"] or sorted(c.text for c in cells) == sorted(policy["rule_ids"])
        for cell in cells:
            assert cell.is_displayed()
            box = browser.execute_script("const r = arguments[0].getBoundingClientRect(); return [r.left, r.right];", cell)
            assert 0 <= box[0] and box[1] <= inner, (policy["key"], cell.text, box, inner)
    # The scope speaks in address sets, with the addresses one click (or a hover) away.
    summaries = browser.find_elements(By.CSS_SELECTOR, "#rules-Consoles details.scope summary")
    [scope] = [s for s in summaries if s.text == "consoles"]
    assert "10.20.0.0/24" in scope.get_attribute("title")
    scope.click()  # expands: the addresses show
    assert "10.20.0.0/24" in scope.find_element(By.XPATH, "..").text
    browser.save_screenshot(str(tmp_path / f"report-{width}.png"))
    assert (tmp_path / f"report-{width}.png").stat().st_size > 10_000
    browser.set_window_size(1400, 1000)
