"""Telemetry through OpenTelemetry, read back from in-memory exporters (the real SDK pipeline; only the
last hop, to Application Insights, is replaced, because no workspace is reachable here):
- log events reach the exporter with every dimension as its own attribute (customDimensions in Azure);
- the counters are OpenTelemetry metrics;
- Plytix and Graph HTTP calls are CLIENT spans (dependencies) inside the invocation's trace, the way the
  Functions worker hands it over (a W3C traceparent attached as the current context);
- `OTEL_TRACES_EXPORTER=console` prints spans (what `make run` uses).
"""

from __future__ import annotations

import logging
import subprocess
import sys
from typing import Any, Iterator

import pytest
from opentelemetry import context, trace
from opentelemetry.instrumentation.logging.handler import LoggingHandler
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from shared.observability import LOGGER_ROOT, REDACTED, Count, Counters, get_logger, log_event
from shared.scan import run_full_scan
from tests.conftest import ROOT

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{TRACE_ID}-00f067aa0ba902b7-01"  # as the host passes it in the invocation


@pytest.fixture
def exported_logs() -> Iterator[InMemoryLogRecordExporter]:
    exporter = InMemoryLogRecordExporter()
    provider = LoggerProvider()
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    handler = LoggingHandler(logger_provider=provider)  # the handler configure_azure_monitor() attaches
    app_logger = logging.getLogger(LOGGER_ROOT)
    app_logger.addHandler(handler)
    level = app_logger.level
    app_logger.setLevel(logging.INFO)
    try:
        yield exporter
    finally:
        app_logger.removeHandler(handler)
        app_logger.setLevel(level)
        provider.shutdown()


def test_log_event_dimensions_reach_the_exporter_as_attributes(exported_logs: InMemoryLogRecordExporter) -> None:
    log_event(get_logger("test.telemetry"), "task_action", action="create", done=True, rule="core-content",
              product="P-1001", task="AAMkAGI2", fingerprint="9f86d081884c", run_id="0123456789ab",
              api_key="plytix-key-123", missing=None)
    [exported] = exported_logs.get_finished_logs()
    record = exported.log_record
    assert str(record.body).startswith("task_action ")
    attributes = dict(record.attributes or {})
    assert {k: attributes[k] for k in ("event", "action", "done", "rule", "product", "task", "fingerprint",
                                       "run_id")} == {
        "event": "task_action", "action": "create", "done": True, "rule": "core-content", "product": "P-1001",
        "task": "AAMkAGI2", "fingerprint": "9f86d081884c", "run_id": "0123456789ab"}
    assert attributes["api_key"] == REDACTED and "missing" not in attributes  # redacted; null left out
    assert "plytix-key-123" not in str(record.body) + str(attributes)


def test_counters_are_opentelemetry_metrics() -> None:
    reader = InMemoryMetricReader()
    counters = Counters(meter=MeterProvider(metric_readers=[reader]).get_meter("test"))
    counters.add(Count.tasks_created, 2)
    counters.add(Count.tasks_reopened)
    counters.record_api_call("plytix")
    counters.record_api_call("plytix", throttled=True)
    counters.record_api_call("graph")
    points: dict[tuple[str, tuple], int] = {}
    for resource_metrics in reader.get_metrics_data().resource_metrics:
        for scope in resource_metrics.scope_metrics:
            for metric in scope.metrics:
                for point in metric.data.data_points:
                    points[(metric.name, tuple(sorted((point.attributes or {}).items())))] = point.value
    assert points == {("tasks_created", ()): 2, ("tasks_reopened", ()): 1,
                      ("api_calls", (("service", "plytix"),)): 2, ("api_calls", (("service", "graph"),)): 1,
                      ("api_throttled", (("service", "plytix"),)): 1}
    assert counters.snapshot()["tasks_reopened"] == 1


@pytest.fixture(scope="module")
def recorded_spans() -> Iterator[InMemorySpanExporter]:
    """The process's tracer provider records into memory, and httpx is instrumented as configure() does.
    A tracer provider can be set only once per process: later tests keep it, with httpx uninstrumented."""
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

    from shared import telemetry

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    if trace.get_tracer_provider() is not provider:
        pytest.skip("another tracer provider was set in this process before")
    telemetry.instrument_http_clients()
    try:
        yield exporter
    finally:
        HTTPXClientInstrumentor().uninstrument()
        exporter.clear()


def test_plytix_and_graph_calls_are_dependencies_in_the_invocation_trace(recorded_spans: InMemorySpanExporter,
                                                                          world: dict) -> None:
    recorded_spans.clear()
    invocation = TraceContextTextMapPropagator().extract({"traceparent": TRACEPARENT})
    token = context.attach(invocation)  # what the Functions worker does before calling the function
    try:
        report = run_full_scan(world["deps"], dry_run=True)
    finally:
        context.detach(token)
    spans = recorded_spans.get_finished_spans()
    [scan_pass] = [s for s in spans if s.name == "scan_pass"]
    assert format(scan_pass.context.trace_id, "032x") == TRACE_ID
    assert scan_pass.attributes["run_id"] == report.run_id and scan_pass.attributes["mode"] == "full"
    # httpx instrumentation 0.66 uses the http.* semantic conventions the Azure Monitor exporter maps to
    # AppDependencies (http.method, http.url, http.status_code).
    calls = [s for s in spans if s.kind is SpanKind.CLIENT and "http.url" in _attributes(s)]
    plytix = [s for s in calls if s.attributes["http.url"].startswith(world["plytix"].url)]
    graph = [s for s in calls if s.attributes["http.url"].startswith(world["graph"].url)]
    assert plytix and graph, sorted({s.attributes["http.url"] for s in calls})
    by_id = {s.context.span_id: s for s in spans}
    for call in plytix + graph:
        assert format(call.context.trace_id, "032x") == TRACE_ID
        parent = call.parent
        while parent is not None and parent.span_id in by_id and parent.span_id != scan_pass.context.span_id:
            parent = by_id[parent.span_id].parent
        assert parent is not None and parent.span_id == scan_pass.context.span_id, call.name
    assert all(s.attributes.get("http.status_code") == 200 for s in plytix + graph)


def test_the_console_exporter_setting_prints_spans() -> None:
    script = ("from shared import telemetry\n"
              "assert telemetry.configure({'OTEL_TRACES_EXPORTER': 'console'}) == 'console'\n"
              "with telemetry.span('scan_pass', run_id='0123456789ab', mode='full'):\n"
              "    pass\n")
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60,
                            check=False)
    assert result.returncode == 0, result.stderr
    assert '"name": "scan_pass"' in result.stdout and '"run_id": "0123456789ab"' in result.stdout


def _attributes(span: Any) -> dict[str, Any]:
    return dict(span.attributes or {})
