"""All configuration, read once from app settings (environment variables) and validated.

Why one place: Azure Functions hands configuration to the worker as environment variables (app settings,
Key Vault references resolved by the platform). Parsing them here, once, means a missing or malformed
setting fails with one message that names it, instead of a KeyError deep inside a scan. The infra tests
read `Settings.model_fields` to check that the Bicep template sets every one of them.

Secrets are `SecretStr`: their repr is '**********', so logging a Settings object never leaks them.
"""

from __future__ import annotations

import os
import re
from enum import Enum
from functools import lru_cache
from typing import Mapping, Optional

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

# Table names: 3-63 alphanumeric characters, starting with a letter; the prefix leaves room for the
# longest suffix we append ("taskindex").
_TABLE_PREFIX = re.compile(r"^[A-Za-z][A-Za-z0-9]{0,40}$")
# Queue names: 3-63 lower-case letters, digits and single hyphens; the prefix leaves room for the longest
# "-<name>-poison" we append (Microsoft Learn, "Naming queues and metadata").
_QUEUE_PREFIX = re.compile(r"^[a-z0-9][a-z0-9]{0,39}$")
_NAME_PREFIXES = {
    "TABLE_PREFIX": (_TABLE_PREFIX, "a letter followed by up to 40 letters or digits"),
    "QUEUE_PREFIX": (_QUEUE_PREFIX, "a lower-case letter or digit followed by up to 39 lower-case letters or digits"),
}


class GraphAuthMode(str, Enum):
    """How the app gets Graph tokens."""

    managed_identity = "managed_identity"  # the function app's own identity: no secret exists at all
    client_secret = "client_secret"  # app registration + secret (kept in Key Vault)
    development = "development"  # fixed token accepted only by the local sandbox


class ReopenPolicy(str, Enum):
    """What to do when a finding is still there after a person completed its task."""

    reopen = "reopen"
    new_task = "new_task"
    leave = "leave"


class PlannerDelta(str, Enum):
    """How the completion watcher reads plans: the v1.0 listing (`off`) or the beta delta query (`beta`)."""

    off = "off"
    beta = "beta"


class SettingsError(ValueError):
    """Configuration is missing or malformed; the message names every offending setting."""


