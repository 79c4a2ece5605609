"""A small FunctionApp for the devhost tests: every trigger kind devhost runs, each recording what it saw.

`build_app(probe)` makes a fresh app per test (a FunctionApp can be indexed only once per object, and a
fresh probe keeps tests apart); `app` is one for `python -m devhost --app tests.devhost_app:app`.
Names that vary per test come from app settings (%NAME%), as function_app's schedules do.
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import azure.functions as func

SLOW_RUN_SECONDS = 1.3  # longer than the one-second schedule of `slow`, so each run overruns the next


@dataclass
class Probe:
    """What the functions saw, read by the tests (thread-safe)."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    calls: dict[str, list[Any]] = field(default_factory=dict)
    running: dict[str, int] = field(default_factory=dict)
    max_running: dict[str, int] = field(default_factory=dict)

    def record(self, name: str, value: Any) -> None:
        with self.lock:
            self.calls.setdefault(name, []).append(value)

    def seen(self, name: str) -> list[Any]:
        with self.lock:
            return list(self.calls.get(name, []))

    def enter(self, name: str) -> None:
        with self.lock:
            self.running[name] = self.running.get(name, 0) + 1
            self.max_running[name] = max(self.max_running.get(name, 0), self.running[name])

    def leave(self, name: str) -> None:
        with self.lock:
            self.running[name] -= 1


def _json(body: Any, status: int = 200) -> func.HttpResponse:
    return func.HttpResponse(json.dumps(body), status_code=status, mimetype="application/json")


def build_app(probe: Probe) -> func.FunctionApp:
    app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)

    @app.route(route="hello/{name}", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
    def hello(req: func.HttpRequest) -> func.HttpResponse:
        return _json({"name": req.route_params["name"], "method": req.method, "params": dict(req.params)})

    @app.route(route="items/{id:int?}", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
    def items(req: func.HttpRequest) -> func.HttpResponse:
        return _json({"route_params": dict(req.route_params)})

    @app.route(route="submit", methods=["POST"])  # the app's default level: function
    def submit(req: func.HttpRequest) -> func.HttpResponse:
        return func.HttpResponse(req.get_body()[::-1], status_code=201, headers={"X-Seen": "yes"},
                                 mimetype="application/octet-stream")

    @app.route(route="async/{n:int}", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
    async def async_route(req: func.HttpRequest) -> func.HttpResponse:
        await asyncio.sleep(0)
        return _json({"n": int(req.route_params["n"]) * 2, "loop": id(asyncio.get_running_loop())})

    @app.route(route="whoami", auth_level=func.AuthLevel.ANONYMOUS)  # no methods: every method
    def whoami(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
        return _json({"invocation_id": context.invocation_id, "function": context.function_name})

    @app.route(route="setting/{name}", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
    def setting(req: func.HttpRequest) -> func.HttpResponse:
        return _json({"value": os.environ.get(req.route_params["name"])})

    @app.route(route="boom", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
    def boom(req: func.HttpRequest) -> func.HttpResponse:
        raise RuntimeError("database password is s3cr3t-value")

    @app.timer_trigger(arg_name="timer", schedule="%TICK_SCHEDULE%")
    def tick(timer: func.TimerRequest) -> None:
        probe.record("tick", timer.past_due)
        if len(probe.seen("tick")) == 1:
            raise RuntimeError("the first tick fails; the schedule must go on")

    @app.timer_trigger(arg_name="timer", schedule="* * * * * *")
    def slow(timer: func.TimerRequest) -> None:
        probe.enter("slow")
        try:
            probe.record("slow", timer.past_due)
            time.sleep(SLOW_RUN_SECONDS)  # the work being slow is the point of this function
        finally:
            probe.leave("slow")

    @app.timer_trigger(arg_name="timer", schedule="0 0 0 1 1 *", run_on_startup=True)
    def yearly(timer: func.TimerRequest) -> None:
        probe.record("yearly", timer.past_due)

    @app.queue_trigger(arg_name="msg", queue_name="%WORK_QUEUE%", connection="AzureWebJobsStorage")
    @app.queue_output(arg_name="out", queue_name="%WORK_QUEUE%-done", connection="AzureWebJobsStorage")
    def work(msg: func.QueueMessage, out: func.Out[str]) -> None:
        body = msg.get_body().decode()
        probe.record("work", (msg.id, body, msg.dequeue_count))
        if body.startswith("fail"):
            raise ValueError(f"cannot handle {body}")
        out.set(body.upper())

    return app


app = build_app(Probe())
