"""A small five-field cron matcher (minute hour day-of-month month day-of-week), as budgets use it.

Fields take `*`, numbers, ranges `a-b`, steps `*/n` and `a-b/n`, lists `a,b`, month and weekday
names (jan..dec, sun..sat); weekday 7 is Sunday. As in classic cron, when both day fields are
restricted a time matches if either does. Macros: @yearly @annually @monthly @weekly @daily
@midnight @hourly. Times are read in UTC.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

MACROS = {
    "@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *", "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *",
}
_MONTHS = {m: i + 1 for i, m in enumerate("jan feb mar apr may jun jul aug sep oct nov dec".split())}
_DAYS = {d: i for i, d in enumerate("sun mon tue wed thu fri sat".split())}


class CronError(ValueError):
    pass


@dataclass(frozen=True)
class Cron:
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday
    days_restricted: bool
    weekdays_restricted: bool

    def matches(self, t: datetime) -> bool:
        t = _utc(t)
        if t.minute not in self.minutes or t.hour not in self.hours or t.month not in self.months:
            return False
        day_ok = t.day in self.days
        weekday_ok = (t.isoweekday() % 7) in self.weekdays
        if self.days_restricted and self.weekdays_restricted:
            return day_ok or weekday_ok
        return day_ok and weekday_ok

    def last_tick(self, at: datetime, within: timedelta) -> datetime | None:
        """The newest minute in (at - within, at] that matches, or None."""
        t = _utc(at).replace(second=0, microsecond=0)
        earliest = _utc(at) - within
        while t > earliest:
            if self.matches(t):
                return t
            t -= timedelta(minutes=1)
        return None


def _utc(t: datetime) -> datetime:
    return t.replace(tzinfo=timezone.utc) if t.tzinfo is None else t.astimezone(timezone.utc)


def _value(text: str, names: dict[str, int], field: str) -> int:
    low = text.lower()
    if low in names:
        return names[low]
    if not text.isdigit():
        raise CronError(f"{field}: {text!r} is not a number")
    return int(text)


def _field(text: str, lo: int, hi: int, field: str, names: dict[str, int] | None = None) -> frozenset[int]:
    names = names or {}
    out: set[int] = set()
    for part in text.split(","):
        base, _, step_text = part.partition("/")
        step = 1
        if step_text:
            if not step_text.isdigit() or int(step_text) == 0:
                raise CronError(f"{field}: bad step in {part!r}")
            step = int(step_text)
        if base == "*":
            start, end = lo, hi
        elif "-" in base:
            a, _, b = base.partition("-")
            start, end = _value(a, names, field), _value(b, names, field)
        else:
            start = _value(base, names, field)
            end = hi if step_text else start
        if not (lo <= start <= hi and lo <= end <= hi) or start > end:
            raise CronError(f"{field}: {part!r} is outside {lo}-{hi}")
        out.update(range(start, end + 1, step))
    return frozenset(out)


def parse(expr: str) -> Cron:
    text = MACROS.get(expr.strip().lower(), expr.strip())
    fields = text.split()
    if len(fields) != 5:
        raise CronError(f"{expr!r}: expected 5 fields (minute hour day month weekday)")
    minute, hour, day, month, weekday = fields
    weekdays = _field(weekday, 0, 7, "weekday", _DAYS)
    weekdays = frozenset(d % 7 for d in weekdays)
    return Cron(
        minutes=_field(minute, 0, 59, "minute"), hours=_field(hour, 0, 23, "hour"), days=_field(day, 1, 31, "day"),
        months=_field(month, 1, 12, "month", _MONTHS), weekdays=weekdays,
        days_restricted=not day.startswith("*"), weekdays_restricted=not weekday.startswith("*"),
    )
