"""The pages in a real browser: Debian's headless Chromium, driven by Selenium, against a
live ``fhirterm serve`` over the full ICD-10-CM release.

The browser is /usr/bin/chromium with /usr/bin/chromedriver (Debian's ``chromium`` and
``chromium-driver``; ``.ci/run`` installs them when missing), started as
``tests/browser.py`` says: nothing downloaded, nothing asked of another host. The
tests skip, saying why, only when the browser or its driver is not installed.

axe-core (the npm package, version 4.x, its ``axe.min.js``) checks each page kind for
accessibility when it is found (``FHIRTERM_AXE_JS``, or ``node_modules/axe-core`` in the
repository, which ``.ci/run`` installs); the test skips, saying so, without it.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from .browser import CHROMEDRIVER, CHROMIUM, make_driver
from .conftest import REPO

pytest.importorskip("selenium.webdriver", reason="selenium is not installed")
if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
    pytest.skip(
        "Debian's chromium and chromium-driver are not installed "
        "(apt-get install chromium chromium-driver; .ci/run installs them as root)",
        allow_module_level=True,
    )

from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

pytestmark = [pytest.mark.browser, pytest.mark.full, pytest.mark.server]


@pytest.fixture(scope="module")
def root(live_server: str) -> str:
    """The server's root address (the FHIR base without /fhir)."""
    return live_server.removesuffix("/fhir")


@pytest.fixture(scope="module")
def browser() -> Iterator[WebDriver]:
    driver, profile = make_driver()
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def open_page(d: WebDriver, url: str) -> None:
    d.get(url)
    WebDriverWait(d, 10).until(
        lambda x: x.execute_script("return document.readyState") == "complete"
    )


def assert_only_this_host(d: WebDriver, root: str) -> None:
    """Every request the page made (the browser's performance entries: the page itself,
    its stylesheet, script, icon and the searches while typing) went to this server."""
    entries = d.execute_script(
        "return performance.getEntriesByType('navigation').concat("
        "performance.getEntriesByType('resource')).map(e => e.name)"
    )
    assert entries
    here = urlsplit(root).netloc
    others = [e for e in entries if urlsplit(e).netloc != here]
    assert not others, others
    # and the stylesheet did load (a blocked one would leave the page unstyled)
    names = [urlsplit(e).path for e in entries]
    assert "/browse/_static/pages.css" in names and "/browse/_static/pages.js" in names


def headings(d: WebDriver, tag: str) -> list[str]:
    return [e.text for e in d.find_elements(By.TAG_NAME, tag)]


def test_m99_44_page_has_every_section(browser: WebDriver, root: str) -> None:
    """Every section a coder's reference page for M99.44 has, with its content and where it
    comes from."""
    d = browser
    open_page(d, f"{root}/browse/icd10cm/M99.44")
    assert d.find_element(By.TAG_NAME, "h1").text == (
        "M99.44 Connective tissue stenosis of neural canal of sacral region"
    )
    assert d.find_element(By.CSS_SELECTOR, ".definition").text.startswith(
        "Narrowing of the neural canal at the sacral level"
    )
    assert d.find_element(By.CSS_SELECTOR, ".verified").text == "Verified May 8, 2026 · 5 sources ↓"
    facts = {
        e.find_element(By.TAG_NAME, "dt").text: e.find_element(By.TAG_NAME, "dd").text
        for e in d.find_elements(By.CSS_SELECTOR, "dl.facts > div")
    }
    assert facts == {
        "Status": "Billable",
        "Chapter": "13",
        "Block": "M99-M99",
        "Related CPT": "7",
        "Region": "Spine",
    }
    h2 = headings(d, "h2")
    for section, items in (
        ("documentation-tips", 5),
        ("related", 7),
        ("pitfalls", 4),
        ("clinical-context", 3),
        ("siblings", 9),
        ("faq", 7),
        ("sources", 5),
    ):
        s = d.find_element(By.ID, section)
        found = s.find_elements(By.CSS_SELECTOR, "li") or s.find_elements(
            By.CSS_SELECTOR, "p:not(.source)"
        )
        assert len(found) == items, (section, len(found))
        if section not in ("siblings", "sources"):
            assert s.find_element(By.CSS_SELECTOR, ".source").text.startswith("Source ·"), section
    for title in (
        "Documentation tips",
        "Related CPT procedures",
        "Common coding pitfalls",
        "Clinical context",
        "Tabular notes",
        "Sibling codes",
        "Frequently asked questions",
        "Sources & references",
    ):
        assert title in h2, title
    # each related CPT code says why; each source has its address
    why = [e.text for e in d.find_elements(By.CSS_SELECTOR, "#related .why")]
    assert len(why) == 7 and all(why)
    sources = d.find_elements(By.CSS_SELECTOR, "#sources li a")
    assert [a.get_attribute("href") for a in sources][1] == (
        "https://www.icd10data.com/ICD10CM/Codes/M00-M99/M99-M99/M99-/M99.4"
    )
    # the FAQ answers are on the page, not only the questions
    faq = d.find_elements(By.CSS_SELECTOR, "#faq li p")
    assert len(faq) == 7 and all(len(p.text) > 40 for p in faq)
    # the page's $lookup link gives the FHIR answer
    link = d.find_element(By.PARTIAL_LINK_TEXT, "$lookup")
    assert "/fhir/CodeSystem/$lookup?" in (link.get_attribute("href") or "")
    assert_only_this_host(d, root)


