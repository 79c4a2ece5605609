"""Table Storage persistence: links, task index, snapshots, cursors, audit, the family cache and scan runs
(see tables.TableStores)."""

from shared.store.audit import AuditEntry, AuditStore
from shared.store.cursors import Cursor, CursorStore
from shared.store.errors import AlreadyClaimed, ConcurrentUpdate, EntityTooLarge, InvalidKey, InvalidValue, StoreError
from shared.store.families import FamilyCacheStore, FamilyEntry
from shared.store.journal import PassJournal
from shared.store.keys import escape_key, key_for, unescape_key, validate_key
from shared.store.links import Link, LinkState, LinkStore
from shared.store.runs import RunStatus, RunStore, ScanRun
from shared.store.snapshots import Snapshot, SnapshotStore, snapshot_partition
from shared.store.stats import StoreStats
from shared.store.tables import TableStores
from shared.store.taskindex import TaskIndex, TaskRef

__all__ = [
    "AlreadyClaimed", "AuditEntry", "AuditStore", "ConcurrentUpdate", "Cursor", "CursorStore", "EntityTooLarge",
    "FamilyCacheStore", "FamilyEntry", "InvalidKey", "InvalidValue", "Link", "LinkState", "LinkStore", "PassJournal",
    "RunStatus", "RunStore", "ScanRun", "Snapshot", "SnapshotStore", "StoreError",
    "StoreStats", "TableStores", "TaskIndex", "TaskRef", "escape_key", "key_for", "snapshot_partition",
    "unescape_key", "validate_key",
]
