"""Connector `lookups`: purpose-logged look-ups in the national databases (population, business, civil status).

- `settings`: `LookupSettings` (`LIENTHONG_LOOKUPS_*`).
- `policy`: purpose check, per-procedure field lists (`fields.yaml`), per-officer rate limit, keyed hash.
- `client`: `NationalDbClient` (platform OAuth2 token, population SOAP-in-JSON, business registry,
  civil status over zeep with our vendored WSDL).
- `service`: `LookupService`, the one implementation behind both entry points:
- `routes`: the desk's `POST /lookups/{population|business|civil-status}`;
- `worker`: flow `lookups` (`lookup.requests` -> `lookup.results`);
- `cli`: `lienthong lookups log [CITIZEN_ID] [--dossier] [--officer] [--since] [--json]`;
- `sandbox`: the simulated registers, `python -m lienthong.connectors.nationaldb.sandbox --port 8093`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from pydantic import SecretStr

from lienthong.connectors.base import Close, ConnectorSpec, FlowContext, FlowSpec
from lienthong.connectors.nationaldb.settings import LookupSettings

if TYPE_CHECKING:
    import typer
    from fastapi import APIRouter, FastAPI

    from lienthong.bus.publisher import BusPublisher
    from lienthong.bus.topics import TopicSpec
    from lienthong.bus.worker import Flow
    from lienthong.settings import Settings

NAME = "lookups"
PEER = "nationaldb"


def _topics() -> Sequence[TopicSpec]:
    from lienthong.bus.topics import TopicSpec

    return (
        TopicSpec(
            "lookup.requests",
            key="request id (MaYeuCau)",
            description="Registry look-ups asked by desk systems: register, query and purpose "
            "(procedure, dossier, officer, legal basis).",
            payload="lienthong.schemas.lookup.LookupRequest",
            event_types=("vn.gov.lienthong.lookup.requested.v1",),
        ),
        TopicSpec(
            "lookup.results",
            key="request id (MaYeuCau)",
            description="Answers to lookup.requests (correlated by correlation id and key): only the "
            "procedure's fields.",
            payload="lienthong.schemas.lookup.LookupResult",
            event_types=("vn.gov.lienthong.lookup.answered.v1",),
            companions=False,
        ),
    )


async def _build(settings: Settings, ctx: FlowContext) -> tuple[Flow, Close]:
    from lienthong.connectors.nationaldb.worker import build_lookup_flow

    return await build_lookup_flow(settings, ctx.audit)


def _flows() -> Sequence[FlowSpec]:
    return (
        FlowSpec(
            name="lookups",
            topic="lookup.requests",
            peer=PEER,
            description="lookup.requests -> national databases -> lookup.results (purpose-logged)",
            build=_build,
            default=True,
        ),
    )


def _routers(publisher: BusPublisher) -> Sequence[APIRouter]:
    from lienthong.connectors.nationaldb.routes import router

    return (router(publisher),)


def _secrets() -> dict[str, SecretStr]:
    return {"LIENTHONG_LOOKUPS_DESK_TOKEN": LookupSettings().desk_token}


def _sandbox() -> FastAPI:
    from lienthong.connectors.nationaldb.sandbox import create_nationaldb_sandbox

    return create_nationaldb_sandbox()


def _cli() -> typer.Typer:
    from lienthong.connectors.nationaldb.cli import app

    return app


connector = ConnectorSpec(
    name=NAME,
    peer=PEER,
    description="National databases: population, business registry, civil status; purpose-logged look-ups",
    settings_class=LookupSettings,
    topic_specs=_topics,
    flow_specs=_flows,
    make_routers=_routers,
    paths=("POST /lookups/population", "POST /lookups/business", "POST /lookups/civil-status"),
    secrets=_secrets,
    make_sandbox=_sandbox,
    make_cli=_cli,
    extra={"sandbox": "python -m lienthong.connectors.nationaldb.sandbox --port 8093"},
)
"""The look-ups connector, registered under the entry point `lienthong.connectors:lookups`."""

__all__ = ["NAME", "PEER", "connector"]
