"""Deadline arithmetic for every regime Locus ships: month ends, leap years, business days,
extensions, pauses; and the clocks in the reference data."""

import datetime as dt

import pytest

from requests.subjects import deadlines
from requests.subjects.deadlines import Clock, DeadlineError, FixedCalendar

D = dt.date
GDPR = Clock(1, "months", 2, "months")
CCPA = Clock(45, "days", 45, "days", acknowledge_business_days=10)
LGPD = Clock(15, "days")
NZ = Clock(20, "business_days")
APPI = Clock(0, "none", fallback_days=30)


@pytest.mark.parametrize(
    ("received", "due"),
    [
        (D(2026, 1, 31), D(2026, 2, 28)),  # no 31 February: the month's last day
        (D(2028, 1, 31), D(2028, 2, 29)),  # leap year
        (D(2028, 1, 29), D(2028, 2, 29)),
        (D(2026, 1, 29), D(2026, 2, 28)),
        (D(2026, 3, 31), D(2026, 4, 30)),
        (D(2026, 9, 3), D(2026, 10, 3)),  # the ICO's example
        (D(2026, 12, 15), D(2027, 1, 15)),  # across a year end
        (D(2026, 2, 28), D(2026, 3, 28)),  # the same date, not the month's end
    ],
)
def test_gdpr_one_calendar_month(received, due):
    assert deadlines.due_date(received, GDPR) == due


@pytest.mark.parametrize(
    ("received", "extended"),
    [
        # Three months from receipt (Art. 12(3), the ICO), not two on from a clipped deadline:
        # 31 January -> 28 February -> 28 April would lose two days.
        (D(2026, 1, 31), D(2026, 4, 30)),
        (D(2026, 11, 30), D(2027, 2, 28)),
        (D(2027, 11, 30), D(2028, 2, 29)),
        (D(2026, 9, 3), D(2026, 12, 3)),
    ],
)
def test_gdpr_extension_two_further_months_from_receipt(received, extended):
    assert deadlines.extended_due_date(received, GDPR) == extended


def test_ccpa_45_days_and_one_extension_of_45():
    received = D(2026, 1, 1)
    deadline = deadlines.due_date(received, CCPA)
    assert deadline == D(2026, 2, 15)
    assert deadlines.extended_due_date(received, CCPA) == D(2026, 4, 1)  # 90 days from receipt
    assert deadlines.due_date(D(2028, 2, 1), CCPA) == D(2028, 3, 17)  # 29 February counted


@pytest.mark.parametrize(
    ("received", "acknowledge"),
    [
        (D(2026, 1, 5), D(2026, 1, 19)),  # Monday: two working weeks
        (D(2026, 1, 9), D(2026, 1, 23)),  # Friday
        (D(2026, 1, 10), D(2026, 1, 23)),  # Saturday counts from Monday
        (D(2026, 1, 11), D(2026, 1, 23)),  # Sunday
    ],
)
def test_ccpa_acknowledgement_in_10_business_days(received, acknowledge):
    assert deadlines.acknowledge_by(received, CCPA) == acknowledge


def test_business_days_skip_given_holidays():
    christmas = FixedCalendar(holidays=frozenset({D(2026, 12, 25)}))
    assert deadlines.add_business_days(D(2026, 12, 24), 1, christmas) == D(2026, 12, 28)
    assert deadlines.due_date(D(2026, 1, 2), NZ) == D(2026, 1, 30)


def test_lgpd_15_days_and_no_extension():
    assert deadlines.due_date(D(2026, 2, 20), LGPD) == D(2026, 3, 7)
    with pytest.raises(DeadlineError, match="no extension"):
        deadlines.extended_due_date(D(2026, 2, 20), LGPD)


def test_no_statutory_period_uses_the_house_fallback():
    assert deadlines.due_date(D(2026, 1, 1), APPI) == D(2026, 1, 31)
    assert deadlines.acknowledge_by(D(2026, 1, 1), APPI) is None
    assert "house deadline" in deadlines.basis(APPI)


def test_extension_only_once_and_before_the_deadline():
    deadlines.check_extension(today=D(2026, 2, 28), deadline=D(2026, 2, 28), already_extended=False)
    with pytest.raises(DeadlineError, match="has passed"):
        deadlines.check_extension(
            today=D(2026, 3, 1), deadline=D(2026, 2, 28), already_extended=False
        )
    with pytest.raises(DeadlineError, match="already been extended"):
        deadlines.check_extension(
            today=D(2026, 2, 1), deadline=D(2026, 2, 28), already_extended=True
        )


