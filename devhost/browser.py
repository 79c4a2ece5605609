"""Headless Chromium for looking at the pages locally (the page tests and `make demo`): the distribution's
chromium package, driven by Playwright for Python pointed at that executable. Playwright's own browser
downloads are never used. Not deployed (devhost is a local tool).

Screenshots go to SCREENSHOTS (gitignored), for people to look at after a run.
"""

from __future__ import annotations

import os
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Optional

SCREENSHOTS = Path(__file__).resolve().parent.parent / ".artifacts" / "screenshots"
PHONE = {"width": 390, "height": 844}  # a common phone viewport in CSS pixels
DESKTOP = {"width": 1280, "height": 900}


def chromium_path() -> Optional[str]:
    """CHROMIUM_PATH, else the distribution's chromium on PATH (/usr/bin/chromium on Debian)."""
    return os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or shutil.which("chromium-browser")


@contextmanager
def chromium(executable: str) -> Iterator[Any]:
    """A launched headless Chromium (a playwright Browser), closed on exit."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        # --no-sandbox: CI containers run as root, where Chromium's sandbox refuses to start.
        browser = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        try:
            yield browser
        finally:
            browser.close()


def screenshot(page: Any, name: str) -> Path:
    """The whole page as SCREENSHOTS/<name>.png."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
