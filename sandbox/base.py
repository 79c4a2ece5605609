"""A small threaded HTTP server framework shared by the Plytix and Graph stand-ins.

Why not a web framework: the stand-ins must misbehave at the socket level (hang past a client timeout,
drop the connection AFTER acting) which is simplest with the standard library's server, and they add no
runtime dependency. Every route has an endpoint name ("plytix.search", "graph.create_task", ...) used
for fault injection and call counting, so tests and benches address endpoints by meaning, not regex.

Faults (queued per endpoint name, or "*" for any non-admin endpoint), consumed one per matching call:
- {"kind": "status", "status": 429|500|503, "count": N, "retry_after": 1}  answer that status, do nothing;
  with "act": true, perform the request first and answer the status anyway (a gateway failing after
  the service acted)
- {"kind": "hang", "seconds": S, "count": N}   wait S seconds, then close without answering, do nothing
- {"kind": "drop", "count": N}                 perform the request, then close without answering
Any fault may carry "after": K, letting the first K matching calls through before it fires (so a test can
break, say, the third page of a search).

Latency: every API answer (not the /_sandbox admin routes) can be held back by a set time plus or minus a
uniform jitter, outside the stand-in's lock (concurrent requests wait side by side, as they would on the
network), so time and concurrency are measured as against the real services. Off by default; set with
`python -m sandbox --plytix-latency-ms/--graph-latency-ms/--latency-jitter-ms`, or at run time with
`PUT /_sandbox/latency {"ms": 100, "jitter_ms": 20}`.
"""

from __future__ import annotations

import json
import random
import re
import socket
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Iterator, Optional
from urllib.parse import parse_qs, urlsplit

JsonBody = Any


