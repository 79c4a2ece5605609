"""shared.queues against Azurite: queue names, and the poison-queue report /api/health shows."""

from __future__ import annotations

import base64

import pytest
from azure.storage.queue import QueueClient

from shared.queues import SCANS, WATCHED_QUEUES, AppQueues, binding, poison_queue_names, queue_name
from shared.settings import SettingsError, load_settings
from tests.scan_world import world_settings


@pytest.fixture
def app_queues(azurite: str, table_prefix: str, tmp_path):
    settings = world_settings("http://127.0.0.1:1", "http://127.0.0.1:1", azurite, table_prefix,
                              tmp_path / "rules.yaml", QUEUE_PREFIX=table_prefix)
    queues = AppQueues.from_settings(settings)
    yield queues
    queues.close()


def test_names_follow_the_prefix_and_the_binding_expression() -> None:
    assert queue_name("pp", SCANS) == "pp-scans"
    assert binding(SCANS) == "%QUEUE_PREFIX%-scans"
    assert poison_queue_names("pp") == [f"pp-{name}-poison" for name in WATCHED_QUEUES]
    assert SCANS in WATCHED_QUEUES


def test_queue_prefix_must_make_valid_queue_names() -> None:
    base = {"PLYTIX_API_KEY": "k", "PLYTIX_API_PASSWORD": "p", "STORAGE_CONNECTION_STRING": "x"}
    assert load_settings({**base, "QUEUE_PREFIX": "prod2"}).QUEUE_PREFIX == "prod2"
    for bad in ("Prod", "pp-x", "", "a" * 41):
        with pytest.raises(SettingsError, match="QUEUE_PREFIX"):
            load_settings({**base, "QUEUE_PREFIX": bad})


def test_no_poison_queue_yet_is_healthy(app_queues: AppQueues) -> None:
    report = app_queues.poison_report()
    assert report.healthy and set(report.counts.values()) == {0}


def test_a_poison_message_makes_the_report_unhealthy_and_names_the_queue(app_queues: AppQueues, azurite: str,
                                                                          table_prefix: str) -> None:
    poison = QueueClient.from_connection_string(azurite, f"{table_prefix}-scans-poison")
    poison.create_queue()
    poison.send_message(base64.b64encode(b'{"run_id": "r1"}').decode())
    report = app_queues.poison_report()
    assert not report.healthy
    assert report.counts[f"{table_prefix}-scans-poison"] == 1


def test_an_unreachable_account_is_reported_not_raised(table_prefix: str, tmp_path) -> None:
    dead = ("DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=a2V5;"
            "QueueEndpoint=http://127.0.0.1:9/devstoreaccount1;TableEndpoint=http://127.0.0.1:9/devstoreaccount1;")
    settings = world_settings("http://127.0.0.1:1", "http://127.0.0.1:1", dead, table_prefix, tmp_path / "r.yaml")
    queues = AppQueues.from_settings(settings)
    report = queues.poison_report()
    assert not report.healthy and set(report.counts.values()) == {None}
