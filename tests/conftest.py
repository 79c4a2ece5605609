"""Shared fixtures: a real Azurite (started once per test session on free ports, stopped by PID) and
fresh in-process sandbox servers for Plytix and Graph (real HTTP on 127.0.0.1, one pair per test)."""

from __future__ import annotations

import os
import socket
import subprocess
import time
import uuid
from pathlib import Path
from typing import Iterator

import pytest

ROOT = Path(__file__).resolve().parent.parent
AZURITE_KEY = ("Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for_port(port: int, deadline_s: float) -> None:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listening on 127.0.0.1:{port} after {deadline_s}s")


def azurite_connection_string(blob: int, queue: int, table: int) -> str:
    base = "http://127.0.0.1:{}/devstoreaccount1"
    return ("DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
            f"AccountKey={AZURITE_KEY};BlobEndpoint={base.format(blob)};"
            f"QueueEndpoint={base.format(queue)};TableEndpoint={base.format(table)};")


@pytest.fixture(scope="session")
def azurite() -> Iterator[str]:
    """Start Azurite (npm, pinned in package.json) in memory on free ports; yield its connection string.

    AZURITE_CONNECTION_STRING in the environment points the tests at one that is already running."""
    existing = os.environ.get("AZURITE_CONNECTION_STRING")
    if existing:
        yield existing
        return
    binary = ROOT / "node_modules" / ".bin" / "azurite"
    if not binary.exists():
        pytest.fail("Azurite is not installed: run `npm ci` (make test does it)")
    blob, queue, table = _free_port(), _free_port(), _free_port()
    proc = subprocess.Popen(
        [str(binary), "--inMemoryPersistence", "--skipApiVersionCheck", "--loose", "--disableTelemetry",
         "--blobHost", "127.0.0.1", "--blobPort", str(blob), "--queueHost", "127.0.0.1",
         "--queuePort", str(queue), "--tableHost", "127.0.0.1", "--tablePort", str(table)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)
    try:
        for port in (blob, queue, table):
            _wait_for_port(port, 30)
        yield azurite_connection_string(blob, queue, table)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


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
