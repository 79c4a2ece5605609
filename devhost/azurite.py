"""Start the pinned Azurite (node_modules, package.json) on free loopback ports, stop it by its PID.

Flags as API_FACTS.md requires: in memory, no API version check, loose, and --disableTelemetry (without
it Azurite tries to reach the internet). The account key is Azurite's published development key.
"""

from __future__ import annotations

import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, deadline_s: float) -> None:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listening on 127.0.0.1:{port} after {deadline_s}s")


def connection_string(blob: int, queue: int, table: int) -> str:
    base = f"http://127.0.0.1:{{}}/{AZURITE_ACCOUNT}"
    return (f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};AccountKey={AZURITE_KEY};"
            f"BlobEndpoint={base.format(blob)};QueueEndpoint={base.format(queue)};"
            f"TableEndpoint={base.format(table)};")


@dataclass
class RunningAzurite:
    process: subprocess.Popen[bytes]
    connection_string: str

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)


def start_azurite(root: Path, deadline_s: float = 30) -> RunningAzurite:
    """Start Azurite from `root`/node_modules; raise RuntimeError with the fix when it is not installed."""
    binary = root / "node_modules" / ".bin" / "azurite"
    if not binary.exists():
        raise RuntimeError(f"Azurite is not installed at {binary}: run `npm ci` (make setup does it)")
    blob, queue, table = free_port(), free_port(), free_port()
    process = subprocess.Popen(
        [str(binary), "--inMemoryPersistence", "--skipApiVersionCheck", "--loose", "--disableTelemetry",
         "--blobHost", "127.0.0.1", "--blobPort", str(blob), "--queueHost", "127.0.0.1",
         "--queuePort", str(queue), "--tableHost", "127.0.0.1", "--tablePort", str(table)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=root)
    running = RunningAzurite(process, connection_string(blob, queue, table))
    try:
        for port in (blob, queue, table):
            wait_for_port(port, deadline_s)
    except RuntimeError:
        running.stop()
        raise
    return running
