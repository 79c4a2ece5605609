"""Task title templates: which placeholders are allowed, checking a template, rendering a title.

Why only STABLE placeholders: task creation is claim -> create in Graph -> commit (DESIGN.md). When a
function dies between create and commit, the next run recovers by looking in the plan for a task with the
same deterministic title. A title that contains the missing attributes or their count would differ
between the crashed run and the recovering one, and the recovery would create a duplicate. The same title
also lets a person recognise the task for a product across runs.

`{label}` and `{family}` are stable between a crash and its recovery (minutes), but a person can rename
them in Plytix; the reconciler keeps an existing task's title, so a rename only shows on new tasks.
"""

from __future__ import annotations

from string import Formatter
from typing import Mapping

STABLE_PLACEHOLDERS: tuple[str, ...] = ("sku", "label", "product_id", "rule_id", "rule_name", "scope", "family")

# Known values that must NOT be in a title, with the reason shown to the person writing the template.
UNSTABLE_PLACEHOLDERS: dict[str, str] = {
    "missing": "the missing attributes change as people fix them",
    "missing_count": "the count changes as people fix attributes",
    "count": "the count changes as people fix attributes",
    "satisfied": "the satisfied attributes change as people fix them",
    "status": "the product status changes",
    "stage": "the workflow stage changes",
    "modified": "the modification time changes on every edit",
    "owner": "the owner depends on family/category and can change",
    "due": "the due date depends on when the task is created",
}

# A product identifier is required: two products with the same title could not be told apart when a
# crashed creation is recovered by title.
PRODUCT_IDENTIFIERS: tuple[str, ...] = ("sku", "product_id")

DEFAULT_TITLE = "{rule_name}: {sku}{scope}"

# Planner task titles hold at most 255 characters (Microsoft Planner connector reference,
# UpdateTaskRequest.Title: "maximum of 255 chars",
# https://learn.microsoft.com/en-us/dotnet/api/azure.connectors.sdk.planner.models.updatetaskrequest.title).
MAX_TITLE_LENGTH = 255


def placeholders(template: str) -> set[str]:
    """The placeholder names in `template`; ValueError when it is not a valid template."""
    names: set[str] = set()
    try:
        parsed = list(Formatter().parse(template))
    except ValueError as exc:  # e.g. "Single '}' encountered in format string"
        raise ValueError(f"invalid template: {exc} (write {{{{ and }}}} for literal braces)") from None
    for _literal, name, spec, conversion in parsed:
        if name is None:
            continue
        if not name.isidentifier():
            raise ValueError(f"placeholder {{{name}}} must be a plain name such as {{sku}}")
        if spec or conversion:
            raise ValueError(f"placeholder {{{name}}} has a format spec or conversion: write just {{{name}}}")
        names.add(name)
    return names


def check_title_template(template: str) -> str:
    """Return `template` if it only uses stable placeholders and names the product; else ValueError."""
    names = placeholders(template)
    for name in sorted(names):
        if name in UNSTABLE_PLACEHOLDERS:
            raise ValueError(f"placeholder {{{name}}} is not stable ({UNSTABLE_PLACEHOLDERS[name]}); a title "
                             f"must not change while a task is open: use {_allowed()}")
        if name not in STABLE_PLACEHOLDERS:
            raise ValueError(f"unknown placeholder {{{name}}}: use {_allowed()}")
    if not names & set(PRODUCT_IDENTIFIERS):
        raise ValueError("must contain {sku} or {product_id}: tasks are recovered by their title, so it has "
                         "to differ per product")
    return template


def scope_suffix(scope: str) -> str:
    """How a scope shows in a title: "" for the base scope, " [amazon]" for "channel:amazon"."""
    return f" [{scope.partition(':')[2] or scope}]" if scope else ""


def render_title(template: str, values: Mapping[str, str]) -> str:
    """Fill a checked template. Values are inserted verbatim (braces in a SKU are not re-interpreted);
    whitespace runs collapse, and the result is cut deterministically to Planner's title limit."""
    title = " ".join(template.format_map(values).split())
    return title if len(title) <= MAX_TITLE_LENGTH else title[: MAX_TITLE_LENGTH - 1] + "…"


def _allowed() -> str:
    return ", ".join("{" + name + "}" for name in STABLE_PLACEHOLDERS)
