"""Timer triggers on their NCRONTAB schedules, one invocation of a function at a time.

The real listener (azure-webjobs-sdk-extensions, Timers/Listener/TimerListener.cs, and the TimerTrigger
wiki page) works like this, and so does this module:
- `Next` is the first occurrence after the invocation time (or after the scheduled time, when the timer
  fired a little early); the timer is re-armed only when the invocation has finished, so a slow run is
  never overlapped by the next one: the next one starts as soon as it ends if its time has passed.
- an invocation lock per function (the singleton lock in Azure) also serialises runs started by hand
  through the admin endpoint;
- `run_on_startup` invokes once immediately at start;
- an exception is logged and never stops the schedule.
`past_due`: the host learns that an occurrence was missed from its schedule monitor (a status blob) when
it restarts; devhost keeps no status between runs and instead reports `past_due=True` when a run starts
after its scheduled time because the previous run was still going. `schedule_status` carries Last, Next
and LastUpdated like the host's.
"""

from __future__ import annotations

import threading
from datetime import datetime, timezone

from azure.functions.timer import TimerRequest

from devhost.index import IndexedFunction
from devhost.invoker import Invoker
from devhost.ncrontab import NcrontabSchedule

_NEVER = datetime(1, 1, 1, tzinfo=timezone.utc)  # the host's ScheduleMonitor.DefaultDateTime


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)


class TimerRunner(threading.Thread):
    """Runs one timer function until `stop` is set."""

    def __init__(self, function: IndexedFunction, invoker: Invoker, stop: threading.Event) -> None:
        super().__init__(name=f"devhost-timer-{function.name}", daemon=True)
        self.function = function
        self._schedule = NcrontabSchedule.parse(function.schedule_resolved or "")
        self._invoker = invoker
        self._stopping = stop
        self._lock = threading.Lock()  # the singleton lock
        self._last = _NEVER
        self._next = self._schedule.next_after(_utc_now())

    def run(self) -> None:
        startup = self.function.run_on_startup
        while not self._stopping.is_set():
            due = _utc_now() if startup else self._next
            late = not startup and due < _utc_now()  # the previous run overran this occurrence
            if self._stopping.wait(max(0.0, (due - _utc_now()).total_seconds())):
                return
            started = _utc_now()
            reason = "RunOnStartup" if startup else ("IsPastDue" if late else "Timer fired")
            self.invoke(past_due=late, reason=f"{reason} at {started.isoformat()}")
            # Like the host: count from the scheduled time when the timer fired a little early.
            self._last = started if startup else max(started, due)
            self._next = self._schedule.next_after(self._last)
            startup = False

    def invoke(self, past_due: bool, reason: str) -> None:
        """One invocation under the function's lock; errors are logged (by the invoker), not raised."""
        with self._lock:
            request = TimerRequest(past_due=past_due, schedule={"AdjustForDST": True}, schedule_status={
                "Last": self._last.isoformat(), "Next": self._next.isoformat(),
                "LastUpdated": self._last.isoformat()})
            try:
                self._invoker.invoke(self.function, request, reason=reason)
            except Exception:  # noqa: BLE001 - logged by the invoker; the schedule goes on
                pass
