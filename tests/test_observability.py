"""shared/observability.py: structured log events, secret redaction, and the process-wide counters.

The log records are real `logging` records captured by pytest's caplog; the message format is checked
by parsing it back the way the KQL queries in docs/DEPLOYMENT.md do (key=value, JSON-quoted values).
"""

from __future__ import annotations

import json
import logging
import re
import threading

import pytest
from pydantic import SecretStr

from shared.observability import (
    COUNTERS,
    LOGGER_ROOT,
    MAX_VALUE_LENGTH,
    REDACTED,
    Count,
    Counters,
    get_logger,
    log_event,
    record_api_call,
)

# The same grammar the KQL `extract(@"\bproduct=(\S+)", ...)` / parse-kv queries rely on.
_PAIR = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|\S+)')

JWT = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhYmMxMjM0NSJ9.c2lnbmF0dXJlLXBhcnQ"


def _pairs(message: str) -> dict[str, str]:
    return {k: json.loads(v) if v.startswith('"') else v for k, v in _PAIR.findall(message)}


def _records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name.startswith(LOGGER_ROOT)]


def test_get_logger_puts_every_logger_under_the_app_namespace() -> None:
    assert get_logger("reconciler").name == "plytix_planner.reconciler"
    assert get_logger("plytix_planner.planner").name == "plytix_planner.planner"
    assert get_logger("shared.store").parent is not None
    with pytest.raises(ValueError):
        get_logger("")


def _dimensions(record: logging.LogRecord) -> dict[str, object]:
    """The attributes log_event added to the record (what OpenTelemetry exports as customDimensions)."""
    plain = vars(logging.LogRecord("", 0, "", 0, "", None, None)).keys() | {"message", "asctime"}
    return {k: v for k, v in vars(record).items() if k not in plain}


def test_log_event_writes_a_parseable_message_and_dimensions_as_record_attributes(
        caplog: pytest.LogCaptureFixture) -> None:
    logger = get_logger("test.events")
    with caplog.at_level(logging.INFO, logger=LOGGER_ROOT):
        log_event(logger, "task_created", rule="missing_images", product="P-1001", task="AAMkAGI2",
                  fingerprint="9f86d081884c", new=True, note=None)

    [record] = _records(caplog)
    message = record.getMessage()
    assert message.startswith("task_created ")
    assert _pairs(message) == {"rule": "missing_images", "product": "P-1001", "task": "AAMkAGI2",
                               "fingerprint": "9f86d081884c", "new": "true", "note": "null"}
    assert _dimensions(record) == {"event": "task_created", "rule": "missing_images", "product": "P-1001",
                                   "task": "AAMkAGI2", "fingerprint": "9f86d081884c", "new": True}
    assert record.levelno == logging.INFO


def test_values_with_spaces_or_newlines_are_quoted_and_stay_on_one_line(caplog: pytest.LogCaptureFixture) -> None:
    logger = get_logger("test.quoting")
    forged = 'Blue shirt\ntask_closed product=P-2 reason="fake"'
    with caplog.at_level(logging.INFO, logger=LOGGER_ROOT):
        log_event(logger, "review_requested", product="P-1", title=forged, note="", missing=None)

    message = _records(caplog)[0].getMessage()
    assert "\n" not in message
    assert _pairs(message)["title"] == forged  # round-trips exactly
    assert _pairs(message)["product"] == "P-1"  # the forged product=P-2 stays inside the quoted value
    assert 'note=""' in message and "missing=null" in message


def test_secret_looking_keys_and_values_never_reach_the_log(caplog: pytest.LogCaptureFixture) -> None:
    logger = get_logger("test.secrets")
    secrets = {
        "api_key": "plytix-key-123",
        "password": "hunter2-pw",
        "authorization": "Bearer abc.def",
        "graph_client_secret": "s3cr3t-value",
        "connection_string": "UseDevelopmentStorage=true",
    }
    innocuous_keys = {
        "detail": SecretStr("wrapped-secret"),
        "header": "Bearer eyJraWQiOiJ4In0",
        "response": f"got {JWT} back",
        "storage": "DefaultEndpointsProtocol=https;AccountName=x;AccountKey=QUJDREVGR0g=;",
    }
    with caplog.at_level(logging.INFO, logger=LOGGER_ROOT):
        log_event(logger, "auth_refreshed", product="P-7", **secrets, **innocuous_keys)

    [record] = _records(caplog)
    rendered = record.getMessage() + json.dumps(_dimensions(record), default=str)
    for leaked in ("plytix-key-123", "hunter2-pw", "abc.def", "s3cr3t-value", "UseDevelopmentStorage",
                   "wrapped-secret", "eyJraWQiOiJ4In0", JWT, "QUJDREVGR0g="):
        assert leaked not in rendered
    pairs = _pairs(record.getMessage())
    assert {pairs[k] for k in (*secrets, *innocuous_keys)} == {REDACTED}
    assert pairs["product"] == "P-7"  # ordinary dimensions are untouched


