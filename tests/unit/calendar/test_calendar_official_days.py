"""Golden cases of the shipped official calendar table, each with its legal source, and the operator's layer.

Expected answers are written by hand from the sources named in each test (REFERENCE section 5).
"""

from datetime import date, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lienthong.calendar import (
    CalendarOverrides,
    TimeLimit,
    WorkingCalendar,
    configured_calendar,
    configured_overrides,
    official_overrides,
)
from lienthong.calendar.cli import app

runner = CliRunner()
VN = "+07:00"


@pytest.fixture(autouse=True)
def _no_operator_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LIENTHONG_CALENDAR_OVERRIDES", raising=False)


def test_new_year_2026_friday_2_january_is_off() -> None:
    # Government Office letter 12729/VPCP-KGVX (25 Dec 2025): Thu 1 - Sun 4 Jan 2026 off.
    cal = configured_calendar()
    assert [cal.is_working_day(date(2026, 1, d)) for d in (1, 2, 3, 4, 5)] == [False, False, False, False, True]


def test_new_year_2026_saturday_10_january_is_worked() -> None:
    # Same letter: Friday 2 Jan swapped with Saturday 10 Jan, a working day.
    cal = configured_calendar()
    assert cal.is_working_day(date(2026, 1, 10))
    assert not cal.is_working_day(date(2026, 1, 17))


def test_the_shipped_swap_names_its_legal_source() -> None:
    table = official_overrides()
    assert "12729/VPCP-KGVX" in table.sources[date(2026, 1, 2)]
    assert "12729/VPCP-KGVX" in table.sources[date(2026, 1, 10)]
    info = configured_calendar().explain(date(2026, 1, 2))
    assert not info.working
    assert "12729/VPCP-KGVX" in info.source


def test_vietnam_culture_day_is_worked_until_a_labour_code_amendment_is_enacted() -> None:
    # Labour Code 2019 art. 112 lists no 24 Nov; Resolution 80-NQ/TW and 30/NQ-CP are not an enacted amendment.
    cal = configured_calendar()
    assert cal.is_working_day(date(2026, 11, 24))
    assert "Labour Code" in cal.explain(date(2026, 11, 24)).source


def test_an_operator_file_can_make_24_november_a_day_off(tmp_path: Path) -> None:
    path = tmp_path / "province.yaml"
    path.write_text(
        "days_off:\n  - date: 2026-11-24\n    name: Ngày Văn hóa Việt Nam\n"
        "    source: Labour Code amendment (assumed)\n",
        encoding="utf-8",
    )
    cal = configured_calendar(path)
    assert not cal.is_working_day(date(2026, 11, 24))
    assert cal.explain(date(2026, 11, 24)).source == "Labour Code amendment (assumed)"
    # The shipped swaps still apply under the operator's layer.
    assert cal.is_working_day(date(2026, 1, 10))


def test_the_operator_file_wins_over_the_shipped_table_for_the_same_date(tmp_path: Path) -> None:
    path = tmp_path / "o.json"
    path.write_text('{"days_off": [{"date": "2026-01-10", "source": "provincial decision"}]}', encoding="utf-8")
    table = configured_overrides(path)
    assert date(2026, 1, 10) in table.extra_days_off
    assert date(2026, 1, 10) not in table.extra_working_days
    assert table.sources[date(2026, 1, 10)] == "provincial decision"


def test_the_setting_names_the_operator_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "o.yaml"
    path.write_text("working_days:\n  - 2026-01-03\n", encoding="utf-8")
    monkeypatch.setenv("LIENTHONG_CALENDAR_OVERRIDES", str(path))
    assert configured_calendar().is_working_day(date(2026, 1, 3))


def test_a_due_date_over_new_year_2026_skips_2_january_and_uses_10_january() -> None:
    # Received Wed 31 Dec 2025 16:00, 2 working days: 1 h on 31 Dec, then Mon 5 Jan (8 h), 7 h on Tue 6 Jan.
    cal = configured_calendar()
    due = cal.due_moment(datetime.fromisoformat(f"2025-12-31T16:00{VN}"), days=2)
    assert due.isoformat() == f"2026-01-06T16:00:00{VN}"
    # Received Fri 9 Jan 16:00, 1 working day: due Saturday 10 Jan 16:00 (a working day).
    due = cal.due_moment(datetime.fromisoformat(f"2026-01-09T16:00{VN}"), days=1)
    assert due.isoformat() == f"2026-01-10T16:00:00{VN}"


