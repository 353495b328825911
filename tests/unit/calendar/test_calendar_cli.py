"""`lienthong calendar due|classify`: ISO output, one-line errors with exit code 2."""

from pathlib import Path

import pytest
from typer.testing import CliRunner

from lienthong.calendar.cli import app

runner = CliRunner()


def test_due_prints_iso_with_offset() -> None:
    result = runner.invoke(app, ["due", "--received", "2025-04-29T11:00+07:00", "--days", "1"])
    assert result.exit_code == 0
    assert result.stdout == "2025-05-05T11:00:00+07:00\n"


def test_due_reads_a_time_without_offset_as_vietnam_time() -> None:
    result = runner.invoke(app, ["due", "--received", "2025-05-12T18:00", "--hours", "2"])
    assert result.stdout == "2025-05-13T09:00:00+07:00\n"


def test_due_applies_every_pause() -> None:
    args = ["due", "--received", "2025-05-12T08:00+07:00", "--days", "3"]
    args += ["--pause", "2025-05-13T08:00+07:00/2025-05-13T12:00+07:00"]
    args += ["--pause", "2025-05-13T13:30+07:00/2025-05-14T08:00+07:00"]
    assert runner.invoke(app, args).stdout == "2025-05-16T08:00:00+07:00\n"


def test_due_with_calendar_days_moves_off_a_sunday() -> None:
    result = runner.invoke(app, ["due", "--received", "2025-05-05T10:00+07:00", "--calendar-days", "6"])
    assert result.stdout == "2025-05-12T10:00:00+07:00\n"


def test_due_uses_the_override_file(tmp_path: Path) -> None:
    path = tmp_path / "overrides.json"
    path.write_text('{"extra_days_off": ["2025-05-12"]}', encoding="utf-8")
    args = ["due", "--received", "2025-05-09T16:00+07:00", "--days", "1", "--overrides", str(path)]
    assert runner.invoke(app, args).stdout == "2025-05-13T16:00:00+07:00\n"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--received", "2025-05-09T16:00", "--days", "1", "--hours", "2"], "exactly one"),
        (["--received", "2025-05-09T16:00"], "exactly one"),
        (["--received", "9/5/2025", "--days", "1"], "not an ISO 8601 date-time"),
        (["--received", "2025-05-09T16:00", "--days", "-1"], "must not be negative"),
        (["--received", "2025-05-09T16:00", "--days", "1", "--pause", "2025-05-12T08:00"], "START/END"),
        (
            ["--received", "2025-05-09T16:00", "--days", "1", "--overrides", "/nonexistent/o.json"],
            "cannot read",
        ),
    ],
    ids=["two-limits", "no-limit", "bad-received", "negative", "bad-pause", "missing-overrides"],
)
def test_bad_due_input_gives_one_line_error_and_exit_code_2(args: list[str], message: str) -> None:
    result = runner.invoke(app, ["due", *args])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.startswith("error: ")
    assert message in result.stderr
    assert result.stderr.count("\n") == 1


@pytest.mark.parametrize(
    ("finished", "expected"),
    [
        ("2025-05-09T10:00+07:00", "early"),
        ("2025-05-12T16:45+07:00", "on_time"),
        ("2025-05-13T07:00+07:00", "late"),
    ],
)
def test_classify_prints_the_class(finished: str, expected: str) -> None:
    result = runner.invoke(app, ["classify", "--due", "2025-05-12T16:00+07:00", "--finished", finished])
    assert result.exit_code == 0
    assert result.stdout == f"{expected}\n"


def test_classify_bad_input_gives_one_line_error_and_exit_code_2() -> None:
    result = runner.invoke(app, ["classify", "--due", "tomorrow", "--finished", "2025-05-12T16:45+07:00"])
    assert result.exit_code == 2
    assert result.stderr == "error: --due 'tomorrow' is not an ISO 8601 date-time; write e.g. 2025-05-09T16:00+07:00\n"


@pytest.mark.parametrize("command", ["due", "classify"])
def test_help_shows_an_example(command: str) -> None:
    result = runner.invoke(app, [command, "--help"])
    assert result.exit_code == 0
    assert f"Example: lienthong calendar {command}" in result.stdout
