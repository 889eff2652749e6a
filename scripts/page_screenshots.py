#!/usr/bin/env python3
"""Screenshots of each kind of page for people, for docs/pages/ (shown in the README).

Takes the address of a running server with the full content (``fhirterm serve``),
opens each page in Debian's headless Chromium (as the browser tests do) and writes
one PNG per page kind:

    python scripts/page_screenshots.py http://127.0.0.1:8080 [--out docs/pages]
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402
from tests.browser import make_driver  # noqa: E402

# file name -> (path, window width, height)
PAGES = {
    "code-page.png": ("/browse/icd10cm/M99.44", 1100, 2400),
    "code-page-unreviewed.png": ("/browse/icd10cm/E11.9", 1100, 1400),
    "header.png": ("/browse/icd10cm/M99.4", 1100, 1400),
    "seventh-character.png": ("/browse/icd10cm/S06.0X0A", 1100, 1400),
    "search.png": ("/browse/?q=sacral+stenosis", 1100, 1000),
    "chapter.png": ("/browse/icd10cm/13", 1100, 1200),
    "code-systems.png": ("/browse/", 1100, 700),
    "phone.png": ("/browse/icd10cm/M99.44", 390, 1600),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("root", help="the server's address, e.g. http://127.0.0.1:8080")
    ap.add_argument("--out", default=str(REPO / "docs" / "pages"))
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    driver, profile = make_driver()
    try:
        for name, (path, width, height) in PAGES.items():
            driver.set_window_size(width, height)
            driver.get(args.root.rstrip("/") + path)
            driver.save_screenshot(str(out / name))
            print(out / name)
        # the list shown while typing
        driver.set_window_size(1100, 800)
        driver.get(args.root.rstrip("/") + "/browse/")
        box = driver.find_element("id", "q")
        box.send_keys("sacral stenosis")
        WebDriverWait(driver, 10).until(
            lambda d: d.find_elements("css selector", "#q-suggest [role=option]")
        )
        box.send_keys(Keys.ARROW_DOWN)
        driver.save_screenshot(str(out / "search-as-you-type.png"))
        print(out / "search-as-you-type.png")
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


if __name__ == "__main__":
    main()
