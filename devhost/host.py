"""DevHost: the app's functions served in this process, for `make run`, tests and the demo.

Why a class and not only a command: tests and the demo start it on a free port in a thread, call it over
real HTTP, and stop it, within one pytest process; `python -m devhost` is a thin command around it.
Everything is checked before anything starts (unsupported bindings, bad routes, schedules, missing
connection settings), so a broken app fails at start-up with one message, as in Azure.
"""

from __future__ import annotations

import functools
import logging
import os
import threading
from pathlib import Path
from typing import Mapping, Optional

import azure.functions as func
from azure.functions.queue import QueueMessage as FunctionMessage

from devhost.host_config import HostOptions
from devhost.http_server import HttpFunctions, HttpServer
from devhost.index import HTTP_TRIGGER, QUEUE_TRIGGER, TIMER_TRIGGER, FunctionIndexError, IndexedFunction, index_app
from devhost.invoker import Invoker
from devhost.queues import QueueListener, StorageQueues
from devhost.timers import TimerRunner

log = logging.getLogger("devhost")
DEFAULT_FUNCTION_KEY = "local-dev-key"


class DevHost:
    """Serves `app`'s HTTP functions at `url` + /api/..., runs its timers and queue triggers."""

    def __init__(self, app: func.FunctionApp, *, host: str = "127.0.0.1", port: int = 7071,
                 timers: bool = True, queues: bool = True, options: Optional[HostOptions] = None,
                 function_key: Optional[str] = None, environ: Optional[Mapping[str, str]] = None,
                 app_root: Optional[Path] = None) -> None:
        settings = os.environ if environ is None else environ
        self.options = options or HostOptions()
        self.functions = index_app(app, settings)
        _refuse_unsupported(self.functions)
        self.function_key = function_key or settings.get("DEVHOST_FUNCTION_KEY") or DEFAULT_FUNCTION_KEY
        self._stop = threading.Event()
        self._storage = StorageQueues(settings, self.options)
        self._invoker = Invoker(self._storage.send_output, app_root or Path.cwd())
        try:
            for function in self.functions:
                for binding in function.queue_outputs:
                    self._storage.check(binding.connection)
            # Runners exist for every timer (the admin endpoint uses their lock); they run when `timers`.
            self._timers = {f.name: TimerRunner(f, self._invoker, self._stop)
                            for f in self.functions if f.trigger_type == TIMER_TRIGGER}
            self._run_timers = timers
            self._queues = {f.name: QueueListener(f, self._invoker, self._storage, self.options, self._stop)
                            for f in self.functions if queues and f.trigger_type == QUEUE_TRIGGER}
            http = HttpFunctions(self.functions, self._invoker, self.options.route_prefix, self.function_key,
                                 self.invoke_by_name)
            self._http = HttpServer(http, host, port)
        except BaseException:
            self._invoker.close()
            raise

    @property
    def url(self) -> str:
        """The server root, e.g. http://127.0.0.1:7071 (functions are below /api)."""
        return self._http.url

    def start(self) -> "DevHost":
        self._http.start()
        for worker in [*(self._timers.values() if self._run_timers else ()), *self._queues.values()]:
            worker.start()
        log.info("devhost listening on %s with %d functions", self.url, len(self.functions))
        return self

    def stop(self) -> None:
        """Stop accepting work, let running invocations finish (up to 10 s each), free the port."""
        self._stop.set()
        self._http.stop()
        for worker in [*self._timers.values(), *self._queues.values()]:
            if worker.is_alive():
                worker.join(timeout=10)
        self._invoker.close()

    def __enter__(self) -> "DevHost":
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    def invoke_by_name(self, name: str, text: str) -> None:
        """Start a timer or queue function now, in the background (the host's admin endpoint does this).

        A timer runs under its singleton lock with past_due False; a queue function gets `text` as the
        message body. Raises KeyError for an unknown name, ValueError for HTTP functions.
        """
        function = next((f for f in self.functions if f.name.lower() == name.lower()), None)
        if function is None:
            raise KeyError(name)
        if function.trigger_type == HTTP_TRIGGER:
            raise ValueError(f"{function.name} is an HTTP function: call its route instead")
        timer = self._timers.get(function.name)
        if timer is not None:
            run = functools.partial(timer.invoke, past_due=False, reason="Manual")
        else:
            message = FunctionMessage(body=text.encode("utf-8"), dequeue_count=1)
            run = functools.partial(self._invoke_quietly, function, message)
        threading.Thread(target=run, name=f"devhost-admin-{function.name}", daemon=True).start()

    def _invoke_quietly(self, function: IndexedFunction, message: FunctionMessage) -> None:
        try:
            self._invoker.invoke(function, message, reason="Manual")
        except Exception:  # noqa: BLE001 - logged by the invoker; nobody waits for this result
            pass

    def describe(self) -> list[str]:
        """One line per function, like `func start` prints them."""
        root = f"{self.url}/{self.options.route_prefix}".rstrip("/")
        lines = []
        for function in self.functions:
            if function.trigger_type == HTTP_TRIGGER:
                methods = ",".join(function.methods) if function.methods else "all methods"
                lines.append(f"{function.name}: [{methods}] {root}/{function.route} ({function.auth_level})")
            elif function.trigger_type == TIMER_TRIGGER:
                running = "" if self._run_timers else ", not running (--no-timers)"
                lines.append(f"{function.name}: timerTrigger {function.schedule_resolved!r}{running}")
            else:
                running = "" if function.name in self._queues else ", not polled (--no-queues)"
                lines.append(f"{function.name}: queueTrigger on {function.queue_name!r}{running}")
        return lines


def _refuse_unsupported(functions: list[IndexedFunction]) -> None:
    problems = [f"{f.name}: {', '.join(f.unsupported)}" for f in functions if f.unsupported]
    if problems:
        raise FunctionIndexError("devhost runs HTTP, timer and queue triggers with queue outputs only; "
                                 "unsupported: " + "; ".join(problems))
