"""KPIs as the official reports count them (issue 7): intake by NgayTiepNhan, finished by NgayKetThucXuLy in
the period, carry-over, in progress on time / overdue, refused not received, apologised dossiers still late.

Every expected number is counted by hand from the rows below (period: July 2025).
"""

import random
from dataclasses import replace
from datetime import date, datetime, timedelta

from lienthong.calendar.config import VIETNAM_TZ
from lienthong.demo.workload import synthetic_dossier
from lienthong.kpi.report import KpiTally, period_bounds
from lienthong.kpi.store import ProjectedDossier, project
from lienthong.mappings.apology import original_due, with_apology
from lienthong.mappings.dvcqg import dossier_to_dvcqg
from lienthong.schemas.dossier import Channel, DossierStatus


def at(month: int, day: int, hour: int = 9) -> datetime:
    return datetime(2025, month, day, hour, 0, tzinfo=VIETNAM_TZ)


def row(code: int, **values: object) -> ProjectedDossier:
    base = ProjectedDossier(
        dossier_code=f"000.00.12.H52-250701-{code:04d}", agency_code="000.00.12.H52", field_code="HT",
        channel=Channel.COUNTER, status=DossierStatus.PROCESSING, received_at=at(7, 1), accepted=True, version=1,
    )  # fmt: skip
    return replace(base, **values)  # type: ignore[arg-type]


def finished(code: int, received: datetime, due: datetime, done: datetime) -> ProjectedDossier:
    return row(code, status=DossierStatus.FINISHED, received_at=received, due_at=due, finished_at=done, closed_at=done)


def apologised_and_finished() -> ProjectedDossier:
    """Accepted 15 July, due 18 July; apology on 17 July moving it to 30 July; finished 25 July."""
    d = synthetic_dossier(random.Random(7), agency_code="000.00.12.H52", received_at=at(7, 15), seq=7,
                          channel="counter")  # fmt: skip
    d = d.model_copy(update={"due_at": at(7, 18, 16)})
    d = with_apology(d, new_due_at=at(7, 30, 16), issued_at=at(7, 17), issued_by="Trần Thị Bình")
    d = d.model_copy(update={"status": DossierStatus.FINISHED, "finished_at": at(7, 25), "version": 3})
    return project(d)


ROWS = [
    finished(1, at(6, 20), due=at(7, 10), done=at(7, 5)),  # A: carried over, finished early in July
    row(
        2,
        received_at=at(7, 3),
        due_at=at(7, 20),
        status=DossierStatus.FINISHED,
        finished_at=at(8, 5),
        closed_at=at(8, 5),
    ),  # B: received in July, still in progress on 31 July and overdue
    finished(3, at(7, 10), due=at(7, 15), done=at(7, 12)),  # C: received and finished early in July
    row(4, status=DossierStatus.REFUSED, accepted=False, refused=True, received_at=at(7, 4)),  # D: refused
    finished(5, at(6, 10), due=at(6, 30), done=at(6, 25)),  # E: all in June: counts nowhere
    apologised_and_finished(),  # F: received in July, late against 18 July despite the apology
    row(6, received_at=at(7, 20), due_at=at(8, 20)),  # G: received, in progress on time
    row(8, status=DossierStatus.SUBMITTED, accepted=False, received_at=at(7, 8)),  # H: never accepted
]


def july() -> KpiTally:
    start, end = period_bounds(date(2025, 7, 1), date(2025, 7, 31))
    tally = KpiTally((), now=at(8, 10), start=start, end=end)
    tally.add(ROWS)
    return tally


def test_intake_counts_accepted_dossiers_by_ngay_tiep_nhan_and_not_the_refused() -> None:
    total = july().total()
    assert total.received == 4  # B, C, F, G
    assert total.refused == 1  # D


def test_carry_over_is_what_was_in_progress_when_the_period_began() -> None:
    assert july().total().carried_over == 1  # A


def test_finished_dossiers_are_counted_by_ngay_ket_thuc_xu_ly_in_the_period() -> None:
    total = july().total()
    assert (total.early, total.on_time, total.late) == (2, 0, 1)  # A, C early; F late; B finished in August
    assert f"{total.on_time_rate:.2%}" == "66.67%"


def test_in_progress_at_the_end_of_the_period_on_time_and_overdue() -> None:
    total = july().total()
    assert (total.in_progress_on_time, total.in_progress_overdue) == (1, 1)  # G; B


def test_an_apologised_dossier_is_judged_against_the_date_before_its_apology() -> None:
    f = apologised_and_finished()
    assert f.due_at == at(7, 18, 16)


def test_the_apology_reaches_dvcqg_as_a_supplement_record_with_both_dates() -> None:
    d = synthetic_dossier(random.Random(3), agency_code="000.00.12.H52", received_at=at(7, 15), seq=3,
                          channel="counter")  # fmt: skip
    due = d.due_at
    assert due is not None
    late = with_apology(d, new_due_at=due + timedelta(days=5), issued_at=due - timedelta(hours=2))
    item = dossier_to_dvcqg(late)
    [record] = item["DanhSachHoSoBoSung"]
    assert record["NgayHenTraTruoc"] == f"{due.astimezone(VIETNAM_TZ):%Y%m%d%H%M%S}"
    assert record["NgayHenTraMoi"] == f"{(due + timedelta(days=5)).astimezone(VIETNAM_TZ):%Y%m%d%H%M%S}"
    assert "xin lỗi" in record["NoiDungBoSung"]
    assert "LaPhieuXinLoi" not in record  # the one-stop system's flag stays out of DVCQG's item
    assert item["NgayHenTra"] == record["NgayHenTraMoi"]
    assert original_due(late) == due


def test_report_overdue_and_the_sla_watch_use_the_official_calendar_table(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    # Due Wed 31 Dec 2025 17:00; at Mon 5 Jan 2026 08:00 only 1 working hour has passed: 1-4 Jan are off
    # (letter 12729/VPCP-KGVX), so 2 Jan is not counted. Without the shipped table it would be 9 hours.
    from lienthong.kpi.report import overdue_dossiers
    from lienthong.kpi.sla import SlaWatch

    monkeypatch.delenv("LIENTHONG_CALENDAR_OVERRIDES", raising=False)
    late = row(9, received_at=datetime(2025, 12, 29, 9, tzinfo=VIETNAM_TZ),
               due_at=datetime(2025, 12, 31, 17, tzinfo=VIETNAM_TZ))  # fmt: skip
    [found] = overdue_dossiers([late], datetime(2026, 1, 5, 8, tzinfo=VIETNAM_TZ))
    assert found.working_hours_late == 1.0
    watch = SlaWatch(store=None, publish=None)  # type: ignore[arg-type]
    assert not watch.calendar.is_working_day(date(2026, 1, 2))
