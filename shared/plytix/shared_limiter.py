"""One Plytix rate limit shared by every instance and process of the app, kept in Table Storage.

Why: the limiter in ratelimit.py spaces the calls of one process. Azure runs several instances (up to
`maximumInstanceCount`), and a scan worker, the timers and the watcher may call Plytix at the same time;
they all draw on ONE account limit (Plytix counts per account), so per-process spacing lets them together
run into 429s, each of which closes the window for everyone (issue 12). With `PLYTIX_SHARED_RATE_LIMIT`
on, every caller books its slot in one row of the `cursors` table instead, with optimistic concurrency:
read the row and its ETag, compute the earliest slot every window allows, write the row back only if no
one else wrote it meanwhile (If-Match), else read again. The wait itself happens in the caller's process,
outside any lock.

The row holds the booked slot times of the short windows (at most `limit` per window: 20 at the free
plan) and, for the hourly window, booked calls per minute (an hour of single slots would not fit in a
row's 64 KiB property). The minute counts make the hourly window slightly stricter than the server's,
never looser. Times are wall-clock seconds (instances compare them; Azure keeps hosts NTP-synchronised).

Cost: two Table requests per Plytix call (read, conditional write), more under contention. It is off by
default: one instance with the per-process limiter needs none.
"""

from __future__ import annotations

import json
import math
import time
from typing import Any, Callable, Optional, Sequence

from azure.core.exceptions import ResourceExistsError
from azure.data.tables import TableEntity

from shared.plytix.ratelimit import WindowUsage, check_windows, wait_for_slot
from shared.store.errors import ConcurrentUpdate
from shared.store.table import StoreTable

PARTITION = "plytix-rate-limit"
ROW = "account"
HOURLY_SECONDS = 3600.0
MAX_ATTEMPTS = 50  # conditional writes lost to other instances before giving up on one booking


class SharedRateLimiter:
    """The per-process RateLimiter's interface (reserve, acquire, hold, usage) over one Table row."""

    def __init__(self, table: StoreTable, limits: Sequence[tuple[int, float]], *, margin: float = 0.0,
                 clock: Callable[[], float] = time.time, sleep: Callable[[float], None] = time.sleep) -> None:
        check_windows(limits, margin)
        self._short = [(limit, seconds + margin) for limit, seconds in limits if seconds < HOURLY_SECONDS]
        self._hourly = [(limit, seconds + margin) for limit, seconds in limits if seconds >= HOURLY_SECONDS]
        self._nominal = list(limits)
        self._table, self._clock, self._sleep = table, clock, sleep

    def reserve(self, max_wait: float = float("inf")) -> float:
        """Book the next slot every window allows; return the seconds until it. When the wait would exceed
        `max_wait`, nothing is booked and the wait is returned all the same."""
        def book(state: _State, now: float) -> tuple[float, bool]:
            slot = self._earliest(state, now)
            if slot - now > max_wait:
                return slot - now, False
            state.book(slot, now, self._keep_seconds())
            return slot - now, True

        return self._update(book)

    def acquire(self, max_wait: float = float("inf")) -> float:
        """Wait until a call is allowed; return the seconds waited (WaitTooLong past `max_wait`)."""
        return wait_for_slot(self.reserve, self._sleep, max_wait)

    def hold(self, seconds: float) -> None:
        """The server says its window is full for `seconds` more: no instance starts a call before then."""
        def extend(state: _State, now: float) -> tuple[float, bool]:
            state.hold_until = max(state.hold_until, now + max(0.0, seconds))
            return 0.0, True

        self._update(extend)

    def usage(self) -> list[WindowUsage]:
        """Calls booked by every instance in each window right now (one Table read)."""
        state = _State.read(self._table.get(PARTITION, ROW))
        now = self._clock()
        return [WindowUsage(limit=limit, seconds=seconds, used=state.used(now, seconds, seconds >= HOURLY_SECONDS))
                for limit, seconds in self._nominal]

    def _earliest(self, state: _State, now: float) -> float:
        slot = max(now, state.hold_until, state.last_slot)
        for limit, seconds in self._short:
            recent = sorted(s for s in state.slots if s > now - seconds)
            if len(recent) >= limit:
                slot = max(slot, recent[-limit] + seconds)  # the limit-th latest call must leave the window
        for limit, seconds in self._hourly:
            minutes = sorted(m for m in state.minutes if (m + 1) * 60 > now - seconds)
            booked = [state.minutes[m] for m in minutes]
            while minutes and sum(booked) >= limit:  # wait until the oldest counted minute leaves the window
                slot = max(slot, (minutes.pop(0) + 1) * 60 + seconds)
                booked.pop(0)
        return slot

    def _keep_seconds(self) -> float:
        return max((seconds for _, seconds in self._short), default=0.0)

    def _update(self, change: Callable[[_State, float], tuple[float, bool]]) -> float:
        """Read the row, let `change` edit its state at the current time, write it back only if no one
        wrote it meanwhile, and read again if someone did. `change` returns (its result, whether to
        write): a booking too far off writes nothing."""
        for _ in range(MAX_ATTEMPTS):
            entity = self._table.get(PARTITION, ROW)
            state = _State.read(entity)
            result, write = change(state, self._clock())
            if not write or self._write(state, entity):
                return result
        raise ConcurrentUpdate(f"the shared Plytix rate-limit row lost {MAX_ATTEMPTS} writes in a row")

    def _write(self, state: _State, entity: Optional[TableEntity]) -> bool:
        """Write the row if no one wrote it since `entity` was read; False if someone did."""
        row = {"PartitionKey": PARTITION, "RowKey": ROW, "State": state.dump()}
        try:
            if entity is None:
                self._table.create(row)
            else:
                self._table.replace(row, str(entity.metadata["etag"]))
            return True
        except (ResourceExistsError, ConcurrentUpdate):
            return False


class _State:
    """The row's content: booked slots (short windows), booked calls per minute (hourly), the hold."""

    def __init__(self, slots: list[float], minutes: dict[int, int], hold_until: float) -> None:
        self.slots, self.minutes, self.hold_until = slots, minutes, hold_until

    @classmethod
    def read(cls, entity: Optional[Any]) -> _State:
        if entity is None:
            return cls([], {}, 0.0)
        data = json.loads(entity["State"])
        return cls([float(s) for s in data["slots"]], {int(m): int(c) for m, c in data["minutes"].items()},
                   float(data["hold_until"]))

    @property
    def last_slot(self) -> float:
        return max(self.slots, default=0.0)

    def book(self, slot: float, now: float, keep_seconds: float) -> None:
        """Add the slot; forget what no window can count any more."""
        self.slots = [s for s in self.slots if s > now - keep_seconds] + [slot]
        minute = math.floor(slot / 60)
        oldest = math.floor((now - 2 * HOURLY_SECONDS) / 60)
        self.minutes = {m: c for m, c in self.minutes.items() if m > oldest}
        self.minutes[minute] = self.minutes.get(minute, 0) + 1

    def used(self, now: float, seconds: float, hourly: bool) -> int:
        if hourly:
            return sum(c for m, c in self.minutes.items() if (m + 1) * 60 > now - seconds and m * 60 <= now)
        return sum(1 for s in self.slots if now - seconds < s <= now)

    def dump(self) -> str:
        return json.dumps({"slots": self.slots, "minutes": {str(m): c for m, c in self.minutes.items()},
                           "hold_until": self.hold_until})
