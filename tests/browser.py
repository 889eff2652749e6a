"""Headless Chromium for the page tests and the page screenshots (scripts/page_screenshots.py).

Debian's /usr/bin/chromium with /usr/bin/chromedriver, driven by Selenium. The
driver's path is given to Selenium, so Selenium Manager never runs and nothing
is downloaded (selenium/webdriver/common/driver_finder.py: "Skipping Selenium
Manager; path to ... driver specified in Service class"); SE_OFFLINE keeps it
offline should it run. Chromium starts with the flags this machine needs to stay
off the network (no background networking, component updates, sync or QUIC) and
a new, empty profile directory.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
)


def make_driver(javascript: bool = True, width: int = 1280, height: int = 1000) -> tuple[Any, str]:
    """(a Chrome WebDriver, its profile directory, for the caller to remove after quit)."""
    from selenium import webdriver

    os.environ.setdefault("SE_OFFLINE", "true")
    profile = tempfile.mkdtemp(prefix="fhirterm-chromium-")
    opts = webdriver.ChromeOptions()
    opts.binary_location = str(CHROMIUM)
    for f in FLAGS:
        opts.add_argument(f)
    opts.add_argument(f"--user-data-dir={profile}")
    opts.add_argument(f"--window-size={width},{height}")
    if not javascript:
        opts.add_experimental_option(
            "prefs", {"profile.managed_default_content_settings.javascript": 2}
        )
    service = webdriver.ChromeService(executable_path=str(CHROMEDRIVER))
    return webdriver.Chrome(options=opts, service=service), profile
