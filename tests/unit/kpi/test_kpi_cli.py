"""`lienthong report kpi|overdue` over a SQLite projection: JSON and tables, errors with exit codes."""

import asyncio
import json
import random
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from lienthong.calendar.config import VIETNAM_TZ
from lienthong.demo.workload import synthetic_dossier
from lienthong.kpi.cli import app
from lienthong.kpi.store import KpiStore
from lienthong.schemas.dossier import Dossier, DossierStatus

runner = CliRunner()
RECEIVED = datetime(2025, 7, 1, 9, 0, tzinfo=VIETNAM_TZ)
DUE = datetime(2025, 7, 3, 16, 0, tzinfo=VIETNAM_TZ)
NOW = "2025-07-04T09:00+07:00"


def dossier(seq: int, channel: str = "counter", **changes: Any) -> Dossier:
    d = synthetic_dossier(random.Random(seq), agency_code="000.00.12.H52", received_at=RECEIVED, seq=seq,
                          channel=channel)  # fmt: skip
    return d.model_copy(update={"due_at": DUE, **changes})


def returned(seq: int, finished_at: datetime, channel: str = "counter") -> Dossier:
    return dossier(seq, channel, status=DossierStatus.RETURNED, finished_at=finished_at, returned_at=finished_at)


@pytest.fixture
def dsn(tmp_path: Path) -> str:
    """A projection with 3 early/on-time and 1 late returned dossiers, and 2 open ones (1 overdue)."""
    dsn = f"sqlite:///{tmp_path / 'kpi.db'}"
    dossiers = [
        returned(1, DUE - timedelta(days=1), "online"),
        returned(2, DUE, "online"),
        returned(3, DUE),
        returned(4, DUE + timedelta(days=1)),
        dossier(5),  # open, due Thursday 16:00: 3 working hours late at Friday 09:00
        dossier(6, due_at=DUE + timedelta(days=7)),
    ]

    async def fill() -> None:
        store = KpiStore(dsn)
        await store.open()
        await store.upsert_many(dossiers)
        await store.close()

    asyncio.run(fill())
    return dsn


def invoke(*args: str) -> Any:
    return runner.invoke(app, list(args), env={"COLUMNS": "200"})


def test_kpi_json_is_one_object_with_rows_and_total(dsn: str) -> None:
    result = invoke("kpi", "--from", "2025-07-01", "--to", "2025-07-04", "--json", "--by", "channel",
                    "--dsn", dsn, "--now", NOW)  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["by"] == ["channel"]
    assert [(r["channel"], r["received"]) for r in report["rows"]] == [("counter", 4), ("online", 2)]
    total = report["total"]
    assert (total["received"], total["returned"], total["finished"], total["late"]) == (6, 4, 4, 1)
    assert (total["on_or_before_time_pct"], total["online_pct"], total["overdue_open"]) == (75.0, 33.33, 1)


def test_kpi_table_shows_rates_and_a_total_row(dsn: str) -> None:
    result = invoke("kpi", "--from", "2025-07-01", "--to", "2025-07-31", "--dsn", dsn, "--now", NOW)
    assert result.exit_code == 0, result.output
    assert "000.00.12.H52" in result.stdout
    assert "Total" in result.stdout
    assert "75.00%" in result.stdout
    assert "33.33%" in result.stdout


def test_kpi_of_a_later_period_counts_finishing_and_carry_over_not_intake(dsn: str) -> None:
    result = invoke("kpi", "--from", "2025-07-02", "--to", "2025-07-31", "--json", "--dsn", dsn, "--now", NOW)
    total = json.loads(result.stdout)["total"]
    # Received on 1 July: not intake of this period, but all 6 carried over; 4 finished inside it.
    assert (total["received"], total["carried_over"], total["finished"]) == (0, 6, 4)
    # At --now (4 July 09:00) the late one (finished 4 July 16:00) was still in progress and overdue too.
    assert (total["in_progress_on_time"], total["in_progress_overdue"]) == (1, 2)


def test_kpi_of_the_intake_day_alone_finishes_nothing(dsn: str) -> None:
    result = invoke("kpi", "--from", "2025-07-01", "--to", "2025-07-01", "--json", "--dsn", dsn, "--now", NOW)
    total = json.loads(result.stdout)["total"]
    assert (total["received"], total["finished"], total["carried_over"]) == (6, 0, 0)
    assert total["in_progress_on_time"] == 6  # at the end of 1 July nothing was due yet


def test_kpi_with_empty_by_prints_only_the_total(dsn: str) -> None:
    result = invoke("kpi", "--from", "2025-07-01", "--to", "2025-07-01", "--by", "", "--json", "--dsn", dsn)
    report = json.loads(result.stdout)
    assert (report["by"], report["rows"][0]["received"]) == ([], 6)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--from", "1/7/2025", "--to", "2025-07-31"], "YYYY-MM-DD"),
        (["--from", "2025-07-31", "--to", "2025-07-01"], "before --from"),
        (["--from", "2025-07-01", "--to", "2025-07-31", "--by", "agency,province"], "choose from"),
        (["--from", "2025-07-01", "--to", "2025-07-31", "--now", "tomorrow"], "ISO 8601"),
        (["--from", "2025-07-01", "--to", "2025-07-31", "--dsn", "mysql://x"], "unsupported DSN"),
    ],
)
def test_kpi_usage_errors_exit_2_saying_what_to_write(args: list[str], message: str) -> None:
    result = invoke("kpi", *args)
    assert result.exit_code == 2
    assert message in result.stderr


def test_a_missing_projection_exits_1_and_says_how_to_get_one(tmp_path: Path) -> None:
    result = invoke("overdue", "--dsn", f"sqlite:///{tmp_path / 'none.db'}")
    assert result.exit_code == 1
    assert "run the kpi flow first" in result.stderr
    assert not (tmp_path / "none.db").exists()


def test_overdue_json_lists_code_agency_due_and_working_hours_late(dsn: str) -> None:
    result = invoke("overdue", "--json", "--dsn", dsn, "--now", NOW)
    assert result.exit_code == 0, result.output
    listing = json.loads(result.stdout)
    assert listing["count"] == 1
    assert listing["dossiers"] == [{
        "dossier_code": "000.00.12.H52-250701-0005", "agency": "000.00.12.H52", "field": dossier(5).field_code,
        "due_at": "2025-07-03T16:00:00+07:00", "working_hours_late": 3.0,
    }]  # fmt: skip


def test_overdue_output_carries_no_personal_data(dsn: str) -> None:
    applicant = dossier(5).applicant
    for args in (["overdue", "--json"], ["overdue"]):
        out = invoke(*args, "--dsn", dsn, "--now", NOW).stdout
        assert applicant.name not in out
        assert applicant.id_number is not None
        assert applicant.id_number not in out


def test_overdue_table_names_the_dossier(dsn: str) -> None:
    result = invoke("overdue", "--dsn", dsn, "--now", NOW)
    assert "000.00.12.H52-250701-0005" in result.stdout
    assert "3.00" in result.stdout


def test_overdue_says_so_when_nothing_is_overdue(dsn: str) -> None:
    result = invoke("overdue", "--dsn", dsn, "--now", "2025-07-01T10:00+07:00")
    assert result.exit_code == 0
    assert "No open dossier is overdue" in result.stdout
