"""The HTTP API's OpenAPI 3.1 document (shared/openapi.json) against the code: it is a valid document,
it describes exactly the routes the app registers, the app serves it, and a property-based fuzz of every
operation (schemathesis, valid and invalid inputs) over the local host finds no 5xx, only documented
status codes and content types, and a JSON reason on every 4xx."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from openapi_spec_validator import validate
from schemathesis import GenerationMode
from schemathesis.checks import content_type_conformance, not_a_server_error, status_code_conformance

from devhost.index import index_app
from shared.api import openapi_document
from tests.devhost_process import running_devhost
from tests.scan_world import RULES_YAML, devhost_env
from tests.test_function_app import HOST_SETTINGS, KEY

WEBHOOK_SECRET = "fuzz-webhook-secret"
CLIENT_STATE = "fuzz-client-state"
# Per operation and generation mode. Derandomized: the same inputs on every run, so a failure in CI is
# one that reproduces here, not a chance find (a flaky suite keeps everyone's work from landing).
EXAMPLES = 50


def test_the_document_is_valid_openapi_3_1() -> None:
    doc = openapi_document()
    assert doc["openapi"].startswith("3.1")
    validate(doc)  # raises on any violation of the OpenAPI 3.1 schema


def test_every_registered_route_is_documented_and_nothing_else() -> None:
    import function_app

    registered = {(f"/{f.route}", method.lower(), f.auth_level)
                  for f in index_app(function_app.app, HOST_SETTINGS) if f.route is not None for method in f.methods}
    documented = {(path, method, "function" if op.get("security") == [{"functionKey": []}, {"functionKeyQuery": []}]
                   else "anonymous")
                  for path, item in openapi_document()["paths"].items() for method, op in item.items()}
    assert documented == registered


def test_every_failure_answer_is_documented_as_json_with_a_reason() -> None:
    """A 4xx/5xx documented without a JSON Error body would let the fuzz accept a bare answer."""
    doc = openapi_document()
    for path, item in doc["paths"].items():
        for method, op in item.items():
            for status, answer in op["responses"].items():
                if status == "401" and "$ref" in answer:
                    continue  # the platform's own 401 for a missing function key: no body, as in Azure
                if int(status) >= 400:
                    ref = answer.get("$ref", "").rsplit("/", 1)[-1]
                    answer = doc["components"]["responses"].get(ref, answer)
                    schema = answer["content"]["application/json"]["schema"]
                    assert schema in ({"$ref": "#/components/schemas/Error"}, {"type": "object"}), (path, method, status)


@pytest.fixture
def fuzz_host(plytix_sandbox: Any, graph_sandbox: Any, azurite: str, table_prefix: str,
              tmp_path: Path) -> Iterator[str]:
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES_YAML)
    env = devhost_env(plytix_sandbox.url, graph_sandbox.url, azurite, table_prefix, rules, **HOST_SETTINGS,
                      ENVIRONMENT_NAME="fuzz-test", DEVHOST_FUNCTION_KEY=KEY, PLYTIX_WEBHOOK_SECRET=WEBHOOK_SECRET,
                      PLANNER_NOTIFICATION_CLIENT_STATE=CLIENT_STATE)
    with running_devhost(env, tmp_path) as devhost:
        yield devhost.base
    output = devhost.output()
    assert WEBHOOK_SECRET not in output and CLIENT_STATE not in output, "secrets in the host log"


def test_the_app_serves_the_document(fuzz_host: str) -> None:
    answer = httpx.get(f"{fuzz_host}/openapi.json", timeout=30)
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("application/json")
    assert answer.json() == openapi_document()


# What a legitimate caller sends: the function key and the webhook secret. The fuzz is about the input,
# not the key check (tests/test_function_app.py and tests/test_channel_webhook.py cover that).
CREDENTIALS = {"x-functions-key": KEY, "X-Plytix-Webhook-Secret": WEBHOOK_SECRET}


def test_fuzz_every_operation_finds_no_5xx_and_only_json_errors(fuzz_host: str) -> None:
    schema = schemathesis.openapi.from_dict(openapi_document())
    failures: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        raw = operation.definition.raw
        # An operation that takes no input (the document itself) has nothing to make invalid.
        modes = list(GenerationMode) if raw.get("parameters") or raw.get("requestBody") else [GenerationMode.POSITIVE]
        for mode in modes:
            @settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None,
                      suppress_health_check=list(HealthCheck))
            @given(case=operation.as_strategy(generation_mode=mode))
            def fuzz(case: schemathesis.Case) -> None:
                response = case.call(base_url=fuzz_host, headers=CREDENTIALS, timeout=120)
                case.validate_response(response, checks=[not_a_server_error, status_code_conformance,
                                                         content_type_conformance])
                if response.status_code >= 400 and response.status_code != 401:
                    assert isinstance(response.json().get("error"), str), response.text

            try:
                fuzz()
            except Exception as exc:  # noqa: BLE001 - collect every operation's failure, then report all
                failures.append(f"{operation.label} ({mode.value}): {exc}")
    assert not failures, "\n\n".join(failures)
