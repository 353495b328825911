"""The connector registry: every `Connector` installed under the entry-point group `lienthong.connectors`.

The core asks this module, never a connector package by name: `connectors()` for the list,
`all_flows()` for `lienthong run`, `connector_topics()` for the catalogue, `settings_classes()` for
`lienthong config`. A broken or duplicate registration is a `ConfigurationError` naming the entry point,
raised when the registry is first read.
"""

from __future__ import annotations

from functools import cache
from importlib.metadata import entry_points
from typing import TYPE_CHECKING

from lienthong.connectors.base import Connector, FlowSpec
from lienthong.errors import ConfigurationError

if TYPE_CHECKING:
    from lienthong.bus.topics import TopicSpec

ENTRY_POINT_GROUP = "lienthong.connectors"
"""Entry-point group a distribution registers its connectors under."""


@cache
def connectors() -> tuple[Connector, ...]:
    """Every registered connector, sorted by name (loaded once per process)."""
    found: dict[str, Connector] = {}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            obj = ep.load()
        except Exception as exc:
            raise ConfigurationError(
                f"connector entry point {ep.name!r} ({ep.value}) failed to load: {type(exc).__name__}: {exc}"
            ) from exc
        if not isinstance(obj, Connector):
            raise ConfigurationError(
                f"connector entry point {ep.name!r} ({ep.value}) is not a lienthong Connector "
                "(see lienthong.connectors.base)"
            )
        if obj.name in found:
            raise ConfigurationError(f"two connectors are registered as {obj.name!r}; uninstall one")
        found[obj.name] = obj
    if not found:
        raise ConfigurationError(
            f"no connector is registered under the entry-point group {ENTRY_POINT_GROUP!r}: "
            "is lienthong installed (`pip install -e .`, or `make setup`)?"
        )
    return tuple(found[name] for name in sorted(found))


def connector(name: str) -> Connector:
    """The connector registered as `name` (a `ConfigurationError` listing the known ones otherwise)."""
    for c in connectors():
        if c.name == name:
            return c
    known = ", ".join(c.name for c in connectors())
    raise ConfigurationError(f"no connector named {name!r}; registered: {known}")


def connector_flows() -> dict[str, FlowSpec]:
    """Every connector's flows by name (a name offered twice is a `ConfigurationError`)."""
    flows: dict[str, FlowSpec] = {}
    for c in connectors():
        for spec in c.flows():
            if spec.name in flows:
                raise ConfigurationError(f"flow {spec.name!r} is offered by two connectors")
            flows[spec.name] = spec
    return flows


def connector_topics() -> list[TopicSpec]:
    """Every connector's own topics, in registry order."""
    return [spec for c in connectors() for spec in c.topics()]


__all__ = ["ENTRY_POINT_GROUP", "connector", "connector_flows", "connector_topics", "connectors"]
