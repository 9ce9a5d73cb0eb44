"""Deadline arithmetic for data-subject requests: pure functions over dates and a clock.

A jurisdiction's clock comes from the catalog's reference data (dsr_* fields). Months are
calendar months counted as Regulation (EEC, Euratom) No 1182/71 Art. 3(2)(c) counts them: the
period ends on the same date in the last month, or on that month's last day when it has no such
date (31 January -> 28 or 29 February). Locus shows that date, not a later working day: a
deadline shown early is safe, one shown late is not.
"""

from __future__ import annotations

import calendar
import datetime as dt
from dataclasses import dataclass
from typing import Protocol

MONTHS = "months"
DAYS = "days"
BUSINESS_DAYS = "business_days"
NONE = "none"
UNITS = (MONTHS, DAYS, BUSINESS_DAYS, NONE)


class DeadlineError(ValueError):
    """A clock that cannot be computed, or an extension the law does not allow (with why)."""


@dataclass(frozen=True)
class Clock:
    """How long a jurisdiction gives to answer, how long it may be extended, how soon to
    acknowledge; `fallback_days` stands in where the law sets no period."""

    amount: int
    unit: str
    extension_amount: int = 0
    extension_unit: str = NONE
    acknowledge_business_days: int | None = None
    fallback_days: int = 30

    @classmethod
    def of(cls, jurisdiction, fallback_days: int = 30) -> Clock:
        """The clock of a catalog Jurisdiction."""
        return cls(
            amount=jurisdiction.dsr_deadline_amount,
            unit=jurisdiction.dsr_deadline_unit,
            extension_amount=jurisdiction.dsr_extension_amount,
            extension_unit=jurisdiction.dsr_extension_unit,
            acknowledge_business_days=jurisdiction.dsr_acknowledge_business_days,
            fallback_days=fallback_days,
        )

    @property
    def statutory(self) -> bool:
        return self.unit != NONE and self.amount > 0

    @property
    def extendable(self) -> bool:
        return self.extension_unit != NONE and self.extension_amount > 0


def add_months(start: dt.date, months: int) -> dt.date:
    """The same date `months` later, or the last day of that month when it has no such date."""
    index = start.month - 1 + months
    year, month = start.year + index // 12, index % 12 + 1
    return dt.date(year, month, min(start.day, calendar.monthrange(year, month)[1]))


class Calendar(Protocol):
    """Which days count as business (working) days, and how to say so in a deadline's basis."""

    def is_business_day(self, day: dt.date) -> bool: ...

    @property
    def description(self) -> str: ...


@dataclass(frozen=True)
class FixedCalendar:
    """Weekend days (Monday is 0) and a given set of holidays."""

    holidays: frozenset[dt.date] = frozenset()
    weekend: frozenset[int] = frozenset({5, 6})
    description: str = "weekends excluded"

    def is_business_day(self, day: dt.date) -> bool:
        return day.weekday() not in self.weekend and day not in self.holidays


WEEKDAYS = FixedCalendar()


def add_business_days(start: dt.date, days: int, calendar: Calendar = WEEKDAYS) -> dt.date:
    """The date `days` business days after start (the calendar's closed days skipped)."""
    if days < 0:
        raise DeadlineError("A count of business days cannot be negative")
    day = start
    while days:
        day += dt.timedelta(days=1)
        if calendar.is_business_day(day):
            days -= 1
    return day


def add_period(start: dt.date, amount: int, unit: str, calendar: Calendar = WEEKDAYS) -> dt.date:
    """start + amount units (calendar months, calendar days or business days)."""
    if amount < 0:
        raise DeadlineError("A period cannot be negative")
    if unit == MONTHS:
        return add_months(start, amount)
    if unit == DAYS:
        return start + dt.timedelta(days=amount)
    if unit == BUSINESS_DAYS:
        return add_business_days(start, amount, calendar)
    raise DeadlineError(f"Unknown deadline unit {unit!r}")


