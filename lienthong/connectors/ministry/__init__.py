"""Connector for ministries (Bộ, ngành): the inbound SOAP endpoint and a sandbox ministry client.

- `settings`: `MinistrySettings` (`LIENTHONG_SOAP_*`, accounts file `LIENTHONG_SOAP_ACCOUNTS`).
- `routes`: `POST /soap/ministry` (TraCuuHoSo, GuiKetQuaXuLy -> `ministry.results`), WSDL at `?wsdl`.
- `worker`: flow `ministry_dossier_view` (`dossier.events` -> the view TraCuuHoSo answers).
- `sandbox`: `SandboxMinistry`, a zeep client of our WSDL acting as a ministry
  (`python -m lienthong.connectors.ministry.sandbox --url http://127.0.0.1:8080/soap/ministry?wsdl`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from pydantic import SecretStr

from lienthong.connectors.base import Close, ConnectorSpec, FlowContext, FlowSpec
from lienthong.connectors.ministry.settings import MinistrySettings

if TYPE_CHECKING:
    from fastapi import APIRouter

    from lienthong.bus.publisher import BusPublisher
    from lienthong.bus.topics import TopicSpec
    from lienthong.bus.worker import Flow
    from lienthong.settings import Settings

NAME = "ministry"
PEER = "ministry"


def _topics() -> Sequence[TopicSpec]:
    from lienthong.bus.topics import TopicSpec

    return (
        TopicSpec(
            "ministry.results",
            key="dossier code (MaHoSo)",
            description="A ministry's result for its part of an inter-agency dossier (SOAP GuiKetQuaXuLy), "
            "once per (ministry account, MaThongDiep).",
            payload="lienthong.schemas.ministry.MinistryResult",
            event_types=("vn.gov.lienthong.ministry.result_reported.v1",),
        ),
    )


async def _build_view(settings: Settings, ctx: FlowContext) -> tuple[Flow, Close]:
    from lienthong.connectors.ministry.worker import build_dossier_view_flow

    del ctx
    return await build_dossier_view_flow(settings)


def _flows() -> Sequence[FlowSpec]:
    return (
        FlowSpec(
            name="ministry_dossier_view",
            topic="dossier.events",
            peer="-",
            description="dossier.events -> the dossier view answered to ministries by SOAP TraCuuHoSo",
            build=_build_view,
            default=True,
        ),
    )


def _routers(publisher: BusPublisher) -> Sequence[APIRouter]:
    from lienthong.connectors.ministry.routes import router

    return (router(publisher),)


def _secrets() -> dict[str, SecretStr]:
    return {"LIENTHONG_SOAP_ACCOUNTS": MinistrySettings().accounts}


connector = ConnectorSpec(
    name=NAME,
    peer=PEER,
    description="Ministries: SOAP endpoint (WSDL, WS-Security) for inter-agency results and dossier look-ups",
    settings_class=MinistrySettings,
    topic_specs=_topics,
    flow_specs=_flows,
    make_routers=_routers,
    paths=("GET /soap/ministry?wsdl", "POST /soap/ministry"),
    secrets=_secrets,
    extra={"client": "python -m lienthong.connectors.ministry.sandbox --url http://127.0.0.1:8080/soap/ministry?wsdl"},
)
"""The ministry connector, registered under the entry point `lienthong.connectors:ministry`."""

__all__ = ["NAME", "PEER", "connector"]
