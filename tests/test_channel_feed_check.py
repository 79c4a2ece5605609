"""The feed check in-process against the stand-ins and Azurite: CSV, JSON and XML feeds with malformed rows
(reported, not fatal), a feed that breaks off (what it did not reach is left alone), refused and failing
downloads, and a 50 MB feed checked in flat memory."""

from __future__ import annotations

import tracemalloc
from pathlib import Path
from typing import Any, Iterator

import pytest

from sandbox.catalog import AMAZON_TITLE_MAX
from shared.channels.check import run_feed_check
from shared.channels.delivery import Delivery
from shared.channels.download import FeedDownloadError
from tests.channel_world import channel_rules
from tests.scan_world import build_deps, world_settings

RULES = channel_rules(f"{{attribute: amazon_title, column: item_name, max_length: {AMAZON_TITLE_MAX}}}",
                      "{column: gtin, pattern: '\\d{8}|\\d{12,14}'}")
COLUMNS = {"sku": "sku", "item_name": "attributes.amazon_title", "gtin": "gtin"}


@pytest.fixture
def feed_world(plytix_sandbox: Any, graph_sandbox: Any, azurite: str, table_prefix: str,
               tmp_path: Path) -> Iterator[tuple[Any, Any]]:
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    settings = world_settings(plytix_sandbox.url, graph_sandbox.url, azurite, table_prefix, rules,
                              CHANNEL_FEED_ALLOWED_HOSTS="127.0.0.1", GROUP_THRESHOLD=1000)
    deps = build_deps(settings)
    yield deps, plytix_sandbox
    deps.plytix.close()
    deps.planner.close()


def delivery(server: Any, channel: str = "amazon") -> Delivery:
    return Delivery(channel_name=channel, status="success", feed_url=f"{server.url}/channels/{channel}/feed",
                    channel_url=None, products=None)


def long_titles(server: Any) -> set[str]:
    return {p["id"] for p in server.sandbox.products()
            if p["status"] != "Archived" and len(p["attributes"]["amazon_title"]) > AMAZON_TITLE_MAX}


@pytest.mark.parametrize("fmt", ["csv", "json", "xml"])
def test_malformed_rows_are_reported_and_the_rest_of_the_feed_is_checked(feed_world, fmt):
    deps, server = feed_world
    server.sandbox.channels.configure("amazon", format=fmt, columns=COLUMNS, bad_rows=4)
    report = run_feed_check(deps, delivery(server))
    assert report.outcome == "checked" and report.format == fmt and report.complete
    assert report.bad_rows == 4, report.bad_row_samples
    assert sum("no SKU" in sample for sample in report.bad_row_samples) == 2
    expected = long_titles(server)
    assert report.failing_rows == len(expected) and report.unknown_skus == 0
    assert report.reconcile["done"] == {"create": len(expected)}
    stored = {row.product_id: row.problems for row in deps.stores.channel_feed.list("amazon-listing", "amazon")}
    assert set(stored) == expected
    assert all(set(problems) == {"feed:item_name"} for problems in stored.values())


def test_a_feed_that_breaks_off_adds_problems_but_fixes_nothing_it_did_not_reach(feed_world):
    deps, server = feed_world
    sandbox = server.sandbox
    sandbox.channels.configure("amazon", format="json", columns=COLUMNS)
    first = run_feed_check(deps, delivery(server))
    assert first.complete and first.reconcile["done"]["create"] == len(long_titles(server))
    # Everything fixed in Plytix, but the next export is cut off before its end.
    for product_id in long_titles(server):
        sandbox.edit_product(product_id, attributes={"amazon_title": "Short title"})
    sandbox.channels.configure("amazon", format="json", columns=COLUMNS, cut_off=True)
    broken = run_feed_check(deps, delivery(server))
    assert not broken.complete and "feed ends early" in broken.bad_row_samples[-1]
    assert broken.reconcile == {}, "nothing is closed on the word of an incomplete feed"
    assert len(list(deps.stores.channel_feed.list("amazon-listing", "amazon"))) == first.failing_rows
    sandbox.channels.configure("amazon", format="json", columns=COLUMNS)
    whole = run_feed_check(deps, delivery(server))
    assert whole.complete and whole.reconcile["done"] == {"close": first.failing_rows}
    assert list(deps.stores.channel_feed.list("amazon-listing", "amazon")) == []


def test_unknown_channel_failed_processing_refused_and_failing_downloads(feed_world):
    deps, server = feed_world
    assert run_feed_check(deps, delivery(server, "ebay")).outcome == "unknown_channel"
    not_done = Delivery("amazon", "failed", f"{server.url}/channels/amazon/feed", None, None)
    assert run_feed_check(deps, not_done).outcome == "not_processed"
    outside = Delivery("amazon", "success", "https://feeds.example.com/amazon.csv", None, None)
    refused = run_feed_check(deps, outside)
    assert refused.outcome == "refused" and "CHANNEL_FEED_ALLOWED_HOSTS" in refused.error
    server.sandbox.channels.configure("amazon", format="csv", columns=COLUMNS)
    server.app.faults.add("plytix.channel_feed", {"kind": "status", "status": 503})
    with pytest.raises(FeedDownloadError) as failed:  # retriable: the queue tries again, then poisons
        run_feed_check(deps, delivery(server))
    assert failed.value.retriable
    capped = deps.settings.model_copy(update={"CHANNEL_FEED_MAX_BYTES": 4096})
    too_big = run_feed_check(type(deps)(**{**deps.__dict__, "settings": capped}), delivery(server))
    assert too_big.outcome == "refused" and "CHANNEL_FEED_MAX_BYTES" in too_big.error


def test_a_50_mb_feed_is_checked_in_under_100_mb_of_memory(feed_world):
    deps, server = feed_world
    server.sandbox.channels.configure("amazon", format="csv", filler_rows=10_000, filler_bytes=5_000,
                                      columns={**COLUMNS, "description": "attributes.description_en"})
    tracemalloc.start()
    try:
        report = run_feed_check(deps, delivery(server))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert report.complete and report.rows > 10_000 and report.bytes >= 50 * 10**6
    assert report.failing_rows == len(long_titles(server))
    assert peak < 100 * 1024 * 1024, f"peak {peak / 2**20:.1f} MiB"
