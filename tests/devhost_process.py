"""`python -m devhost` as its own process, the way a user runs it, for the tests that reach the app over
HTTP. Its output goes to a file, not a pipe: nobody reads a pipe while a test runs, and once its 64 KiB
buffer is full every log call in the host blocks, which hangs the host (a fuzz run logs that much)."""

from __future__ import annotations

import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import httpx

from devhost.azurite import free_port
from tests.conftest import ROOT


class Devhost:
    """A running local host: `base` is its http://127.0.0.1:<port>/api, `output()` what it printed."""

    def __init__(self, proc: subprocess.Popen, base: str, log: Path) -> None:
        self.proc, self.base, self.log = proc, base, log

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@contextmanager
def running_devhost(env: dict[str, str], log_dir: Path, attempts: int = 3) -> Iterator[Devhost]:
    """Start devhost on a free port and stop it afterwards. The port is free when chosen, but another
    process may listen on it before devhost binds it: then we try again on another port."""
    host = _start(env, log_dir, attempts)
    try:
        yield host
    finally:
        host.proc.terminate()
        host.proc.wait(timeout=60)


def _start(env: dict[str, str], log_dir: Path, attempts: int) -> Devhost:
    for _ in range(attempts):
        port = free_port()
        log = log_dir / f"devhost-{port}.log"
        with log.open("wb") as out:
            proc = subprocess.Popen([sys.executable, "-m", "devhost", "--port", str(port), "--no-timers",
                                     "--queue-poll-interval", "0.2"], cwd=ROOT, env=env, stdout=out,
                                    stderr=subprocess.STDOUT)
        host = Devhost(proc, f"http://127.0.0.1:{port}/api", log)
        if _serving(host):
            return host
        proc.terminate()
        proc.wait(timeout=20)
    raise RuntimeError(f"devhost found its port taken {attempts} times")


def _serving(host: Devhost) -> bool:
    """True once devhost answers; False when the port answers as another server or devhost could not bind."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if host.proc.poll() is not None:
            if "Address already in use" in host.output():
                return False
            raise RuntimeError(f"devhost exited: {host.output()}")
        try:
            answer = httpx.get(f"{host.base}/health", timeout=2)
            return answer.headers.get("server", "").startswith("devhost")
        except httpx.TransportError:
            time.sleep(0.1)  # polling a port with a deadline, not waiting for an effect
    raise RuntimeError("devhost did not start serving within 60 s")
