"""The business days of a jurisdiction: its official public holidays (the `holidays` package,
with subdivisions such as US-CA), its weekend, and the closed periods its law adds.

A law counting "business days" or "working days" means the days its own state works: CCPA's
10-business-day acknowledgement excludes California's state holidays (11 CCR §7001), New
Zealand's 20 working days exclude its holidays and 25 December-15 January, Russia's working
days include the Saturdays its government moves a holiday to. Holiday sets are cached per
(country, subdivision, year).
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
from dataclasses import dataclass

import holidays

from catalog.models import Jurisdiction
from requests.subjects.deadlines import WEEKDAYS, Calendar

logger = logging.getLogger(__name__)

# Jurisdictions that are a subdivision of a country: their state holidays count.
SUBDIVISIONS: dict[str, tuple[str, str]] = {
    "us-ca": ("US", "CA"),
    "us-va": ("US", "VA"),
    "us-co": ("US", "CO"),
    "us-or": ("US", "OR"),
}

# Periods a law's own definition of a working day closes every year, beyond public holidays:
# ((first month, first day), (last month, last day)), the period may run over the year end.
# New Zealand: Privacy Act 2020 s.7, "working day" (the Official Information Act 1982 s.2
# definition): not "a day in the period commencing with 25 December in any year and ending
# with 15 January in the following year".
CLOSED_PERIODS: dict[str, tuple[tuple[int, int], tuple[int, int]]] = {
    "nz": ((12, 25), (1, 15)),
}


@dataclass(frozen=True)
class YearDays:
    """One year of a country's (or subdivision's) calendar."""

    holidays: frozenset[dt.date]
    weekend: frozenset[int]
    weekend_workdays: frozenset[dt.date]


@functools.lru_cache(maxsize=1024)
def year_days(country: str, subdivision: str | None, year: int) -> YearDays | None:
    """The official holidays of one year, or None where the package has no calendar."""
    try:
        found = holidays.country_holidays(country, subdiv=subdivision, years=year)
    except NotImplementedError:
        logger.warning("no holiday calendar for %s %s: weekends only", country, subdivision)
        return None
    return YearDays(
        holidays=frozenset(day for day in found if day.year == year),
        weekend=frozenset(found.weekend),
        weekend_workdays=frozenset(d for d in found.weekend_workdays if d.year == year),
    )


def _in_period(day: dt.date, period: tuple[tuple[int, int], tuple[int, int]]) -> bool:
    start, end = period
    key = (day.month, day.day)
    if start <= end:
        return start <= key <= end
    return key >= start or key <= end  # over the year end


@dataclass(frozen=True)
class OfficialCalendar:
    """A country's (or subdivision's) working days, and the closed period its law adds."""

    country: str
    subdivision: str | None = None
    closed: tuple[tuple[int, int], tuple[int, int]] | None = None

    def is_business_day(self, day: dt.date) -> bool:
        if self.closed and _in_period(day, self.closed):
            return False
        year = year_days(self.country, self.subdivision, day.year)
        if year is None:
            return WEEKDAYS.is_business_day(day)
        if day in year.weekend_workdays:
            return True
        return day.weekday() not in year.weekend and day not in year.holidays

    @property
    def description(self) -> str:
        place = f"{self.country}-{self.subdivision}" if self.subdivision else self.country
        text = f"weekends and {place} public holidays excluded"
        if self.closed:
            (m1, d1), (m2, d2) = self.closed
            text += f", and {d1:02d}/{m1:02d}-{d2:02d}/{m2:02d}"
        return text


def place_of(
    jurisdiction: Jurisdiction, country: str | None = None
) -> tuple[str, str | None] | None:
    """The (country, subdivision) whose holidays a jurisdiction's business days skip.

    A jurisdiction over several countries (the EU's GDPR, the EEA) has no single calendar: the
    subject's own country is used where it is given and covered; otherwise weekends only (a
    subject request records no country of residence today, and the GDPR's clocks are months,
    not business days, so nothing it counts is shortened)."""
    if jurisdiction.code in SUBDIVISIONS:
        return SUBDIVISIONS[jurisdiction.code]
    codes = sorted(jurisdiction.countries.values_list("code", flat=True))
    if country and country.upper() in codes:
        return country.upper(), None
    if len(codes) == 1:
        return codes[0], None
    return None


def calendar_of(jurisdiction: Jurisdiction, country: str | None = None) -> Calendar:
    """The calendar a jurisdiction's business days are counted on."""
    place = place_of(jurisdiction, country)
    if place is None:
        return WEEKDAYS
    return OfficialCalendar(place[0], place[1], CLOSED_PERIODS.get(jurisdiction.code))