def test_bad_names_are_programming_errors() -> None:
    logger = get_logger("test.names")
    with pytest.raises(ValueError, match="dimension name"):
        log_event(logger, "task_created", **{"Product Id": "P-1"})
    with pytest.raises(ValueError, match="event name"):
        log_event(logger, "Task Created!", product="P-1")
    with pytest.raises(ValueError, match="LogRecord"):
        log_event(logger, "task_created", created=True)  # LogRecord.created is the record's timestamp


def test_level_is_respected(caplog: pytest.LogCaptureFixture) -> None:
    logger = get_logger("test.levels")
    with caplog.at_level(logging.WARNING, logger=LOGGER_ROOT):
        log_event(logger, "scan_progress", page=3)
        log_event(logger, "scan_failed", level=logging.ERROR, reason="timeout")
    assert [r.getMessage() for r in _records(caplog)] == ["scan_failed reason=timeout"]
    assert _records(caplog)[0].levelno == logging.ERROR


def test_long_values_are_shortened(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger=LOGGER_ROOT):
        log_event(get_logger("test.long"), "attribute_changed", old_value="x" * 10_000)
    value = _dimensions(_records(caplog)[0])["old_value"]
    assert len(value) == MAX_VALUE_LENGTH and value.endswith("…")


def test_counters_count_and_snapshot_is_a_copy() -> None:
    counters = Counters()
    counters.add(Count.tasks_created, 3)
    counters.add("tasks_closed")
    counters.add(Count.writebacks, 0)
    counters.record_api_call("plytix")
    counters.record_api_call("plytix", throttled=True)
    counters.record_api_call("graph")

    snapshot = counters.snapshot()
    assert snapshot == {"tasks_created": 3, "tasks_closed": 1, "tasks_updated": 0, "tasks_reopened": 0,
                        "writebacks": 0,
                        "api_calls": {"graph": 1, "plytix": 2}, "throttled": {"plytix": 1}}
    snapshot["api_calls"]["graph"] = 99
    assert counters.snapshot()["api_calls"]["graph"] == 1

    counters.reset()
    assert counters.snapshot()["tasks_created"] == 0 and counters.snapshot()["api_calls"] == {}


def test_counters_reject_unknown_names_and_negative_amounts() -> None:
    counters = Counters()
    with pytest.raises(ValueError):
        counters.add("tasks_creatd")
    with pytest.raises(ValueError):
        counters.add(Count.tasks_created, -1)
    with pytest.raises(ValueError):
        counters.record_api_call("Graph API")


def test_counters_are_exact_under_concurrent_use() -> None:
    counters = Counters()

    def work() -> None:
        for _ in range(2_000):
            counters.add(Count.tasks_updated)
            counters.record_api_call("graph", throttled=True)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    snapshot = counters.snapshot()
    assert snapshot["tasks_updated"] == 16_000
    assert snapshot["api_calls"] == {"graph": 16_000} and snapshot["throttled"] == {"graph": 16_000}


def test_record_api_call_counts_every_response_and_logs_each_429(caplog: pytest.LogCaptureFixture) -> None:
    counters = Counters()
    with caplog.at_level(logging.INFO, logger=LOGGER_ROOT):
        record_api_call("plytix", 200, counters=counters)
        record_api_call("plytix", 429, counters=counters)
        record_api_call("graph", 503, counters=counters)

    assert counters.snapshot()["api_calls"] == {"graph": 1, "plytix": 2}
    assert counters.snapshot()["throttled"] == {"plytix": 1}
    [record] = _records(caplog)
    assert record.levelno == logging.WARNING
    assert record.getMessage() == "api_throttled service=plytix status=429"


def test_the_process_wide_counters_are_shared() -> None:
    before = COUNTERS.snapshot()["api_calls"].get("test_service", 0)
    record_api_call("test_service", 200)
    assert COUNTERS.snapshot()["api_calls"]["test_service"] == before + 1
