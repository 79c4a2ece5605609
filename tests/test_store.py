"""The Table Storage stores against a real Azurite (tests/conftest.py starts it), over real HTTP.

Each test gets its own table prefix, so tests never see each other's rows.
"""

from __future__ import annotations

import dataclasses
import hashlib
import socket
import threading
import time
from datetime import datetime, timedelta, timezone
from typing import Callable, Iterator, TypeVar

import pytest

from devhost.azurite import AZURITE_KEY
from devhost.azurite import connection_string as azurite_connection_string
from shared.settings import load_settings
from shared.store import (
    AlreadyClaimed,
    AuditEntry,
    AuditStore,
    ConcurrentUpdate,
    Cursor,
    EntityTooLarge,
    InvalidKey,
    InvalidValue,
    Link,
    LinkState,
    Snapshot,
    TableStores,
    TaskRef,
    escape_key,
    snapshot_partition,
    unescape_key,
    validate_key,
)
from shared.store.batching import MAX_BATCH_OPERATIONS, transactions_by_partition
from shared.store.entity import MAX_CUSTOM_PROPERTIES, build_entity
from shared.store.snapshots import partition_query

T = TypeVar("T")
NASTY = "a/b\\c#d?e%f%2Fg'h\x00i\x1fj\x7fk\x9fl ünï 𝄞"  # every class of forbidden character, plus look-alikes


@pytest.fixture
def stores(azurite: str, table_prefix: str) -> Iterator[TableStores]:
    with TableStores.from_connection_string(azurite, table_prefix) as created:
        created.ensure_tables()
        created.stats.reset()
        yield created


def race(n: int, action: Callable[[int], T]) -> tuple[list[T], list[BaseException]]:
    """Run action(i) in n threads released together; return (results, exceptions)."""
    barrier = threading.Barrier(n)
    results: list[T] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def run(i: int) -> None:
        barrier.wait()
        try:
            value = action(i)
            with lock:
                results.append(value)
        except BaseException as exc:  # noqa: BLE001 - collected for the assertions
            with lock:
                errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return results, errors


def ids_in_one_partition(count: int, partition: str = "00") -> list[str]:
    ids: list[str] = []
    i = 0
    while len(ids) < count:
        candidate = f"sku-{i}"
        if snapshot_partition(candidate) == partition:
            ids.append(candidate)
        i += 1
    return ids


# --- keys -------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("raw", [NASTY, "plain", "%", "%%41", "%25", "already%2Fescaped?", "𝄞" * 10, " "])
def test_escape_round_trips_and_yields_a_valid_key(raw: str) -> None:
    escaped = escape_key(raw)
    assert unescape_key(escaped) == raw
    assert validate_key(escaped, "product_id") == escaped
    assert not set(escaped) & set("/\\#?\x00\x1f\x7f\x9f")


def test_escaping_is_injective_for_look_alikes() -> None:
    assert escape_key("a/b") != escape_key("a%2Fb")
    assert escape_key("%") == "%25"


@pytest.mark.parametrize("bad, reason", [("a/b", "forbids"), ("a#b", "forbids"), ("a?b", "forbids"),
                                         ("a\\b", "forbids"), ("a\x07b", "forbids"), ("a\x85b", "forbids"),
                                         ("", "empty"), ("\ud800", "surrogate"), ("x" * 513, "1024-byte")])
def test_validate_key_rejects_and_names_the_field(bad: str, reason: str) -> None:
    with pytest.raises(InvalidKey, match=reason) as info:
        validate_key(bad, "rule_id")
    assert "rule_id" in str(info.value) or reason == "1024-byte"


def test_key_length_is_checked_after_escaping(stores: TableStores) -> None:
    assert validate_key("x" * 512, "k")  # 1 KiB as UTF-16: the limit itself is fine
    raw = "/" * 200  # 200 characters raw, 600 escaped -> 1200 bytes as UTF-16
    with pytest.raises(InvalidKey, match="product_id"):
        stores.snapshots.put(Snapshot(raw, {}))


def test_unescape_rejects_what_escape_never_writes() -> None:
    for bad in ("50%", "%2", "%zz", "%2f"):
        with pytest.raises(InvalidKey):
            unescape_key(bad)


