"""Job 5 end to end: Plytix's channel webhook arriving at the local function host (a separate process,
like the worker), the feed check it queues (a real Azurite queue and queue trigger), the feed the Plytix
stand-in publishes, and the tasks in the Graph stand-in. Also every class of bad delivery."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import httpx
import pytest

from sandbox.catalog import AMAZON_TITLE_MAX
from sandbox.channels import webhook_body
from sandbox.graph_state import PRODUCT_DATA_PLAN_ID, USER_IDS
from shared.store import TableStores
from tests.channel_world import channel_rules
from tests.devhost_process import running_devhost
from tests.scan_world import devhost_env
from tests.test_function_app import HOST_SETTINGS

SECRET = "channel-webhook-test-secret"
HEADER = "X-Plytix-Webhook-Secret"
RULES = channel_rules(f"{{attribute: amazon_title, column: item_name, max_length: {AMAZON_TITLE_MAX}, "
                      "label: Amazon title}", plytix_channel="Amazon-EU")


@pytest.fixture
def channel_host(plytix_sandbox: Any, graph_sandbox: Any, azurite: str, table_prefix: str,
                 tmp_path: Path) -> Iterator[dict[str, Any]]:
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    env = devhost_env(plytix_sandbox.url, graph_sandbox.url, azurite, table_prefix, rules, **HOST_SETTINGS,
                      ENVIRONMENT_NAME="channel-test", PLYTIX_WEBHOOK_SECRET=SECRET,
                      CHANNEL_FEED_ALLOWED_HOSTS="127.0.0.1,*.plytix.com")
    plytix = plytix_sandbox.sandbox
    plytix.channels.configure("Amazon-EU", format="csv",
                              columns={"sku": "sku", "item_name": "attributes.amazon_title", "gtin": "gtin"})
    with running_devhost(env, tmp_path) as devhost:
        yield {"webhook": f"{devhost.base}/plytix/channel-webhook", "plytix": plytix_sandbox, "graph": graph_sandbox,
               "stores": TableStores.from_connection_string(azurite, table_prefix)}
    output = devhost.output()
    assert SECRET not in output and "sandbox-api-password" not in output, "secrets in the host log"


def fire(host: dict[str, Any], body: str = "basic", secret: str = SECRET) -> dict[str, Any]:
    """Plytix processed the channel: the stand-in POSTs its webhook to our host."""
    answer = httpx.post(f"{host['plytix'].url}/_sandbox/channels/Amazon-EU/process", timeout=60,
                        json={"webhook_url": host["webhook"], "headers": {HEADER: secret}, "body": body})
    assert answer.status_code == 200, answer.text
    return answer.json()


def amazon_tasks(host: dict[str, Any]) -> list[dict[str, Any]]:
    return [t for t in host["graph"].sandbox.plan_tasks(PRODUCT_DATA_PLAN_ID) if t["title"].startswith("Amazon listing")]


def check_finished(host: dict[str, Any], delivery: str) -> None:
    """Wait until the delivery's claim is released: its queued check ran to its end (claims.py)."""
    poll("the feed check to finish", lambda: host["stores"].cursors.get(f"channel-delivery-{delivery}") is None)


def poll(what: str, condition: Callable[[], Any], seconds: float = 90) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(0.2)  # polling the stand-in with a deadline for the queued check's effect
    raise AssertionError(f"timed out waiting for {what}")


def test_bad_deliveries_get_4xx_with_a_json_reason_and_an_unknown_channel_is_accepted(channel_host):
    url = channel_host["webhook"]
    good = {"channel_name": "Amazon-EU", "channel_processing_status": "success",
            "channel_url": "https://pim.plytix.com/amazon", "feed_url": "https://pim.plytix.com/amazon/feed",
            "processed_products": 3}
    auth = {HEADER: SECRET}
    cases = [
        (httpx.post(url, json=good), 401, HEADER),
        (httpx.post(url, json=good, headers={HEADER: "wrong"}), 401, HEADER),
        (httpx.post(url, content=b"{not json", headers=auth), 400, "not JSON"),
        (httpx.post(url, content=b"[1, 2]", headers=auth), 400, "JSON object"),
        (httpx.post(url, content=b" " * (1024 * 1024 + 1), headers=auth), 413, "1048576"),
        (httpx.post(url, json={k: v for k, v in good.items() if k != "feed_url"}, headers=auth), 400, "feed_url"),
        (httpx.post(url, json={**good, "channel_name": 7}, headers=auth), 400, "channel_name"),
        (httpx.post(url, json={**good, "feed_url": "http://pim.plytix.com/feed"}, headers=auth), 422, "https"),
        (httpx.post(url, json={**good, "feed_url": "https://169.254.169.254/latest"}, headers=auth), 422,
         "CHANNEL_FEED_ALLOWED_HOSTS"),
        (httpx.post(url, json={**good, "feed_url": "https://user:pw@pim.plytix.com/feed"}, headers=auth), 422,
         "credentials"),
    ]
    for response, status, reason in cases:
        assert response.status_code == status, (reason, response.text)
        assert reason in response.json()["error"], response.text
    unknown = httpx.post(url, json={**good, "channel_name": "eBay"}, headers=auth)
    assert unknown.status_code == 202 and unknown.json()["status"] == "ignored"
    assert channel_host["plytix"].app.faults.calls["plytix.channel_feed"] == 0


