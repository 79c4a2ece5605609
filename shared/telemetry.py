"""OpenTelemetry for the app: where telemetry goes, the spans around a pass, and Plytix/Graph HTTP calls
as dependencies.

What this follows (Microsoft Learn, "Use OpenTelemetry with Azure Functions", opentelemetry-howto, Python,
and the Python worker's azure_functions_worker/otel.py):
- In Azure the app setting PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY=true makes the Python worker call
  the Azure Monitor distro's `configure_azure_monitor()` itself, with APPLICATIONINSIGHTS_CONNECTION_STRING
  and the logger named by PYTHON_APPLICATIONINSIGHTS_LOGGER_NAME, and attach each invocation's trace
  context, so what the code records joins the invocation's operation; the host then no longer forwards
  the worker's logs a second time. The distro's exporter signs in with the identity named in
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING (`ClientId=...;Authorization=AAD`), which local-auth-off
  Application Insights needs. infra/app/function-app.bicep sets all of these. `configure()` therefore
  configures nothing more in that case (a second configure_azure_monitor would export everything twice).
- Without that setting but with a connection string (Core Tools against a real workspace), `configure()`
  calls configure_azure_monitor() itself, as Learn's manual alternative says.
- host.json "telemetryMode": "OpenTelemetry" is NOT set: Learn lists only HTTP, Service Bus and Event Hubs
  triggers as supported with OpenTelemetry output from the host, and this app's work runs on timer and
  queue triggers; the host's default Application Insights output keeps their request records.
- Locally, the standard OpenTelemetry SDK variable OTEL_TRACES_EXPORTER=console prints every span
  (`OTEL_TRACES_EXPORTER=console make run`).

Dependencies: the distro instruments requests, urllib, urllib3 and the Azure SDK, not httpx, which the
Plytix client and msgraph-sdk use; `configure()` adds the httpx instrumentation, so each Plytix and Graph
call is a CLIENT span (AppDependencies) in the current trace.
"""

from __future__ import annotations

import logging
import os
from contextlib import contextmanager
from typing import Any, Iterator, Mapping, Optional

from opentelemetry import trace

from shared.observability import LOGGER_ROOT, safe_dimensions

log = logging.getLogger(f"{LOGGER_ROOT}.telemetry")
WORKER_SETTING = "PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY"
_tracer = trace.get_tracer(LOGGER_ROOT)
_configured = False


def configure(environ: Optional[Mapping[str, str]] = None) -> str:
    """Set up telemetry once per process; return which path was taken (for the start-up log and tests):
    "worker" (the Functions worker configured Azure Monitor), "azure_monitor", "console" or "none"."""
    global _configured
    env = os.environ if environ is None else environ
    if _configured:
        return "already"
    _configured = True
    if env.get(WORKER_SETTING, "").lower() == "true":
        path = "worker"
    elif env.get("APPLICATIONINSIGHTS_CONNECTION_STRING"):
        from azure.monitor.opentelemetry import configure_azure_monitor

        configure_azure_monitor(logger_name=LOGGER_ROOT)
        path = "azure_monitor"
    elif env.get("OTEL_TRACES_EXPORTER", "").lower() == "console":
        _console_spans()
        path = "console"
    else:
        path = "none"
    if path != "none":
        instrument_http_clients()
    log.info("telemetry: %s", path)
    return path


def instrument_http_clients(tracer_provider: Any = None) -> None:
    """Every httpx request (Plytix client, msgraph-sdk) becomes a CLIENT span: a dependency."""
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

    HTTPXClientInstrumentor().instrument(tracer_provider=tracer_provider)


def _console_spans() -> None:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SimpleSpanProcessor

    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter()))
    trace.set_tracer_provider(provider)


@contextmanager
def span(name: str, **attributes: Any) -> Iterator[Any]:
    """An INTERNAL span around a piece of work (a pass), child of the current one (the invocation), so
    its Plytix and Graph dependencies group under it. Attributes go through the same redaction as logs;
    None values are left out (OpenTelemetry attributes cannot be null)."""
    safe = {k: v for k, v in safe_dimensions(attributes).items() if v is not None}
    with _tracer.start_as_current_span(name, attributes=safe) as current:
        yield current
