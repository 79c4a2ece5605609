"""Job 7's pages (issue 13 §2, §3): GET /api/projects, /api/projects/{id} and the project report, over real
HTTP from the local function host (its own process) against the sandboxes and Azurite, the report rendered
in headless Chromium (tests/browser.py). Screenshots land in .artifacts/screenshots/."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import httpx
import pytest

from devhost.browser import DESKTOP, PHONE, screenshot
from sandbox.graph_state import CATALOG_PLAN_ID
from shared.reconcile.content import checklist_key
from shared.store import TableStores
from tests.browser import browser, horizontal_overflow  # noqa: F401 - fixture
from tests.devhost_process import running_devhost
from tests.scan_world import devhost_env
from tests.test_catalog_project import HEAD, PERSON, SPRING, home_groups
from tests.test_function_app import HOST_SETTINGS, KEY

SCRIPT_TEXT = "<script>document.title='owned'</script>"


@pytest.fixture
def project_host(plytix_sandbox: Any, graph_sandbox: Any, azurite: str, table_prefix: str,
                 tmp_path: Path) -> Iterator[dict[str, Any]]:
    """The local host with one catalog project; a Home product's label holds a <script> tag."""
    rules = tmp_path / "rules.yaml"
    rules.write_text(HEAD + SPRING)
    env = devhost_env(plytix_sandbox.url, graph_sandbox.url, azurite, table_prefix, rules, **HOST_SETTINGS,
                      ENVIRONMENT_NAME="project-test", DEVHOST_FUNCTION_KEY=KEY)
    stores = TableStores.from_connection_string(azurite, table_prefix)
    with running_devhost(env, tmp_path) as devhost:
        yield {"base": devhost.base, "graph": graph_sandbox.sandbox, "plytix": plytix_sandbox.sandbox, "stores": stores}
    stores.close()


def _scan(host: dict[str, Any]) -> dict[str, Any]:
    answer = httpx.post(f"{host['base']}/scans", params={"wait": "true"}, headers={"x-functions-key": KEY},
                        json={}, timeout=120)
    assert answer.status_code == 200, answer.text
    return answer.json()


def _progress(host: dict[str, Any]) -> tuple[str, str]:
    """Two passes; between them a person ticks one product of the first group's "Copy refreshed" task and
    completes its "Images reshot" task. Returns (that group, the ticked product's id)."""
    _scan(host)
    links = {link.data["subject"]: link for link in host["stores"].links.list_rule("spring")}
    group = sorted(home_groups(host["plytix"]))[0]
    copy, images = links[f"project:copy:category:{group}"], links[f"project:images:category:{group}"]
    ticked = sorted(copy.data["products"], key=copy.data["products"].get)[0]
    host["graph"].tick_checklist_item(copy.task_id, checklist_key(copy.fingerprint, ticked))
    host["graph"].complete_task(images.task_id, PERSON)
    _scan(host)
    return group, ticked


def test_projects_api_lists_progress_and_refuses_unknown_ids_and_missing_keys(project_host) -> None:
    group, _ = _progress(project_host)
    base, key = project_host["base"], {"x-functions-key": KEY}
    listing = httpx.get(f"{base}/projects", headers=key, timeout=30)
    assert listing.status_code == 200, listing.text
    (spring,) = listing.json()["projects"]
    groups = home_groups(project_host["plytix"])
    assert (spring["id"], spring["products"], spring["groups"]) == ("spring", sum(map(len, groups.values())), len(groups))
    assert spring["late_milestones"] == ["images"]
    milestones = {m["id"]: m for m in spring["milestones"]}
    assert milestones["copy"]["done"] == 1 and milestones["images"]["done"] == len(groups[group])

    detail = httpx.get(f"{base}/projects/spring", headers=key, timeout=30).json()
    images = {g["name"]: g for g in next(m for m in detail["milestones"] if m["id"] == "images")["groups"]}
    assert images[group]["completed"] and not images[group]["late"]
    assert all(g["late"] for name, g in images.items() if name != group)
    assert images[group]["task_url"].startswith("https://planner.cloud.microsoft/webui/plan/")

    missing = httpx.get(f"{base}/projects/autumn", headers=key, timeout=30)
    assert missing.status_code == 404 and "autumn" in missing.json()["error"]
    assert httpx.get(f"{base}/projects/autumn/report", headers=key, timeout=30).status_code == 404
    assert httpx.get(f"{base}/projects", timeout=30).status_code == 401
    assert httpx.get(f"{base}/projects/spring/report", timeout=30).status_code == 401


def test_project_report_in_chromium_shows_progress_late_items_links_and_escapes_labels(project_host, browser) -> None:
    groups = home_groups(project_host["plytix"])
    group = sorted(groups)[0]
    by_sku = {p["sku"]: p for p in project_host["plytix"].products()}
    late_product = by_sku[sorted(groups[sorted(groups)[1]])[0]]  # in a group whose "Images reshot" stays late
    project_host["plytix"].edit_product(late_product["id"], label=SCRIPT_TEXT)
    _progress(project_host)

    page = browser.new_page(viewport=DESKTOP)
    answer = page.goto(f"{project_host['base']}/projects/spring/report?code={KEY}")
    assert answer is not None and answer.status == 200
    assert "default-src 'none'" in answer.headers["content-security-policy"]
    assert page.inner_text("h1") == "Spring refresh"
    assert page.inner_text("#products b") == str(sum(map(len, groups.values())))
    assert page.inner_text("#late-total b") == str(len(groups) - 1)  # every Images task but the completed one
    late = page.inner_text("#late")
    assert "Images reshot" in late and group not in late
    assert SCRIPT_TEXT in late, "the label is shown as text"
    assert page.locator("script").count() == 0 and page.title() != "owned"
    links = page.locator("#late a").evaluate_all("links => links.map(a => a.href)")
    assert any(href.startswith("https://planner.cloud.microsoft/webui/plan/") for href in links)
    assert any(href.endswith(f"/products/{late_product['id']}") for href in links), "a link to the product in Plytix"
    svg = page.locator("#milestones svg[role=img]")
    assert svg.count() == 2  # one bar per milestone
    assert page.locator("#milestone-images .bars li.late").count() == len(groups) - 1
    screenshot(page, "project-report-desktop")

    phone = browser.new_page(viewport=PHONE, is_mobile=True)
    phone.goto(f"{project_host['base']}/projects/spring/report?code={KEY}")
    assert phone.inner_text("h1") == "Spring refresh"
    assert horizontal_overflow(phone) <= 0
    screenshot(phone, "project-report-phone")


def test_the_report_needs_no_javascript_and_is_one_request(project_host) -> None:
    _scan(project_host)
    answer = httpx.get(f"{project_host['base']}/projects/spring/report", params={"code": KEY}, timeout=30)
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/html")
    assert "<script" not in answer.text
    assert f"{CATALOG_PLAN_ID}" in answer.text  # task links carry the plan
