"""devhost over real HTTP, real timers and real Azurite queues, with the small app in tests/devhost_app.py."""

from __future__ import annotations

import base64
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterator
from urllib.parse import urlsplit

import httpx
import pytest
from azure.core.exceptions import ResourceNotFoundError
from azure.storage.queue import QueueClient

from devhost import DEFAULT_FUNCTION_KEY, DevHost, FunctionIndexError, HostOptions, index_app
from devhost.host_config import HostConfigError
from devhost.http_server import LINGER_MAX_BYTES
from devhost.local_services import LocalServices
from devhost.local_settings import LocalSettings, LocalSettingsError
from devhost.ncrontab import NcrontabSchedule, ScheduleError
from devhost.routes import RouteError, RouteTemplate
from tests.devhost_app import Probe, build_app

ROOT = Path(__file__).resolve().parent.parent
BASE_ENV = {"TICK_SCHEDULE": "* * * * * *", "WORK_QUEUE": "unused",
            "AzureWebJobsStorage": "UseDevelopmentStorage=true"}


def wait_until(condition: Callable[[], Any], deadline_s: float = 5.0, what: str = "condition") -> Any:
    """Poll `condition` until it returns something truthy; fail after the deadline."""
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(0.02)
    pytest.fail(f"timed out after {deadline_s}s waiting for {what}")


@pytest.fixture
def probe() -> Probe:
    return Probe()


@pytest.fixture
def start_host(probe: Probe) -> Iterator[Callable[..., DevHost]]:
    """Start DevHost instances of the test app on free ports; all are stopped after the test."""
    hosts: list[DevHost] = []

    def start(environ: dict[str, str] = BASE_ENV, **kwargs: Any) -> DevHost:
        kwargs = {"timers": False, "queues": False, **kwargs}
        host = DevHost(build_app(probe), port=0, environ=environ, app_root=ROOT, **kwargs).start()
        hosts.append(host)
        return host

    yield start
    for host in hosts:
        host.stop()


@pytest.fixture
def http(start_host: Callable[..., DevHost]) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=start_host().url, timeout=10) as client:
        yield client


# --- HTTP ---------------------------------------------------------------------------------------------

def test_route_params_and_query(http: httpx.Client) -> None:
    answer = http.get("/api/hello/Ada%20L?x=1&x=2&y=")
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/json"
    assert answer.json() == {"name": "Ada L", "method": "GET", "params": {"x": "1,2", "y": ""}}
    assert http.get("/api/items/42").json() == {"route_params": {"id": "42"}}
    assert http.get("/api/items").json() == {"route_params": {}}  # {id:int?} may be left out
    assert http.get("/api/items/forty-two").status_code == 404  # int constraint
    assert http.get("/api/HELLO/x").status_code == 200  # literal segments ignore case, as in ASP.NET


def test_unknown_paths_and_wrong_methods(http: httpx.Client) -> None:
    missing = http.get("/api/nothing/here")
    assert missing.status_code == 404 and "error" in missing.json()
    assert http.get("/hello/x").status_code == 404  # outside the /api route prefix
    wrong = http.post("/api/hello/x")
    assert wrong.status_code == 405
    assert wrong.headers["allow"] == "GET"
    assert "GET" in wrong.json()["error"]
    assert http.delete("/api/whoami").status_code == 200  # no methods declared: every method


def test_function_level_route_needs_the_key(http: httpx.Client) -> None:
    assert http.post("/api/submit", content=b"abc").status_code == 401
    assert http.post("/api/submit?code=wrong", content=b"abc").status_code == 401
    assert http.post("/api/submit", content=b"abc", headers={"x-functions-key": "wrong"}).status_code == 401
    by_query = http.post(f"/api/submit?code={DEFAULT_FUNCTION_KEY}", content=b"abc")
    by_header = http.post("/api/submit", content=b"abc", headers={"x-functions-key": DEFAULT_FUNCTION_KEY})
    for answer in (by_query, by_header):
        assert answer.status_code == 201
        assert answer.content == b"cba"  # the function's own status, body, headers and mimetype
        assert answer.headers["x-seen"] == "yes"
        assert answer.headers["content-type"] == "application/octet-stream"


