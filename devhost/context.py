"""The `context: func.Context` argument the Python worker passes to functions that ask for it.

Why: a function that logs `context.invocation_id` must run unchanged under devhost. Retries are not
emulated, so the retry context always says "first attempt"; the trace context starts a new W3C trace.
"""

from __future__ import annotations

import secrets
import threading
from typing import Optional

import azure.functions as func
from azure.functions._abc import RetryContext, RpcException, TraceContext


class _NewTrace(TraceContext):
    def __init__(self) -> None:
        self._parent = f"00-{secrets.token_hex(16)}-{secrets.token_hex(8)}-01"

    @property
    def trace_state(self) -> str:
        return ""

    @property
    def trace_parent(self) -> str:
        return self._parent

    @property
    def attributes(self) -> dict[str, str]:
        return {}


class _FirstAttempt(RetryContext):
    @property
    def retry_count(self) -> int:
        return 0

    @property
    def max_retry_count(self) -> int:
        return 0

    @property
    def exception(self) -> Optional[RpcException]:  # type: ignore[override]  # a property, as in the worker
        return None


class InvocationContext(func.Context):
    """Context of one invocation; `function_directory` is the app root, as for v2-model apps."""

    _local = threading.local()

    def __init__(self, invocation_id: str, function_name: str, function_directory: str) -> None:
        self._invocation_id = invocation_id
        self._function_name = function_name
        self._function_directory = function_directory
        self._trace = _NewTrace()
        self._retry = _FirstAttempt()

    @property
    def invocation_id(self) -> str:
        return self._invocation_id

    @property
    def thread_local_storage(self) -> threading.local:  # type: ignore[override]  # a property, as in the worker
        self._local.invocation_id = self._invocation_id
        return self._local

    @property
    def function_name(self) -> str:
        return self._function_name

    @property
    def function_directory(self) -> str:
        return self._function_directory

    @property
    def trace_context(self) -> TraceContext:
        return self._trace

    @property
    def retry_context(self) -> RetryContext:
        return self._retry
