"""One Jinja2 environment for every page.

Why autoescape=True for all templates (not only *.html): every value a page shows may come from Plytix or
Planner (labels, titles, error texts), so nothing is inserted unescaped; StrictUndefined turns a misspelt
name into an error in tests instead of an empty cell in production.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined

# Defence in depth on top of escaping: the pages run no script and load nothing from elsewhere.
# style-src 'unsafe-inline' admits the page's own <style> block (MDN, "Content-Security-Policy: style-src").
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; "
                               "base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",  # page URLs may carry the function key (?code=)
}


@lru_cache(maxsize=1)
def environment() -> Environment:
    return Environment(loader=PackageLoader("shared.pages", "templates"), autoescape=True,
                       undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)


def render(template: str, **context: Any) -> str:
    return environment().get_template(template).render(**context)
