"""Index a FunctionApp the way the Azure Functions Python worker does, into plain descriptions.

Why this exists separately from the server: tests assert what function_app registers (routes, auth
levels, schedules, queues) from the same description devhost serves, so "it runs locally" and "it is
declared right for Azure" are the same fact.

What the real host does, and devhost copies:
- `app.get_functions()` builds each function (a route defaults to the function name, an auth level to the
  app's `http_auth_level`) and may be called only once per app object (a second call raises "does not
  have a unique function name"); `index_app` therefore remembers the built functions per app.
- The worker refuses a function whose Python parameters and declared bindings differ
  (azure-functions-python-worker, functions.py `add_function`: "the following parameters are declared in
  Python but not in function.json"); `context` is the one extra parameter it fills in itself.
- `%NAME%` in a schedule or a queue name is an app-setting binding expression, resolved from app settings
  (environment variables) at start-up; a missing setting stops the host. (Microsoft Learn, "Azure Functions
  binding expression patterns", Binding expressions - app settings.)
"""

from __future__ import annotations

import inspect
import os
import re
import weakref
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Optional

import azure.functions as func
from azure.functions.decorators.core import BindingDirection

from devhost.ncrontab import NcrontabSchedule, ScheduleError

HTTP_TRIGGER, TIMER_TRIGGER, QUEUE_TRIGGER = "httpTrigger", "timerTrigger", "queueTrigger"
_SETTING = re.compile(r"%([^%\s]+)%")
_built: "weakref.WeakKeyDictionary[Any, list[Any]]" = weakref.WeakKeyDictionary()


class FunctionIndexError(ValueError):
    """The app cannot be indexed as the host would index it; the message names the function."""


@dataclass(frozen=True)
class QueueOutput:
    """A `@app.queue_output` binding: devhost sends what the function `set()`s after it succeeds."""

    arg_name: str
    queue_name: str
    connection: str


@dataclass(frozen=True)
class IndexedFunction:
    """One function as the host sees it. Fields that do not apply to the trigger type are None."""

    name: str
    trigger_type: str
    trigger_arg: str
    user_function: Callable[..., Any]
    is_async: bool
    wants_context: bool = False
    route: Optional[str] = None  # template below the route prefix, e.g. "audit/{product}"
    methods: Optional[tuple[str, ...]] = None  # upper case; None means every method
    auth_level: Optional[str] = None  # "anonymous" | "function" | "admin"
    schedule: Optional[str] = None  # as declared, e.g. "%FULL_SWEEP_SCHEDULE%"
    schedule_resolved: Optional[str] = None  # after app-setting resolution, validated NCRONTAB
    run_on_startup: bool = False
    queue_name: Optional[str] = None  # resolved
    connection: Optional[str] = None  # the NAME of the setting (or setting prefix) holding the account
    queue_outputs: tuple[QueueOutput, ...] = ()
    unsupported: tuple[str, ...] = ()  # what devhost cannot run (other bindings/triggers), explained
    bindings: tuple[dict[str, Any], ...] = ()  # the function.json view, for assertions


def index_app(app: func.FunctionApp, environ: Optional[Mapping[str, str]] = None) -> list[IndexedFunction]:
    """Describe every function of `app`; %SETTING% expressions are resolved from `environ` (os.environ)."""
    settings = os.environ if environ is None else environ
    if app not in _built:
        try:
            _built[app] = app.get_functions()
        except ValueError as exc:  # duplicate names, missing trigger
            raise FunctionIndexError(str(exc)) from None
    return [_describe(function, settings) for function in _built[app]]


def resolve_app_settings(text: str, environ: Mapping[str, str], where: str) -> str:
    """Replace each %NAME% in `text` by the app setting NAME (case-insensitive, as the host's config is)."""
    folded = {key.lower(): value for key, value in environ.items()}

    def lookup(found: re.Match[str]) -> str:
        name = found[1]
        value = environ.get(name, folded.get(name.lower()))
        if value is None:
            raise FunctionIndexError(f"{where}: {text!r} needs app setting {name!r}, which is not set "
                                     "(set it in the environment or in local.settings.json Values)")
        return value

    return _SETTING.sub(lookup, text)


def _describe(function: Any, environ: Mapping[str, str]) -> IndexedFunction:
    name = function.get_function_name()
    trigger = function.get_trigger()
    user_function = function.get_user_function()
    bindings = function.get_bindings()
    wants_context = _check_parameters(name, user_function, bindings)
    fields: dict[str, Any] = {}
    unsupported: list[str] = []
    kind = trigger.type
    if kind == HTTP_TRIGGER:
        methods = getattr(trigger, "methods", None)
        fields.update(route=trigger.route.strip("/"), auth_level=_enum_value(trigger.auth_level),
                      methods=tuple(_enum_value(m).upper() for m in methods) if methods else None)
    elif kind == TIMER_TRIGGER:
        resolved = resolve_app_settings(trigger.schedule, environ, f"function {name} schedule")
        try:
            NcrontabSchedule.parse(resolved)
        except ScheduleError as exc:
            raise FunctionIndexError(f"function {name}: {exc}") from None
        fields.update(schedule=trigger.schedule, schedule_resolved=resolved,
                      run_on_startup=bool(trigger.run_on_startup))
    elif kind == QUEUE_TRIGGER:
        fields.update(queue_name=resolve_app_settings(trigger.queue_name, environ, f"function {name} queue"),
                      connection=trigger.connection or "AzureWebJobsStorage")
    else:
        unsupported.append(f"trigger type {kind!r}")
    outputs = []
    for binding in bindings:
        if binding is trigger or binding.name == "$return":
            if binding.name == "$return" and kind != HTTP_TRIGGER:
                unsupported.append(f"a $return {binding.type!r} binding")
            continue
        if binding.type == "queue" and binding.direction == BindingDirection.OUT.value:
            outputs.append(QueueOutput(binding.name, resolve_app_settings(
                binding.queue_name, environ, f"function {name} output {binding.name}"),
                binding.connection or "AzureWebJobsStorage"))
        else:
            unsupported.append(f"binding {binding.name!r} of type {binding.type!r}")
    return IndexedFunction(
        name=name, trigger_type=kind, trigger_arg=trigger.name, user_function=user_function,
        is_async=inspect.iscoroutinefunction(user_function), wants_context=wants_context,
        queue_outputs=tuple(outputs), unsupported=tuple(unsupported),
        bindings=tuple(binding.get_dict_repr() for binding in bindings), **fields)


def _check_parameters(name: str, user_function: Callable[..., Any], bindings: list[Any]) -> bool:
    """Refuse what the worker refuses; return whether the function takes the `context` parameter."""
    params = set(inspect.signature(user_function).parameters)
    bound = {binding.name for binding in bindings if binding.name != "$return"}
    wants_context = "context" in params and "context" not in bound
    if wants_context:
        params.discard("context")
    if params - bound:
        raise FunctionIndexError(f"cannot load the {name} function: the following parameters are declared "
                                 f"in Python but not in function.json: {sorted(params - bound)}")
    if bound - params:
        raise FunctionIndexError(f"cannot load the {name} function: the following parameters are declared "
                                 f"in function.json but not in Python: {sorted(bound - params)}")
    return wants_context


def _enum_value(value: Any) -> Any:
    """Decorator fields hold enums (AuthLevel, HttpMethod, BindingDirection) or plain strings."""
    return getattr(value, "value", value)
