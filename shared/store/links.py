"""Links: one row per finding, fingerprint -> Planner task. The heart of idempotent task creation.

DESIGN.md's protocol: claim (create_entity in state `pending`; a second claimant gets AlreadyClaimed),
create the task in Graph, commit (save with the claim's ETag, state `open`). Every later change is a
conditional REPLACE, so two workers can never both act on one finding without one of them noticing.

PartitionKey = escaped rule id (list_rule reads one partition), RowKey = fingerprint (validated, used
verbatim: fingerprints are hashes we mint).

A claim carries a random `claim_token`. Why: if the network drops the answer to our create_entity and the
SDK's retry re-sends it, the retry meets our own row (409). Comparing tokens tells "my claim landed" from
"someone else claimed first", so a lost response never makes us abandon a finding we own.
"""

from __future__ import annotations

import dataclasses
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Any, Iterator, Optional

from azure.core.exceptions import ResourceExistsError
from azure.data.tables import TableEntity

from shared.store.entity import build_entity, read_datetime, read_etag, read_json, read_str, utc_now
from shared.store.errors import AlreadyClaimed, ConcurrentUpdate, InvalidValue
from shared.store.keys import key_for, unescape_key, validate_key
from shared.store.table import StoreTable

_CLAIM_ATTEMPTS = 3


class LinkState(str, Enum):
    pending = "pending"  # claimed, task not (known to be) created yet
    open = "open"  # task exists in Planner and is not complete
    completed = "completed"  # a person completed the task; write-back due or done
    closed = "closed"  # we closed the task because the finding went away
    deleted = "deleted"  # a person deleted the task in Planner
    suppressed = "suppressed"  # a gap present when the rule was first enabled with SKIP_BACKFILL: no task


@dataclass
class Link:
    rule_id: str
    fingerprint: str
    state: LinkState
    product_id: Optional[str] = None
    scope: str = ""
    task_id: Optional[str] = None
    plan_id: Optional[str] = None
    bucket_id: Optional[str] = None
    title: str = ""
    task_etag: Optional[str] = None
    details_etag: Optional[str] = None
    claimed_at: Optional[datetime] = None
    updated_at: Optional[datetime] = None
    completed_at: Optional[datetime] = None
    closed_at: Optional[datetime] = None
    data: dict[str, Any] = field(default_factory=dict)  # JSON: checklist keys, missing attributes, group ids
    etag: Optional[str] = None  # the table row's ETag
    claim_token: Optional[str] = None  # set by claim(); see the module docstring


_TABLE_FIELDS = ("state", "product_id", "scope", "task_id", "plan_id", "bucket_id", "title", "task_etag",
                 "details_etag", "claimed_at", "updated_at", "completed_at", "closed_at", "data",
                 "claim_token")


