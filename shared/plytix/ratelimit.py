"""A client-side limiter for several sliding windows at once (Plytix: per 10 seconds AND per hour).

Why: Plytix answers 429 "on every call until the time interval expires" once either window is full
(Postman collection, "API Limits"), so running into the limit costs a whole window. Spacing our own calls
keeps one process under it. The limiter is per process: several function instances share ONE account
limit, so the server's 429 (handled by the client's backoff) stays the final word.

Thread-safe and fair: a caller reserves the earliest slot that every window allows, then sleeps outside
the lock, so concurrent callers queue in order instead of polling.

Why a margin: the server counts a call when it ARRIVES, in fixed windows that start at the first call
after the previous window ended; we count it when its slot begins. Between the two lie the token lookup,
thread scheduling and the network, and they vary from call to call: a call that waited exactly one window
after the call `limit` places before it can still arrive a few milliseconds inside the server's window and
get a 429 (2-3 per rate-limited 10k sweep, issue 14). Each window is therefore treated as `margin` seconds
longer than it is. And when the server says a window is full anyway (another instance shares the account),
`hold` keeps every caller of this process back until the server's window ends, instead of each one
finding out with a 429 of its own.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Callable, Protocol, Sequence


@dataclass(frozen=True)
class WindowUsage:
    """Calls booked in one window (`seconds` long) against its `limit`."""

    limit: int
    seconds: float
    used: int

    @property
    def left(self) -> int:
        return max(0, self.limit - self.used)


class Limiter(Protocol):
    """What the Plytix client needs of a limiter: this module's per-process one, or the one shared by
    every instance through Table Storage (shared_limiter.py)."""

    def acquire(self, max_wait: float = ...) -> float: ...

    def hold(self, seconds: float) -> None: ...

    def usage(self) -> list[WindowUsage]: ...


class RateLimiter:
    """At most `limit` calls in any `seconds`-long sliding window, for every (limit, seconds) given."""

    def __init__(self, limits: Sequence[tuple[int, float]], *, margin: float = 0.0,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> None:
        check_windows(limits, margin)
        self._windows = [(limit, seconds + margin, deque[float]()) for limit, seconds in limits]
        self._nominal = [seconds for _, seconds in limits]
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._last = float("-inf")

    def reserve(self, max_wait: float = float("inf")) -> float:
        """Book the next slot; return how many seconds the caller must wait before using it. When that
        wait would exceed `max_wait`, nothing is booked (so later callers do not queue behind a slot
        nobody will use) and the wait is returned all the same."""
        with self._lock:
            now = self._clock()
            slot = max(now, self._last)
            for limit, seconds, log in self._windows:
                while log and log[0] <= now - seconds:
                    log.popleft()
                if len(log) >= limit:
                    # The limit-th most recent call must have left the window before this one starts.
                    slot = max(slot, log[-limit] + seconds)
            if slot - now > max_wait:
                return slot - now
            for _, _, log in self._windows:
                log.append(slot)
            self._last = slot
            return slot - now

    def usage(self) -> list[WindowUsage]:
        """How many calls this process booked in each window right now: the rate-limit budget the
        operations page shows (per process, see the module docstring)."""
        with self._lock:
            now = self._clock()
            return [WindowUsage(limit=limit, seconds=nominal, used=sum(1 for slot in log if slot > now - seconds))
                    for (limit, seconds, log), nominal in zip(self._windows, self._nominal, strict=False)]

    def hold(self, seconds: float) -> None:
        """The server says its window is full for `seconds` more: no slot starts before then."""
        with self._lock:
            self._last = max(self._last, self._clock() + max(0.0, seconds))

    def acquire(self, max_wait: float = float("inf")) -> float:
        """Wait until a call is allowed; return the seconds waited. Raises WaitTooLong instead of
        sleeping longer than `max_wait` (a full hourly window would idle a function past its timeout)."""
        return wait_for_slot(self.reserve, self._sleep, max_wait)


def check_windows(limits: Sequence[tuple[int, float]], margin: float) -> None:
    """ValueError unless every window has a positive limit and length and the margin is not negative."""
    for limit, seconds in limits:
        if limit < 1 or seconds <= 0:
            raise ValueError("every window needs limit >= 1 and seconds > 0")
    if margin < 0:
        raise ValueError("margin must be >= 0")


def wait_for_slot(reserve: Callable[[float], float], sleep: Callable[[float], None], max_wait: float) -> float:
    """Book a slot through `reserve` and sleep until it; WaitTooLong if it is further than `max_wait`."""
    wait = reserve(max_wait)
    if wait > max_wait:
        raise WaitTooLong(wait)
    if wait > 0:
        sleep(wait)
    return wait


class WaitTooLong(Exception):
    """The next allowed slot is further away than the caller will wait; `wait` is how far, in seconds."""

    def __init__(self, wait: float) -> None:
        super().__init__(f"the next call is allowed in {wait:.0f} s")
        self.wait = wait