def test_without_the_shipped_table_the_package_alone_gets_2_january_wrong() -> None:
    # Proof that the shipped data is what makes the difference (holidays 0.109 lacks the swap).
    bare = WorkingCalendar(overrides=CalendarOverrides())
    assert bare.is_working_day(date(2026, 1, 2))
    assert not bare.is_working_day(date(2026, 1, 10))


def test_calendar_days_command_prints_the_2026_swap_with_its_source() -> None:
    result = runner.invoke(app, ["days", "--year", "2026"])
    assert result.exit_code == 0, result.output
    lines = {line.split()[0]: line for line in result.stdout.splitlines() if line[:4] == "2026" and line[4] == "-"}
    assert len(lines) == 365
    assert " off " in lines["2026-01-02"] and "12729/VPCP-KGVX" in lines["2026-01-02"]
    assert " working " in lines["2026-01-10"]
    assert " working " in lines["2026-11-24"]
    assert " off " in lines["2026-02-17"]


def test_calendar_days_json_counts_working_days() -> None:
    import json

    result = runner.invoke(app, ["days", "--year", "2026", "--json", "--only-exceptions"])
    payload = json.loads(result.stdout)
    exceptions = {d["date"]: d["working"] for d in payload["days"]}
    assert exceptions["2026-01-02"] is False
    assert exceptions["2026-01-10"] is True
    assert payload["working_days"] + payload["non_working_days"] == 365


# Same-day procedures (certification, Decree 23/2015/NĐ-CP art. 21): same day, or the next working day
# when received after 15:00.


def test_same_day_limit_before_the_cutoff_is_due_the_same_evening() -> None:
    cal = configured_calendar()
    due = cal.due_moment(datetime.fromisoformat(f"2025-05-12T14:59{VN}"), same_day=True)
    assert due.isoformat() == f"2025-05-12T17:00:00{VN}"


def test_same_day_limit_after_the_cutoff_is_due_the_next_working_day() -> None:
    cal = configured_calendar()
    # Friday 9 May 2025 15:01 -> Monday 12 May 17:00.
    due = cal.due_moment(datetime.fromisoformat(f"2025-05-09T15:01{VN}"), same_day=True)
    assert due.isoformat() == f"2025-05-12T17:00:00{VN}"


def test_same_day_limit_received_on_a_day_off_is_due_on_the_next_working_day() -> None:
    cal = configured_calendar()
    due = cal.due_moment(datetime.fromisoformat(f"2026-01-02T09:00{VN}"), same_day=True)
    assert due.isoformat() == f"2026-01-05T17:00:00{VN}"


def test_same_day_cutoff_is_configurable() -> None:
    cal = configured_calendar()
    received = datetime.fromisoformat(f"2025-05-12T14:30{VN}")
    assert cal.due_moment(received, same_day=True, cutoff=datetime.min.time().replace(hour=14)).date() == date(
        2025, 5, 13
    )


def test_same_day_cli_flags() -> None:
    args = ["due", "--received", "2025-05-12T15:30+07:00", "--same-day", "--cutoff", "15:00"]
    result = runner.invoke(app, args)
    assert result.stdout == "2025-05-13T17:00:00+07:00\n"
    both = ["due", "--received", "2025-05-12T15:30+07:00", "--days", "1", "--same-day"]
    assert runner.invoke(app, both).exit_code == 2


def test_time_limit_as_procedure_data() -> None:
    limit = TimeLimit.parse("same-day<15:00")
    assert limit.same_day and str(limit) == "same-day<15:00"
    cal = configured_calendar()
    assert limit.due(cal, datetime.fromisoformat(f"2025-05-12T16:00{VN}")).isoformat() == f"2025-05-13T17:00:00{VN}"
    assert TimeLimit.parse("3d") == TimeLimit(working_days=3)
    with pytest.raises(ValueError, match="write 3d"):
        TimeLimit.parse("three days")
