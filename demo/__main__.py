"""`make demo`: the story of jobs 1 to 4 against the local sandbox, Azurite and the real function code.

Starts Azurite and both stand-ins, serves function_app through the local host, and then, over HTTP
only, as an operator and the people in Plytix and Planner would:
1. previews a scan (dry run), 2. scans: tasks appear in Planner, 3. people fix some products in Plytix
(fully or in part) and complete one task without fixing its product, 4. scans: tasks ticked, closed and
reopened, 5. scans again: nothing changes, 7. both ways (job 4): a reviewer completes a review task, and
one completion-watcher run moves the product to its next stage in Plytix, once, although Plytix fails
the first two writes; 8. two products reach the launch stage (one flips back and forth first): one
launch set each, in a wave plan created once, and none for the product job 4 just moved (its own write
is no change); 9. one goes back a stage: its set is closed; it comes back: no second set; 10. a safety
text changes twice: one review task, updated, with the hold `pending` in Plytix. Prints a summary table,
the operations page's URL (and saves a screenshot of it with a local chromium), and exits 0 only if all
of that held.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
PROJECT_RULE = """
  - id: spring-refresh
    type: catalog_project
    name: Spring refresh
    plan_id: {plan_id}
    owner: content.editor@contoso.example
    select: {{categories: [Home]}}
    milestones:
      - {{id: copy, name: Copy refreshed, due: 2027-02-01}}
      - {{id: images, name: Images reshot, due: 2027-03-01}}
    progress: {{stage_attribute: project_stage, status_attribute: project_status}}