class LinkStore:
    """Claim, read, conditionally update and list links."""

    def __init__(self, table: StoreTable):
        self._table = table

    def claim(self, link: Link) -> Link:
        """Create the row (normally state pending); AlreadyClaimed(existing) if someone else has it.

        Fills claimed_at/updated_at (now) and claim_token when unset. Returns the stored link with its ETag.
        """
        now = utc_now()
        link = dataclasses.replace(link, claimed_at=link.claimed_at or now, updated_at=now,
                                   claim_token=link.claim_token or uuid.uuid4().hex)
        entity = self._entity(link)
        for _ in range(_CLAIM_ATTEMPTS):
            try:
                return dataclasses.replace(link, etag=self._table.create(entity))
            except ResourceExistsError:
                existing = self.get(link.rule_id, link.fingerprint)
            if existing is None:
                continue  # deleted between our insert and our read: try the claim again
            if existing.claim_token == link.claim_token:
                return existing  # our own insert, re-sent by a retry after its response was lost
            raise AlreadyClaimed(existing, f"finding {link.fingerprint!r} of rule {link.rule_id!r} is already "
                                           f"claimed (state {existing.state.value})")
        raise ConcurrentUpdate(f"link {link.rule_id!r}/{link.fingerprint!r} kept appearing and vanishing")

    def get(self, rule_id: str, fingerprint: str) -> Optional[Link]:
        entity = self._table.get(key_for(rule_id, "rule_id"), validate_key(fingerprint, "fingerprint"))
        return None if entity is None else _link_from(entity)

    def save(self, link: Link) -> Link:
        """REPLACE the row if nobody wrote since `link.etag`; else ConcurrentUpdate. Sets updated_at.

        Returns a new Link carrying the new ETag; the argument is left untouched (and is now stale).
        """
        etag = link.etag
        if not etag:
            raise InvalidValue("save() needs the link's etag (from claim() or get()); create rows with claim()")
        link = dataclasses.replace(link, updated_at=utc_now())
        return dataclasses.replace(link, etag=self._table.replace(self._entity(link), etag))

    def delete(self, link: Link) -> None:
        """Delete the row if nobody wrote since `link.etag` (ConcurrentUpdate otherwise)."""
        if not link.etag:
            raise InvalidValue("delete() needs the link's etag (from claim() or get())")
        self._table.delete(key_for(link.rule_id, "rule_id"), validate_key(link.fingerprint, "fingerprint"),
                           etag=link.etag)

    def list_rule(self, rule_id: str, states: Optional[set[LinkState]] = None) -> Iterator[Link]:
        """Stream one rule's links, optionally only those in `states` (filtered by the service)."""
        if states is not None and not states:
            return
        parameters: dict[str, Any] = {"pk": key_for(rule_id, "rule_id")}
        query = " and ".join(["PartitionKey eq @pk", *_state_filter(states, parameters)])
        yield from (_link_from(e) for e in self._table.query(query, parameters))

    def list_all(self, states: Optional[set[LinkState]] = None) -> Iterator[Link]:
        """Stream every link of every rule (full reconcile, admin views), optionally only those in `states`
        (filtered by the service: the dashboard's open tasks do not read every closed row)."""
        if states is not None and not states:
            return
        parameters: dict[str, Any] = {}
        query = " and ".join(_state_filter(states, parameters)) or None
        yield from (_link_from(e) for e in self._table.query(query, parameters or None))

    def _entity(self, link: Link) -> dict[str, Any]:
        return build_entity(self._table.name, key_for(link.rule_id, "rule_id"),
                            validate_key(link.fingerprint, "fingerprint"),
                            {name: getattr(link, name) for name in _TABLE_FIELDS})


def _state_filter(states: Optional[set[LinkState]], parameters: dict[str, Any]) -> list[str]:
    """The OData clause "( state eq @s0 or ... )" for `states` (none when None), its values added to
    `parameters`. Spaces around @params: see StoreTable.query."""
    if not states:
        return []
    names = []
    for i, state in enumerate(sorted(LinkState(s).value for s in states)):
        parameters[f"s{i}"] = state
        names.append(f"state eq @s{i}")
    return ["( " + " or ".join(names) + " )"]


def _link_from(entity: TableEntity) -> Link:
    return Link(
        rule_id=unescape_key(entity["PartitionKey"]),
        fingerprint=entity["RowKey"],
        state=LinkState(entity["state"]),
        product_id=read_str(entity, "product_id"),
        scope=read_str(entity, "scope") or "",
        task_id=read_str(entity, "task_id"),
        plan_id=read_str(entity, "plan_id"),
        bucket_id=read_str(entity, "bucket_id"),
        title=read_str(entity, "title") or "",
        task_etag=read_str(entity, "task_etag"),
        details_etag=read_str(entity, "details_etag"),
        claimed_at=read_datetime(entity, "claimed_at"),
        updated_at=read_datetime(entity, "updated_at"),
        completed_at=read_datetime(entity, "completed_at"),
        closed_at=read_datetime(entity, "closed_at"),
        data=read_json(entity, "data", {}),
        etag=read_etag(entity),
        claim_token=read_str(entity, "claim_token"),
    )