def test_pause_counts_a_begun_day_as_a_day_and_shifts_deadlines():
    start = dt.datetime(2026, 1, 10, 12, tzinfo=dt.UTC)
    assert deadlines.paused_days(start, start) == 0
    assert deadlines.paused_days(start, start + dt.timedelta(hours=1)) == 1
    assert deadlines.paused_days(start, start + dt.timedelta(days=3)) == 3
    assert deadlines.paused_days(start, start + dt.timedelta(days=3, seconds=1)) == 4
    assert deadlines.shift(D(2026, 2, 10), 4) == D(2026, 2, 14)
    assert deadlines.shift(None, 4) is None
    with pytest.raises(DeadlineError):
        deadlines.paused_days(start, start - dt.timedelta(seconds=1))


def test_receipt_is_the_utc_day_and_needs_a_time_zone():
    late = dt.datetime(2026, 1, 31, 23, 30, tzinfo=dt.timezone(dt.timedelta(hours=-5)))
    assert deadlines.receipt_date(late) == D(2026, 2, 1)
    with pytest.raises(DeadlineError):
        deadlines.receipt_date(dt.datetime(2026, 1, 31))  # noqa: DTZ001  (naive on purpose)


def test_days_left_and_task_due():
    assert deadlines.days_left(D(2026, 2, 28), D(2026, 2, 28)) == 0
    assert deadlines.days_left(D(2026, 2, 28), D(2026, 3, 2)) == -2
    assert deadlines.task_due(D(2026, 2, 28), D(2026, 1, 28)) == D(2026, 2, 18)
    assert deadlines.task_due(D(2026, 2, 28), D(2026, 2, 27)) == D(2026, 2, 27)
    assert deadlines.task_due(D(2026, 2, 28), D(2026, 3, 5)) == D(2026, 3, 5)


def test_unknown_unit_and_negative_periods_are_refused():
    with pytest.raises(DeadlineError, match="Unknown deadline unit"):
        deadlines.add_period(D(2026, 1, 1), 1, "fortnights")
    with pytest.raises(DeadlineError):
        deadlines.add_period(D(2026, 1, 1), -1, "days")


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("code", "received", "due", "extended"),
    [
        ("eu", D(2026, 1, 31), D(2026, 2, 28), D(2026, 4, 30)),
        ("uk", D(2028, 1, 31), D(2028, 2, 29), D(2028, 4, 30)),
        ("us-ca", D(2026, 1, 1), D(2026, 2, 15), D(2026, 4, 1)),
        ("us-va", D(2026, 1, 1), D(2026, 2, 15), D(2026, 4, 1)),
        ("br", D(2026, 1, 1), D(2026, 1, 16), None),
        ("ca", D(2026, 1, 1), D(2026, 1, 31), D(2026, 3, 2)),
        ("kr", D(2026, 1, 1), D(2026, 1, 11), None),
        ("cn", D(2026, 1, 1), D(2026, 1, 31), None),
        ("jp", D(2026, 1, 1), D(2026, 1, 31), None),  # "without delay": house fallback
        # 20 working days: none from 25 December to 15 January (Privacy Act 2020 s.7), nor
        # Waitangi Day (Fri 6 Feb): 16 Jan is the 1st, 19-23 Jan the 2nd-6th, 26-30 Jan the
        # 7th-11th, 2-5 Feb the 12th-15th, 9-13 Feb the 16th-20th.
        ("nz", D(2026, 1, 2), D(2026, 2, 13), None),
    ],
)
def test_reference_data_clocks(code, received, due, extended):
    from catalog.models import Jurisdiction
    from requests.subjects.calendars import calendar_of

    jurisdiction = Jurisdiction.objects.get(code=code)
    clock, calendar = Clock.of(jurisdiction, fallback_days=30), calendar_of(jurisdiction)
    assert deadlines.due_date(received, clock, calendar) == due
    if extended is None:
        assert not clock.extendable
    else:
        assert deadlines.extended_due_date(received, clock, calendar) == extended


@pytest.mark.django_db
def test_ccpa_reference_data_acknowledges_in_10_business_days():
    from catalog.models import Jurisdiction

    clock = Clock.of(Jurisdiction.objects.get(code="us-ca"))
    assert deadlines.acknowledge_by(D(2026, 1, 5), clock) == D(2026, 1, 19)