"""
KEY = "demo-function-key"
WEBHOOK_SECRET = "demo-webhook-secret"
OWNER_NAMES: dict[str, str] = {}


def main() -> int:
    os.chdir(ROOT)
    # A copy of demo/rules.yaml: step 12 adds a catalog project to it while the host runs (reloaded on change).
    rules_copy = Path(tempfile.mkdtemp(prefix="demo-rules-")) / "rules.yaml"
    shutil.copyfile(ROOT / "demo" / "rules.yaml", rules_copy)
    os.environ.update({"ENVIRONMENT_NAME": "demo", "RULES_FILE": str(rules_copy),
                       "FULL_SWEEP_SCHEDULE": "0 0 2 * * *",
                       "INCREMENTAL_SCHEDULE": "0 */5 * * * *", "COMPLETION_SCHEDULE": "0 */1 * * * *",
                       "QUEUE_PREFIX": "demo", "DEVHOST_FUNCTION_KEY": KEY,
                       "PLYTIX_WEBHOOK_SECRET": WEBHOOK_SECRET, "CHANNEL_FEED_ALLOWED_HOSTS": "127.0.0.1",
                       "PLYTIX_PRODUCT_URL_TEMPLATE": "https://app.plytix.com/products/{product_id}"})
    for name in [n for n in os.environ if n.startswith(("PLYTIX_BASE", "PLYTIX_API", "GRAPH_", "STORAGE_"))]:
        del os.environ[name]  # the demo always runs against the local stand-ins
    os.environ.pop("AzureWebJobsStorage", None)

    from devhost.host import DevHost
    from devhost.host_config import HostOptions
    from devhost.local_services import LocalServices

    services = LocalServices.start_missing(os.environ, ROOT)
    try:
        import function_app

        # Scans and channel feed checks run from their queues, as in Azure; a short poll interval keeps the demo quick.
        options = HostOptions.from_host_json(ROOT / "host.json", queue_poll_interval=0.1)
        with DevHost(function_app.app, port=0, timers=False, options=options, app_root=ROOT) as host:
            return Demo(f"{host.url}/api", os.environ["PLYTIX_BASE_URL"],
                        os.environ["GRAPH_BASE_URL"].removesuffix("/v1.0"), rules_copy).run()
    finally:
        services.stop()


class Demo:
    def __init__(self, api: str, plytix: str, graph: str, rules: Path) -> None:
        from sandbox.graph_state import BUCKET_IDS, PRODUCT_DATA_PLAN_ID, USER_IDS

        self.api, self.plytix, self.graph, self.rules = api, plytix, graph, rules
        self.plan_id = PRODUCT_DATA_PLAN_ID
        self.buckets = BUCKET_IDS[PRODUCT_DATA_PLAN_ID]
        self.user_names = {object_id: upn.split("@")[0] for upn, object_id in USER_IDS.items()}
        self.http = httpx.Client(timeout=120)
        self.totals: Counter = Counter()
        self.failures: list[str] = []

    def run(self) -> int:
        health = self.http.get(f"{self.api}/health").json()
        step("0. Health", f"{health['status']} {health['checks']}")
        self.expect(health["status"] == "ok", "health is ok")

        preview = self.scan(dry_run=True)
        step("1. Dry run: what would happen (nothing is written)",
             f"{preview['products_seen']} products read, {preview['findings']} findings, planned {preview['planned']}")
        for action in preview["actions"][:5]:
            print(f"   {action['action']:<7} {action['title']:<45} {action['reason']}")
        self.expect(self.tasks() == [], "a dry run creates no task")
        core = [a for a in preview["actions"] if a["rule"] == "core-content"]

        first = self.scan()
        tasks = self.tasks()
        step("2. Scan: one task per product with missing data", f"done {first['done']}")
        self.print_tasks(tasks[:8], len(tasks))
        self.expect(first["done"].get("create") == preview["findings"], "one task per finding")
        self.expect(len(tasks) == len(core), "one Missing data task per product with missing data")

        product_ids = [a["product"] for a in core]
        several_gaps = [a["product"] for a in core if a["reason"].count(",") >= 1]
        partial = several_gaps[:2]  # products missing two or more things: fill one, the rest stays
        rest = [p for p in product_ids if p not in partial]
        fixed, ignored = rest[:3], rest[3]
        touched = fixed + partial + [ignored]
        ignored_task = next(t for t in tasks if ignored in _reference(t))
        step("3. People work in Plytix and Planner",
             f"fully fix {len(fixed)} products, partly fix {len(partial)}, and mark '{ignored_task['title']}' "
             "complete in Planner without fixing the product")
        donor = self.complete_product(exclude=set(product_ids))
        for product_id in fixed:
            self.fill(product_id, donor, everything=True)
        for product_id in partial:
            self.fill(product_id, donor, everything=False)
        self.http.post(f"{self.graph}/_sandbox/tasks/{ignored_task['id']}/complete",
                       json={"by": "content.editor@contoso.example"}).raise_for_status()

        second = self.scan()
        step("4. Scan: tasks ticked, closed and reopened", f"done {second['done']}")
        after = {t["id"]: t for t in self.tasks()}
        self.print_tasks([t for t in after.values() if any(p in _reference(t) for p in touched)], len(touched))
        self.expect(second["done"].get("close") == 3, "3 fixed products -> 3 tasks closed")
        self.expect(second["done"].get("update") == 2, "2 partly fixed -> 2 checklists ticked")
        self.expect(second["done"].get("reopen") == 1, "completed but still missing -> reopened")
        self.expect(after[ignored_task["id"]]["percentComplete"] == 0, "the reopened task is open again")

        third = self.scan()
        step("5. Scan again: level-triggered, so nothing changes", f"done {third['done'] or 'nothing'}")
        self.expect(third["done"] == {}, "a third scan changes nothing")
        self.expect(len(self.tasks()) == len(tasks), "no duplicate task ever")

        history = self.http.get(f"{self.api}/audit", params={"product": fixed[0]}, headers=self.key).json()
        step(f"6. Audit of product {fixed[0]}", "")
        for entry in history["entries"]:
            print(f"   {entry['at'][:19]}  {entry['action']:<7} {entry['reason']}")

        echo_product = self.write_back()
        self.launches(echo_product)
        self.reviews()
        self.channel_webhook()
        self.data_quality()

        self.project()
        self.summary(first, second, third)
        self.pages()
        if self.failures:
            print("\nDEMO FAILED: " + "; ".join(self.failures))
            return 1
        print("\nDemo finished: every expectation held.")
        return 0

    def project(self) -> None:
        """Job 7: a catalog project added to the rules file; one scan makes its buckets and group tasks, a
        person ticks one product and completes one group's task, the next scan reads that progress and
        writes it to Plytix once."""
        from sandbox.graph_state import CATALOG_PLAN_ID

        with self.rules.open("a", encoding="utf-8") as rules:
            rules.write(PROJECT_RULE.format(plan_id=CATALOG_PLAN_ID))
        self.scan()
        tasks = [t for t in self.plan_tasks(CATALOG_PLAN_ID) if t["title"].startswith("Spring refresh:")]
        step("12. Job 7: a catalog project, 'Spring refresh', added to the rules file",
             f"{len(tasks)} tasks in plan Catalog projects: one per milestone (bucket) and category")
        for task in sorted(tasks, key=lambda t: t["title"])[:6]:
            print(f"   {task['title'][:60]:<60} {len(task['details']['checklist'])} products")
        group = sorted(t["title"].rsplit(": ", 1)[1] for t in tasks)[0]
        copy = next(t for t in tasks if t["title"] == f"Spring refresh: Copy refreshed: {group}")
        images = next(t for t in tasks if t["title"] == f"Spring refresh: Images reshot: {group}")
        key, item = sorted(copy["details"]["checklist"].items(), key=lambda entry: entry[1]["title"])[0]
        product = next(p for p in self.raw_products() if p["sku"] == item["title"])
        self.http.patch(f"{self.graph}/_sandbox/tasks/{copy['id']}/details/checklist/{key}",
                        json={"isChecked": True}).raise_for_status()
        self.http.post(f"{self.graph}/_sandbox/tasks/{images['id']}/complete",
                       json={"by": "content.editor@contoso.example"}).raise_for_status()
        self.scan()
        self.scan()  # read again: nothing more is written
        summary = self.http.get(f"{self.api}/projects/spring-refresh", headers=self.key).json()
        print(f"   {item['title']} ticked in '{copy['title']}', '{images['title']}' completed; then two scans")
        for milestone in summary["milestones"]:
            print(f"   {milestone['name']:<16} due {milestone['due']}  {milestone['done']:>3}/{milestone['products']:<3} "
                  f"products done ({milestone['percent']}%)")
        raw = self.http.get(f"{self.plytix}/_sandbox/products/{product['id']}").json()
        stored = raw["attributes"]
        writes = [h for h in raw["_history"] if h["by"] == "api" and "attributes.project_stage" in h["changes"]]
        print(f"   in Plytix {item['title']}: project_stage = {stored.get('project_stage')!r}, "
              f"project_status = {stored.get('project_status')!r} ({len(writes)} write)")
        self.expect(stored.get("project_stage") == "Images reshot", "progress reaches Plytix")
        self.expect(len(writes) == 1, "progress is written once")

    def pages(self) -> None:
        """The operations page and the project report after all of the above: their URLs, and screenshots
        in the distribution's headless Chromium (devhost/browser.py) when one is installed."""
        from devhost.browser import DESKTOP, chromium, chromium_path, screenshot

        pages = {"demo-dashboard": (f"{self.api}/dashboard", "Operations dashboard"),
                 "demo-project-report": (f"{self.api}/projects/spring-refresh/report", "Spring refresh")}
        step("13. The pages", "the operations page and the project report (function key), while the demo runs")
        for name, (url, heading) in pages.items():
            answer = self.http.get(url, headers=self.key)
            self.expect(answer.status_code == 200 and heading in answer.text, f"{name} renders")
            print(f"   GET {url}")
        executable = chromium_path()
        if executable is None:
            print("   no screenshots: install chromium (apt-get install -y chromium) to get them")
            return
        with chromium(executable) as browser:
            for name, (url, _) in pages.items():
                page = browser.new_page(viewport=DESKTOP)
                page.goto(f"{url}?code={KEY}")
                print(f"   screenshot: {screenshot(page, name).relative_to(ROOT)}")

    def launches(self, echo_product: str) -> None:
        """Job 2: launch sets from stage changes, a wave plan, leaving backwards, flip-flopping; the
        product job 4 moved to ready_for_syndication gets no set (our own write is not a change)."""
        products = [p for p in self.raw_products() if p["attributes"].get("workflow_stage") == "approved"
                    and p["status"] != "Archived"][:2]
        flipper, steady = products
        for product in products:
            self.edit(product["id"], {"launch_date": "2027-03-15", "workflow_stage": "ready_for_syndication"})
        for stage in ("approved", "ready_for_syndication"):  # flips back and forth before the next scan
            self.edit(flipper["id"], {"workflow_stage": stage})
        report = self.scan()
        wave = self.plan_titled("Launch 2027-03")
        launch = self.plan_tasks(wave) if wave else []
        step("8. Job 2: two products reach ready_for_syndication (one flipped back and forth first)",
             f"done {report['done']}; wave plan 'Launch 2027-03' created in the group: {bool(wave)}")
        self.print_tasks(launch, len(launch))
        self.expect(len(launch) == 6, "one launch set (3 tasks) per product, in the wave plan")
        self.expect(not self.audit_of(echo_product, "launch"), "job 4's stage write-back is not a launch")

        self.edit(flipper["id"], {"workflow_stage": "approved"})
        back = self.scan()
        self.edit(flipper["id"], {"workflow_stage": "ready_for_syndication"})
        again = self.scan()
        closed = [t for t in self.plan_tasks(wave) if t["percentComplete"] == 100] if wave else []
        assert wave is not None, "the launch wave's plan was created in step 8"
        step(f"9. {flipper['sku']} goes back to approved, then returns to ready_for_syndication",
             f"back: done {back['done']}; returned: done {again['done'] or 'nothing'}")
        self.expect(back["done"].get("close") == 3 and len(closed) == 3, "leaving backwards closes its set")
        self.expect(len(self.plan_tasks(wave)) == 6, "no second set")

    def reviews(self) -> None:
        """Job 3: a review task with old and new values, updated (not duplicated) by a second change."""
        product = next(p for p in self.raw_products() if p["attributes"].get("safety_warning")
                       and p["status"] != "Archived")
        old = product["attributes"]["safety_warning"]
        self.edit(product["id"], {"safety_warning": "Keep away from open flames."})
        first = self.scan()
        self.edit(product["id"], {"safety_warning": "Keep away from open flames and children."})
        second = self.scan()
        review = [t for t in self.plan_tasks(self.plan_id) if t["title"].startswith("Review safety text")]
        hold = self.http.get(f"{self.plytix}/_sandbox/products/{product['id']}").json()["attributes"].get(
            "review_status")
        step(f"10. Job 3: {product['sku']}'s safety warning changes twice",
             f"first scan: done {first['done']}; second: done {second['done']}; review_status in Plytix: {hold}")
        if review:
            print("   " + review[0]["details"]["description"].replace("\n", "\n   ")[:900])
        self.expect(len(review) == 1 and first["done"].get("create") == 1 and second["done"].get("update") == 1,
                    "one review task, updated by the second change")
        self.expect(bool(review) and old in review[0]["details"]["description"], "the task shows the old value")
        self.expect(hold == "pending", "the hold is pending while under review")

    def data_quality(self) -> None:
        """Job 6: the scans above also kept the duplicate index; its groups are tasks for the data steward."""
        tasks = self.tasks("Data quality")
        step("11. Job 6: data-quality exceptions, one task per group for the data steward",
             f"{len(tasks)} tasks in bucket Data quality")
        for task in tasks[:6]:
            skus = sorted(item["title"] for item in task["details"]["checklist"].values())
            print(f"   {task['title'][:60]:<60} {', '.join(skus)[:60]}")
        duplicates = [t for t in tasks if ": duplicate " in t["title"]]
        self.expect(bool(duplicates), "the seeded duplicate SKUs and GTINs are found")
        self.expect(all(len(t["details"]["checklist"]) >= 2 for t in duplicates),
                    "each duplicate group lists every product in it")

    def plan_tasks(self, plan_id: str) -> list[dict[str, Any]]:
        response = self.http.get(f"{self.graph}/_sandbox/plans/{plan_id}/tasks")
        response.raise_for_status()
        return response.json()["value"]

    def audit_of(self, product_id: str, rule_id: str) -> list[dict[str, Any]]:
        history = self.http.get(f"{self.api}/audit", params={"product": product_id}, headers=self.key).json()
        return [entry for entry in history["entries"] if entry["rule"] == rule_id]

    def raw_products(self) -> list[dict[str, Any]]:
        response = self.http.get(f"{self.plytix}/_sandbox/products")
        response.raise_for_status()
        return response.json()["data"]

    def edit(self, product_id: str, attributes: dict[str, Any]) -> None:
        self.http.patch(f"{self.plytix}/_sandbox/products/{product_id}",
                        json={"attributes": attributes}).raise_for_status()

    def plan_titled(self, title: str) -> str | None:
        plans = self.http.get(f"{self.graph}/_sandbox/stats").json()["plans"]
        return next((plan_id for plan_id, plan in plans.items() if plan["title"] == title), None)

    @property
    def key(self) -> dict[str, str]:
        return {"x-functions-key": KEY}

    def scan(self, dry_run: bool = False) -> dict[str, Any]:
        """A dry run answers in the request (?wait=true); a real scan is queued (202) and its status
        route is polled until the queue trigger has finished it."""
        if dry_run:
            response = self.http.post(f"{self.api}/scans", params={"wait": "true"}, json={"dry_run": True},
                                      headers=self.key)
            response.raise_for_status()
            return response.json()
        response = self.http.post(f"{self.api}/scans", headers=self.key)
        self.expect(response.status_code == 202, "a scan request is accepted at once (202)")
        status_url = self.api.removesuffix("/api") + response.headers["Location"]
        deadline = time.monotonic() + 120
        while (run := self.http.get(status_url, headers=self.key).json())["status"] not in ("succeeded", "failed"):
            if time.monotonic() > deadline:
                raise RuntimeError(f"scan {run['run_id']} did not finish within 120 s")
            time.sleep(0.1)  # polling the status route, as a client would
        self.expect(run["status"] == "succeeded", f"scan {run['run_id']} succeeded")
        report = run["report"]
        self.totals.update(report["done"])
        self.totals.update({f"{k}_calls": v for k, v in report["api_calls"].items()})
        self.totals["scans"] += 1
        return report

    def tasks(self, bucket: str = "Missing data") -> list[dict[str, Any]]:
        response = self.http.get(f"{self.graph}/_sandbox/plans/{self.plan_id}/tasks")
        response.raise_for_status()
        body = response.json()
        return [t for t in body["value"] if t["bucketId"] == self.buckets[bucket]]

    def write_back(self) -> str:
        """Job 4: a reviewer completes a task and one watcher run moves the product's stage in Plytix,
        exactly once although Plytix fails the first two writes. Returns the product's id."""
        reviews = self.tasks("Reviews")
        task = reviews[0]
        product_id = _reference(task).rsplit("/", 1)[-1]
        before = self.stage(product_id)
        step("7. Both ways: a reviewer completes a Syndication review task in Planner",
             f"'{task['title']}' (product in stage {before}); Plytix will fail the next 2 writes")
        self.expect(before == "approved", "the reviewed product is approved")
        self.http.post(f"{self.plytix}/_sandbox/faults", json={"endpoint": "plytix.patch_product", "kind": "status",
                                                              "status": 503, "count": 2}).raise_for_status()
        self.http.post(f"{self.graph}/_sandbox/tasks/{task['id']}/complete",
                       json={"by": "content.editor@contoso.example"}).raise_for_status()
        self.http.post(f"{self.api.removesuffix('/api')}/admin/functions/completion_watcher", json={"input": ""},
                       headers=self.key).raise_for_status()
        after = self.wait_for_stage(product_id, before)
        writes = [h for h in self.http.get(f"{self.plytix}/_sandbox/products/{product_id}").json()["_history"]
                  if "attributes.workflow_stage" in h["changes"] and h["by"] == "api"]
        print(f"   one watcher run later the product is in stage {after} ({len(writes)} Plytix write)")
        self.expect(after == "ready_for_syndication", "the product moved to the next stage")
        self.expect(len(writes) == 1, "exactly one write although Plytix failed twice")
        rows = self.http.get(f"{self.api}/writebacks", headers=self.key).json()["writebacks"]
        for row in rows:
            print(f"   write-back {row['id'][:12]}  {row['state']:<5} after {row['attempts']} attempts: "
                  f"{row['reason']}")
        self.expect([r["state"] for r in rows] == ["done"], "one write-back, done")
        history = self.http.get(f"{self.api}/audit", params={"product": product_id}, headers=self.key).json()
        for entry in history["entries"]:
            print(f"   {entry['at'][:19]}  {entry['action']:<14} {entry['reason']}")
        return product_id

    def channel_webhook(self) -> None:
        """Job 5: Plytix finishes processing the Amazon channel and calls our webhook; the queued check
        reads the published feed and gives the channel owner one task per product the feed gets wrong."""
        columns = {"sku": "sku", "item_name": "attributes.amazon_title", "gtin": "gtin"}
        self.http.post(f"{self.plytix}/_sandbox/channels/Amazon",
                       json={"format": "xml", "columns": columns, "bad_rows": 2}).raise_for_status()
        products = self.http.get(f"{self.plytix}/_sandbox/products").json()["data"]
        too_long = [p for p in products if p["status"] != "Archived" and len(p["attributes"]["amazon_title"]) > 200]
        webhook = f"{self.api}/plytix/channel-webhook"
        refused = self.http.post(webhook, json={"channel_name": "Amazon", "feed_url": "https://example.com/f"})
        fired = self.http.post(f"{self.plytix}/_sandbox/channels/Amazon/process", json={
            "webhook_url": webhook, "headers": {"X-Plytix-Webhook-Secret": WEBHOOK_SECRET}}).json()
        step("10. Channel work: Plytix processed the Amazon channel and calls the webhook",
             f"without the secret: {refused.status_code} {refused.json()['error']}; with it: {fired['status']} "
             f"{fired['body']}")
        self.expect(refused.status_code == 401 and fired["status"] == 202, "401 without the secret, 202 with it")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len(self.tasks("Channels")) < len(too_long):
            time.sleep(0.2)  # the queue trigger runs the check in the background: poll with a deadline
        tasks = self.tasks("Channels")
        print(f"   the published XML feed ({len(products)} products, 2 malformed rows) has {len(too_long)} Amazon "
              f"titles over 200 characters:")
        self.print_tasks(tasks, len(tasks))
        self.expect(len(tasks) == len(too_long), "one channel task per product whose exported title is too long")
        self.expect(all(self.user_names.get(u) == "channel.amazon" for t in tasks for u in t["assignments"]),
                    "the channel owner gets the channel's tasks")

    def stage(self, product_id: str) -> Any:
        product = self.http.get(f"{self.plytix}/_sandbox/products/{product_id}").json()
        return product["attributes"].get("workflow_stage")

    def wait_for_stage(self, product_id: str, before: Any, deadline_seconds: float = 60) -> Any:
        """The host runs the timer function in the background: poll with a deadline."""
        deadline = time.monotonic() + deadline_seconds
        while time.monotonic() < deadline:
            current = self.stage(product_id)
            if current != before:
                return current
            time.sleep(0.2)
        return self.stage(product_id)

    def complete_product(self, exclude: set[str]) -> dict[str, Any]:
        """A product with every attribute filled: people copy from it (images link existing assets)."""
        from sandbox.catalog import GAP_CANDIDATES

        response = self.http.get(f"{self.plytix}/_sandbox/products")
        response.raise_for_status()
        for candidate in response.json()["data"]:
            if candidate["id"] not in exclude and all(candidate["attributes"].get(a) for a in GAP_CANDIDATES):
                return candidate
        raise RuntimeError("no complete product found to copy from")

    def fill(self, product_id: str, donor: dict[str, Any], *, everything: bool) -> None:
        from sandbox.catalog import GAP_CANDIDATES

        product = self.http.get(f"{self.plytix}/_sandbox/products/{product_id}").json()
        missing = [a for a in GAP_CANDIDATES if not product["attributes"].get(a)]
        chosen = missing if everything else missing[:1]
        values = {a: _as_input(donor["attributes"][a]) for a in chosen}
        self.http.patch(f"{self.plytix}/_sandbox/products/{product_id}", json={"attributes": values}).raise_for_status()
        print(f"   {product['sku']}: filled {', '.join(chosen)}" + ("" if everything else f" (still missing "
                                                                                 f"{', '.join(missing[1:])})"))

    def print_tasks(self, tasks: list[dict[str, Any]], total: int) -> None:
        print(f"   {'task':<42} {'done':>5} {'checklist':>9}  assigned to")
        for task in tasks:
            checklist = task["details"]["checklist"].values()
            ticked = sum(1 for item in checklist if item["isChecked"])
            owners = ", ".join(self.user_names.get(u, u) for u in task.get("assignments", {}))
            print(f"   {task['title'][:42]:<42} {task['percentComplete']:>4}% {ticked:>4}/{len(checklist):<4}  {owners}")
        if total > len(tasks):
            print(f"   ... {total - len(tasks)} more")

    def expect(self, condition: bool, what: str) -> None:
        if not condition:
            self.failures.append(what)

    def summary(self, *reports: dict[str, Any]) -> None:
        step("Summary", "")
        rows = [("scans run", self.totals["scans"]), ("tasks created", self.totals["create"]),
                ("tasks updated (checklist ticked)", self.totals["update"]),
                ("tasks closed (fixed, left stage)", self.totals["close"]),
                ("tasks reopened", self.totals["reopen"]),
                ("Plytix API calls", self.totals["plytix_calls"]), ("Graph API calls", self.totals["graph_calls"])]
        for label, value in rows:
            print(f"   {label:<34} {value:>6}")
        per_scan = [f"{r['api_calls']['plytix']}/{r['api_calls']['graph']}" for r in reports]
        print(f"   {'Plytix/Graph calls per scan':<34} {', '.join(per_scan):>6}")


def _as_input(value: Any) -> Any:
    """What the Plytix UI would send for a value read from another product (media: asset ids)."""
    if isinstance(value, list):
        return [{"id": v["id"]} for v in value]
    if isinstance(value, dict) and "id" in value:
        return {"id": value["id"]}
    return value


def _reference(task: dict[str, Any]) -> str:
    from urllib.parse import unquote

    return " ".join(unquote(k) for k in (task["details"].get("references") or {}))


def step(title: str, text: str) -> None:
    print(f"\n== {title}\n   {text}" if text else f"\n== {title}")


if __name__ == "__main__":
    sys.exit(main())
