"""Stand-ins for whatever the settings do not point at: the Plytix and Graph sandboxes, and Azurite.

Why: `make run` on a fresh clone must work with no accounts at all, and the same command must run
against real Plytix, Graph or Storage as soon as the settings name them. So each backend is decided on
its own, from the environment (after local.settings.json was applied):
- Plytix: neither PLYTIX_BASE_URL nor PLYTIX_API_KEY set -> the Plytix sandbox with its dev credentials;
- Graph: neither GRAPH_BASE_URL nor GRAPH_AUTH_MODE set -> the Graph sandbox, GRAPH_AUTH_MODE=development;
- Storage: none of STORAGE_CONNECTION_STRING, STORAGE_TABLE_ENDPOINT, AzureWebJobsStorage(__*) set ->
  Azurite, and both STORAGE_CONNECTION_STRING and AzureWebJobsStorage point at it.
The sandboxes run in this process (real HTTP on 127.0.0.1), Azurite as a child process; `stop()` ends
them. The sandbox modules are imported only when needed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, MutableMapping

from devhost.azurite import start_azurite

log = logging.getLogger("devhost")


def _any_set(environ: MutableMapping[str, str], *names: str) -> bool:
    return any(environ.get(name) for name in names)


def _needing(setting: str, start: Callable[[MutableMapping[str, str]], None],
             environ: MutableMapping[str, str]) -> None:
    try:
        start(environ)
    except ImportError as exc:
        raise RuntimeError(f"{setting} is not set, and its sandbox cannot be loaded ({exc}): "
                           f"set {setting} or install the sandbox") from None


@dataclass
class LocalServices:
    """What was started, with how to stop it."""

    started: list[str] = field(default_factory=list)
    _stoppers: list[Callable[[], None]] = field(default_factory=list)

    @classmethod
    def start_missing(cls, environ: MutableMapping[str, str], root: Path) -> "LocalServices":
        services = cls()
        try:
            if not _any_set(environ, "PLYTIX_BASE_URL", "PLYTIX_API_KEY"):
                _needing("PLYTIX_BASE_URL", services._start_plytix, environ)
            if not _any_set(environ, "GRAPH_BASE_URL", "GRAPH_AUTH_MODE"):
                _needing("GRAPH_BASE_URL", services._start_graph, environ)
            if not (_any_set(environ, "STORAGE_CONNECTION_STRING", "STORAGE_TABLE_ENDPOINT", "AzureWebJobsStorage")
                    or any(name.startswith("AzureWebJobsStorage__") for name in environ)):
                services._start_azurite(environ, root)
        except BaseException:
            services.stop()
            raise
        return services

    def _start_plytix(self, environ: MutableMapping[str, str]) -> None:
        from sandbox.base import RunningServer
        from sandbox.plytix import DEV_API_KEY, DEV_API_PASSWORD, PlytixSandbox

        server = RunningServer(PlytixSandbox().app)
        self._stoppers.append(server.stop)
        environ.update(PLYTIX_BASE_URL=server.url, PLYTIX_AUTH_URL=server.url, PLYTIX_API_KEY=DEV_API_KEY,
                       PLYTIX_API_PASSWORD=DEV_API_PASSWORD)
        self.started.append(f"Plytix sandbox at {server.url}")

    def _start_graph(self, environ: MutableMapping[str, str]) -> None:
        from sandbox.base import RunningServer
        from sandbox.graph import GraphSandbox

        server = RunningServer(GraphSandbox().app)
        self._stoppers.append(server.stop)
        environ.update(GRAPH_BASE_URL=f"{server.url}/v1.0", GRAPH_AUTH_MODE="development")
        self.started.append(f"Graph sandbox at {server.url}/v1.0")

    def _start_azurite(self, environ: MutableMapping[str, str], root: Path) -> None:
        azurite = start_azurite(root)
        self._stoppers.append(azurite.stop)
        environ.update(STORAGE_CONNECTION_STRING=azurite.connection_string,
                       AzureWebJobsStorage=azurite.connection_string)
        queue_endpoint = azurite.connection_string.split("QueueEndpoint=")[1].split(";")[0]
        self.started.append(f"Azurite (in memory), queues at {queue_endpoint}")

    def stop(self) -> None:
        """Stop everything started, newest first; one failure does not keep the others running."""
        while self._stoppers:
            stopper = self._stoppers.pop()
            try:
                stopper()
            except Exception:  # report and go on stopping the rest
                log.exception("stopping a local service failed")