def test_code_without_editorial_content(browser: WebDriver, root: str) -> None:
    open_page(browser, f"{root}/browse/icd10cm/E11.9")
    notice = browser.find_element(By.CSS_SELECTOR, ".unreviewed").text
    assert notice.startswith("No editorial review exists yet for E11.9")
    assert (
        "Type 2 diabetes mellitus without complications"
        in browser.find_element(By.TAG_NAME, "h1").text
    )
    # the CDC content is all there: the inherited notes with their citations as links
    assert "Tabular notes" in headings(browser, "h2")
    # follow the excludes1 link
    browser.find_element(By.CSS_SELECTOR, "a[href='/browse/icd10cm/E11.A']").click()
    WebDriverWait(browser, 10).until(ec.url_contains("/browse/icd10cm/E11.A"))
    assert browser.find_element(By.TAG_NAME, "h1").text.startswith("E11.A ")
    assert_only_this_host(browser, root)


def test_header_and_seventh_character_code(browser: WebDriver, root: str) -> None:
    open_page(browser, f"{root}/browse/icd10cm/M99.4")
    facts = browser.find_element(By.CSS_SELECTOR, "dl.facts").text
    assert "Header (not billable)" in facts
    under = browser.find_elements(By.CSS_SELECTOR, "#children li")
    assert len(under) == 10 and all("billable" in li.text for li in under)
    open_page(browser, f"{root}/browse/icd10cm/S06.0X0A")
    assert "7th characters (from S06)" in headings(browser, "h3")
    rows = [r.text for r in browser.find_elements(By.CSS_SELECTOR, "table.seventh tbody tr")]
    assert rows == ["A initial encounter", "D subsequent encounter", "S sequela"]


def test_search_as_you_type_and_by_keyboard(browser: WebDriver, root: str) -> None:
    d = browser
    open_page(d, f"{root}/browse/")
    box = d.find_element(By.ID, "q")
    box.send_keys("sacral stenosis")
    WebDriverWait(d, 10).until(
        lambda x: any(
            "M99.44" in o.text for o in x.find_elements(By.CSS_SELECTOR, "#q-suggest [role=option]")
        )
    )
    options = [o.text for o in d.find_elements(By.CSS_SELECTOR, "#q-suggest [role=option]")]
    assert box.get_attribute("aria-expanded") == "true"
    assert all("billable" in o for o in options if o.startswith("M99.44"))
    # the arrow keys walk the list; Enter opens the chosen code
    target = next(i for i, o in enumerate(options) if o.startswith("M99.44"))
    for _ in range(target + 1):
        box.send_keys(Keys.ARROW_DOWN)
    assert box.get_attribute("aria-activedescendant") == f"q-opt-{target}"
    box.send_keys(Keys.ENTER)
    WebDriverWait(d, 10).until(ec.url_to_be(f"{root}/browse/icd10cm/M99.44"))
    assert_only_this_host(d, root)


def test_search_without_javascript(root: str) -> None:
    d, profile = make_driver(javascript=False)
    try:
        open_page(d, f"{root}/browse/")
        box = d.find_element(By.ID, "q")
        assert box.get_attribute("role") is None  # the script did not run
        box.send_keys("sacral stenosis", Keys.ENTER)
        WebDriverWait(d, 10).until(ec.url_contains("q=sacral+stenosis"))
        assert d.find_element(By.TAG_NAME, "h1").text == "Search results for “sacral stenosis”"
        d.find_element(By.CSS_SELECTOR, "a[href='/browse/icd10cm/M99.44']").click()
        WebDriverWait(d, 10).until(ec.url_to_be(f"{root}/browse/icd10cm/M99.44"))
        # a mistyped code in the box leads to the code's page
        d.find_element(By.ID, "q").send_keys("m9944", Keys.ENTER)
        WebDriverWait(d, 10).until(ec.url_to_be(f"{root}/browse/icd10cm/M99.44"))
    finally:
        d.quit()
        shutil.rmtree(profile, ignore_errors=True)