def test_nasty_ids_round_trip_through_storage(stores: TableStores) -> None:
    stores.links.claim(Link(NASTY, "fp-1", LinkState.pending, product_id=NASTY))
    got = stores.links.get(NASTY, "fp-1")
    assert got is not None and got.rule_id == NASTY and got.product_id == NASTY
    assert [link.rule_id for link in stores.links.list_rule(NASTY)] == [NASTY]
    stores.snapshots.put_many([Snapshot(NASTY, {"k": NASTY}), Snapshot("other", {})])
    assert stores.snapshots.get_many([NASTY, "other"])[NASTY].values == {"k": NASTY}
    stores.audit.append(AuditEntry("create", "test", product_id=NASTY, run_id=NASTY))
    assert [e.run_id for e in stores.audit.for_product(NASTY)] == [NASTY]


# --- links ------------------------------------------------------------------------------------------------

def test_claim_twice_raises_already_claimed_with_the_existing_link(stores: TableStores) -> None:
    first = stores.links.claim(Link("missing-images", "fp-a", LinkState.pending, product_id="p1",
                                    title="Add images", data={"missing": ["image"]}))
    assert first.etag and first.claim_token and first.claimed_at and first.claimed_at.tzinfo is not None
    with pytest.raises(AlreadyClaimed) as info:
        stores.links.claim(Link("missing-images", "fp-a", LinkState.pending, product_id="p1"))
    assert info.value.existing == first


def test_claim_retried_after_a_lost_answer_returns_our_own_row(stores: TableStores) -> None:
    first = stores.links.claim(Link("r", "fp", LinkState.pending))
    # The SDK re-sending our insert meets our own row: same claim token -> it is ours, not a conflict.
    again = stores.links.claim(dataclasses.replace(first, etag=None))
    assert again == first


def test_concurrent_claims_have_exactly_one_winner(stores: TableStores) -> None:
    won, lost = race(6, lambda i: stores.links.claim(Link("r", "fp-race", LinkState.pending, title=f"w{i}")))
    assert len(won) == 1 and len(lost) == 5
    assert all(isinstance(e, AlreadyClaimed) and e.existing == won[0] for e in lost)


def test_commit_then_concurrent_saves_with_the_same_etag_exactly_one_wins(stores: TableStores) -> None:
    claimed = stores.links.claim(Link("r", "fp-save", LinkState.pending))
    committed = stores.links.save(dataclasses.replace(claimed, state=LinkState.open, task_id="task-1",
                                                      plan_id="plan-1", task_etag='W/"abc"'))
    assert committed.etag != claimed.etag

    saved, errors = race(8, lambda i: stores.links.save(dataclasses.replace(committed, title=f"writer {i}")))
    assert len(saved) == 1 and len(errors) == 7
    assert all(isinstance(e, ConcurrentUpdate) for e in errors)
    stored = stores.links.get("r", "fp-save")
    assert stored is not None and stored.title == saved[0].title and stored.etag == saved[0].etag
    assert stored.task_id == "task-1" and stored.state is LinkState.open


def test_save_and_delete_detect_stale_or_missing_rows(stores: TableStores) -> None:
    link = stores.links.claim(Link("r", "fp-del", LinkState.pending))
    newer = stores.links.save(dataclasses.replace(link, state=LinkState.open))
    with pytest.raises(ConcurrentUpdate):
        stores.links.delete(link)  # stale etag
    stores.links.delete(newer)
    assert stores.links.get("r", "fp-del") is None
    with pytest.raises(ConcurrentUpdate, match="deleted"):
        stores.links.save(newer)
    with pytest.raises(InvalidValue):
        stores.links.save(dataclasses.replace(newer, etag=None))


