"""On-time classification compares local dates; an open dossier is overdue strictly after due."""

from datetime import datetime, timedelta

import pytest

from lienthong.calendar import classify, is_overdue

DUE = datetime.fromisoformat("2025-05-12T16:00+07:00")


def test_finished_on_an_earlier_day_is_early() -> None:
    assert classify(DUE, datetime.fromisoformat("2025-05-09T16:59+07:00")) == "early"


def test_finished_on_the_due_day_before_the_due_hour_is_on_time() -> None:
    assert classify(DUE, datetime.fromisoformat("2025-05-12T07:00+07:00")) == "on_time"


def test_finished_on_the_due_day_after_the_due_hour_is_still_on_time() -> None:
    assert classify(DUE, datetime.fromisoformat("2025-05-12T16:45+07:00")) == "on_time"


def test_finished_on_a_later_day_is_late() -> None:
    assert classify(DUE, datetime.fromisoformat("2025-05-13T07:00+07:00")) == "late"


def test_classification_uses_vietnam_dates_not_utc_dates() -> None:
    # 23:30 UTC on 12 May is 06:30 on 13 May in Vietnam: a day late.
    assert classify(DUE, datetime.fromisoformat("2025-05-12T23:30+00:00")) == "late"


def test_naive_times_are_classified_as_vietnam_time() -> None:
    assert classify(datetime(2025, 5, 12, 16, 0), datetime(2025, 5, 12, 17, 30)) == "on_time"


@pytest.mark.parametrize(
    ("now", "overdue"),
    [(DUE - timedelta(minutes=1), False), (DUE, False), (DUE + timedelta(microseconds=1), True)],
    ids=["before", "at-due", "just-after"],
)
def test_open_dossier_is_overdue_only_after_the_due_moment(now: datetime, overdue: bool) -> None:
    assert is_overdue(DUE, now) is overdue


def test_overdue_compares_moments_across_zones() -> None:
    assert is_overdue(DUE, datetime.fromisoformat("2025-05-12T09:01+00:00"))
    assert not is_overdue(DUE, datetime.fromisoformat("2025-05-12T08:59+00:00"))
