"""One private asyncio event loop per process, on a daemon thread, for the async-only Graph SDK.

Why not asyncio.run per call: it builds and tears down a loop each time, which strands the SDK's pooled
httpx connections and credential sessions bound to the old loop (API_FACTS.md: never asyncio.run per call
in a long-lived process). Sync code hands coroutines to this loop with run_coroutine_threadsafe and
waits for the result; every PlannerClient in the process shares the loop.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import threading
from typing import Any, Coroutine, Optional, TypeVar

T = TypeVar("T")
# How often a caller waiting for the loop checks that the loop is still alive.
_LIVENESS_CHECK_SECONDS = 1.0

_lock = threading.Lock()
_loop: Optional[asyncio.AbstractEventLoop] = None


def _loop_thread_main(loop: asyncio.AbstractEventLoop) -> None:
    asyncio.set_event_loop(loop)
    try:
        loop.run_forever()
    finally:
        # Whatever stopped it (even SystemExit raised in a callback), a closed loop is never handed out
        # again: background_loop starts a fresh one, and run_sync's waiters notice and fail.
        loop.close()


def background_loop() -> asyncio.AbstractEventLoop:
    """The process's Graph loop, started on first use."""
    global _loop
    with _lock:
        if _loop is None or _loop.is_closed():
            _loop = asyncio.new_event_loop()
            threading.Thread(target=_loop_thread_main, args=(_loop,), name="planner-graph-loop",
                             daemon=True).start()
        return _loop


async def _in_context(caller: contextvars.Context, coro: Coroutine[Any, Any, T]) -> T:
    """Run `coro` with the caller's context variables. A task on the loop starts from the loop thread's
    context; copying the caller's in keeps the current OpenTelemetry span, so a Graph call is a child of
    the invocation that made it (shared/telemetry.py). Setting them here changes only this task's copy."""
    for variable, value in caller.items():
        variable.set(value)
    return await coro


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run `coro` on the background loop and wait for its result (its exception is re-raised here)."""
    loop = background_loop()
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if running is loop:
        coro.close()
        raise RuntimeError("run_sync called from the Graph loop itself: it would wait for itself forever")
    future = asyncio.run_coroutine_threadsafe(_in_context(contextvars.copy_context(), coro), loop)
    while True:
        try:
            return future.result(timeout=_LIVENESS_CHECK_SECONDS)
        except concurrent.futures.TimeoutError:
            if loop.is_closed():
                future.cancel()
                raise RuntimeError("the Graph event loop stopped before answering") from None