def test_list_rule_filters_by_state(stores: TableStores) -> None:
    states = [LinkState.pending, LinkState.open, LinkState.open, LinkState.completed, LinkState.closed,
              LinkState.deleted]
    for i, state in enumerate(states):
        stores.links.claim(Link("rule-a", f"fp-{i}", state))
    stores.links.claim(Link("rule-b", "fp-x", LinkState.open))

    def fingerprints(wanted: set[LinkState] | None) -> set[str]:
        return {link.fingerprint for link in stores.links.list_rule("rule-a", wanted)}

    assert fingerprints({LinkState.open}) == {"fp-1", "fp-2"}
    assert fingerprints({LinkState.open, LinkState.completed}) == {"fp-1", "fp-2", "fp-3"}
    assert fingerprints(None) == {f"fp-{i}" for i in range(6)}
    assert fingerprints(set()) == set()
    assert {(link.rule_id, link.fingerprint) for link in stores.links.list_all()} == (
        {("rule-a", f"fp-{i}") for i in range(6)} | {("rule-b", "fp-x")})


def test_datetimes_are_stored_aware_utc_and_naive_ones_refused(stores: TableStores) -> None:
    cet = timezone(timedelta(hours=1))
    completed = datetime(2025, 3, 1, 12, 30, 15, 123456, tzinfo=cet)
    link = stores.links.claim(Link("r", "fp-dt", LinkState.completed, completed_at=completed))
    stored = stores.links.get("r", "fp-dt")
    assert stored is not None and stored.completed_at == completed
    assert stored.completed_at.tzinfo is timezone.utc and stored.completed_at.hour == 11
    with pytest.raises(InvalidValue, match="timezone-aware"):
        stores.links.save(dataclasses.replace(link, closed_at=datetime(2025, 1, 1)))


def test_link_data_must_be_json(stores: TableStores) -> None:
    with pytest.raises(InvalidValue, match="links.data"):
        stores.links.claim(Link("r", "fp-json", LinkState.pending, data={"when": datetime.now(timezone.utc)}))
    assert stores.links.get("r", "fp-json") is None


# --- task index -------------------------------------------------------------------------------------------

def test_task_index_with_and_without_plan_id(stores: TableStores) -> None:
    stores.task_index.put_many([TaskRef("task-1", "plan-A", "rule/x", "fp-1")])
    before = stores.stats.count()
    stores.task_index.put_many([TaskRef("task-1", "plan-A", "rule/x", "fp-1"),  # idempotent upsert
                                TaskRef("task-2", "plan-A", "rule/y", "fp-2"),
                                TaskRef("task-3", "plan-B", "rule/x", "fp-3")])
    assert stores.stats.count() - before == 2  # one transaction per plan
    assert {ref.task_id for ref in stores.task_index.list_plan("plan-A")} == {"task-1", "task-2"}
    by_plan = stores.task_index.get("task-3", "plan-B")
    assert by_plan is not None and (by_plan.rule_id, by_plan.fingerprint) == ("rule/x", "fp-3")
    assert stores.task_index.get_by_task("task-3") == by_plan == stores.task_index.get("task-3")
    assert stores.task_index.get("task-3", "plan-A") is None
    stores.task_index.delete("task-3")  # plan looked up
    stores.task_index.delete("task-2", "plan-A")
    stores.task_index.delete("task-404")  # absent: no error
    assert stores.task_index.get_by_task("task-3") is None
    assert [ref.task_id for ref in stores.task_index.list_plan("plan-A")] == ["task-1"]


# --- snapshots --------------------------------------------------------------------------------------------

def test_put_many_250_across_partitions_round_trips_in_one_batch_per_partition(stores: TableStores) -> None:
    snapshots = [Snapshot(f"prod-{i}", {"name": f"Product {i}", "tags": [i, "é"]}, modified=f"2025-01-01T00:00:{i % 60:02d}",
                          echo={} if i % 2 else {"name": {"h": f"h{i}", "at": "2025-01-01"}}) for i in range(250)]
    partitions = {snapshot_partition(s.product_id) for s in snapshots}
    stored = stores.snapshots.put_many(snapshots)
    assert stores.stats.count("snapshots", "batch") == len(partitions)
    assert stores.stats.count("snapshots") == len(partitions)  # nothing but the batches
    assert set(stored) == {s.product_id for s in snapshots} and all(s.etag for s in stored.values())

    stores.stats.reset()
    found = stores.snapshots.get_many([s.product_id for s in snapshots] + ["never-seen"])
    assert stores.stats.count("snapshots") == len(partitions)  # one request per partition touched
    assert {pid: dataclasses.replace(s, etag=None) for pid, s in found.items()} == {
        s.product_id: s for s in snapshots}
    assert found["prod-3"].etag == stored["prod-3"].etag


