"""HTTP triggers on http://127.0.0.1:<port>/<routePrefix>/<route>, with the host's rules.

Rules copied from the Functions host (Microsoft Learn, "Azure Functions HTTP trigger": customize the
endpoint, authorization level / keys, limits):
- `function` and `admin` routes need a key, as `?code=` or the `x-functions-key` header; without the
  right one the answer is 401. devhost has one key for both levels, DEVHOST_FUNCTION_KEY (default
  "local-dev-key"). (Core Tools' `func start` ignores keys altogether; devhost checks them so the
  auth levels declared in code are exercised before Azure does it.)
- an HTTP trigger without `methods` answers every method; one with methods answers others with 405
  (with an Allow header).
- request URL at most 4 KB (414) and body at most 100 MB (413).
- `POST /admin/functions/{name}` with the key and `{"input": "..."}` runs a timer or queue function now
  and answers 202, like the host's "run a non-HTTP-triggered function" endpoint.
Query strings are never logged: `code=` is a secret.
"""

from __future__ import annotations

import hmac
import json
import logging
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any, Callable, Optional, cast
from urllib.parse import parse_qs, urlsplit

import azure.functions as func

from devhost.index import HTTP_TRIGGER, IndexedFunction
from devhost.invoker import Invoker
from devhost.routes import RouteError, RouteTemplate
from sandbox.base import LoopbackHTTPServer

log = logging.getLogger("devhost.http")
MAX_URL_BYTES = 4096
MAX_BODY_BYTES = 100 * 1024 * 1024
_HOP_BY_HOP = {"content-length", "transfer-encoding", "connection"}
# After refusing a request whose body we did not read, the socket is drained for at most this long before
# it is closed: closing with unread bytes makes the kernel send RST, which can destroy the answer we just
# sent before the client has read it (the "lingering close" of RFC 9112 section 9.6).
LINGER_SECONDS = 2.0
LINGER_MAX_BYTES = 1024 * 1024
# Starts a non-HTTP function by name with the admin endpoint's input; raises KeyError for an unknown
# name and ValueError for a function that cannot be started this way.
AdminInvoke = Callable[[str, str], None]


@dataclass
class Reply:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


def json_reply(status: int, payload: Any, headers: Optional[dict[str, str]] = None) -> Reply:
    return Reply(status, json.dumps(payload).encode(), {"Content-Type": "application/json", **(headers or {})})


@dataclass(frozen=True)
class _Route:
    function: IndexedFunction
    template: RouteTemplate


class HttpFunctions:
    """Routing, keys and invocation for the HTTP functions; independent of sockets."""

    def __init__(self, functions: list[IndexedFunction], invoker: Invoker, route_prefix: str, key: str,
                 admin_invoke: AdminInvoke) -> None:
        routes = [_Route(f, RouteTemplate.parse(f.route or "")) for f in functions if f.trigger_type == HTTP_TRIGGER]
        _refuse_duplicates(routes)
        self._routes = sorted(routes, key=lambda r: r.template.precedence)
        self._invoker = invoker
        self._prefix = route_prefix.strip("/")
        self._key = key.encode()
        self._admin_invoke = admin_invoke

    def handle(self, method: str, target: str, headers: dict[str, str], body: bytes, base_url: str) -> Reply:
        split = urlsplit(target)
        query = parse_qs(split.query, keep_blank_values=True)
        admin_name = _admin_function(split.path)
        if admin_name is not None:
            return self._admin(method, admin_name, query, headers, body)
        below_prefix = _strip_prefix(split.path, self._prefix)
        if below_prefix is None:
            return json_reply(404, {"error": f"no function at {split.path}"})
        matches = [(route, params) for route in self._routes
                   if (params := route.template.match(below_prefix)) is not None]
        if not matches:
            return json_reply(404, {"error": f"no function at {split.path}"})
        chosen = next(((r, p) for r, p in matches if r.function.methods is None or method in r.function.methods),
                      None)
        if chosen is None:
            allowed = sorted({m for route, _ in matches for m in route.function.methods or ()})
            return json_reply(405, {"error": f"{method} is not allowed here; use {', '.join(allowed)}"},
                              {"Allow": ", ".join(allowed)})
        route, params = chosen
        if route.function.auth_level != "anonymous" and not self._has_key(query, headers):
            return json_reply(401, {"error": f"this function needs a key (auth level {route.function.auth_level}):"
                                             " send ?code= or the x-functions-key header"})
        request = func.HttpRequest(method, base_url + target, headers=headers,
                                   params={k: ",".join(v) for k, v in query.items()},
                                   route_params=params, body=body)
        try:
            result = self._invoker.invoke(route.function, request, reason=f"HTTP {method} {split.path}")
            return _to_reply(route.function.name, result)
        except Exception:  # noqa: BLE001 - logged by the invoker with the traceback; the client learns nothing more
            return json_reply(500, {"error": "the function failed; see the devhost log"})

    def _has_key(self, query: dict[str, list[str]], headers: dict[str, str]) -> bool:
        offered = [headers.get("x-functions-key", "")] + query.get("code", [])
        return any(hmac.compare_digest(candidate.encode(), self._key) for candidate in offered if candidate)

    def _admin(self, method: str, name: str, query: dict[str, list[str]], headers: dict[str, str],
               body: bytes) -> Reply:
        if method != "POST":
            return json_reply(405, {"error": "use POST"}, {"Allow": "POST"})
        if not self._has_key(query, headers):
            return json_reply(401, {"error": "the admin endpoint needs the key (?code= or x-functions-key)"})
        try:
            payload = json.loads(body or b"{}")
        except ValueError:
            return json_reply(400, {"error": 'body must be JSON like {"input": "..."}'})
        text = payload.get("input", "") if isinstance(payload, dict) else None
        if not isinstance(text, str):
            return json_reply(400, {"error": 'body must be JSON like {"input": "..."} with a string input'})
        try:
            self._admin_invoke(name, text)
        except KeyError:
            return json_reply(404, {"error": f"no function named {name!r}"})
        except ValueError as exc:
            return json_reply(400, {"error": str(exc)})
        return Reply(202)