@dataclass
class Request:
    """One parsed HTTP request, as handlers see it."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-cased names
    body: bytes
    params: dict[str, str] = field(default_factory=dict)

    def json(self) -> Any:
        """Parse the body as JSON; raise HttpError(400) with a reason when it is not."""
        if not self.body:
            raise HttpError(400, {"error": {"msg": "request body is required"}})
        try:
            return json.loads(self.body)
        except ValueError as exc:
            raise HttpError(400, {"error": {"msg": f"invalid JSON body: {exc}"}}) from None

    def arg(self, name: str, default: Optional[str] = None) -> Optional[str]:
        values = self.query.get(name)
        return values[0] if values else default


@dataclass
class Response:
    status: int = 200
    body: JsonBody = None
    headers: dict[str, str] = field(default_factory=dict)


class HttpError(Exception):
    """Raised by handlers to answer an error status with a JSON body."""

    def __init__(self, status: int, body: JsonBody, headers: Optional[dict[str, str]] = None):
        super().__init__(f"{status}: {body}")
        self.response = Response(status, body, headers or {})


Handler = Callable[[Request], Response]


@dataclass
class _Route:
    method: str
    pattern: re.Pattern[str]
    name: str
    handler: Handler


class FaultBoard:
    """Queued faults per endpoint name, plus per-endpoint call counters (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: dict[str, deque[dict[str, Any]]] = {}
        self.calls: Counter[str] = Counter()

    def add(self, endpoint: str, fault: dict[str, Any]) -> None:
        kind = fault.get("kind")
        if kind not in ("status", "hang", "drop"):
            raise HttpError(422, {"error": {"msg": "kind must be status, hang or drop"}})
        if kind == "status" and int(fault.get("status", 0)) not in (401, 408, 409, 412, 429, 500, 502, 503, 504):
            raise HttpError(422, {"error": {"msg": "status must be one of 401 408 409 412 429 500 502 503 504"}})
        count, after = int(fault.get("count", 1)), int(fault.get("after", 0))
        if count < 1 or after < 0:
            raise HttpError(422, {"error": {"msg": "count must be >= 1 and after >= 0"}})
        with self._lock:
            queue = self._faults.setdefault(endpoint, deque())
            queue.extend({"kind": "pass"} for _ in range(after))
            for _ in range(count):
                queue.append(dict(fault))

    def take(self, endpoint: str) -> Optional[dict[str, Any]]:
        with self._lock:
            self.calls[endpoint] += 1
            for key in (endpoint, "*"):
                queue = self._faults.get(key)
                if queue:
                    fault = queue.popleft()
                    return None if fault["kind"] == "pass" else fault
        return None

    def pending(self) -> dict[str, int]:
        with self._lock:
            return {k: len(v) for k, v in self._faults.items() if v}

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()


class Latency:
    """How long each API answer is held back: `ms` plus or minus up to `jitter_ms`, never below zero.
    Seeded, so a run's delays repeat."""

    def __init__(self, ms: float = 0.0, jitter_ms: float = 0.0, seed: int = 7) -> None:
        self.set(ms, jitter_ms)
        self._random = random.Random(seed)
        self._lock = threading.Lock()

    def set(self, ms: float, jitter_ms: float) -> None:
        if not (0 <= ms <= 60_000 and 0 <= jitter_ms <= 60_000):
            raise ValueError("ms and jitter_ms must be between 0 and 60000")
        self.ms, self.jitter_ms = float(ms), float(jitter_ms)

    def seconds(self) -> float:
        if self.ms == 0 and self.jitter_ms == 0:
            return 0.0
        with self._lock:
            jitter = self._random.uniform(-self.jitter_ms, self.jitter_ms)
        return max(0.0, self.ms + jitter) / 1000


class App:
    """A route table with fault injection. Handlers run under one lock: the stand-ins' state is simple
    dicts, and serialising writes is how the real services appear to a single client anyway."""

    def __init__(self, name: str, *, fault_body: Optional[Callable[[int], JsonBody]] = None) -> None:
        """`fault_body(status)` is the body an injected status fault answers with: each stand-in passes
        its service's own error shape, so a client meets the same bodies on a bad day as on a real one."""
        self.name = name
        self.fault_body = fault_body or (lambda status: {"error": {"msg": f"injected {status}"}})
        self.routes: list[_Route] = []
        self.faults = FaultBoard()
        self.latency = Latency()
        self.lock = threading.RLock()
        self._add_admin_routes()

    def route(self, method: str, path_regex: str, name: str) -> Callable[[Handler], Handler]:
        """Register `handler` for `method` and a full-match path regex with named groups."""

        def register(handler: Handler) -> Handler:
            self.routes.append(_Route(method, re.compile(path_regex), name, handler))
            return handler

        return register

    def match(self, method: str, path: str) -> tuple[Optional[_Route], dict[str, str], bool]:
        """Return (route, params, path_exists) for a request."""
        path_exists = False
        for route in self.routes:
            found = route.pattern.fullmatch(path)
            if found:
                path_exists = True
                if route.method == method:
                    return route, found.groupdict(), True
        return None, {}, path_exists

    def _add_admin_routes(self) -> None:
        @self.route("GET", r"/_sandbox/faults", "admin")
        def list_faults(_: Request) -> Response:
            return Response(200, {"pending": self.faults.pending()})

        @self.route("POST", r"/_sandbox/faults", "admin")
        def add_fault(req: Request) -> Response:
            body = req.json()
            endpoint = body.get("endpoint")
            if not isinstance(endpoint, str) or not endpoint:
                raise HttpError(422, {"error": {"msg": "endpoint (an endpoint name or '*') is required"}})
            self.faults.add(endpoint, body)
            return Response(201, {"pending": self.faults.pending()})

        @self.route("DELETE", r"/_sandbox/faults", "admin")
        def clear_faults(_: Request) -> Response:
            self.faults.clear()
            return Response(204)

        @self.route("GET", r"/_sandbox/calls", "admin")
        def calls(_: Request) -> Response:
            counts = {k: v for k, v in self.faults.calls.items() if k != "admin"}
            return Response(200, {"calls": counts, "total": sum(counts.values())})

        @self.route("DELETE", r"/_sandbox/calls", "admin")
        def reset_calls(_: Request) -> Response:
            self.faults.calls.clear()
            return Response(204)

        @self.route("PUT", r"/_sandbox/latency", "admin")
        def set_latency(req: Request) -> Response:
            body = req.json()
            try:
                self.latency.set(float(body.get("ms", 0)), float(body.get("jitter_ms", 0)))
            except (TypeError, ValueError, AttributeError) as exc:
                raise HttpError(422, {"error": {"msg": f"latency: {exc}"}}) from None
            return Response(200, {"ms": self.latency.ms, "jitter_ms": self.latency.jitter_ms})


def _make_handler(app: App) -> type[BaseHTTPRequestHandler]:
    class _Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body go out as separate writes; without TCP_NODELAY every small answer waits ~40 ms
        # for the delayed ACK (Nagle). Measured: search page median 44 ms -> 0.9 ms.
        disable_nagle_algorithm = True
        server_version = f"sandbox-{app.name}"

        def log_message(self, format: str, *args: Any) -> None:  # stdlib signature
            return  # quiet: tests and the demo print what matters themselves

        def _dispatch(self) -> None:
            split = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            route, params, path_exists = app.match(self.command, split.path)
            if route is None:
                status = 405 if path_exists else 404
                self._send(Response(status, {"error": {"msg": "Method Not Allowed" if status == 405
                                                       else f"no such endpoint: {split.path}"}}))
                return
            request = Request(self.command, split.path, parse_qs(split.query, keep_blank_values=True),
                              {k.lower(): v for k, v in self.headers.items()}, body, params)
            if route.name != "admin" and (delay := app.latency.seconds()):
                time.sleep(delay)  # the simulated network and service time of this answer (module docstring)
            fault = None if route.name == "admin" else app.faults.take(route.name)
            if fault and fault["kind"] == "status":
                if fault.get("act"):
                    with app.lock:
                        try:
                            route.handler(request)
                        except HttpError:
                            pass
                status = int(fault["status"])
                headers = {"Retry-After": str(fault.get("retry_after", 1))} if status in (429, 503) else {}
                self._send(Response(status, app.fault_body(status), headers))
                return
            if fault and fault["kind"] == "hang":
                time.sleep(float(fault.get("seconds", 5)))
                self._drop()
                return
            try:
                with app.lock:
                    response = route.handler(request)
            except HttpError as exc:
                response = exc.response
            if fault and fault["kind"] == "drop":
                self._drop()
                return
            self._send(response)

        def _drop(self) -> None:
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

        def _send(self, response: Response) -> None:
            if isinstance(response.body, Iterator):
                self._send_chunked(response)
                return
            if isinstance(response.body, (bytes, str)):
                payload = response.body.encode() if isinstance(response.body, str) else response.body
                ctype = "text/plain; charset=utf-8"
            elif response.body is None:
                payload, ctype = b"", None
            else:
                payload, ctype = json.dumps(response.body).encode(), "application/json"
            self.send_response(response.status)
            headers = dict(response.headers)
            if ctype and "Content-Type" not in headers:
                headers["Content-Type"] = ctype
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            if payload:
                self.wfile.write(payload)

        def _send_chunked(self, response: Response) -> None:
            """A body produced while it is sent (a large feed): HTTP/1.1 chunked transfer coding."""
            self.send_response(response.status)
            for key, value in response.headers.items():
                self.send_header(key, value)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            try:
                for chunk in response.body:
                    if chunk:
                        self.wfile.write(b"%X\r\n%s\r\n" % (len(chunk), chunk))
                self.wfile.write(b"0\r\n\r\n")
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True  # the client stopped reading (e.g. a size cap)

        do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _dispatch

    return _Handler


class LoopbackHTTPServer(ThreadingHTTPServer):
    """A thread per connection, and a listen backlog sized for bursts of clients.

    Why the backlog: socketserver's default `request_queue_size` is 5. With 20 clients connecting at once
    the kernel drops the SYNs beyond it (counted as listen-queue overflows), and each dropped one is
    retried after a second: health answered in 56 ms alone but with a p99 of 1.4 s under 20 clients
    (issue 14). Linux caps the value at net.core.somaxconn. The stand-ins and the local host
    (devhost/http_server.py) both serve through this class."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


class RunningServer:
    """A started server on a background thread; `stop()` shuts it down and frees the port."""

    def __init__(self, app: App, host: str = "127.0.0.1", port: int = 0) -> None:
        self.app = app
        self._server = LoopbackHTTPServer((host, port), _make_handler(app))
        bound_host, bound_port = self._server.server_address[:2]
        self.host, self.port = str(bound_host), int(bound_port)  # an AF_INET address: (host text, port)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"sandbox-{app.name}",
                                        daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