def test_more_than_100_in_one_partition_are_split_into_transactions(stores: TableStores) -> None:
    ids = ids_in_one_partition(250)
    stores.snapshots.put_many([Snapshot(pid, {"n": n}) for n, pid in enumerate(ids)])
    assert stores.stats.count("snapshots", "batch") == 3  # 100 + 100 + 50
    stores.stats.reset()
    found = stores.snapshots.get_many(ids[:20] + ids[-5:])  # > 14 ids: one row-key range query
    assert stores.stats.count("snapshots", "query") == 1
    assert {pid: s.values["n"] for pid, s in found.items()} == {pid: ids.index(pid) for pid in ids[:20] + ids[-5:]}


@pytest.mark.parametrize("count", [2, 14, 15, 400])
def test_bulk_read_filters_stay_within_15_comparisons(count: int) -> None:
    row_keys = {f"k{i:03d}" for i in range(count)}
    query, params = partition_query("00", row_keys)
    assert query.count(" eq ") + query.count(" ge ") + query.count(" le ") <= 15
    assert set(params.values()) >= ({"00"} | row_keys if count <= 14 else {"00", "k000", f"k{count - 1:03d}"})


def test_transactions_respect_count_payload_and_repeated_rows() -> None:
    small = [build_entity("snapshots", "00", f"r{i}", {"v": "x"}) for i in range(MAX_BATCH_OPERATIONS + 1)]
    assert [len(t) for t in transactions_by_partition("snapshots", small)["00"]] == [100, 1]
    repeated = [build_entity("snapshots", "00", rk, {"v": "x"}) for rk in ("a", "b", "a")]
    assert [[e["RowKey"] for e in t] for t in transactions_by_partition("snapshots", repeated)["00"]] == [
        ["a", "b"], ["a"]]


def test_big_snapshots_split_by_payload_and_last_write_wins(stores: TableStores) -> None:
    ids = ids_in_one_partition(5, "0a")
    # 150k non-ASCII characters: 300 KB stored (under 1 MiB), ~900 KB on the wire -> 4 fit under 4 MiB.
    big = [Snapshot(pid, {"description": "é" * 150_000, "n": n}) for n, pid in enumerate(ids)]
    stores.snapshots.put_many(big + [Snapshot(ids[0], {"n": "last"})])
    assert stores.stats.count("snapshots", "batch") == 2
    found = stores.snapshots.get_many(ids)
    assert found[ids[0]].values == {"n": "last"}
    assert found[ids[4]].values == big[4].values


def test_long_json_is_chunked_and_round_trips(stores: TableStores) -> None:
    values = {"html": "<p>" + "𝄞é" * 30_000 + "</p>", "plain": "x" * 70_000}  # both over one 64 KiB property
    stores.snapshots.put(Snapshot("long", values, echo={"a": {"h": "abc", "at": "x"}}))
    got = stores.snapshots.get("long")
    assert got is not None and got.values == values and got.echo == {"a": {"h": "abc", "at": "x"}}
    stores.snapshots.put(Snapshot("long", {"html": "short"}))  # REPLACE: old chunks must not linger
    assert stores.snapshots.get("long").values == {"html": "short"}  # type: ignore[union-attr]


def test_oversize_entities_are_rejected_before_any_write(stores: TableStores) -> None:
    too_big = Snapshot("huge", {f"locale_{i}": "y" * 30_000 for i in range(20)})  # ~1.2 MB as UTF-16
    with pytest.raises(EntityTooLarge) as info:
        stores.snapshots.put_many([Snapshot("fine", {"a": 1}), too_big])
    assert info.value.table == "snapshots" and info.value.row_key == "huge"
    assert "snapshots" in str(info.value) and "huge" in str(info.value) and "yyyy" not in str(info.value)
    assert stores.snapshots.get_many(["fine", "huge"]) == {}
    assert stores.stats.count("snapshots", "batch") == 0
    with pytest.raises(EntityTooLarge, match="title"):
        stores.links.claim(Link("r", "fp-big", LinkState.pending, title="t" * 40_000))  # > 64 KiB string


