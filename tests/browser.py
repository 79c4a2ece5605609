"""The page tests' browser: one headless Chromium per test module (devhost/browser.py).

Without a chromium executable the tests are skipped, unless REQUIRE_BROWSER=1 (set by .ci/run, which
installs it), where its absence fails them."""

from __future__ import annotations

import os
from typing import Any, Iterator

import pytest

from devhost.browser import chromium, chromium_path


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    executable = chromium_path()
    if executable is None:
        message = "no chromium executable: apt-get install -y chromium (or set CHROMIUM_PATH)"
        if os.environ.get("REQUIRE_BROWSER") == "1":
            pytest.fail(message)
        pytest.skip(message)
    with chromium(executable) as launched:
        yield launched


def horizontal_overflow(page: Any) -> int:
    """How many CSS pixels the page is wider than its viewport (0: nothing to scroll sideways)."""
    return int(page.evaluate("document.documentElement.scrollWidth - window.innerWidth"))
