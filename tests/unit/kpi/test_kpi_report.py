"""KPI arithmetic: the provincial report's numbers (REFERENCE section 7) as worked examples."""

from dataclasses import replace
from datetime import datetime, timedelta

import pytest

from lienthong.calendar.config import VIETNAM_TZ
from lienthong.kpi.report import KpiRow, kpi_table, overdue_dossiers
from lienthong.kpi.store import ProjectedDossier
from lienthong.schemas.dossier import Channel, DossierStatus

DUE = datetime(2025, 7, 3, 16, 0, tzinfo=VIETNAM_TZ)  # a Thursday
NOW = datetime(2025, 7, 10, 9, 0, tzinfo=VIETNAM_TZ)
BASE = ProjectedDossier(
    dossier_code="000.00.12.H52-250701-0001",
    agency_code="000.00.12.H52",
    field_code="HT",
    channel=Channel.COUNTER,
    status=DossierStatus.PROCESSING,
    received_at=datetime(2025, 7, 1, 8, 0, tzinfo=VIETNAM_TZ),
    accepted=True,
    version=1,
    due_at=DUE,
)


def finished(at: datetime, **changes: object) -> ProjectedDossier:
    return replace(BASE, status=DossierStatus.RETURNED, finished_at=at, returned_at=at, **changes)  # type: ignore[arg-type]


EARLY = finished(DUE - timedelta(days=1))
ON_TIME = finished(DUE)
LATE = finished(DUE + timedelta(days=1))


def total(rows: list[ProjectedDossier]) -> KpiRow:
    [row] = kpi_table(rows, group_by=(), now=NOW)
    return row


def test_on_or_before_time_rate_of_the_provincial_report_is_98_77_percent() -> None:
    # 158,536 received, 156,467 returned: 154,550 on or before time, 1,917 late; the rest still open.
    rows = [EARLY] * 150_000 + [ON_TIME] * 4_550 + [LATE] * 1_917 + [replace(BASE, due_at=None)] * 2_069
    row = total(rows)
    assert (row.received, row.returned, row.finished) == (158_536, 156_467, 156_467)
    assert row.on_or_before_time == 154_550
    assert row.on_time_rate is not None
    assert row.late_rate is not None
    assert f"{row.on_time_rate:.2%}" == "98.77%"
    assert f"{row.late_rate:.2%}" == "1.23%"


def test_online_share_of_the_provincial_report_is_34_7_percent() -> None:
    rows = [replace(BASE, channel=Channel.ONLINE)] * 51_443 + [BASE] * (148_114 - 51_443)
    row = total(rows)
    assert (row.online, row.received) == (51_443, 148_114)
    assert row.online_share is not None
    assert f"{row.online_share:.1%}" == "34.7%"


def test_as_dict_gives_rates_as_percentages_rounded_to_two_decimals() -> None:
    row = total([EARLY] * 154_550 + [LATE] * 1_917)
    assert row.as_dict()["on_or_before_time_pct"] == 98.77
    assert row.as_dict()["late_pct"] == 1.23


@pytest.mark.parametrize(
    ("finished_at", "expected"),
    [
        (datetime(2025, 7, 2, 23, 59, tzinfo=VIETNAM_TZ), "early"),
        (datetime(2025, 7, 3, 0, 0, tzinfo=VIETNAM_TZ), "on_time"),
        (datetime(2025, 7, 3, 23, 59, tzinfo=VIETNAM_TZ), "on_time"),  # after the due hour, same day
        (datetime(2025, 7, 4, 0, 0, tzinfo=VIETNAM_TZ), "late"),
        (datetime.fromisoformat("2025-07-03T17:30:00+00:00"), "late"),  # 00:30 on 4 July in Vietnam
        (datetime.fromisoformat("2025-07-02T17:30:00+00:00"), "on_time"),  # 00:30 on 3 July in Vietnam
    ],
)
def test_finished_dossiers_are_classified_by_local_date_against_the_due_date(
    finished_at: datetime, expected: str
) -> None:
    row = total([finished(finished_at)])
    assert {"early": row.early, "on_time": row.on_time, "late": row.late} == {
        k: int(k == expected) for k in ("early", "on_time", "late")
    }


def test_a_finished_dossier_without_due_moment_is_counted_but_not_rated() -> None:
    row = total([finished(DUE, due_at=None), EARLY])
    assert (row.received, row.returned, row.finished, row.on_time_rate) == (2, 2, 1, 1.0)