def test_property_count_limit() -> None:
    properties = {f"p{i}": "v" for i in range(MAX_CUSTOM_PROPERTIES)}
    assert len(build_entity("t", "pk", "rk", properties)) == MAX_CUSTOM_PROPERTIES + 2
    with pytest.raises(EntityTooLarge, match="253 properties"):
        build_entity("t", "pk", "rk", {**properties, "one_more": "v"})


def test_snapshot_delete(stores: TableStores) -> None:
    stores.snapshots.put(Snapshot("gone", {"a": 1}))
    stores.snapshots.delete("gone")
    stores.snapshots.delete("gone")  # already absent: fine
    assert stores.snapshots.get("gone") is None


# --- cursors ----------------------------------------------------------------------------------------------

def test_cursor_create_race_has_one_winner_and_updates_are_conditional(stores: TableStores) -> None:
    created, errors = race(6, lambda i: stores.cursors.save(Cursor("plytix.watermark", {"writer": i})))
    assert len(created) == 1 and len(errors) == 5 and all(isinstance(e, ConcurrentUpdate) for e in errors)
    current = stores.cursors.get("plytix.watermark")
    assert current is not None and current.value == created[0].value and current.etag == created[0].etag

    moved = stores.cursors.save(dataclasses.replace(current, value={"modified": "2025-05-01T00:00:00+00:00"}))
    with pytest.raises(ConcurrentUpdate):
        stores.cursors.save(dataclasses.replace(current, value={"modified": "1999-01-01"}))  # stale etag
    assert stores.cursors.get("plytix.watermark") == moved
    assert stores.cursors.get("never/saved") is None


# --- audit ------------------------------------------------------------------------------------------------

def test_audit_is_chronological_per_product_and_per_run(stores: TableStores) -> None:
    base = datetime(2025, 6, 1, tzinfo=timezone.utc)
    stores.audit.append(AuditEntry("close", "fixed", product_id="p1", at=base + timedelta(minutes=5), run_id="run-2"))
    stores.audit.append_many([AuditEntry("create", "missing image", product_id="p1", run_id="run-1",
                                         at=base + timedelta(minutes=1)),
                              AuditEntry("create", "missing text", product_id="p2", run_id="run-1"),
                              AuditEntry("skip", "dry run", product_id="p1", run_id="run-1", dry_run=True,
                                         at=base + timedelta(minutes=1), details={"would": "comment"}),
                              AuditEntry("rules", "rules file changed")])
    history = stores.audit.for_product("p1")
    assert [(e.action, e.at) for e in history] == [("create", base + timedelta(minutes=1)),
                                                   ("skip", base + timedelta(minutes=1)),
                                                   ("close", base + timedelta(minutes=5))]
    assert history[1].dry_run and history[1].details == {"would": "comment"} and not history[0].dry_run
    assert [e.action for e in stores.audit.for_product("p1", limit=2)] == ["skip", "close"]
    stamped = stores.audit.for_product("p2")[0].at
    assert stamped is not None and stamped.tzinfo is timezone.utc


def test_audit_is_append_only(stores: TableStores) -> None:
    at = datetime(2025, 6, 1, tzinfo=timezone.utc)
    entry = AuditEntry("create", "first", product_id="p9", at=at)
    stores.audit.append(entry)
    stores.audit.append(dataclasses.replace(entry, reason="second, same instant"))
    assert [e.reason for e in stores.audit.for_product("p9")] in (
        ["first", "second, same instant"], ["second, same instant", "first"])  # both kept, none overwritten
    assert not [name for name in dir(AuditStore) if name.startswith(("update", "delete", "put", "save"))]
    with pytest.raises(InvalidValue):
        stores.audit.append(AuditEntry("create", ""))


# --- TableStores ------------------------------------------------------------------------------------------

