"""The override table: days off and working days that win over the `holidays` package, each with its source.

Two layers use the same file format (JSON or YAML, chosen by the suffix):

- the shipped table `lienthong/calendar/data/vn_official_days.yaml` (`official_overrides()`): the
  government's swaps the package lacks, and package holidays not enacted in law, each with its legal
  source;
- the operator's file named by `LIENTHONG_CALENDAR_OVERRIDES` (`load_overrides`), laid over the shipped
  table: for a date both list, the operator's entry wins.

Keys (all optional)::

    days_off:                 # not worked although the national calendar says they are
      - date: 2026-01-02
        name: New Year 2026, swapped with Saturday 10 January
        source: Government Office letter 12729/VPCP-KGVX of 25 Dec 2025
    working_days:             # worked although the national calendar says they are off
      - date: 2026-01-10
        source: Government Office letter 12729/VPCP-KGVX of 25 Dec 2025
    ignored_holidays:         # `holidays` package holidays (by English name) that are worked
      - name: Vietnam Cultural Day
        source: Labour Code 2019 art. 112, not amended
    extra_days_off: [2026-01-02]        # the older short form: plain dates, no source
    extra_working_days: [2026-01-10]

`version` and `description` may carry metadata; any other key is refused.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass, field
from datetime import date
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from lienthong.errors import ConfigurationError

__all__ = ["CalendarOverrides", "OverridesFileError", "load_overrides", "official_overrides"]

_DAY_KEYS = {"days_off": "off", "extra_days_off": "off", "working_days": "working", "extra_working_days": "working"}
_KEYS = (*_DAY_KEYS, "ignored_holidays", "version", "description")
_ENTRY_KEYS = ("date", "name", "source")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_EXAMPLE = '{"days_off": [{"date": "2026-01-02", "source": "..."}], "working_days": ["2026-01-10"]}'
OFFICIAL_FILE = "vn_official_days.yaml"
"""Name of the shipped table under `lienthong/calendar/data/`."""


class OverridesFileError(ConfigurationError):
    """The override file cannot be used; the message names the file, line and value to fix."""


@dataclass(frozen=True, slots=True)
class CalendarOverrides:
    """Exceptions that win over weekends and the national holiday table, with where each comes from."""

    extra_days_off: frozenset[date] = frozenset()
    """Dates not worked although the national calendar says they are (a government swap the
    `holidays` package lacks, a provincial decision)."""

    extra_working_days: frozenset[date] = frozenset()
    """Dates worked although the national calendar says they are off (a make-up Saturday the
    package lacks, or a package holiday that is not law)."""

    ignored_holidays: frozenset[str] = frozenset()
    """English names of `holidays` package holidays that are worked (not enacted), e.g.
    `Vietnam Cultural Day`."""

    sources: dict[date | str, str] = field(default_factory=dict, compare=False, hash=False)
    """Legal source of each listed date or ignored holiday name (`date` or name -> text), when given."""

    names: dict[date, str] = field(default_factory=dict, compare=False, hash=False)
    """What each listed date is (e.g. `New Year 2026, swapped with Saturday 10 January`), when given."""

    def __post_init__(self) -> None:
        if both := self.extra_days_off & self.extra_working_days:
            listed = ", ".join(d.isoformat() for d in sorted(both))
            raise ValueError(f"{listed}: listed both as extra day off and extra working day; keep one")

    def layered(self, top: CalendarOverrides) -> CalendarOverrides:
        """This table with `top` laid over it: a date `top` lists takes `top`'s answer and source."""
        top_dates = top.extra_days_off | top.extra_working_days
        return CalendarOverrides(
            extra_days_off=(self.extra_days_off - top_dates) | top.extra_days_off,
            extra_working_days=(self.extra_working_days - top_dates) | top.extra_working_days,
            ignored_holidays=self.ignored_holidays | top.ignored_holidays,
            sources={**{k: v for k, v in self.sources.items() if k not in top_dates}, **top.sources},
            names={**{k: v for k, v in self.names.items() if k not in top_dates}, **top.names},
        )


@dataclass(frozen=True, slots=True)
class _Node:
    value: Any
    """dict[str, _Node], list[_Node], or a scalar as text (None for null)."""
    line: int | None