def _refuse_duplicates(routes: list[_Route]) -> None:
    """Two functions answering the same method on the same template would be ambiguous."""
    for index, route in enumerate(routes):
        for other in routes[:index]:
            if route.template.template.strip("/").lower() != other.template.template.strip("/").lower():
                continue
            mine, theirs = route.function.methods, other.function.methods
            if mine is None or theirs is None or set(mine) & set(theirs):
                raise RouteError(f"functions {other.function.name} and {route.function.name} both answer "
                                 f"route {route.template.template!r}")


def _admin_function(path: str) -> Optional[str]:
    parts = path.strip("/").split("/")
    return parts[2] if len(parts) == 3 and parts[:2] == ["admin", "functions"] and parts[2] else None


def _strip_prefix(path: str, prefix: str) -> Optional[str]:
    path = path.strip("/")
    if not prefix:
        return path
    if path.lower() == prefix.lower():
        return ""
    head = prefix.lower() + "/"
    return path[len(head):] if path.lower().startswith(head) else None


def _to_reply(name: str, result: Any) -> Reply:
    """Turn what the function returned into the response, as the worker's HTTP output converter does."""
    if isinstance(result, (str, bytes)):
        result = func.HttpResponse(result)
    if not isinstance(result, func.HttpResponse):
        log.error("function %s returned %s instead of func.HttpResponse", name, type(result).__name__)
        return json_reply(500, {"error": "the function returned no HTTP response; see the devhost log"})
    headers = {k: v for k, v in result.headers.items() if k.lower() not in _HOP_BY_HOP}
    if not any(k.lower() == "content-type" for k in headers):
        mimetype = result.mimetype
        headers["Content-Type"] = f"{mimetype}; charset={result.charset}" if mimetype.startswith("text/") else mimetype
    return Reply(result.status_code, result.get_body(), headers)


def _make_handler(functions: HttpFunctions) -> type[BaseHTTPRequestHandler]:
    class _Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "devhost"

        def log_message(self, format: str, *args: Any) -> None:  # stdlib signature
            return  # requests are logged below, without their query strings

        def _dispatch(self) -> None:
            started = time.monotonic()
            reply = self._read_and_handle()
            log.info("%s %s -> %d (%d ms)", self.command, urlsplit(self.path).path, reply.status,
                     (time.monotonic() - started) * 1000)
            self._send(reply)

        def _read_and_handle(self) -> Reply:
            if len(self.path.encode()) > MAX_URL_BYTES:
                self.close_connection = True
                return json_reply(414, {"error": f"URL longer than {MAX_URL_BYTES} bytes"})
            if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                self.close_connection = True
                return json_reply(411, {"error": "send the body with a Content-Length"})
            try:
                length = int(self.headers.get("Content-Length") or 0)
            except ValueError:
                length = -1
            if not 0 <= length <= MAX_BODY_BYTES:
                self.close_connection = True
                return json_reply(413 if length > 0 else 400, {"error": "Content-Length must be 0-100 MB"})
            body = self.rfile.read(length) if length else b""
            headers: dict[str, str] = {}
            for name, value in self.headers.items():
                key = name.lower()
                headers[key] = f"{headers[key]}, {value}" if key in headers else value
            host = self.headers.get("Host") or "%s:%d" % cast(tuple[str, int], self.server.server_address)[:2]
            return functions.handle(self.command, self.path, headers, body, f"http://{host}")

        def _send(self, reply: Reply) -> None:
            closing = self.close_connection
            self.send_response(reply.status)
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(reply.body)))
            if closing:
                # Without this a keep-alive client reuses the connection we are about to close and its
                # next request fails with "Server disconnected without sending a response".
                self.send_header("Connection", "close")
            self.end_headers()
            if reply.body and self.command != "HEAD":
                self.wfile.write(reply.body)
            if closing:
                self._linger()

        def _linger(self) -> None:
            """Half-close, then read and discard what the client still sends, until it closes or time is up."""
            try:
                self.wfile.flush()
                self.connection.shutdown(socket.SHUT_WR)
                self.connection.settimeout(LINGER_SECONDS)
                deadline, drained = time.monotonic() + LINGER_SECONDS, 0
                while time.monotonic() < deadline and drained < LINGER_MAX_BYTES:
                    chunk = self.connection.recv(65536)
                    if not chunk:
                        break
                    drained += len(chunk)
            except OSError:
                pass  # the client went away first: nothing left to protect

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _dispatch

    return _Handler


class HttpServer:
    """The listening socket, bound at construction (so the port is known), served on a thread."""

    def __init__(self, functions: HttpFunctions, host: str, port: int) -> None:
        self._server = LoopbackHTTPServer((host, port), _make_handler(functions))
        bound_host, bound_port = self._server.server_address[:2]
        self.host, self.port = str(bound_host), int(bound_port)  # an AF_INET address: (host text, port)
        # A short poll interval makes stop() quick: shutdown() waits for the serving loop to notice.
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="devhost-http", daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        if self._thread.is_alive():
            self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
