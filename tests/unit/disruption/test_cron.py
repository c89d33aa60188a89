from datetime import datetime, timedelta, timezone

import pytest

from provisioner.disruption.cron import CronError, parse


def at(s):
    return datetime.fromisoformat(s).replace(tzinfo=timezone.utc)


@pytest.mark.parametrize("expr,time,expected", [
    ("* * * * *", "2026-03-04 05:06", True),
    ("0 9 * * *", "2026-03-04 09:00", True),
    ("0 9 * * *", "2026-03-04 09:01", False),
    ("*/15 * * * *", "2026-03-04 09:45", True),
    ("*/15 * * * *", "2026-03-04 09:50", False),
    ("0 9-17 * * mon-fri", "2026-03-06 17:00", True),   # Friday
    ("0 9-17 * * mon-fri", "2026-03-07 12:00", False),  # Saturday
    ("0 0 * * 0", "2026-03-08 00:00", True),            # Sunday as 0
    ("0 0 * * 7", "2026-03-08 00:00", True),            # Sunday as 7
    ("0 0 * * SUN", "2026-03-08 00:00", True),
    ("0 0 1 jan *", "2027-01-01 00:00", True),
    ("0 0 1 jan *", "2027-02-01 00:00", False),
    ("0 0 1,15 * *", "2026-03-15 00:00", True),
    ("0 0 10-20/5 * *", "2026-03-15 00:00", True),
    ("0 0 10-20/5 * *", "2026-03-16 00:00", False),
    ("30 2 5/10 * *", "2026-03-25 02:30", True),
    ("0 0 13 * fri", "2026-03-13 00:00", True),         # both day fields restricted: either matches
    ("0 0 13 * fri", "2026-03-06 00:00", True),         # a Friday, not the 13th
    ("0 0 13 * fri", "2026-03-12 00:00", False),
    ("0 0 * * fri", "2026-03-12 00:00", False),
    ("0 0 */2 * fri", "2026-03-06 00:00", False),       # a starred day field (even with a step): AND; 6 is even
    ("0 0 */2 * fri", "2026-03-13 00:00", True),        # Friday the 13th, an odd day
    ("@daily", "2026-03-04 00:00", True),
    ("@hourly", "2026-03-04 07:00", True),
    ("@hourly", "2026-03-04 07:30", False),
    ("@weekly", "2026-03-08 00:00", True),
    ("@monthly", "2026-04-01 00:00", True),
    ("@yearly", "2026-01-01 00:00", True),
])
def test_matches(expr, time, expected):
    assert parse(expr).matches(at(time)) is expected


def test_starred_day_with_step_uses_and():
    assert not parse("0 0 */2 * fri").matches(at("2026-03-05 00:00"))  # day 5 matches */2 but is a Thursday


def test_times_are_read_in_utc():
    paris = timezone(timedelta(hours=1))
    assert parse("0 9 * * *").matches(datetime(2026, 3, 4, 10, 0, tzinfo=paris))
    assert parse("0 9 * * *").matches(datetime(2026, 3, 4, 9, 0))  # naive means UTC


@pytest.mark.parametrize("expr", ["", "* * * *", "* * * * * *", "60 * * * *", "* 24 * * *", "* * 0 * *",
                                  "* * * 13 *", "* * * * 8", "*/0 * * * *", "5-1 * * * *", "x * * * *",
                                  "* * * foo *"])
def test_invalid(expr):
    with pytest.raises(CronError):
        parse(expr)


def test_last_tick_within_window():
    c = parse("0 9 * * *")
    assert c.last_tick(at("2026-03-04 09:30"), timedelta(hours=1)) == at("2026-03-04 09:00")
    assert c.last_tick(at("2026-03-04 09:00"), timedelta(minutes=1)) == at("2026-03-04 09:00")
    assert c.last_tick(at("2026-03-04 10:00"), timedelta(hours=1)) is None  # window is [09:00, 10:00)
    assert c.last_tick(at("2026-03-04 08:59"), timedelta(hours=24)) == at("2026-03-03 09:00")
    assert c.last_tick(at("2026-03-04 08:59"), timedelta(hours=23)) is None