def test_ensure_tables_is_idempotent_and_names_follow_the_prefix(stores: TableStores, table_prefix: str) -> None:
    stores.ensure_tables()
    existing = {t.name for t in stores.service.query_tables(f"TableName ge '{table_prefix}'")}
    names = ("links", "taskindex", "snapshots", "cursors", "audit", "writebacks", "echoes", "families", "scanruns",
             "channelfeed", "quality", "projects")
    assert {f"{table_prefix}{s}" for s in names} <= existing
    assert stores.stats.count(kind="create_table") == len(names)


def test_ping_true_when_up_false_when_down_or_uninitialised(stores: TableStores, azurite: str) -> None:
    assert stores.ping() is True
    with TableStores.from_connection_string(azurite, "fresh" + stores.prefix) as uninitialised:
        assert uninitialised.ping() is False
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead_port = sock.getsockname()[1]
    dead = azurite_connection_string(dead_port, dead_port, dead_port)
    with TableStores.from_connection_string(dead, "dead") as down:
        started = time.monotonic()
        assert down.ping(timeout_seconds=1) is False
        assert time.monotonic() - started < 2


def test_from_settings_uses_the_connection_string_and_hides_it(azurite: str, table_prefix: str) -> None:
    settings = load_settings({"PLYTIX_API_KEY": "k", "PLYTIX_API_PASSWORD": "p",
                              "STORAGE_CONNECTION_STRING": azurite, "TABLE_PREFIX": table_prefix})
    with TableStores.from_settings(settings) as created:
        created.ensure_tables()
        assert created.ping() and created.table_names["taskindex"] == f"{table_prefix}taskindex"
        assert AZURITE_KEY not in repr(created) and table_prefix in repr(created)


def test_from_settings_with_an_endpoint_uses_the_identity() -> None:
    settings = load_settings({"PLYTIX_API_KEY": "k", "PLYTIX_API_PASSWORD": "p",
                              "STORAGE_TABLE_ENDPOINT": "https://acct.table.core.windows.net", "TABLE_PREFIX": "pp"})
    with TableStores.from_settings(settings) as created:  # built only: a request would need a real identity
        assert created.service.account_name == "acct"
        assert created.table_names["links"] == "pplinks"
        assert type(created.service.credential).__name__ == "DefaultAzureCredential"


def test_invalid_prefix_is_refused(azurite: str) -> None:
    with pytest.raises(ValueError, match="prefix"):
        TableStores.from_connection_string(azurite, "9bad")


def test_hash_partition_is_stable() -> None:
    assert snapshot_partition("abc") == hashlib.sha256(b"abc").hexdigest()[:2] == "ba"


def test_proxy_settings_are_read_once_when_the_stores_are_built(azurite: str, table_prefix: str,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """The environment is read when the stores are built, not on every request (issue 14: that scan cost
    1.3 s per 10k-product pass). Nothing listens on the proxy's port, so a request sent through it fails."""
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    with TableStores.from_connection_string(azurite, table_prefix) as bypassing:
        monkeypatch.delenv("NO_PROXY")  # read per request, this would now route to the dead proxy
        bypassing.ensure_tables()
        assert bypassing.ping()
    with TableStores.from_connection_string(azurite, table_prefix) as proxied:
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")  # too late: the proxy was chosen at build time
        assert not proxied.ping(timeout_seconds=1)


def test_an_echo_recorded_between_read_and_write_survives_the_snapshot_write(stores: TableStores) -> None:
    """The change feed reads a snapshot, a writer of Plytix records an echo, the feed writes the snapshot
    it read (with that read's ETag): the write is retried with the echo kept, never lost."""
    from datetime import datetime, timezone

    stores.snapshots.put(Snapshot("p1", {"a": {"h": "old"}}, modified="m1"))
    read = stores.snapshots.get_many(["p1"])["p1"]
    stores.snapshots.record_echo("p1", {"review_status": "pending"}, datetime.now(timezone.utc))
    stores.snapshots.put_many([dataclasses.replace(read, values={"a": {"h": "new"}}, modified="m2")])
    stored = stores.snapshots.get("p1")
    assert stored is not None and stored.values == {"a": {"h": "new"}} and stored.modified == "m2"
    assert set(stored.echo) == {"review_status"}