def test_key_comes_from_the_environment(start_host: Callable[..., DevHost]) -> None:
    host = start_host({**BASE_ENV, "DEVHOST_FUNCTION_KEY": "k-123"})
    assert httpx.post(f"{host.url}/api/submit?code={DEFAULT_FUNCTION_KEY}").status_code == 401
    assert httpx.post(f"{host.url}/api/submit?code=k-123").status_code == 201


def test_async_functions_share_one_event_loop(http: httpx.Client) -> None:
    first, second = http.get("/api/async/21"), http.get("/api/async/2")
    assert (first.status_code, first.json()["n"], second.json()["n"]) == (200, 42, 4)
    assert first.json()["loop"] == second.json()["loop"]  # clients bound to a loop keep working


def test_context_parameter(http: httpx.Client) -> None:
    body = http.get("/api/whoami").json()
    assert body["function"] == "whoami"
    assert uuid.UUID(body["invocation_id"])


def test_exception_is_a_generic_500(http: httpx.Client, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO):
        answer = http.get(f"/api/boom?code={DEFAULT_FUNCTION_KEY}")
    assert answer.status_code == 500
    assert answer.json() == {"error": "the function failed; see the devhost log"}
    assert "Traceback" not in answer.text and "s3cr3t" not in answer.text
    assert any(r.exc_info and "boom" in r.getMessage() for r in caplog.records)  # logged, with traceback
    ours = [r.getMessage() for r in caplog.records if r.name.startswith("devhost")]
    assert "GET /api/boom -> 500" in "\n".join(ours)
    assert not [m for m in ours if DEFAULT_FUNCTION_KEY in m]  # query strings (code=) are never logged


def test_bad_requests_get_json_reasons(http: httpx.Client) -> None:
    too_long = http.get("/api/hello/" + "x" * 5000)
    assert too_long.status_code == 414 and "error" in too_long.json()
    # The host closes after a refused request and must say so, or a keep-alive client reuses the dead
    # connection and its next request fails ("Server disconnected without sending a response").
    assert too_long.headers["connection"] == "close"
    chunked = http.post(f"/api/submit?code={DEFAULT_FUNCTION_KEY}", content=iter([b"a", b"b"]))
    assert chunked.status_code == 411 and "Content-Length" in chunked.json()["error"]
    assert chunked.headers["connection"] == "close"
    assert http.get("/api/hello/again").status_code == 200  # the pool recovers on a fresh connection


