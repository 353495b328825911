"""Connector for the National Public Service Portal (DVCQG): dossier sync out, pushes in, and its sandbox.

- `settings`: `DvcqgSettings` (`LIENTHONG_DVCQG_*`).
- `routes`: `router(publisher, token=...)`, the push endpoint `POST /dvcqg/push` -> `dossier.inbound`.
- `worker`: `build_dossier_sync_flow` (`dossier.events` -> `DongBoHoSoMC` / `CapNhatTienDoHoSoMC`).
- `client`: `DvcqgClient`, session login and the portal's JSON services.
- `sandbox`: the simulated portal (`create_dvcqg_sandbox`), `python -m lienthong.connectors.dvcqg.sandbox`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from pydantic import SecretStr

from lienthong.connectors.base import Close, ConnectorSpec, FlowContext, FlowSpec
from lienthong.connectors.dvcqg.settings import DvcqgSettings

if TYPE_CHECKING:
    from fastapi import APIRouter, FastAPI

    from lienthong.bus.publisher import BusPublisher
    from lienthong.bus.topics import TopicSpec
    from lienthong.bus.worker import Flow
    from lienthong.settings import Settings

NAME = "dvcqg"
PEER = "dvcqg"


def _topics() -> Sequence[TopicSpec]:
    from lienthong.bus.topics import TopicSpec

    return (
        TopicSpec(
            "dossier.inbound",
            key="dossier code (MaHoSo)",
            description="Online submissions and notices pushed by DVCQG (`{service, isUpdating, data}`), "
            "consumed by the one-stop delivery worker.",
            payload="lienthong.schemas.dossier.InboundNotice",
            event_types=("vn.gov.lienthong.dossier.inbound_notice.v1",),
        ),
    )


async def _build_sync(settings: Settings, ctx: FlowContext) -> tuple[Flow, Close]:
    from lienthong.connectors.dvcqg.worker import build_dossier_sync_flow

    return await build_dossier_sync_flow(settings, idempotency=ctx.idempotency)


def _flows() -> Sequence[FlowSpec]:
    return (
        FlowSpec(
            name="dossier_sync",
            topic="dossier.events",
            peer=PEER,
            description="dossier.events -> DVCQG DongBoHoSoMC / CapNhatTienDoHoSoMC (version-guarded)",
            build=_build_sync,
            default=True,
        ),
    )


def _routers(publisher: BusPublisher) -> Sequence[APIRouter]:
    from lienthong.connectors.dvcqg.routes import router

    return (router(publisher, token=DvcqgSettings().push_token),)


def _secrets() -> dict[str, SecretStr]:
    return {"LIENTHONG_DVCQG_PUSH_TOKEN": DvcqgSettings().push_token}


def _sandbox() -> FastAPI:
    from lienthong.connectors.dvcqg.sandbox import create_dvcqg_sandbox

    return create_dvcqg_sandbox()


connector = ConnectorSpec(
    name=NAME,
    peer=PEER,
    description="National Public Service Portal: dossier status sync out, online submissions and notices in",
    settings_class=DvcqgSettings,
    topic_specs=_topics,
    flow_specs=_flows,
    make_routers=_routers,
    paths=("POST /dvcqg/push",),
    secrets=_secrets,
    make_sandbox=_sandbox,
    extra={"sandbox": "python -m lienthong.connectors.dvcqg.sandbox --port 8091"},
)
"""The DVCQG connector, registered under the entry point `lienthong.connectors:dvcqg`."""

__all__ = ["NAME", "PEER", "connector"]
