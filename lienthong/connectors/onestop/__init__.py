"""Connector for the provincial one-stop system: dossier events in (webhook or its own topic), DVCQG
notices out (REST), and its sandbox simulator.

- `settings`: `OnestopSettings` (`LIENTHONG_ONESTOP_*`).
- `routes`: `router(publisher, settings)`, the webhook `POST /onestop/dossier-events`.
- `worker`: `build_onestop_delivery_flow` (`dossier.inbound` -> REST) and `build_onestop_topic_flow`
  (the system's own topic -> `dossier.events`).
- `client`: `OnestopClient`, the REST calls and their error taxonomy.
- `sandbox`: the simulated REST API (`create_onestop_sandbox`); the system of record that drives the
  demo is `lienthong.demo.lifecycle`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from pydantic import SecretStr

from lienthong.connectors.base import Close, ConnectorSpec, FlowContext, FlowSpec
from lienthong.connectors.onestop.settings import OnestopSettings

if TYPE_CHECKING:
    from fastapi import APIRouter, FastAPI

    from lienthong.bus.publisher import BusPublisher
    from lienthong.bus.topics import TopicSpec
    from lienthong.bus.worker import Flow
    from lienthong.settings import Settings

NAME = "onestop"
PEER = "onestop"


def _topics() -> Sequence[TopicSpec]:
    from lienthong.connectors.onestop.worker import source_topic_spec

    return (source_topic_spec(OnestopSettings()),)


async def _build_delivery(settings: Settings, ctx: FlowContext) -> tuple[Flow, Close]:
    from lienthong.connectors.onestop.worker import build_onestop_delivery_flow

    return await build_onestop_delivery_flow(settings, idempotency=ctx.idempotency)


async def _build_intake(settings: Settings, ctx: FlowContext) -> tuple[Flow, Close]:
    from lienthong.connectors.onestop.worker import build_onestop_topic_flow

    del ctx
    return await build_onestop_topic_flow(settings)


def _flows() -> Sequence[FlowSpec]:
    return (
        FlowSpec(
            name="onestop_notices",
            topic="dossier.inbound",
            peer=PEER,
            description="dossier.inbound (DVCQG notices) -> one-stop REST API, idempotent",
            build=_build_delivery,
            default=True,
        ),
        FlowSpec(
            name="onestop_events",
            topic=OnestopSettings().source_topic,
            peer="-",
            description="the one-stop system's own topic -> dossier.events (instead of the webhook)",
            build=_build_intake,
        ),
    )


def _routers(publisher: BusPublisher) -> Sequence[APIRouter]:
    from lienthong.connectors.onestop.routes import router

    return (router(publisher, OnestopSettings()),)


def _secrets() -> dict[str, SecretStr]:
    return {"LIENTHONG_ONESTOP_WEBHOOK_TOKEN": OnestopSettings().webhook_token}


def _sandbox() -> FastAPI:
    from lienthong.connectors.onestop.sandbox import create_onestop_sandbox

    return create_onestop_sandbox()


connector = ConnectorSpec(
    name=NAME,
    peer=PEER,
    description="Provincial one-stop system: dossier events in (webhook or topic), DVCQG notices out",
    settings_class=OnestopSettings,
    topic_specs=_topics,
    flow_specs=_flows,
    make_routers=_routers,
    paths=("POST /onestop/dossier-events",),
    secrets=_secrets,
    make_sandbox=_sandbox,
    extra={"sandbox": "python -m lienthong.connectors.onestop.sandbox --port 8092"},
)
"""The one-stop connector, registered under the entry point `lienthong.connectors:onestop`."""

__all__ = ["NAME", "PEER", "connector"]