def test_mistyped_code_address(browser: WebDriver, root: str) -> None:
    for typed in ("m99.44", "M9944"):
        open_page(browser, f"{root}/browse/icd10cm/{typed}")
        assert browser.current_url == f"{root}/browse/icd10cm/M99.44"


def test_browse_chapter_13_down_to_m99_44(browser: WebDriver, root: str) -> None:
    d = browser
    open_page(d, f"{root}/browse/")
    d.find_element(By.CSS_SELECTOR, "a[href='/browse/icd10cm']").click()
    for code in ("13", "M99-M99", "M99", "M99.4", "M99.44"):
        link = d.find_element(By.CSS_SELECTOR, f"main a[href='/browse/icd10cm/{code}']")
        link.click()
        WebDriverWait(d, 10).until(ec.url_to_be(f"{root}/browse/icd10cm/{code}"))
    assert d.find_element(By.TAG_NAME, "h1").text.startswith("M99.44 ")


def test_keyboard_skip_link_and_focus(browser: WebDriver, root: str) -> None:
    d = browser
    open_page(d, f"{root}/browse/icd10cm/M99.44")
    body = d.find_element(By.TAG_NAME, "body")
    body.send_keys(Keys.TAB)
    first = d.switch_to.active_element
    assert first.text == "Skip to content" and first.is_displayed()
    first.send_keys(Keys.ENTER)
    assert d.execute_script("return document.activeElement.id") == "main"
    # the focus ring is drawn (an outline of 3px on the focused link)
    d.execute_script("document.querySelector('.crumbs a').focus()")
    width = d.execute_script("return getComputedStyle(document.activeElement).outlineWidth")
    assert width == "3px"


def test_phone_and_print(browser: WebDriver, root: str) -> None:
    d = browser
    try:
        d.set_window_size(375, 812)
        open_page(d, f"{root}/browse/icd10cm/M99.44")
        wide = d.execute_script(
            "return document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert wide <= 0, f"the page scrolls sideways by {wide}px on a phone"
        d.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": "print"})
        assert not d.find_element(By.CSS_SELECTOR, "form.search").is_displayed()
        assert d.find_element(By.ID, "sources").is_displayed()
    finally:
        d.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": ""})
        d.set_window_size(1280, 1000)


def axe_source() -> str | None:
    for p in (os.environ.get("FHIRTERM_AXE_JS"), REPO / "node_modules/axe-core/axe.min.js"):
        if p and Path(p).is_file():
            return Path(p).read_text(encoding="utf-8")
    return None


AXE_PAGES = (
    "/browse/",
    "/browse/?q=sacral+stenosis",
    "/browse/icd10cm",
    "/browse/icd10cm/13",
    "/browse/icd10cm/M99-M99",
    "/browse/icd10cm/M99.44",
    "/browse/icd10cm/M99.4",
    "/browse/icd10cm/S06.0X0A",
    "/browse/icd10cm/E11.9",
    "/browse/cpt",
    "/browse/icd10cm/no-such-code",
)


def test_axe_finds_no_serious_violation(browser: WebDriver, root: str) -> None:
    src = axe_source()
    if src is None:
        pytest.skip(
            "axe-core is not installed (npm install axe-core@4 in the repository, "
            "as .ci/run does, or set FHIRTERM_AXE_JS to its axe.min.js)"
        )
    report: dict[str, list[str]] = {}
    for path in AXE_PAGES:
        open_page(browser, f"{root}{path}")
        browser.execute_script(src)
        result: list[dict[str, Any]] = browser.execute_async_script(
            "const done = arguments[arguments.length - 1];"
            "axe.run(document).then(r => done(r.violations.map(v => "
            "({id: v.id, impact: v.impact, nodes: v.nodes.length}))));"
        )
        bad = [
            f"{v['id']} ({v['impact']}, {v['nodes']})"
            for v in result
            if v["impact"] in ("serious", "critical")
        ]
        if bad:
            report[path] = bad
    assert not report, report
