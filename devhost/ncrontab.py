"""NCRONTAB schedules as the Functions timer trigger reads them, computed with croniter.

Why a wrapper and not croniter as is: the two disagree on three points, and each would make a local
timer fire at different times than in Azure.

1. Field order. The timer trigger parses with NCrontab `IncludingSeconds = true`: six fields, SECONDS
   FIRST (`{second} {minute} {hour} {day} {month} {day-of-week}`); five fields are rejected.
   Source: azure-webjobs-sdk-extensions, Timers/Scheduling/CronSchedule.cs (TryCreate).
   croniter 7.0 reads a sixth field as seconds at the END unless `second_at_beginning=True`: without it
   "0 */5 * * * *" (every five minutes) would run every second.
2. Day-of-month AND day-of-week. NCrontab finds the next day matching the day field, then requires the
   day-of-week to match too (atifaziz/NCrontab, CrontabSchedule.TryGetNextOccurrence). Unix cron, and
   croniter by default, OR them: `day_or=False` gives NCrontab's meaning.
3. Syntax. NCrontab knows `*`, numbers, `a-b`, `/step`, lists and three-letter month/day names, with
   day-of-week 0-6 (Sunday = 0). croniter also accepts `L`, `#`, `W`, `H`, `@daily` and day-of-week 7,
   which Azure would reject at startup, so they are rejected here too.

Times are UTC: Flex Consumption runs in UTC and does not support WEBSITE_TIME_ZONE.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone

from croniter import croniter

_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_DAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
_FIELDS = (  # name, lowest, highest, the names it takes (their value is lowest + position)
    ("second", 0, 59, ()),
    ("minute", 0, 59, ()),
    ("hour", 0, 23, ()),
    ("day", 1, 31, ()),
    ("month", 1, 12, _MONTHS),
    ("day-of-week", 0, 6, _DAYS),
)
_VALUE = r"(?:\d+|[A-Za-z]{3})"
_ELEMENT = re.compile(rf"^(?:\*|(?P<low>{_VALUE})(?:-(?P<high>{_VALUE}))?)(?:/(?P<step>\d+))?$")
# TimeSpan schedules ("00:05:00") exist, but only on App Service plans (Microsoft Learn, "Timer trigger
# for Azure Functions", TimeSpan section); the app targets Flex Consumption, where they do not work.
_TIMESPAN = re.compile(r"^\d+(\.\d+)?:\d{2}(:\d{2})?$")


class ScheduleError(ValueError):
    """A schedule Azure would refuse; the message shows the expression and what is wrong with it."""


@dataclass(frozen=True)
class NcrontabSchedule:
    """A validated six-field NCRONTAB expression."""

    expression: str

    @classmethod
    def parse(cls, expression: str) -> "NcrontabSchedule":
        fields = expression.split()
        if len(fields) != 6:
            if _TIMESPAN.match(expression.strip()):
                raise ScheduleError(f"schedule {expression!r} is a TimeSpan: those only run on App Service "
                                    "plans, not on Flex Consumption; use a six-field NCRONTAB expression")
            raise ScheduleError(f"schedule {expression!r} must have 6 fields "
                                f"(second minute hour day month day-of-week), it has {len(fields)}")
        for text, (name, low, high, names) in zip(fields, _FIELDS, strict=False):
            _check_field(expression, text, name, low, high, names)
        return cls(" ".join(fields))

    def next_after(self, moment: datetime) -> datetime:
        """The first occurrence strictly after `moment` (timezone-aware), in UTC."""
        start = moment.astimezone(timezone.utc)
        return croniter(self.expression, start, second_at_beginning=True, day_or=False).get_next(datetime)


def _check_field(expression: str, text: str, name: str, low: int, high: int, names: tuple[str, ...]) -> None:
    for element in text.split(","):
        found = _ELEMENT.match(element)
        if not found:
            raise ScheduleError(f"schedule {expression!r}: {name} field {text!r} is not NCRONTAB syntax "
                                "(use *, numbers, a-b, /step, lists)")
        bounds = [_field_value(expression, b, name, low, high, names) for b in (found["low"], found["high"])
                  if b is not None]
        if len(bounds) == 2 and bounds[0] > bounds[1]:
            raise ScheduleError(f"schedule {expression!r}: {name} range {element!r} runs backwards")
        if found["step"] is not None and int(found["step"]) == 0:
            raise ScheduleError(f"schedule {expression!r}: {name} step must be at least 1")


def _field_value(expression: str, token: str, name: str, low: int, high: int, names: tuple[str, ...]) -> int:
    if token.isdigit():
        if not low <= int(token) <= high:
            raise ScheduleError(f"schedule {expression!r}: {name} value {token} is outside {low}-{high}")
        return int(token)
    if token.upper() not in names:
        allowed = f"one of {', '.join(names)}" if names else "numbers only"
        raise ScheduleError(f"schedule {expression!r}: {name} value {token!r} is not valid ({allowed})")
    return low + names.index(token.upper())
