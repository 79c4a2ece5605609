"""Headless Chromium for the page tests: Debian's own chromium package, driven by Playwright for Python
pointed at that executable (Playwright's browser downloads are never used; see README "Pages").

Screenshots go to SCREENSHOTS (gitignored), for people to look at after a run.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any, Iterator, Optional

import pytest

from tests.conftest import ROOT

SCREENSHOTS = ROOT / ".artifacts" / "screenshots"
PHONE = {"width": 390, "height": 844}  # a common phone viewport in CSS pixels
DESKTOP = {"width": 1280, "height": 900}


def chromium_path() -> Optional[str]:
    """CHROMIUM_PATH, else the distribution's chromium on PATH (/usr/bin/chromium on Debian)."""
    return os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One Chromium per test module. Without a chromium executable the tests are skipped, unless
    REQUIRE_BROWSER=1 (set by .ci/run, which installs it), where its absence fails them."""
    from playwright.sync_api import sync_playwright

    executable = chromium_path()
    if executable is None:
        message = "no chromium executable: apt-get install -y chromium (or set CHROMIUM_PATH)"
        if os.environ.get("REQUIRE_BROWSER") == "1":
            pytest.fail(message)
        pytest.skip(message)
    with sync_playwright() as playwright:
        # --no-sandbox: CI containers run as root, where Chromium's sandbox refuses to start.
        launched = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        try:
            yield launched
        finally:
            launched.close()


def screenshot(page: Any, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def horizontal_overflow(page: Any) -> int:
    """How many CSS pixels the page is wider than its viewport (0: nothing to scroll sideways)."""
    return int(page.evaluate("document.documentElement.scrollWidth - window.innerWidth"))
