"""A world for write-back tests: the reconcile world's sandboxes and Azurite, with a rules file whose rule
moves a product from `approved` on to the next stage when a person completes its task."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from sandbox.graph_state import PRODUCT_DATA_PLAN_ID
from shared.completion_watcher import WatcherDeps
from shared.planner import PlannerClient
from shared.plytix import PlytixClient
from shared.rules import load_rules
from shared.scan import ScanDeps, run_full_scan
from shared.store import Link, LinkState
from shared.writeback import Outbox
from tests.scan_world import build_deps, world_settings

RULE_ID = "final-review"
PERSON = "content.editor@contoso.example"
STAGES = ["draft", "enrichment", "approved", "ready_for_syndication", "published"]

WRITEBACK_RULES = f"""\
version: 1
workflow_stages: [{", ".join(STAGES)}]
defaults:
  plan_id: {PRODUCT_DATA_PLAN_ID}
  bucket: Review
  owner: {PERSON}
rules:
  - id: {RULE_ID}
    type: required_attributes
    name: Final review
    select: {{stages: [approved], levels: [single, parent]}}
    require: [{{attribute: images, kind: media, min_count: 2}}]
    on_complete:
      stage: next
"""


@dataclass
class WritebackWorld:
    scan: ScanDeps
    plytix_url: str
    graph: Any  # the Graph sandbox's RunningServer
    plytix: Any  # the Plytix sandbox's RunningServer
    settings: Any

    def watcher(self, *, fresh_clients: bool = False, **changes: Any) -> WatcherDeps:
        """Watcher deps on the same store; `fresh_clients` stands for another function instance."""
        plytix, planner = self.scan.plytix, self.scan.planner
        if fresh_clients:
            plytix, planner = PlytixClient.from_settings(self.settings), PlannerClient.from_settings(self.settings)
        deps = WatcherDeps(settings=self.settings, rules_file=self.scan.rules_file, plytix=plytix, planner=planner,
                           stores=self.scan.stores, sleep=lambda seconds: None)
        for name, value in changes.items():
            setattr(deps, name, value)
        return deps

    @property
    def outbox(self) -> Outbox:
        return Outbox(self.scan.stores.table("writebacks"))

    def open_links(self) -> list[Link]:
        return sorted(self.scan.stores.links.list_rule(RULE_ID, {LinkState.open}), key=lambda link: link.fingerprint)

    def link(self, fingerprint: str) -> Link:
        found = self.scan.stores.links.get(RULE_ID, fingerprint)
        assert found is not None
        return found

    def stage(self, product_id: str) -> Optional[str]:
        return self.plytix.sandbox.product(product_id)["attributes"].get("workflow_stage")

    def stage_writes(self, product_id: str) -> list[dict[str, Any]]:
        """The API writes that changed the product's stage (the sandbox's own record)."""
        return [h for h in self.plytix.sandbox.history(product_id)
                if h["by"] == "api" and "attributes.workflow_stage" in h["changes"]]

    def complete(self, link: Link) -> None:
        self.graph.sandbox.complete_task(link.task_id, by=PERSON)

    def fail_patches(self, count: int, status: int = 500, **extra: Any) -> None:
        self.plytix.app.faults.add("plytix.patch_product", {"kind": "status", "status": status, "count": count,
                                                            **extra})


def writeback_world(world: dict, tmp_path: Path, rules_text: str = WRITEBACK_RULES) -> WritebackWorld:
    """Write the rules, build deps like production, and run one full sweep so tasks exist."""
    rules = tmp_path / "writeback_rules.yaml"
    rules.write_text(rules_text)
    base = world["settings"]
    settings = base.model_copy(update={"RULES_FILE": str(rules)})
    scan = build_deps(settings, stores=world["deps"].stores)
    assert load_rules(rules).workflow_stages == STAGES
    report = run_full_scan(scan)
    assert report.done.get("create", 0) >= 3, report.to_json()
    return WritebackWorld(scan=scan, plytix_url=world["plytix"].url, graph=world["graph"], plytix=world["plytix"],
                          settings=settings)


__all__ = ["PERSON", "RULE_ID", "STAGES", "WRITEBACK_RULES", "WritebackWorld", "world_settings", "writeback_world"]
