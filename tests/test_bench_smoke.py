"""Smoke test of the scan bench at 100 products: the sandbox process starts and stops, the scan meets
the call bounds the bench reports against, and the tables carry one row per size."""

from __future__ import annotations

import pytest

from bench import scan_cost
from bench.table import render


def test_scan_bench_at_100_products_stays_within_the_call_bounds(azurite: str) -> None:
    result = scan_cost.measure(100, azurite)

    assert (result.products, result.findings, result.created) == (100, 5, 5)  # 5% of 100 have gaps
    assert result.lower_bound == 1
    assert result.first.search_calls <= scan_cost.SEARCH_GOAL * result.lower_bound
    # Strict search gives no family: one GET per product with a finding, and the filter listing once.
    assert result.first.plytix == {"search": 1, "families": 1, "token": 1, "filters": 1, "get_product": 5}
    # Per task: create it, read its details' etag, write the details; per pass: list the plan, resolve the
    # owner, find the bucket.
    assert result.first.graph["create_task"] == result.created
    assert result.first.graph_calls <= 3 * result.created + 3
    assert result.rescan.done == {}
    assert result.rescan.plytix == {"search": 1}  # families, the listing and each family are cached
    assert result.family_row()[2:6] == ("5", "5", "0", "0")
    assert result.rescan.graph == {"list_plan_tasks": 1}
    # One page of 100 products is about 110 KB of JSON: reading it must not take more than a few MiB.
    assert 0 < result.memory.stream_peak_collected < 4 * 1024 * 1024
    assert result.memory.scan_peak > result.memory.stream_peak_collected

    lines = render(scan_cost.FIRST_HEADER, [result.first_row()]).splitlines()
    assert len(lines) == 3 and lines[0].split()[0] == "products"
    assert lines[2].split()[:6] == ["100", "5", "5", "1", "1", "1.00"]
    assert "one size" in scan_cost.memory_summary([result])


def test_table_rows_must_match_the_header() -> None:
    with pytest.raises(ValueError, match="one cell per header column"):
        render(("a", "b"), [("1",)])


def test_sizes_must_be_positive() -> None:
    with pytest.raises(SystemExit):
        scan_cost.main(["--sizes", "0"])


def test_change_feed_bench_reads_each_changed_product_once_and_writes_only_changed_snapshots(azurite: str) -> None:
    from bench import change_feed_cost

    unwatched, stage, review = change_feed_cost.measure(60, 10, azurite)
    for scenario in (unwatched, stage, review):
        assert scenario.plytix.get("search") == 1 == scenario.lower_bound  # 10 changed products: one page
        assert scenario.products_read == 10
        assert scenario.snapshot("read") + scenario.snapshot("query") <= 10  # one request per partition touched
    assert unwatched.snapshot("batch") == 0 and unwatched.tasks_created == 0  # nothing watched changed
    assert 0 < stage.snapshot("batch") <= 10 and stage.tasks_created == 0
    assert review.tasks_created == 10 and 0 < review.snapshot("batch") <= 10
    assert len(change_feed_cost.HEADER) == len(review.row())


def test_channel_feed_bench_checks_a_1_mb_feed_in_flat_memory(azurite: str) -> None:
    from bench import channels
    from bench.scan_cost import sandbox_process

    with sandbox_process(200) as (plytix_url, graph_url):
        report, wall, peak = channels.feed_check(plytix_url, graph_url, azurite, 1, traced=True)
    assert report.complete and report.bytes >= 1_000_000 and report.rows >= 200
    assert report.failing_rows > 0 and wall > 0
    assert 0 < peak < 16 * 1024 * 1024
    assert channels.percentile([5.0, 1.0, 3.0, 2.0, 4.0], 0.5) == 3.0


def test_dashboard_bench_reads_each_table_in_the_fewest_pages(azurite: str) -> None:
    from bench import dashboard

    result = dashboard.measure(40, azurite)
    assert (result.links, result.audit_rows) == (40, 200)
    assert result.requests["links"] == {"query": 1} and result.requests["audit"] == {"query": 1}
    assert result.row()[4] == "1+1" and int(result.row()[5]) <= 3  # outbox, runs, watermark
    assert result.page_bytes > 0


def test_project_bench_refreshes_at_the_bounds_and_writes_back_once(azurite: str) -> None:
    from bench.project_refresh import RULES, run_bench
    from bench.scan_cost import scan_world

    with scan_world(200, azurite, 0.0, RULES) as deps:
        rows = {row[0]: row for row in run_bench(deps)}
    assert rows["refresh, quiet"][1:4] == ("1", "0", "3"), "one listing, no Plytix call, three table queries"
    completed = rows["refresh, 5 groups completed"]
    written = int(completed[4])
    assert written > 0 and int(completed[2]) == 2 * written, "GET + PATCH per product, nothing else"
    assert rows["refresh, the same again"][2:5] == ("0", "3", "0")


def test_health_bench_answers_from_the_cache_without_upstream_calls(azurite: str) -> None:
    from bench import health_load

    load = health_load.measure(azurite, rate=10, seconds=1, sequential=3)
    assert (len(load.at_rate), len(load.sequential)) == (10, 3)
    assert load.upstream_calls == 0
