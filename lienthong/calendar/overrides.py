"""The operator-editable override table: extra days off and extra working days.

The file is JSON or YAML (chosen by its suffix) with two optional keys holding ISO dates::

    {"extra_days_off": ["2026-01-02"], "extra_working_days": ["2026-01-10"]}

    # calendar-overrides.yaml
    extra_days_off:
      - 2026-01-02      # Quyết định ... of the provincial People's Committee
    extra_working_days:
      - 2026-01-10
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import yaml

from lienthong.errors import ConfigurationError

__all__ = ["CalendarOverrides", "OverridesFileError", "load_overrides"]

_KEYS = ("extra_days_off", "extra_working_days")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_EXAMPLE = '{"extra_days_off": ["2026-01-02"], "extra_working_days": ["2026-01-10"]}'


class OverridesFileError(ConfigurationError):
    """The override file cannot be used; the message names the file, line and value to fix."""


@dataclass(frozen=True, slots=True)
class CalendarOverrides:
    """Local exceptions that win over weekends and the national holiday table."""

    extra_days_off: frozenset[date] = frozenset()
    """Dates not worked although the national calendar says they are (e.g. a provincial decision)."""

    extra_working_days: frozenset[date] = frozenset()
    """Dates worked although the national calendar says they are off (e.g. a make-up Saturday
    the `holidays` package does not know yet)."""

    def __post_init__(self) -> None:
        if both := self.extra_days_off & self.extra_working_days:
            listed = ", ".join(d.isoformat() for d in sorted(both))
            raise ValueError(f"{listed}: listed both as extra day off and extra working day; keep one")


@dataclass(frozen=True, slots=True)
class _Entry:
    key: str
    index: int
    raw: object
    line: int | None


def load_overrides(path: str | Path) -> CalendarOverrides:
    """Load a `CalendarOverrides` from a `.json`, `.yaml` or `.yml` file.

    Raises `OverridesFileError` naming the file, line, key and value when the file cannot be
    read or parsed, has an unknown key, a value that is not a YYYY-MM-DD date, or a date in both lists.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise OverridesFileError(f"{path}: cannot read the calendar override file ({exc}); check the path") from exc
    suffix = path.suffix.lower()
    if suffix == ".json":
        entries = _json_entries(path, text)
    elif suffix in {".yaml", ".yml"}:
        entries = _yaml_entries(path, text)
    else:
        raise OverridesFileError(f"{path}: unknown override file type {suffix!r}; name it *.json, *.yaml or *.yml")

    dates: dict[str, dict[date, int | None]] = {key: {} for key in _KEYS}
    for entry in entries:
        dates[entry.key].setdefault(_parse_date(path, entry), entry.line)
    if both := dates["extra_days_off"].keys() & dates["extra_working_days"].keys():
        day = min(both)
        raise OverridesFileError(
            f"{path}: {day.isoformat()} is listed both in extra_days_off "
            f"({_where(dates['extra_days_off'][day])}) and in extra_working_days "
            f"({_where(dates['extra_working_days'][day])}); keep one"
        )
    return CalendarOverrides(
        extra_days_off=frozenset(dates["extra_days_off"]),
        extra_working_days=frozenset(dates["extra_working_days"]),
    )


def _where(line: int | None) -> str:
    return f"line {line}" if line is not None else "line unknown"


def _parse_date(path: Path, entry: _Entry) -> date:
    location = f"{path}:{entry.line}" if entry.line is not None else str(path)
    label = f"{entry.key}[{entry.index}] = {entry.raw!r}"
    if not isinstance(entry.raw, str) or not _ISO_DATE.fullmatch(entry.raw):
        raise OverridesFileError(f"{location}: {label} is not a date; write it as YYYY-MM-DD, e.g. 2026-01-02")
    try:
        return date.fromisoformat(entry.raw)
    except ValueError as exc:
        raise OverridesFileError(f"{location}: {label} is not a valid date ({exc})") from exc


def _check_keys(path: Path, keys: list[tuple[object, int | None]]) -> None:
    for key, line in keys:
        if key not in _KEYS:
            location = f"{path}:{line}" if line is not None else str(path)
            raise OverridesFileError(
                f"{location}: unknown key {key!r}; the override file takes only {', '.join(_KEYS)}"
            )


def _json_entries(path: Path, text: str) -> list[_Entry]:
    try:
        data: Any = json.loads(text)
    except json.JSONDecodeError as exc:
        raise OverridesFileError(f"{path}:{exc.lineno}: not valid JSON ({exc.msg}); expected {_EXAMPLE}") from exc
    if not isinstance(data, dict):
        raise OverridesFileError(f"{path}: the top level must be an object like {_EXAMPLE}")
    lines = text.splitlines()
    _check_keys(path, [(key, _line_of(lines, json.dumps(key))) for key in data])
    entries: list[_Entry] = []
    for key, values in data.items():
        if values is None:
            continue
        if not isinstance(values, list):
            line = _line_of(lines, json.dumps(key))
            raise OverridesFileError(f"{path}:{line}: {key} must be a list of YYYY-MM-DD dates, got {values!r}")
        # json keeps no positions; the first line showing the value is where an operator looks.
        entries.extend(
            _Entry(key, index, value, _line_of(lines, json.dumps(value))) for index, value in enumerate(values)
        )
    return entries


def _line_of(lines: list[str], needle: str) -> int | None:
    for number, line in enumerate(lines, start=1):
        if needle in line:
            return number
    return None


def _yaml_entries(path: Path, text: str) -> list[_Entry]:
    # Composing (not loading) keeps every value as text with its position: safe_load would turn
    # 2026-02-30 into an exception without a line, and valid dates into `date` objects.
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        problem = getattr(exc, "problem", None) or exc
        raise OverridesFileError(f"{where}: not valid YAML ({problem})") from exc
    if root is None:
        return []
    if not isinstance(root, yaml.MappingNode):
        raise OverridesFileError(f"{path}:{root.start_mark.line + 1}: the top level must be a mapping of lists")
    _check_keys(path, [(key.value, key.start_mark.line + 1) for key, _ in root.value])
    entries: list[_Entry] = []
    for key_node, value_node in root.value:
        key = key_node.value
        if isinstance(value_node, yaml.ScalarNode) and value_node.tag == "tag:yaml.org,2002:null":
            continue
        if not isinstance(value_node, yaml.SequenceNode):
            raise OverridesFileError(
                f"{path}:{value_node.start_mark.line + 1}: {key} must be a list of YYYY-MM-DD dates"
            )
        for index, item in enumerate(value_node.value):
            raw = item.value if isinstance(item, yaml.ScalarNode) else f"<{item.id}>"
            entries.append(_Entry(key, index, raw, item.start_mark.line + 1))
    return entries