class Settings(BaseModel):
    """Every app setting the code reads. Names are the environment variable names."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    ENVIRONMENT_NAME: str = Field("dev", min_length=1, max_length=40,
                                  description="Goes into every finding fingerprint, so two environments "
                                              "sharing a plan never adopt each other's tasks.")
    RULES_FILE: str = Field("rules.yaml", description="Path of the YAML rules file (relative to the app root).")

    # --- Plytix ---
    PLYTIX_API_KEY: SecretStr = Field(description="Plytix API key (Key Vault reference in Azure).")
    PLYTIX_API_PASSWORD: SecretStr = Field(description="Plytix API password (Key Vault reference in Azure).")
    PLYTIX_BASE_URL: str = Field("https://pim.plytix.com", description="Plytix API root, no trailing slash.")
    PLYTIX_AUTH_URL: str = Field("https://auth.plytix.com", description="Plytix auth root, no trailing slash.")
    PLYTIX_RATE_PER_10S: int = Field(20, ge=1, le=1000, description="Client-side cap per 10 seconds.")
    PLYTIX_RATE_PER_HOUR: int = Field(2000, ge=1, le=1_000_000, description="Client-side cap per hour.")
    PLYTIX_RATE_MARGIN_SECONDS: float = Field(0.5, ge=0, le=10, description="Each rate window is treated as "
                                              "this much longer, for the time between a call's slot and its "
                                              "arrival at Plytix.")
    PLYTIX_SHARED_RATE_LIMIT: bool = Field(False, description="Book every Plytix call in one Table Storage row "
                                           "so all instances and processes share the account's limit "
                                           "(2 storage requests per call).")
    PLYTIX_TIMEOUT_SECONDS: float = Field(30.0, gt=0, le=300)
    PLYTIX_PRODUCT_URL_TEMPLATE: str = Field(
        "https://app.plytix.com/products/{product_id}",
        description="Link to a product in the Plytix UI, put on every task as a reference.")

    # --- Microsoft Graph / Planner ---
    # The task URL as the new Planner shows it in the browser; tasks.office.com links redirect there.
    PLANNER_TASK_URL_TEMPLATE: str = Field(
        "https://planner.cloud.microsoft/webui/plan/{plan_id}/view/board/task/{task_id}",
        description="Link to a task in Planner on the project report ({plan_id}, {task_id}).")
    GRAPH_BASE_URL: str = Field("https://graph.microsoft.com/v1.0", description="Graph v1.0 root.")
    GRAPH_AUTH_MODE: GraphAuthMode = Field(GraphAuthMode.managed_identity)
    GRAPH_TENANT_ID: Optional[str] = Field(None, description="Entra tenant id (client_secret mode).")
    GRAPH_CLIENT_ID: Optional[str] = Field(None, description="App registration id (client_secret mode) or "
                                                             "user-assigned identity client id.")
    GRAPH_CLIENT_SECRET: Optional[SecretStr] = Field(None, description="client_secret mode only.")
    GRAPH_TIMEOUT_SECONDS: float = Field(30.0, gt=0, le=300)
    # Planner work of a pass runs this many actions at once (shared/reconcile/parallel.py). Graph's
    # Planner limits are per app and tenant, and 429s are honoured per request; 8 keeps a pass of 500
    # creates under a fifth of its sequential time at 100 ms per call (bench.concurrent_creates).
    GRAPH_CONCURRENCY: int = Field(8, ge=1, le=32, description="Planner actions a pass runs at once.")

    # --- Storage ---
    STORAGE_CONNECTION_STRING: Optional[SecretStr] = Field(
        None, description="Connection string (Azurite: UseDevelopmentStorage=true). Either this or "
                          "STORAGE_TABLE_ENDPOINT.")
    STORAGE_TABLE_ENDPOINT: Optional[str] = Field(
        None, description="https://<account>.table.core.windows.net, used with the managed identity.")
    STORAGE_QUEUE_ENDPOINT: Optional[str] = Field(
        None, description="https://<account>.queue.core.windows.net, used with the managed identity when "
                          "STORAGE_CONNECTION_STRING is not set (health reads the poison queues through it).")
    TABLE_PREFIX: str = Field("pp", description="Prefix of every table name, so environments can share an account.")
    QUEUE_PREFIX: str = Field("pp", description="Prefix of every queue name (<prefix>-scans, ...); the queue "
                                                "bindings read it as %QUEUE_PREFIX%.")

    # --- Schedules (NCRONTAB, 6 fields; the timer bindings read them as %SETTING%) ---
    FULL_SWEEP_SCHEDULE: str = Field("0 0 2 * * *", description="Full catalog sweep.")
    INCREMENTAL_SCHEDULE: str = Field("0 */5 * * * *", description="Pass over recently modified products.")
    INCREMENTAL_OVERLAP_SECONDS: int = Field(300, ge=0, le=86_400,
                                             description="The incremental pass re-reads this far before its "
                                                         "watermark (clock skew, writes racing a pass).")

    SWEEP_SEGMENT_PRODUCTS: int = Field(
        0, ge=0, le=100_000, description="0: a full sweep runs in one invocation; N: in windows of about N "
                                         "products by `created`, checkpointed, resumed by later invocations.")
    SWEEP_BUDGET_SECONDS: int = Field(240, ge=10, le=3600, description="How long one invocation works on a "
                                                                     "segmented sweep before leaving the rest.")
    COMPLETION_SCHEDULE: str = Field("0 */1 * * * *", description="The completion watcher (job 4).")

    # --- Write-back (job 4) ---
    WRITEBACK_MAX_ATTEMPTS: int = Field(5, ge=1, le=100, description="Failed Plytix writes before an outbox row "
                                                                     "is parked as failed (poison).")
    PLANNER_DELTA: PlannerDelta = Field(PlannerDelta.off, description="`beta`: the watcher reads each plan "
                                        "with Graph's beta delta query (falling back to the v1.0 listing on "
                                        "any failure of it); `off`: the v1.0 listing only.")
    PLANNER_NOTIFICATION_CLIENT_STATE: Optional[SecretStr] = Field(
        None, description="The clientState every notification to POST /api/planner/notifications must carry "
                          "(Key Vault reference in Azure). Unset: notifications get 503.")

    # --- Reconciliation behaviour ---
    MAX_TASKS_PER_RUN: int = Field(200, ge=0, le=100_000, description="Cap on tasks created per scan.")
    GROUP_THRESHOLD: int = Field(25, ge=2, le=10_000,
                                 description="Above this many new findings for one rule and family in one "
                                             "scan, create one grouped task instead.")
    PLAN_CAPACITY_MARGIN: int = Field(100, ge=0, le=2000,
                                      description="Individual tasks stop this many below Planner's ~2,400 "
                                                  "active tasks per plan; digests may use the margin.")
    SKIP_BACKFILL: bool = Field(False, description="On a rule's first scan, record findings without "
                                                   "creating tasks (no flood on first enablement).")
    REOPEN_POLICY: ReopenPolicy = Field(ReopenPolicy.reopen, description="Default for rules that set none.")
    HEALTH_CACHE_SECONDS: float = Field(60.0, ge=0, le=3600,
                                        description="How long /api/health reuses its upstream checks.")
    DELETED_TASK_COOLDOWN_DAYS: int = Field(7, ge=0, le=3650,
                                            description="A task a person deleted is not recreated before this.")
    CLAIM_TIMEOUT_SECONDS: int = Field(300, ge=60, le=86_400,
                                       description="A `pending` claim older than this is taken over by the next "
                                                   "pass (its creator is presumed dead). Must exceed the longest "
                                                   "create: a POST plus its details write, with retries.")

    # --- Channel webhook and feed checks (job 5) ---
    PLYTIX_WEBHOOK_SECRET: Optional[SecretStr] = Field(
        None, description="Shared secret Plytix sends in PLYTIX_WEBHOOK_HEADER on channel webhooks (Key Vault "
                          "reference in Azure). Unset: every delivery is refused with 401.")
    PLYTIX_WEBHOOK_HEADER: str = Field("X-Plytix-Webhook-Secret", min_length=1, max_length=100,
                                       pattern=r"^[A-Za-z0-9-]+$",
                                       description="Name of the custom header carrying the secret.")
    CHANNEL_FEED_ALLOWED_HOSTS: str = Field(
        "pim.plytix.com", description="Comma-separated hosts a feed_url may point at (`*.example.com` allows "
                                      "subdomains): the SSRF guard.")
    CHANNEL_FEED_MAX_BYTES: int = Field(200 * 1024 * 1024, ge=1024, le=4 * 1024**3,
                                        description="A feed larger than this is refused.")
    CHANNEL_FEED_TIMEOUT_SECONDS: float = Field(120.0, gt=0, le=3600,
                                                description="The whole feed download must finish within this.")
    CHANNEL_WEBHOOK_DEDUP_SECONDS: int = Field(900, ge=0, le=86_400,
                                               description="Identical deliveries lead to one feed check while "
                                                           "it is queued or running; a claim older than this "
                                                           "(its check died) is taken over.")

    @field_validator("PLYTIX_WEBHOOK_SECRET", "PLANNER_NOTIFICATION_CLIENT_STATE")
    @classmethod
    def _resolved_secret(cls, value: Optional[SecretStr]) -> Optional[SecretStr]:
        # An unresolvable Key Vault reference reaches the app as its own text (e.g. the secret was never
        # set); a webhook must not accept that public-looking string as the secret.
        if value is not None and value.get_secret_value().startswith("@Microsoft.KeyVault("):
            return None
        return value

    def channel_feed_hosts(self) -> list[str]:
        return [host.strip().lower() for host in self.CHANNEL_FEED_ALLOWED_HOSTS.split(",") if host.strip()]

    @field_validator("PLYTIX_BASE_URL", "PLYTIX_AUTH_URL", "GRAPH_BASE_URL")
    @classmethod
    def _no_trailing_slash(cls, value: str) -> str:
        # A trailing slash makes Plytix redirect and drop the Authorization header (API_FACTS.md).
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")

    @field_validator("TABLE_PREFIX", "QUEUE_PREFIX")
    @classmethod
    def _name_prefix(cls, value: str, info: ValidationInfo) -> str:
        pattern, rule = _NAME_PREFIXES[info.field_name or ""]
        if not pattern.match(value):
            raise ValueError(f"must be {rule}")
        return value

    @field_validator("PLYTIX_PRODUCT_URL_TEMPLATE")
    @classmethod
    def _url_template(cls, value: str) -> str:
        if "{product_id}" not in value:
            raise ValueError("must contain {product_id}")
        return value

    @field_validator("PLANNER_TASK_URL_TEMPLATE")
    @classmethod
    def _task_url_template(cls, value: str) -> str:
        if "{task_id}" not in value:
            raise ValueError("must contain {task_id}")
        try:
            value.format(plan_id="p", task_id="t")
        except (KeyError, IndexError, ValueError) as exc:
            raise ValueError("may use only {plan_id} and {task_id}") from exc
        return value

    def product_url(self, product_id: str) -> str:
        """A product's page in the Plytix UI (PLYTIX_PRODUCT_URL_TEMPLATE)."""
        return self.PLYTIX_PRODUCT_URL_TEMPLATE.format(product_id=product_id)

    def task_url(self, plan_id: str, task_id: str) -> str:
        """A task in Planner's web app (PLANNER_TASK_URL_TEMPLATE)."""
        return self.PLANNER_TASK_URL_TEMPLATE.format(plan_id=plan_id, task_id=task_id)

    @model_validator(mode="after")
    def _consistent(self) -> "Settings":
        if self.STORAGE_CONNECTION_STRING is None and self.STORAGE_TABLE_ENDPOINT is None:
            raise ValueError("set STORAGE_CONNECTION_STRING or STORAGE_TABLE_ENDPOINT")
        if self.GRAPH_AUTH_MODE is GraphAuthMode.client_secret:
            missing = [n for n in ("GRAPH_TENANT_ID", "GRAPH_CLIENT_ID", "GRAPH_CLIENT_SECRET")
                       if getattr(self, n) in (None, "")]
            if missing:
                raise ValueError(f"GRAPH_AUTH_MODE=client_secret needs {', '.join(missing)}")
        return self


def load_settings(environ: Optional[Mapping[str, str]] = None) -> Settings:
    """Parse settings from `environ` (default: os.environ); raise SettingsError naming each bad one.

    The message lists setting names and what is wrong, never the offending values (they may be secrets).
    """
    source = dict(os.environ if environ is None else environ)
    known = {k: v for k, v in source.items() if k in Settings.model_fields}
    try:
        return Settings.model_validate(known)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            name = ".".join(str(p) for p in err["loc"]) or "settings"
            problems.append(f"{name}: {'missing' if err['type'] == 'missing' else err['msg']}")
        raise SettingsError("invalid app settings: " + "; ".join(problems)) from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, parsed on first use (not at import, so indexing never fails)."""
    return load_settings()
