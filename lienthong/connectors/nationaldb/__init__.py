"""Connector `lookups`: purpose-logged look-ups in the national databases (population, business, civil status)."""

from __future__ import annotations

from lienthong.connectors.base import ConnectorSpec
from lienthong.connectors.nationaldb.settings import LookupSettings

NAME = "lookups"
PEER = "nationaldb"

connector = ConnectorSpec(
    name=NAME,
    peer=PEER,
    description="National databases: population, business registry, civil status; purpose-logged look-ups",
    settings_class=LookupSettings,
)

__all__ = ["NAME", "PEER", "connector"]
