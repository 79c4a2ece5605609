"""The pages people look at (issue 13 §2, §3): loaded over real HTTP from the local function host (a
separate process, as the worker is) against the sandboxes and Azurite, and rendered in headless Chromium
(tests/browser.py). Screenshots land in .artifacts/screenshots/."""

from __future__ import annotations

import dataclasses
from datetime import date, datetime, timedelta, timezone
from typing import Any, Iterator

import httpx
import pytest
from azure.storage.queue import QueueServiceClient

from devhost.browser import DESKTOP, PHONE, screenshot
from shared.pages.charts import bars, grouped_columns
from shared.pages.dashboard import actions_per_day
from shared.plytix.ratelimit import RateLimiter
from shared.store import AuditEntry, LinkState, TableStores
from shared.writeback import Outbox, Writeback, WritebackState
from tests.browser import browser, horizontal_overflow  # noqa: F401 - fixture
from tests.test_function_app import KEY, host  # noqa: F401 - fixture

SCRIPT_TEXT = "<script>document.title='owned'</script>"


@pytest.fixture
def pages_host(host: dict[str, Any], azurite: str) -> Iterator[dict[str, Any]]:
    """test_function_app's local host (its own process, on the sandboxes and Azurite), and its stores."""
    stores = TableStores.from_connection_string(azurite, host["queue_prefix"])
    yield {**host, "stores": stores, "azurite": azurite, "prefix": host["queue_prefix"]}
    stores.close()


def _seed(host: dict[str, Any]) -> dict[str, Any]:
    """A real scan through the host (tasks in the Graph stand-in, links, audit, a run with its API
    costs), then what only failures leave behind: a failed write-back whose error quotes a product label
    holding <script>, and one message in the scans poison queue (where the host moves it)."""
    scan = httpx.post(f"{host['base']}/scans", params={"wait": "true"}, headers={"x-functions-key": KEY},
                      json={}, timeout=120)
    assert scan.status_code == 200, scan.text
    report = scan.json()
    stores: TableStores = host["stores"]
    outbox = Outbox(stores.table("writebacks"))
    row, _ = outbox.add(Writeback(id="f" * 24, state=WritebackState.pending, rule_id="missing-content",
                                  product_id="p-xss", task_ids=["t1"], plan_id="plan", fingerprint="fp",
                                  attributes={"workflow_stage": "Ready"}))
    outbox.save(dataclasses.replace(row, state=WritebackState.failed, attempts=5,
                                    last_error=f"Plytix answered 422 for label {SCRIPT_TEXT}"))
    poison = QueueServiceClient.from_connection_string(host["azurite"]).get_queue_client(
        f"{host['prefix']}-scans-poison")
    poison.create_queue()
    poison.send_message("a scan that failed every try")
    open_links = list(stores.links.list_all({LinkState.open}))
    return {"report": report, "open": len(open_links), "plans": {link.plan_id for link in open_links}}


def test_dashboard_in_chromium_shows_the_stores_counts_and_escapes_product_text(pages_host, browser):
    seeded = _seed(pages_host)
    created = sum(seeded["report"]["done"].get(kind, 0) for kind in ("create", "recreate", "adopt"))
    assert seeded["open"] > 0 and created == seeded["open"]  # a first scan: every open task is new

    page = browser.new_page(viewport=DESKTOP)
    answer = page.goto(f"{pages_host['base']}/dashboard?code={KEY}")
    assert answer is not None and answer.status == 200
    assert answer.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in answer.headers["content-security-policy"]
    assert page.inner_text("#open-total b") == str(seeded["open"])
    assert page.inner_text("#failed-total b") == "1"
    assert page.inner_text("#poison-total b") == "1"
    for plan in seeded["plans"]:
        assert plan in page.inner_text("#open-by-plan")
    today = page.locator("#actions tbody tr").first.inner_text().split()
    assert today[0] == datetime.now(timezone.utc).date().isoformat() and today[1] == str(created)
    # The <script> label is text on the page, not an element, and it did not run.
    assert SCRIPT_TEXT in page.inner_text("#failed")
    assert page.locator("script").count() == 0 and page.title() != "owned"
    calls = seeded["report"]["api_calls"]
    for table in ("#scans", "#recent-passes"):  # a full on-demand scan also moves the feed watermark
        cells = page.locator(f"{table} tbody tr").first.inner_text().split()
        assert cells[0] == seeded["report"]["run_id"] and cells[-2:] == [str(calls["plytix"]), str(calls["graph"])]
    assert "per hour" in page.inner_text("#budget")
    screenshot(page, "dashboard-desktop")

    phone = browser.new_page(viewport=PHONE, is_mobile=True)
    phone.goto(f"{pages_host['base']}/dashboard?code={KEY}")
    assert phone.inner_text("#open-total b") == str(seeded["open"])
    assert horizontal_overflow(phone) <= 0
    error_cell = phone.locator("#failed td[data-label='Last error']")  # a row is a card: nothing off-screen
    box = error_cell.bounding_box()
    assert SCRIPT_TEXT in error_cell.inner_text() and box is not None and box["x"] + box["width"] <= PHONE["width"]
    screenshot(phone, "dashboard-phone")