def test_status_9_counts_as_finished_but_not_as_returned() -> None:
    row = total([replace(EARLY, status=DossierStatus.FINISHED, returned_at=None)])
    assert (row.finished, row.returned) == (1, 0)


def test_refused_dossiers_are_not_received_and_are_counted_apart() -> None:
    refused = replace(BASE, status=DossierStatus.REFUSED, accepted=False, refused=True, due_at=None)
    withdrawn = replace(BASE, status=DossierStatus.WITHDRAWN, accepted=False, withdrawn=True)
    row = total([refused, withdrawn, BASE])
    assert (row.received, row.accepted, row.refused, row.withdrawn) == (1, 1, 1, 1)


def test_open_dossier_past_its_due_moment_counts_as_overdue() -> None:
    assert total([BASE]).overdue_open == 1


@pytest.mark.parametrize(
    "status",
    [DossierStatus.SUPPLEMENT_REQUESTED, DossierStatus.PAYMENT_REQUESTED, DossierStatus.STOPPED,
     DossierStatus.FINISHED, DossierStatus.SUBMITTED],
)  # fmt: skip
def test_dossiers_whose_clock_does_not_run_are_never_overdue(status: DossierStatus) -> None:
    assert total([replace(BASE, status=status)]).overdue_open == 0


def test_a_dossier_due_exactly_now_is_not_yet_overdue() -> None:
    [row] = kpi_table([BASE], group_by=(), now=DUE)
    assert row.overdue_open == 0


def test_rows_are_grouped_by_agency_field_and_channel_sorted_by_code() -> None:
    other = replace(BASE, agency_code="000.00.13.H52", field_code="DD")
    online = replace(BASE, channel=Channel.ONLINE)
    rows = kpi_table([other, BASE, online, BASE], now=NOW)
    assert [(r.agency, r.field, r.channel, r.received) for r in rows] == [
        ("000.00.12.H52", "HT", "counter", 2),
        ("000.00.12.H52", "HT", "online", 1),
        ("000.00.13.H52", "DD", "counter", 1),
    ]


def test_grouping_by_one_dimension_leaves_the_others_empty() -> None:
    rows = kpi_table([BASE, replace(BASE, channel=Channel.POST)], group_by=("channel",), now=NOW)
    assert [(r.agency, r.field, r.channel) for r in rows] == [(None, None, "counter"), (None, None, "post")]


def test_grouping_order_given_does_not_change_the_table() -> None:
    rows = [BASE, replace(BASE, agency_code="000.00.13.H52")]
    assert kpi_table(rows, group_by=("field", "agency"), now=NOW) == kpi_table(rows, ("agency", "field"), now=NOW)


def test_unknown_grouping_is_refused_with_the_choices() -> None:
    with pytest.raises(ValueError, match="agency, field, channel"):
        kpi_table([BASE], group_by=("province",))


def test_no_rows_give_one_zero_total_without_rates() -> None:
    row = total([])
    assert row == KpiRow()
    assert (row.on_time_rate, row.online_share) == (None, None)
    assert kpi_table([], now=NOW) == []


def test_overdue_list_gives_working_hours_late_most_late_first() -> None:
    # Due Thu 16:00, now Fri 09:00: 16:00-17:00 and 07:00-09:00 are worked, so 3 hours late.
    now = datetime(2025, 7, 4, 9, 0, tzinfo=VIETNAM_TZ)
    a_day_late = replace(BASE, dossier_code="000.00.12.H52-250701-0002", due_at=DUE - timedelta(days=1))
    not_yet = replace(BASE, dossier_code="000.00.12.H52-250701-0003", due_at=now + timedelta(hours=1))
    paused = replace(BASE, dossier_code="000.00.12.H52-250701-0004", status=DossierStatus.SUPPLEMENT_REQUESTED)
    found = overdue_dossiers([BASE, a_day_late, not_yet, paused], now)
    assert [(o.dossier_code, o.working_hours_late) for o in found] == [
        ("000.00.12.H52-250701-0002", 11.0),
        ("000.00.12.H52-250701-0001", 3.0),
    ]
    assert found[1].as_dict() == {
        "dossier_code": "000.00.12.H52-250701-0001",
        "agency": "000.00.12.H52",
        "field": "HT",
        "due_at": "2025-07-03T16:00:00+07:00",
        "working_hours_late": 3.0,
    }
