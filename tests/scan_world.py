"""A complete local world for reconcile tests and the demo: settings pointing at the sandbox servers and
Azurite, a rules file naming the sandbox plan and users, and ScanDeps built exactly as production does
(shared.runtime's builders, from settings)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any, Optional

from sandbox.graph_state import PRODUCT_DATA_PLAN_ID
from sandbox.plytix import DEV_API_KEY, DEV_API_PASSWORD
from shared.planner import PlannerClient
from shared.plytix import PlytixClient
from shared.rules import build_rules, load_rules
from shared.scan import ScanDeps
from shared.settings import Settings, load_settings
from shared.store import TableStores

RULE_ID = "core-content"


def rules_yaml(rule_id: str, select: str, require: str) -> str:
    """A one-rule file on the sandbox plan and people; `select` and `require` are YAML flow values."""
    return f"""\
version: 1
defaults:
  plan_id: {PRODUCT_DATA_PLAN_ID}
  bucket: Missing data
  priority: important
  due_in_days: 5
  owner: content.editor@contoso.example
rules:
  - id: {rule_id}
    type: required_attributes
    name: Complete core content
    select: {select}
    require: {require}
"""


RULES_YAML = rules_yaml(RULE_ID, "{levels: [single, parent]}",
                        "[{attribute: description, kind: text, locales: [en, de, fr], label: Description}, "
                        "{attribute: images, kind: media, min_count: 1, label: Product images}, short_description]")


def world_settings(plytix_url: str, graph_url: str, storage: str, prefix: str, rules_file: Path,
                   **overrides: Any) -> Settings:
    values = {
        "ENVIRONMENT_NAME": "test", "RULES_FILE": str(rules_file),
        "PLYTIX_API_KEY": DEV_API_KEY, "PLYTIX_API_PASSWORD": DEV_API_PASSWORD,
        "PLYTIX_BASE_URL": plytix_url, "PLYTIX_AUTH_URL": plytix_url,
        "PLYTIX_RATE_PER_10S": "1000", "PLYTIX_RATE_PER_HOUR": "100000",
        "GRAPH_BASE_URL": f"{graph_url}/v1.0", "GRAPH_AUTH_MODE": "development",
        "STORAGE_CONNECTION_STRING": storage, "TABLE_PREFIX": prefix,
        "PLYTIX_PRODUCT_URL_TEMPLATE": "https://app.plytix.example/products/{product_id}",
    }
    values.update({k: str(v) for k, v in overrides.items()})
    return load_settings(values)


def build_deps(settings: Settings, *, claim_timeout: timedelta = timedelta(minutes=5),
               stores: Optional[TableStores] = None) -> ScanDeps:
    """ScanDeps with fresh clients (a second call stands for a second function instance)."""
    if stores is None:
        stores = TableStores.from_settings(settings)
        stores.ensure_tables()
    rules_file = load_rules(Path(settings.RULES_FILE))
    return ScanDeps(settings=settings, rules_file=rules_file, rules=build_rules(rules_file),
                    plytix=PlytixClient.from_settings(settings), planner=PlannerClient.from_settings(settings),
                    stores=stores, claim_timeout=claim_timeout)


def with_settings(deps: ScanDeps, **overrides: Any) -> ScanDeps:
    """The same world with some settings changed."""
    return replace(deps, settings=deps.settings.model_copy(update=overrides))


def devhost_env(plytix_url: str, graph_url: str, storage: str, prefix: str, rules_file: Path,
                **settings: str) -> dict[str, str]:
    """The environment of a `python -m devhost` process on the sandboxes and Azurite: this process's own,
    less anything naming real services, plus the app settings (tables and queues both under `prefix`)."""
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith(("PLYTIX_", "GRAPH_", "STORAGE_"))}
    env.update({
        "RULES_FILE": str(rules_file), "PLYTIX_API_KEY": DEV_API_KEY, "PLYTIX_API_PASSWORD": DEV_API_PASSWORD,
        "PLYTIX_BASE_URL": plytix_url, "PLYTIX_AUTH_URL": plytix_url, "PLYTIX_RATE_PER_10S": "1000",
        "GRAPH_BASE_URL": f"{graph_url}/v1.0", "GRAPH_AUTH_MODE": "development",
        "STORAGE_CONNECTION_STRING": storage, "AzureWebJobsStorage": storage,
        **settings, "TABLE_PREFIX": prefix, "QUEUE_PREFIX": prefix,
    })
    return env