def load_overrides(path: str | Path) -> CalendarOverrides:
    """Load a `CalendarOverrides` from a `.json`, `.yaml` or `.yml` file (format in the module docstring).

    Raises `OverridesFileError` naming the file, line, key and value when the file cannot be read or
    parsed, has an unknown key, a value that is not a YYYY-MM-DD date, or a date listed both as a
    day off and as a working day.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise OverridesFileError(f"{path}: cannot read the calendar override file ({exc}); check the path") from exc
    suffix = path.suffix.lower()
    if suffix == ".json":
        root = _json_root(path, text)
    elif suffix in {".yaml", ".yml"}:
        root = _yaml_root(path, text)
    else:
        raise OverridesFileError(f"{path}: unknown override file type {suffix!r}; name it *.json, *.yaml or *.yml")
    return _table(path, root)


@functools.cache
def official_overrides() -> CalendarOverrides:
    """The shipped table of official swaps and non-enacted package holidays, with their sources."""
    source = resources.files("lienthong.calendar").joinpath("data", OFFICIAL_FILE)
    with resources.as_file(source) as path:
        return load_overrides(path)


def _where(path: Path, line: int | None) -> str:
    return f"{path}:{line}" if line is not None else str(path)


def _table(path: Path, root: _Node | None) -> CalendarOverrides:
    if root is None or root.value is None:
        return CalendarOverrides()
    if not isinstance(root.value, dict):
        raise OverridesFileError(f"{_where(path, root.line)}: the top level must be a mapping like {_EXAMPLE}")
    kinds: dict[str, dict[date, int | None]] = {"off": {}, "working": {}}
    sources: dict[date | str, str] = {}
    names: dict[date, str] = {}
    ignored: set[str] = set()
    for key, node in root.value.items():
        if key not in _KEYS:
            raise OverridesFileError(
                f"{_where(path, node.line)}: unknown key {key!r}; the override file takes only {', '.join(_KEYS)}"
            )
        if key in ("version", "description") or node.value is None:
            continue
        if not isinstance(node.value, list):
            raise OverridesFileError(f"{_where(path, node.line)}: {key} must be a list")
        for index, item in enumerate(node.value):
            if key == "ignored_holidays":
                name, source = _holiday_entry(path, key, index, item)
                ignored.add(name)
                if source:
                    sources[name] = source
                continue
            day, name, source = _day_entry(path, key, index, item)
            kinds[_DAY_KEYS[key]].setdefault(day, item.line)
            if source:
                sources[day] = source
            if name:
                names[day] = name
    if both := kinds["off"].keys() & kinds["working"].keys():
        day = min(both)
        raise OverridesFileError(
            f"{path}: {day.isoformat()} is listed both as a day off ({_line(kinds['off'][day])}) and as a "
            f"working day ({_line(kinds['working'][day])}); keep one"
        )
    return CalendarOverrides(
        extra_days_off=frozenset(kinds["off"]),
        extra_working_days=frozenset(kinds["working"]),
        ignored_holidays=frozenset(ignored),
        sources=sources,
        names=names,
    )


def _line(line: int | None) -> str:
    return f"line {line}" if line is not None else "line unknown"


def _text(path: Path, label: str, node: _Node | None) -> str:
    if node is None or node.value is None:
        return ""
    if not isinstance(node.value, str):
        raise OverridesFileError(f"{_where(path, node.line)}: {label} must be text")
    return node.value


def _day_entry(path: Path, key: str, index: int, item: _Node) -> tuple[date, str, str]:
    label = f"{key}[{index}]"
    if isinstance(item.value, dict):
        unknown = [k for k in item.value if k not in _ENTRY_KEYS]
        if unknown:
            raise OverridesFileError(
                f"{_where(path, item.line)}: {label} has unknown key {unknown[0]!r}; use {', '.join(_ENTRY_KEYS)}"
            )
        date_node = item.value.get("date")
        if date_node is None:
            raise OverridesFileError(f"{_where(path, item.line)}: {label} needs a 'date: YYYY-MM-DD'")
        return (
            _parse_date(path, label, date_node),
            _text(path, f"{label}.name", item.value.get("name")),
            _text(path, f"{label}.source", item.value.get("source")),
        )
    return _parse_date(path, label, item), "", ""


def _holiday_entry(path: Path, key: str, index: int, item: _Node) -> tuple[str, str]:
    label = f"{key}[{index}]"
    if isinstance(item.value, dict):
        name = _text(path, f"{label}.name", item.value.get("name"))
        source = _text(path, f"{label}.source", item.value.get("source"))
    else:
        name, source = _text(path, label, item), ""
    if not name:
        raise OverridesFileError(f"{_where(path, item.line)}: {label} needs the holiday's name as `holidays` spells it")
    return name, source


def _parse_date(path: Path, label: str, node: _Node) -> date:
    location = _where(path, node.line)
    raw = node.value
    text = f"{label} = {raw!r}" if not isinstance(raw, dict | list) else f"{label} = <{type(raw).__name__}>"
    if not isinstance(raw, str) or not _ISO_DATE.fullmatch(raw):
        raise OverridesFileError(f"{location}: {text} is not a date; write it as YYYY-MM-DD, e.g. 2026-01-02")
    try:
        return date.fromisoformat(raw)
    except ValueError as exc:
        raise OverridesFileError(f"{location}: {text} is not a valid date ({exc})") from exc


def _json_root(path: Path, text: str) -> _Node | None:
    try:
        data: Any = json.loads(text)
    except json.JSONDecodeError as exc:
        raise OverridesFileError(f"{path}:{exc.lineno}: not valid JSON ({exc.msg}); expected {_EXAMPLE}") from exc
    # JSON text is YAML too: composing it again gives each value its line for the error messages.
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return _plain(data)
    return _from_yaml(root)


def _plain(data: Any) -> _Node:
    if isinstance(data, dict):
        return _Node({str(k): _plain(v) for k, v in data.items()}, None)
    if isinstance(data, list):
        return _Node([_plain(v) for v in data], None)
    return _Node(None if data is None else str(data), None)


def _yaml_root(path: Path, text: str) -> _Node | None:
    # Composing (not loading) keeps every value as text with its position: safe_load would turn
    # 2026-02-30 into an exception without a line, and valid dates into `date` objects.
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        problem = getattr(exc, "problem", None) or exc
        raise OverridesFileError(f"{where}: not valid YAML ({problem})") from exc
    return _from_yaml(root)


def _value(node: yaml.Node) -> Any:
    converted = _from_yaml(node)
    return None if converted is None else converted.value


def _from_yaml(node: yaml.Node | None) -> _Node | None:
    if node is None:
        return None
    line = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        # A value is placed at its key's line: that is where a reader looks for "unknown key" or "not a list".
        return _Node({str(k.value): _Node(_value(v), k.start_mark.line + 1) for k, v in node.value}, line)
    if isinstance(node, yaml.SequenceNode):
        return _Node([_from_yaml(v) for v in node.value], line)
    if node.tag == "tag:yaml.org,2002:null":
        return _Node(None, line)
    return _Node(str(node.value), line)