def test_a_refused_body_does_not_reset_the_answer(start_host: Callable[..., DevHost]) -> None:
    """A refused request whose body is still arriving gets its whole answer: the host drains the socket
    before closing it (closing with unread bytes sends RST, which can destroy the answer in flight).
    The drain is bounded, so the body sent stays well under the bound: a client sending more than it may
    rightly be reset (the bound once equalled this body, and 1 run in 10 ended in a broken pipe)."""
    address = urlsplit(start_host().url)
    chunk = b"4000\r\n" + b"x" * 0x4000 + b"\r\n"
    with socket.create_connection((address.hostname, address.port), timeout=10) as conn:
        conn.sendall(b"POST /api/submit HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
        for _ in range(LINGER_MAX_BYTES // 2 // len(chunk)):  # chunks the host never reads as a body
            conn.sendall(chunk)
        conn.sendall(b"0\r\n\r\n")
        answer = b""
        while received := conn.recv(65536):
            answer += received
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 411") and b"Connection: close" in head
    assert "Content-Length" in json.loads(body)["error"]


# --- timers -------------------------------------------------------------------------------------------

def test_timers_fire_survive_errors_and_run_on_startup(start_host: Callable[..., DevHost], probe: Probe) -> None:
    start_host(timers=True)
    wait_until(lambda: probe.seen("yearly"), what="run_on_startup of a yearly timer")
    ticks = wait_until(lambda: len(probe.seen("tick")) >= 2 and probe.seen("tick"), what="two ticks")
    assert ticks[:2] == [False, False]  # the first failed (and was logged), the schedule went on
    assert probe.seen("yearly") == [False]


def test_a_slow_timer_never_overlaps_itself(start_host: Callable[..., DevHost], probe: Probe) -> None:
    start_host(timers=True)
    runs = wait_until(lambda: len(probe.seen("slow")) >= 3 and probe.seen("slow"), deadline_s=8,
                      what="three runs of the slow timer")
    assert probe.max_running["slow"] == 1  # every-second schedule, 1.3 s runs: never two at once
    assert runs[1] is True  # started after its time because the previous run overran: past due


@pytest.mark.parametrize("expression, after, expected", [
    ("0 */5 * * * *", "2024-01-01T12:00:01", "2024-01-01T12:05:00"),  # seconds FIRST (croniter: last)
    ("*/15 * * * * *", "2024-01-01T12:00:01", "2024-01-01T12:00:15"),
    ("0 30 9 * * 1-5", "2024-01-05T10:00:00", "2024-01-08T09:30:00"),  # Friday -> Monday
    ("0 0 0 13 * Fri", "2024-01-01T00:00:00", "2024-09-13T00:00:00"),  # day AND weekday, as NCrontab
    ("0 0 9 * Jan Mon", "2024-01-01T09:00:00", "2024-01-08T09:00:00"),  # strictly after
])
def test_ncrontab_schedules(expression: str, after: str, expected: str) -> None:
    moment = datetime.fromisoformat(after).replace(tzinfo=timezone.utc)
    assert NcrontabSchedule.parse(expression).next_after(moment).isoformat() == expected + "+00:00"


@pytest.mark.parametrize("expression, complaint", [
    ("*/5 * * * *", "6 fields"),
    ("00:05:00", "TimeSpan"),
    ("0 0 0 L * *", "not NCRONTAB syntax"),
    ("0 0 0 * * 7", "outside 0-6"),
    ("0 0 0 5-1 * *", "backwards"),
    ("0 0 0 * * Funday", "not NCRONTAB syntax"),
    ("0 0 jan * * *", "numbers only"),
])
def test_ncrontab_rejects_what_azure_rejects(expression: str, complaint: str) -> None:
    with pytest.raises(ScheduleError, match=complaint):
        NcrontabSchedule.parse(expression)


def test_schedule_settings_are_resolved_or_named(probe: Probe) -> None:
    functions = {f.name: f for f in index_app(build_app(probe), {**BASE_ENV, "TICK_SCHEDULE": "0 */5 * * * *"})}
    assert (functions["tick"].schedule, functions["tick"].schedule_resolved) == ("%TICK_SCHEDULE%", "0 */5 * * * *")
    assert functions["work"].queue_name == "unused" and functions["work"].connection == "AzureWebJobsStorage"
    assert (functions["submit"].auth_level, functions["submit"].methods) == ("function", ("POST",))
    assert functions["whoami"].methods is None and functions["async_route"].is_async
    missing = {k: v for k, v in BASE_ENV.items() if k != "TICK_SCHEDULE"}
    with pytest.raises(FunctionIndexError, match="TICK_SCHEDULE.*not set"):
        index_app(build_app(probe), missing)
    with pytest.raises(FunctionIndexError, match="function tick.*6 fields"):
        index_app(build_app(probe), {**BASE_ENV, "TICK_SCHEDULE": "*/5 * * * *"})


def test_index_refuses_what_the_worker_refuses() -> None:
    import azure.functions as func

    app = func.FunctionApp()

    @app.route(route="x")
    def takes_extra(req: func.HttpRequest, extra: str) -> func.HttpResponse:
        return func.HttpResponse("")

    with pytest.raises(FunctionIndexError, match="declared in Python but not in function.json.*extra"):
        index_app(app, {})


def test_unsupported_bindings_stop_devhost_at_start() -> None:
    import azure.functions as func

    app = func.FunctionApp()

    @app.route(route="x")
    @app.blob_input(arg_name="doc", path="c/x.json", connection="AzureWebJobsStorage")
    def reads_blob(req: func.HttpRequest, doc: func.InputStream) -> func.HttpResponse:
        return func.HttpResponse("")

    with pytest.raises(FunctionIndexError, match="reads_blob: binding 'doc' of type 'blob'"):
        DevHost(app, port=0, environ={})


# --- queues (Azurite) ---------------------------------------------------------------------------------

@pytest.fixture
def queue_env(azurite: str) -> dict[str, str]:
    return {**BASE_ENV, "AzureWebJobsStorage": azurite, "WORK_QUEUE": f"work{uuid.uuid4().hex[:12]}"}


def _queue(env: dict[str, str], name: str) -> QueueClient:
    client = QueueClient.from_connection_string(env["AzureWebJobsStorage"], name)
    if name == env["WORK_QUEUE"]:
        client.create_queue()
    return client


def _contents(client: QueueClient) -> list[str]:
    try:
        return [m.content for m in client.peek_messages(max_messages=32)]
    except ResourceNotFoundError:  # devhost creates output and poison queues on first use
        return []


def test_queue_message_is_processed_deleted_and_output_sent(start_host: Callable[..., DevHost], probe: Probe,
                                                             queue_env: dict[str, str]) -> None:
    work = _queue(queue_env, queue_env["WORK_QUEUE"])
    work.send_message(base64.b64encode(b"hello").decode())  # the host's default messageEncoding: base64
    start_host(queue_env, queues=True, options=HostOptions(queue_poll_interval=0.05))
    seen = wait_until(lambda: probe.seen("work"), what="the queue function")
    assert [(body, count) for _, body, count in seen] == [("hello", 1)]
    done = _queue(queue_env, queue_env["WORK_QUEUE"] + "-done")
    assert wait_until(lambda: _contents(done), what="the output message") == [base64.b64encode(b"HELLO").decode()]
    assert wait_until(lambda: not _contents(work), what="the message to be deleted") is True


def test_failing_message_goes_to_poison_after_max_dequeues(start_host: Callable[..., DevHost], probe: Probe,
                                                           queue_env: dict[str, str]) -> None:
    work = _queue(queue_env, queue_env["WORK_QUEUE"])
    raw = base64.b64encode(b"fail-always").decode()
    work.send_message(raw)
    work.send_message("not base64!")  # undecodable: fails without running, poisoned the same way
    start_host(queue_env, queues=True, options=HostOptions(visibility_timeout=0, queue_poll_interval=0.05))
    poison = _queue(queue_env, queue_env["WORK_QUEUE"] + "-poison")
    landed = wait_until(lambda: len(_contents(poison)) == 2 and _contents(poison), what="two poison messages")
    assert sorted(landed) == sorted([raw, "not base64!"])  # the original text, byte for byte
    assert [count for _, _, count in probe.seen("work")] == [1, 2, 3, 4, 5]
    assert _contents(work) == []


def test_max_dequeue_count_comes_from_host_json(start_host: Callable[..., DevHost], probe: Probe,
                                                queue_env: dict[str, str], tmp_path: Path) -> None:
    (tmp_path / "host.json").write_text(json.dumps({"version": "2.0", "extensions": {"queues": {
        "maxDequeueCount": 2, "visibilityTimeout": "00:00:00", "messageEncoding": "none"}}}))
    options = HostOptions.from_host_json(tmp_path / "host.json", queue_poll_interval=0.05)
    _queue(queue_env, queue_env["WORK_QUEUE"]).send_message("fail-twice")  # plain text: encoding "none"
    start_host(queue_env, queues=True, options=options)
    poison = _queue(queue_env, queue_env["WORK_QUEUE"] + "-poison")
    assert wait_until(lambda: _contents(poison), what="the poison message") == ["fail-twice"]
    assert [count for _, _, count in probe.seen("work")] == [1, 2]


def test_admin_endpoint_runs_timer_and_queue_functions_now(start_host: Callable[..., DevHost], probe: Probe,
                                                          queue_env: dict[str, str]) -> None:
    host = start_host(queue_env)  # timers and queue polling off: only the admin endpoint runs them
    admin = f"{host.url}/admin/functions"
    assert httpx.post(f"{admin}/yearly", json={"input": ""}).status_code == 401
    assert httpx.post(f"{admin}/nope?code={DEFAULT_FUNCTION_KEY}", json={}).status_code == 404
    assert httpx.post(f"{admin}/hello?code={DEFAULT_FUNCTION_KEY}", json={}).status_code == 400
    assert httpx.post(f"{admin}/yearly?code={DEFAULT_FUNCTION_KEY}", content=b"{").status_code == 400
    assert httpx.post(f"{admin}/yearly?code={DEFAULT_FUNCTION_KEY}", json={"input": ""}).status_code == 202
    assert wait_until(lambda: probe.seen("yearly"), what="the manual timer run") == [False]
    assert httpx.post(f"{admin}/work", params={"code": DEFAULT_FUNCTION_KEY}, json={"input": "manual"}).status_code == 202
    done = _queue(queue_env, queue_env["WORK_QUEUE"] + "-done")
    assert wait_until(lambda: _contents(done), what="the output of the manual run") == [
        base64.b64encode(b"MANUAL").decode()]


def test_missing_queue_connection_fails_at_start(probe: Probe) -> None:
    with pytest.raises(ValueError, match="AzureWebJobsStorage"):
        DevHost(build_app(probe), port=0, environ={k: v for k, v in BASE_ENV.items() if k != "AzureWebJobsStorage"})


# --- configuration --------------------------------------------------------------------------------------

def test_repo_host_json_is_read() -> None:
    options = HostOptions.from_host_json(ROOT / "host.json")
    assert (options.route_prefix, options.max_dequeue_count, options.visibility_timeout, options.batch_size) == (
        "api", 5, 30.0, 8)
    assert HostOptions.from_host_json(ROOT / "no-such-host.json") == HostOptions()


def test_bad_host_json_is_named(tmp_path: Path) -> None:
    (tmp_path / "host.json").write_text(json.dumps({"extensions": {"queues": {"maxDequeueCount": "five"}}}))
    with pytest.raises(HostConfigError, match="maxDequeueCount"):
        HostOptions.from_host_json(tmp_path / "host.json")


def test_local_settings_do_not_override_the_environment(tmp_path: Path) -> None:
    path = tmp_path / "local.settings.json"
    path.write_text(json.dumps({"IsEncrypted": False, "Values": {"A": "file", "B": "file"},
                                "Host": {"LocalHttpPort": 7777}}))
    environ = {"B": "env"}
    settings = LocalSettings.load(path)
    assert settings.apply_to(environ) == ["A"]
    assert environ == {"A": "file", "B": "env"} and settings.local_http_port == 7777
    assert LocalSettings.load(tmp_path / "absent.json") == LocalSettings()


@pytest.mark.parametrize("document, complaint", [
    ({"Values": {"PORT": 80}}, "not a string: PORT"),
    ({"IsEncrypted": True, "Values": {}}, "encrypted"),
    ({"Values": {}, "Host": {"LocalHttpPort": "x"}}, "LocalHttpPort"),
])
def test_bad_local_settings_are_named(tmp_path: Path, document: dict[str, Any], complaint: str) -> None:
    path = tmp_path / "local.settings.json"
    path.write_text(json.dumps(document))
    with pytest.raises(LocalSettingsError, match=complaint):
        LocalSettings.load(path)


@pytest.mark.parametrize("template, path, params", [
    ("audit/{product}", "audit/p-1", {"product": "p-1"}),
    ("audit/{product}", "audit", None),
    ("items/{id:int?}", "items", {}),
    ("items/{id:int:range(1,9)}", "items/10", None),
    ("files/{*rest}", "files/a/b%2Fc", {"rest": "a/b/c"}),
    ("codes/{code:regex(^[a-z]{{2}}$)}", "codes/ab", {"code": "ab"}),
    ("codes/{code:regex(^[a-z]{{2}}$)}", "codes/abc", None),
    ("greet/{who=world}", "greet", {"who": "world"}),
    ("ids/{id:guid}", "ids/not-a-guid", None),
])
def test_route_templates(template: str, path: str, params: Any) -> None:
    assert RouteTemplate.parse(template).match(path) == params


@pytest.mark.parametrize("template", ["a/{x:nosuch}", "a/{x?}/b", "a/{*x}/b", "a/pre{x}", "a//b"])
def test_route_templates_the_host_rejects(template: str) -> None:
    with pytest.raises(RouteError):
        RouteTemplate.parse(template)


def test_literal_routes_win_over_parameters() -> None:
    import azure.functions as func

    app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)

    @app.route(route="things/{name}", methods=["GET"])
    def any_thing(req: func.HttpRequest) -> func.HttpResponse:
        return func.HttpResponse("param")

    @app.route(route="things/special", methods=["GET"])
    def special_thing(req: func.HttpRequest) -> func.HttpResponse:
        return func.HttpResponse("literal")

    with DevHost(app, port=0, environ={}) as host:
        assert httpx.get(f"{host.url}/api/things/special").text == "literal"
        assert httpx.get(f"{host.url}/api/things/other").text == "param"


# --- local stand-ins and the command --------------------------------------------------------------------

def test_local_services_start_only_what_settings_do_not_name() -> None:
    pytest.importorskip("sandbox.plytix")
    pytest.importorskip("sandbox.graph")
    assert LocalServices.start_missing({"PLYTIX_API_KEY": "k", "GRAPH_BASE_URL": "http://127.0.0.1:1/v1.0",
                                        "AzureWebJobsStorage": "x"}, ROOT).started == []
    environ = {"STORAGE_CONNECTION_STRING": "UseDevelopmentStorage=true"}
    services = LocalServices.start_missing(environ, ROOT)
    try:
        assert len(services.started) == 2 and environ["GRAPH_AUTH_MODE"] == "development"
        assert environ["GRAPH_BASE_URL"].endswith("/v1.0")
        assert httpx.get(f"{environ['PLYTIX_BASE_URL']}/_sandbox/calls").status_code == 200
    finally:
        services.stop()
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{environ['PLYTIX_BASE_URL']}/_sandbox/calls")


def test_local_services_start_azurite_when_no_storage_is_named() -> None:
    environ = {"PLYTIX_BASE_URL": "http://127.0.0.1:1", "GRAPH_BASE_URL": "http://127.0.0.1:1/v1.0"}
    services = LocalServices.start_missing(environ, ROOT)
    try:
        assert environ["AzureWebJobsStorage"] == environ["STORAGE_CONNECTION_STRING"]
        QueueClient.from_connection_string(environ["AzureWebJobsStorage"], "probe").create_queue()
    finally:
        services.stop()


def _run_devhost(cwd: Path, env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "devhost", "--app", "tests.devhost_app:app", *args],
                            cwd=cwd, env={**env, "PYTHONPATH": str(ROOT)}, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def test_command_reads_local_settings_serves_and_stops_on_sigterm(tmp_path: Path, azurite: str) -> None:
    from devhost.azurite import free_port

    port = free_port()
    (tmp_path / "local.settings.json").write_text(json.dumps({"Values": {
        **BASE_ENV, "AzureWebJobsStorage": azurite, "FROM_FILE": "file", "BOTH": "file"},
        "Host": {"LocalHttpPort": port}}))
    env = {**os.environ, "BOTH": "env", "PLYTIX_BASE_URL": "http://127.0.0.1:1", "GRAPH_BASE_URL": "x"}
    process = _run_devhost(tmp_path, env, "--no-timers", "--no-queues")
    try:
        def setting(name: str) -> Any:
            try:
                return httpx.get(f"http://127.0.0.1:{port}/api/setting/{name}").json()
            except httpx.TransportError:
                return None

        assert wait_until(lambda: setting("FROM_FILE"), deadline_s=20, what="devhost to serve") == {"value": "file"}
        assert setting("BOTH") == {"value": "env"}  # the environment wins over local.settings.json
        process.send_signal(signal.SIGTERM)
        stdout, _ = process.communicate(timeout=15)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0
    assert f"hello: [GET] http://127.0.0.1:{port}/api/hello/{{name}}" in stdout
    assert DEFAULT_FUNCTION_KEY in stdout


def test_command_names_a_missing_setting(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "TICK_SCHEDULE"}
    env.update(WORK_QUEUE="q", AzureWebJobsStorage="UseDevelopmentStorage=true",
               PLYTIX_BASE_URL="http://127.0.0.1:1", GRAPH_BASE_URL="x")
    process = _run_devhost(tmp_path, env)
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == 2
    assert "TICK_SCHEDULE" in stderr and "Traceback" not in stderr
