"""Connector for DVCQG's payment platform (REFERENCE flow C): fees paid online, counter payments,
reconciliation, and its sandbox.

- `settings`: `PaymentSettings` (`LIENTHONG_PAYMENT_*`); `signature`: `MaXacThuc`, both public schemes.
- `client`: `PaymentClient` (`INIT`, `QUERY`, `GET_BILL`); `store`: `PaymentStore` (one row per
  `MaThamChieu`, settled once); `ledger`: record once, then publish durably; `events`: `payment.events`.
- `routes`: `POST /payments/dvcqg/confirm` (the signed callback); `counter`: `POST /payments/counter` (inbound kit).
- `worker`: flows `payment_requests`, `payment_notices`, `payment_reconcile`; `reconcile`: `Reconciler`.
- `sandbox`: the simulated platform, `python -m lienthong.connectors.payment.sandbox --port 8095`.
- `cli`: `lienthong payments init|list|show|reconcile`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from pydantic import SecretStr

from lienthong.connectors.base import Close, ConnectorSpec, FlowContext, FlowSpec
from lienthong.connectors.payment.settings import PaymentSettings

if TYPE_CHECKING:
    import typer
    from fastapi import APIRouter, FastAPI

    from lienthong.bus.publisher import BusPublisher
    from lienthong.bus.topics import TopicSpec
    from lienthong.bus.worker import Flow
    from lienthong.settings import Settings

NAME = "payment"
PEER = "payment"
CLI_NAME = "payments"
"""The CLI group: `lienthong payments ...`."""


def _topics() -> Sequence[TopicSpec]:
    from lienthong.connectors.payment.events import TOPIC_SPEC

    return (TOPIC_SPEC,)


async def _build_requests(settings: Settings, ctx: FlowContext) -> tuple[Flow, Close]:
    from lienthong.connectors.payment.worker import build_payment_request_flow

    del ctx
    return await build_payment_request_flow(settings)


async def _build_notices(settings: Settings, ctx: FlowContext) -> tuple[Flow, Close]:
    from lienthong.connectors.payment.worker import build_payment_notice_flow

    return await build_payment_notice_flow(settings, idempotency=ctx.idempotency)


async def _build_reconcile(settings: Settings, ctx: FlowContext) -> tuple[Flow, Close]:
    from lienthong.connectors.payment.worker import build_payment_reconcile_flow

    return await build_payment_reconcile_flow(settings, audit=ctx.audit)


def _flows() -> Sequence[FlowSpec]:
    return (
        FlowSpec(
            name="payment_requests",
            topic="dossier.events",
            peer=PEER,
            description="dossier.events (status 6 with fees) -> payment platform INIT -> payment.requested",
            build=_build_requests,
            default=True,
        ),
        FlowSpec(
            name="payment_notices",
            topic="payment.events",
            peer="onestop",
            description="payment.events -> one-stop REST API (pay link, confirmation with the moved due date)",
            build=_build_notices,
            default=True,
        ),
        FlowSpec(
            name="payment_reconcile",
            topic="payment.events",
            peer=PEER,
            description="GET_BILL receipts for confirmed payments; QUERY round of pending payments every interval",
            build=_build_reconcile,
            default=True,
        ),
    )


def _routers(publisher: BusPublisher) -> Sequence[APIRouter]:
    from lienthong.connectors.payment.routes import router
    from lienthong.connectors.payment.worker import default_store_dsn

    payment = PaymentSettings()
    return (router(publisher, payment, store_dsn=default_store_dsn(publisher.settings, payment)),)


def _secrets() -> dict[str, SecretStr]:
    return {"LIENTHONG_PAYMENT_COUNTER_TOKEN": PaymentSettings().counter_token}


def _sandbox() -> FastAPI:
    from lienthong.connectors.payment.sandbox import create_payment_sandbox

    return create_payment_sandbox()


def _cli() -> typer.Typer:
    from lienthong.connectors.payment.cli import app

    return app


connector = ConnectorSpec(
    name=NAME,
    peer=PEER,
    description="DVCQG payment platform: INIT/QUERY/GET_BILL out, signed confirmation callback and counter payments in",
    settings_class=PaymentSettings,
    topic_specs=_topics,
    flow_specs=_flows,
    make_routers=_routers,
    paths=("POST /payments/dvcqg/confirm", "POST /payments/counter"),
    secrets=_secrets,
    make_sandbox=_sandbox,
    make_cli=_cli,
    cli_name=CLI_NAME,
    extra={"sandbox": "python -m lienthong.connectors.payment.sandbox --port 8095"},
)
"""The payment connector, registered under the entry point `lienthong.connectors:payment`."""

__all__ = ["CLI_NAME", "NAME", "PEER", "connector"]
