"""Calls user functions the way the Python worker does, whatever triggered them.

Why one event loop for every async function, kept for the life of the host: the worker runs all async
functions on its one loop, and clients built on first use (msgraph-sdk / httpx async clients) are bound
to the loop they were created on; a fresh `asyncio.run` per call would break them on the second call.
Sync functions run on the calling thread (an HTTP request thread, a timer or queue thread).

Each invocation is logged like the host logs it ("Executing 'Functions.x' (Reason=..., Id=...)",
"Executed ... (Succeeded|Failed, Id=..., Duration=...ms)"); a failure is logged with its traceback here,
once, and re-raised for the trigger to decide (500, retry, poison).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Callable, Optional, TypeVar

import azure.functions as func

from devhost.context import InvocationContext
from devhost.index import IndexedFunction, QueueOutput

log = logging.getLogger("devhost")
T = TypeVar("T")
OutputSink = Callable[[QueueOutput, Any], None]


class OutValue(func.Out[T]):
    """What the worker passes for an output binding: the function calls `set()`, devhost sends it."""

    def __init__(self) -> None:
        self._value: Optional[T] = None

    def set(self, val: T) -> None:
        self._value = val

    def get(self) -> Optional[T]:  # type: ignore[override]  # an output never set is None
        return self._value


class Invoker:
    """Runs functions; `close()` stops the shared event loop."""

    def __init__(self, send_output: OutputSink, app_root: Path) -> None:
        self._send_output = send_output
        self._app_root = str(app_root)
        self._loop = asyncio.new_event_loop()
        self._loop_thread = threading.Thread(target=self._loop.run_forever, name="devhost-async", daemon=True)
        self._loop_thread.start()

    def invoke(self, function: IndexedFunction, trigger_value: Any, reason: str) -> Any:
        """Call `function` with its trigger value (and outputs/context); send outputs when it succeeds."""
        invocation_id = str(uuid.uuid4())
        kwargs: dict[str, Any] = {function.trigger_arg: trigger_value}
        outputs = {binding: OutValue[Any]() for binding in function.queue_outputs}
        kwargs.update({binding.arg_name: out for binding, out in outputs.items()})
        if function.wants_context:
            kwargs["context"] = InvocationContext(invocation_id, function.name, self._app_root)
        log.info("Executing 'Functions.%s' (Reason='%s', Id=%s)", function.name, reason, invocation_id)
        started = time.monotonic()
        try:
            result = self._call(function, kwargs)
            for binding, out in outputs.items():
                if out.get() is not None:
                    self._send_output(binding, out.get())
        except Exception:
            log.exception("Executed 'Functions.%s' (Failed, Id=%s, Duration=%dms)", function.name,
                          invocation_id, (time.monotonic() - started) * 1000)
            raise
        log.info("Executed 'Functions.%s' (Succeeded, Id=%s, Duration=%dms)", function.name, invocation_id,
                 (time.monotonic() - started) * 1000)
        return result

    def _call(self, function: IndexedFunction, kwargs: dict[str, Any]) -> Any:
        if function.is_async:
            return asyncio.run_coroutine_threadsafe(function.user_function(**kwargs), self._loop).result()
        return function.user_function(**kwargs)

    def close(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._loop_thread.join(timeout=5)
        if not self._loop.is_running():
            self._loop.close()