def test_dashboard_needs_the_function_key_and_rejects_bad_days_with_a_reason(pages_host):
    assert httpx.get(f"{pages_host['base']}/dashboard", timeout=30).status_code == 401
    bad = httpx.get(f"{pages_host['base']}/dashboard", params={"days": "many", "code": KEY}, timeout=30)
    assert bad.status_code == 400 and "days" in bad.json()["error"]
    week = httpx.get(f"{pages_host['base']}/dashboard", params={"days": "7", "code": KEY}, timeout=30)
    assert week.status_code == 200 and week.text.count("<tr><td class=\"d\">20") == 7  # one table row per day


def test_actions_per_day_counts_done_actions_by_column_and_keeps_quiet_days():
    day = datetime(2026, 12, 1, 23, 59, tzinfo=timezone.utc)
    entries = [AuditEntry("create", "r", at=day), AuditEntry("adopt", "r", at=day),
               AuditEntry("create:skipped", "r", at=day), AuditEntry("create", "r", at=day, dry_run=True),
               AuditEntry("write_back", "r", at=day + timedelta(minutes=2)), AuditEntry("reopen", "r", at=day)]
    counted = actions_per_day(entries, date(2026, 11, 30), date(2026, 12, 2))
    assert [d.day for d in counted] == [date(2026, 11, 30), date(2026, 12, 1), date(2026, 12, 2)]
    assert counted[0].counts == {"created": 0, "closed": 0, "reopened": 0, "written back": 0}
    assert counted[1].counts == {"created": 2, "closed": 0, "reopened": 1, "written back": 0}
    assert counted[2].counts["written back"] == 1


def test_chart_geometry_scales_to_the_largest_value_or_the_given_scale():
    assert [b.width for b in bars([("a", 5), ("b", 10), ("c", 0)])] == [50.0, 100.0, 0.0]
    assert [b.width for b in bars([("a", 40)], scale=100, unit="%")] == [40.0]
    assert bars([("a", 40)], scale=100, unit="%")[0].text == "40%"
    chart = grouped_columns([("d1", [2, 0]), ("d2", [4, 1])], ["x", "y"], height=100)
    heights = {(c.series, c.value): c.height for c in chart.columns}
    assert heights[("x", 4)] == 100 and heights[("x", 2)] == 50 and heights[("y", 0)] == 0
    assert all(c.y + c.height == 100 for c in chart.columns)  # columns stand on the baseline


def test_audit_since_reads_only_rows_from_the_given_time_across_partitions(azurite, table_prefix):
    stores = TableStores.from_connection_string(azurite, table_prefix)
    stores.ensure_tables()
    now = datetime.now(timezone.utc)
    stores.audit.append_many([AuditEntry("create", "old", product_id="p1", at=now - timedelta(days=3)),
                              AuditEntry("create", "new", product_id="p2", at=now),
                              AuditEntry("close", "new", rule_id="r", at=now)])
    recent = list(stores.audit.since(now - timedelta(days=1)))
    assert sorted(e.action for e in recent) == ["close", "create"]
    stores.close()


def test_rate_budget_counts_this_process_calls_inside_each_window():
    now = [0.0]
    limiter = RateLimiter([(3, 10.0), (100, 3600.0)], margin=0.5, clock=lambda: now[0], sleep=lambda _: None)
    limiter.acquire()
    limiter.acquire()
    now[0] = 20.0
    limiter.acquire()
    assert [(u.limit, u.seconds, u.used, u.left) for u in limiter.usage()] == [(3, 10.0, 1, 2), (100, 3600.0, 3, 97)]


def test_the_watermark_remembers_the_last_passes_with_their_api_calls(world):
    from shared.scan import RECENT_PASSES, WATERMARK_CURSOR, run_full_scan, run_incremental_scan

    deps = world["deps"]
    reports = [run_full_scan(deps)] + [run_incremental_scan(deps) for _ in range(RECENT_PASSES)]
    recent = deps.stores.cursors.get(WATERMARK_CURSOR).value["recent"]
    assert [p["run_id"] for p in recent] == [r.run_id for r in reversed(reports[1:])]  # newest first, bounded
    assert recent[0]["mode"] == "incremental" and recent[0]["api_calls"] == reports[-1].api_calls
    assert recent[0]["api_calls"]["plytix"] >= 1  # an incremental pass asks Plytix what changed
