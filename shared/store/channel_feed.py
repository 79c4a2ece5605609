"""What the last check of a channel's published feed found wrong, per product (job 5).

Why stored: the feed is checked when Plytix says the channel was processed, but tasks are reconciled on
every pass. The `channel_requirements` rule reads these rows so that a scheduled pass keeps a feed
problem's checklist item open (and the task with it) until the next feed check finds the row fixed.
Only problems are stored, so the table grows with what is wrong, not with the catalog.

PartitionKey = escaped "<rule id>.<channel>", RowKey = escaped product id.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

from shared.store.entity import build_entity, read_json, read_str
from shared.store.keys import escape_key, key_for, unescape_key
from shared.store.table import StoreTable


@dataclass(frozen=True)
class FeedProblemRow:
    product_id: str
    sku: str
    problems: dict[str, str]  # feed requirement key ("feed:title") -> what the feed check saw


class ChannelFeedStore:
    """Per rule and channel: the products whose published feed row failed, and why."""

    def __init__(self, table: StoreTable):
        self._table = table

    @staticmethod
    def _partition(rule_id: str, channel: str) -> str:
        return key_for(f"{rule_id}.{channel}", "rule and channel")

    def list(self, rule_id: str, channel: str) -> Iterator[FeedProblemRow]:
        for entity in self._table.query("PartitionKey eq @pk", {"pk": self._partition(rule_id, channel)}):
            yield FeedProblemRow(product_id=unescape_key(entity["RowKey"]), sku=read_str(entity, "sku") or "",
                                 problems=read_json(entity, "problems", {}))

    def save(self, rule_id: str, channel: str, row: FeedProblemRow) -> None:
        """Record (or replace) a product's problems: last check wins, which is what a re-check means."""
        self._table.upsert(build_entity(self._table.name, self._partition(rule_id, channel),
                                        escape_key(row.product_id), {"sku": row.sku, "problems": row.problems}))

    def delete(self, rule_id: str, channel: str, product_id: str) -> None:
        self._table.delete(self._partition(rule_id, channel), escape_key(product_id))