def test_webhook_feed_check_creates_owner_tasks_once_and_fixed_data_closes_them(channel_host):
    plytix = channel_host["plytix"].sandbox
    products = [p for p in plytix.products() if p["status"] != "Archived"]
    too_long = {p["sku"] for p in products if len(p["attributes"].get("amazon_title") or "") > AMAZON_TITLE_MAX}
    broken_export = next(p["sku"] for p in products if p["sku"] not in too_long)
    # A channel transformation gone wrong for one product: its attribute is fine, its exported row is not.
    plytix.channels.channels["Amazon-EU"].override = {broken_export: {"item_name": "Y" * 250}}

    # The same delivery five times at once (a retry storm): what the stand-in would send, sent in parallel.
    body = webhook_body("Amazon-EU", f"{channel_host['plytix'].url}/channels/Amazon-EU/feed", len(products), "basic")
    start = threading.Barrier(5)
    answers: list[httpx.Response] = []

    def deliver() -> None:
        start.wait(timeout=30)
        answers.append(httpx.post(channel_host["webhook"], json=body, headers={HEADER: SECRET}, timeout=60))

    threads = [threading.Thread(target=deliver) for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert [a.status_code for a in answers] == [202] * 5
    statuses = sorted(a.json()["status"] for a in answers)
    assert statuses.count("queued") == 1 and statuses.count("duplicate") == 4, statuses
    queued = next(a.json() for a in answers if a.json()["status"] == "queued")
    assert {a.json()["delivery"] for a in answers} == {queued["delivery"]}

    expected = len(too_long) + 1
    tasks = poll("the feed check's tasks", lambda: (t := amazon_tasks(channel_host)) and len(t) >= expected and t)
    assert len(tasks) == expected
    assert channel_host["plytix"].app.faults.calls["plytix.channel_feed"] == 1, "five deliveries, one check"
    assert all(set(t["assignments"]) == {USER_IDS["channel.amazon@contoso.example"]} for t in tasks)
    broken = next(t for t in tasks if broken_export in t["title"])
    assert [i["title"] for i in broken["details"]["checklist"].values()] == ["Amazon title in the published feed"]
    assert "250 characters, at most 200" in broken["details"]["description"]
    long_one = next(t for t in tasks if t["title"] != broken["title"])
    assert sorted(i["title"] for i in long_one["details"]["checklist"].values()) == [
        "Amazon title", "Amazon title in the published feed"]

    # People fix one title in Plytix and the channel transformation; Plytix processes the channel again.
    fixed_sku = sorted(too_long)[0]
    fixed_id = next(p["id"] for p in products if p["sku"] == fixed_sku)
    plytix.edit_product(fixed_id, attributes={"amazon_title": "Contoso kettle, brushed steel"})
    plytix.channels.channels["Amazon-EU"].override = {}
    check_finished(channel_host, queued["delivery"])
    again = fire(channel_host, body="advanced")["body"]
    assert again["status"] == "queued"
    closed = poll("the fixed products' tasks to close", lambda: [
        t for t in amazon_tasks(channel_host) if t["percentComplete"] == 100] if len(
        [t for t in amazon_tasks(channel_host) if t["percentComplete"] == 100]) >= 2 else None)
    assert sorted(t["title"] for t in closed) == sorted(
        [f"Amazon listing: {broken_export} [amazon]", f"Amazon listing: {fixed_sku} [amazon]"])
    open_tasks = [t for t in amazon_tasks(channel_host) if t["percentComplete"] < 100]
    assert len(open_tasks) == expected - 2
    check_finished(channel_host, again["delivery"])
