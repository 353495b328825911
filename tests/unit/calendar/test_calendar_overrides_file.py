"""Loading the operator's override table from JSON or YAML, with errors that point at the line."""

from datetime import date
from pathlib import Path

import pytest

from lienthong.calendar import CalendarOverrides, OverridesFileError, load_overrides
from lienthong.errors import ConfigurationError


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_json_file_is_loaded(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "overrides.json",
        '{"extra_days_off": ["2026-01-02"], "extra_working_days": ["2026-01-10", "2026-01-17"]}',
    )
    assert load_overrides(path) == CalendarOverrides(
        extra_days_off=frozenset({date(2026, 1, 2)}),
        extra_working_days=frozenset({date(2026, 1, 10), date(2026, 1, 17)}),
    )


def test_yaml_file_with_unquoted_dates_and_comments_is_loaded(tmp_path: Path) -> None:
    text = "extra_days_off:\n  - 2026-01-02  # provincial decision\nextra_working_days:\n  - '2026-01-10'\n"
    assert load_overrides(write(tmp_path, "overrides.yaml", text)) == CalendarOverrides(
        extra_days_off=frozenset({date(2026, 1, 2)}), extra_working_days=frozenset({date(2026, 1, 10)})
    )


def test_missing_key_and_empty_file_mean_no_overrides(tmp_path: Path) -> None:
    assert load_overrides(write(tmp_path, "a.yml", "")) == CalendarOverrides()
    assert load_overrides(write(tmp_path, "b.json", '{"extra_days_off": []}')) == CalendarOverrides()


def test_bad_json_date_names_line_key_and_value(tmp_path: Path) -> None:
    path = write(tmp_path, "o.json", '{\n  "extra_days_off": [\n    "2026-01-02",\n    "2026-02-30"\n  ]\n}\n')
    with pytest.raises(OverridesFileError, match=r"o\.json:4: extra_days_off\[1\] = '2026-02-30' is not a valid date"):
        load_overrides(path)


def test_bad_yaml_date_names_line_key_and_value(tmp_path: Path) -> None:
    path = write(tmp_path, "o.yaml", "extra_working_days:\n  - 2026-01-10\n  - 10/01/2026\n")
    with pytest.raises(OverridesFileError, match=r"o\.yaml:3: extra_working_days\[1\] = '10/01/2026' is not a date"):
        load_overrides(path)


def test_unknown_key_is_rejected_with_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, "o.yaml", "extra_days_off: []\nextra_day_off:\n  - 2026-01-02\n")
    with pytest.raises(OverridesFileError, match=r"o\.yaml:2: unknown key 'extra_day_off'"):
        load_overrides(path)


def test_date_in_both_lists_is_rejected_with_both_lines(tmp_path: Path) -> None:
    path = write(tmp_path, "o.yaml", "extra_days_off:\n  - 2026-01-02\nextra_working_days:\n  - 2026-01-02\n")
    with pytest.raises(OverridesFileError, match=r"2026-01-02 is listed both .*line 2.*line 4"):
        load_overrides(path)


def test_json_syntax_error_names_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, "o.json", '{\n  "extra_days_off": ["2026-01-02",]\n}\n')
    with pytest.raises(OverridesFileError, match=r"o\.json:2: not valid JSON"):
        load_overrides(path)


def test_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, "o.yaml", "extra_days_off:\n  - [2026-01-02\n")
    with pytest.raises(OverridesFileError, match=r"o\.yaml:\d+: not valid YAML"):
        load_overrides(path)


def test_value_that_is_not_a_list_is_rejected(tmp_path: Path) -> None:
    path = write(tmp_path, "o.json", '{"extra_days_off": "2026-01-02"}')
    with pytest.raises(OverridesFileError, match="must be a list"):
        load_overrides(path)


def test_missing_file_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="cannot read"):
        load_overrides(tmp_path / "absent.json")


def test_unknown_suffix_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(OverridesFileError, match=r"\*\.json, \*\.yaml or \*\.yml"):
        load_overrides(write(tmp_path, "o.txt", "{}"))
