"""Shared fixtures: a real Azurite (started once per test session on free ports, stopped by PID) and
fresh in-process sandbox servers for Plytix and Graph (real HTTP on 127.0.0.1, one pair per test)."""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any, Iterator

import pytest

from devhost.azurite import start_azurite

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def azurite() -> Iterator[str]:
    """Start Azurite (npm, pinned in package.json) in memory on free ports; yield its connection string.

    AZURITE_CONNECTION_STRING in the environment points the tests at one that is already running."""
    existing = os.environ.get("AZURITE_CONNECTION_STRING")
    if existing:
        yield existing
        return
    try:
        running = start_azurite(ROOT)
    except RuntimeError as exc:
        pytest.fail(str(exc))
    try:
        yield running.connection_string
    finally:
        running.stop()


@pytest.fixture
def table_prefix() -> str:
    """A unique table-name prefix per test, so tests sharing one Azurite never see each other's rows."""
    return "t" + uuid.uuid4().hex[:10]


@pytest.fixture
def plytix_sandbox() -> Iterator["object"]:
    """A fresh Plytix stand-in on a free port; yields the RunningServer (`.url`, `.app`, `.sandbox`)."""
    from sandbox.base import RunningServer
    from sandbox.plytix import PlytixSandbox

    sandbox = PlytixSandbox(products=200, seed=7)
    server = RunningServer(sandbox.app)
    server.sandbox = sandbox  # type: ignore[attr-defined]
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def graph_sandbox() -> Iterator["object"]:
    """A fresh Graph stand-in on a free port; yields the RunningServer (`.url`, `.app`, `.sandbox`)."""
    from sandbox.base import RunningServer
    from sandbox.graph import GraphSandbox

    sandbox = GraphSandbox(seed=7)
    server = RunningServer(sandbox.app)
    server.sandbox = sandbox  # type: ignore[attr-defined]
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def world(plytix_sandbox: Any, graph_sandbox: Any, azurite: str, table_prefix: str, tmp_path: Path) -> Iterator[dict]:
    """A complete local world for reconcile tests: both stand-ins, Azurite, the sandbox rules file, and
    ScanDeps built from settings as production builds them. A claim goes stale at once (claim_timeout 0),
    so a test can recover from a simulated crash without waiting; grouping is off unless a test sets it."""
    from datetime import timedelta

    from tests.scan_world import RULES_YAML, build_deps, world_settings

    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES_YAML)
    settings = world_settings(plytix_sandbox.url, graph_sandbox.url, azurite, table_prefix, rules,
                              GROUP_THRESHOLD=1000)
    deps = build_deps(settings, claim_timeout=timedelta(0))
    yield {"deps": deps, "plytix": plytix_sandbox, "graph": graph_sandbox, "settings": settings}
    deps.plytix.close()
    deps.planner.close()