def receipt_date(received_at: dt.datetime, tz: dt.tzinfo = dt.UTC) -> dt.date:
    """The day of receipt, in the controller's time zone (UTC by default)."""
    if received_at.tzinfo is None:
        raise DeadlineError("The time of receipt must carry a time zone")
    return received_at.astimezone(tz).date()


def due_date(received: dt.date, clock: Clock, calendar: Calendar = WEEKDAYS) -> dt.date:
    """The first deadline: the statutory period from receipt, or the house fallback."""
    if not clock.statutory:
        return received + dt.timedelta(days=clock.fallback_days)
    return add_period(received, clock.amount, clock.unit, calendar)


def extended_due_date(received: dt.date, clock: Clock, calendar: Calendar = WEEKDAYS) -> dt.date:
    """The deadline once extended, before any pause: the whole period counted from receipt.

    GDPR and UK GDPR Art. 12(3) give one month "extended by two further months": three months
    from receipt (the ICO: "up to two further months", i.e. three in all). Counting two months
    on from the first deadline would lose the days a short month clipped (31 January ->
    28 February -> 28 April, not 30 April). For days and business days the total from receipt
    is the same date as the extension counted on from the first deadline (CCPA 45 + 45 days;
    PIPEDA s.8(4): 30 more days); where the units differ, the extension runs on from the
    first deadline."""
    if not clock.extendable:
        raise DeadlineError("This jurisdiction's law provides no extension")
    if clock.statutory and clock.extension_unit == clock.unit:
        return add_period(received, clock.amount + clock.extension_amount, clock.unit, calendar)
    first = due_date(received, clock, calendar)
    return add_period(first, clock.extension_amount, clock.extension_unit, calendar)


def check_extension(*, today: dt.date, deadline: dt.date, already_extended: bool) -> None:
    """Extensions are announced to the subject before the first deadline passes, once."""
    if already_extended:
        raise DeadlineError("The request has already been extended once")
    if today > deadline:
        raise DeadlineError(
            f"The deadline {deadline.isoformat()} has passed: an extension must be notified before it"
        )


def acknowledge_by(
    received: dt.date, clock: Clock, calendar: Calendar = WEEKDAYS
) -> dt.date | None:
    """When receipt must be acknowledged (CCPA: 10 business days, state holidays excluded by
    11 CCR §7001), or None."""
    if clock.acknowledge_business_days is None:
        return None
    return add_business_days(received, clock.acknowledge_business_days, calendar)


def paused_days(paused_at: dt.datetime, resumed_at: dt.datetime) -> int:
    """Whole days the clock stood still, counting a day begun as a day (never shortens)."""
    if resumed_at < paused_at:
        raise DeadlineError("A pause cannot end before it began")
    seconds = (resumed_at - paused_at).total_seconds()
    return int(-(-seconds // 86400))


def shift(day: dt.date | None, days: int) -> dt.date | None:
    """A deadline moved on by a pause."""
    return None if day is None else day + dt.timedelta(days=days)


def days_left(deadline: dt.date, today: dt.date) -> int:
    """Calendar days until the deadline: 0 on the day, negative once overdue."""
    return (deadline - today).days


def task_due(deadline: dt.date, today: dt.date) -> dt.date:
    """When a dataset owner's task is due: a third of the remaining time before the request's
    deadline (at least two days before it), never before today."""
    remaining = (deadline - today).days
    margin = max(2, remaining // 3)
    return max(today, deadline - dt.timedelta(days=margin))


def basis(clock: Clock, citation: str = "", calendar: Calendar = WEEKDAYS) -> str:
    """How the deadline was worked out, in words, for the record (with the calendar's
    closed days where business days are counted)."""
    if not clock.statutory:
        return f"No statutory period: house deadline of {clock.fallback_days} days"
    text = f"{clock.amount} {clock.unit.replace('_', ' ')} from receipt"
    if clock.extendable:
        text += f", extendable by {clock.extension_amount} {clock.extension_unit.replace('_', ' ')}"
    if BUSINESS_DAYS in (clock.unit, clock.extension_unit) or clock.acknowledge_business_days:
        text += f"; business days: {calendar.description}"
    return f"{text} ({citation})" if citation else text
