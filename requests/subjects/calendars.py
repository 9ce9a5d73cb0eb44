"""The business days of a jurisdiction: its official public holidays (the `holidays` package,
with subdivisions such as US-CA), its weekend, and the closed periods its law adds.

A law counting "business days" or "working days" means the days its own state works: CCPA's
10-business-day acknowledgement excludes California's state holidays (11 CCR §7001), New
Zealand's 20 working days exclude its holidays and 25 December-15 January, Russia's working
days include the Saturdays its government moves a holiday to. Holiday sets are cached per
(country, subdivision, year).

Where a state's own statute lists its holidays, that list is used rather than the package's:
California's are those of Cal. Gov. Code §6700 and §6701 (`STATE_HOLIDAY_LAWS`).
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass

import holidays
from holidays.calendars.chinese import _ChineseLunisolar

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


@dataclass(frozen=True)
class StateHolidayLaw:
    """A state's own list of its holidays, which its laws' "business days" skip."""

    citation: str
    verified: bool
    notes: str
    days: Callable[[int], frozenset[dt.date]]


def _nth_weekday(year: int, month: int, weekday: int, nth: int) -> dt.date:
    """The nth (1-based; -1 for the last) given weekday (Monday 0) of a month."""
    if nth > 0:
        first = dt.date(year, month, 1)
        return first + dt.timedelta(days=(weekday - first.weekday()) % 7 + 7 * (nth - 1))
    following = dt.date(year + month // 12, month % 12 + 1, 1)
    last = following - dt.timedelta(days=1)
    return last - dt.timedelta(days=(last.weekday() - weekday) % 7)


MON, THU, FRI = 0, 3, 4
# Cal. Gov. Code §6701: these dates move to the Monday when they fall on a Sunday, and
# 11 November to the Friday when it falls on a Saturday. No other holiday moves: a holiday on a
# Saturday gives no Friday (the `holidays` package adds one, as federal holidays have).
CA_SUNDAY_MOVES = ((1, 1), (2, 12), (3, 31), (7, 4), (9, 9), (11, 11), (12, 25))


def california_holidays(year: int) -> frozenset[dt.date]:
    """The holidays in California under Cal. Gov. Code §6700(a), moved as §6701 says."""
    fixed = [(1, 1), (2, 12), (3, 31), (7, 4), (9, 9), (11, 11), (12, 25)]
    if year >= 2023:  # Stats. 2022: Genocide Remembrance Day (AB 1801) and Juneteenth (AB 1655)
        fixed += [(4, 24), (6, 19)]
    days = {dt.date(year, month, day) for month, day in fixed}
    days |= {
        _nth_weekday(year, 1, MON, 3),  # Dr. Martin Luther King, Jr. Day
        _nth_weekday(year, 2, MON, 3),
        _nth_weekday(year, 5, MON, -1),
        _nth_weekday(year, 9, MON, 1),
        _nth_weekday(year, 9, FRI, 4),  # Native American Day
        _nth_weekday(year, 10, MON, 2),  # Columbus Day
        # The Thursday in November appointed as Thanksgiving Day (§6700(a), the paragraph on
        # days appointed by the President or Governor).
        _nth_weekday(year, 11, THU, 4),
    }
    if year >= 2023:  # Lunar New Year (AB 2596, Stats. 2022): the Chinese lunisolar new year
        new_year, _ = _ChineseLunisolar().lunar_new_year_date(year)
        if new_year is not None:  # None outside the package's tables (1901-2099)
            days.add(new_year)
    if year >= 2026:  # Diwali (AB 268, Stats. 2025, ch. 358): the package's date for it
        found = holidays.country_holidays("US", subdiv="CA", years=year)
        days.update(found.get_named("Diwali", lookup="exact"))
    for month, day in CA_SUNDAY_MOVES:
        date = dt.date(year, month, day)
        if date.weekday() == 6:
            days.add(date + dt.timedelta(days=1))
    veterans = dt.date(year, 11, 11)
    if veterans.weekday() == 5:
        days.add(veterans - dt.timedelta(days=1))
    return frozenset(days)


# Jurisdictions whose business days skip their state's own statutory list of holidays.
STATE_HOLIDAY_LAWS: dict[str, StateHolidayLaw] = {
    "us-ca": StateHolidayLaw(
        citation="Cal. Gov. Code §§6700(a), 6701 (11 CCR §7001: business days exclude state "
        "holidays)",
        verified=False,
        notes=(
            "§6700 and §6701 seen on the Legislature's site as amended in 2016 (Stats. 2015, "
            "ch. 303); §6700(a)(1)-(16) as amended since (Lunar New Year, Genocide Remembrance "
            "Day, Juneteenth) seen in a reproduction; Diwali (AB 268, Stats. 2025, ch. 358) from "
            "the bill's summaries, the amended text not seen. Not holidays under §6700, though "
            "the holidays package lists them for US-CA: Susan B. Anthony Day, the day after "
            "Thanksgiving (a state employees' holiday under Gov. Code §19853, not a holiday in "
            "the state), and a Friday for a holiday falling on a Saturday (except 11 November). "
            "Good Friday from noon to 3 p.m. (§6700(a)) does not close the day: it counts."
        ),
        days=california_holidays,
    ),
}


@functools.lru_cache(maxsize=256)
def state_year_days(jurisdiction: str, year: int) -> YearDays:
    """One year of a state's statutory holidays (Saturday and Sunday are its weekend)."""
    law = STATE_HOLIDAY_LAWS[jurisdiction]
    return YearDays(
        holidays=law.days(year), weekend=frozenset({5, 6}), weekend_workdays=frozenset()
    )


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
    # A jurisdiction in STATE_HOLIDAY_LAWS: its statute's holidays, not the package's.
    statute: str | None = None

    def is_business_day(self, day: dt.date) -> bool:
        if self.closed and _in_period(day, self.closed):
            return False
        if self.statute is not None:
            year: YearDays | None = state_year_days(self.statute, day.year)
        else:
            year = year_days(self.country, self.subdivision, day.year)
        if year is None:
            return WEEKDAYS.is_business_day(day)
        if day in year.weekend_workdays:
            return True
        return day.weekday() not in year.weekend and day not in year.holidays

    @property
    def description(self) -> str:
        place = f"{self.country}-{self.subdivision}" if self.subdivision else self.country
        if self.statute is not None:
            law = STATE_HOLIDAY_LAWS[self.statute]
            return f"weekends and {place} state holidays excluded ({law.citation})"
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
    code = jurisdiction.code
    statute = code if code in STATE_HOLIDAY_LAWS else None
    return OfficialCalendar(place[0], place[1], CLOSED_PERIODS.get(code), statute)
