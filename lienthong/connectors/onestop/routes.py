"""Inbound HTTP of the one-stop connector: the dossier-event webhook, on the inbound kit.

`POST /onestop/dossier-events` takes one `OnestopDossierEventIn` JSON body, maps it to a canonical
`DossierEvent`, audits the exact bytes received, publishes it on `dossier.events` keyed by the dossier
code, and only then answers 202: a 202 means the event is durable on the bus and audited.

Duplicates: a delivery is identified by (`event_id`, `version`). Copies arriving together or soon after
are answered 200 `{"duplicate": true}` without a second record (`DuplicateGuard`); past the in-memory
window a copy is published again with the same `ce_id`, and the DVCQG sync's version guard keeps one
effect. An `event_id` re-sent with a different `version` is accepted as the newer (or older) state: it
is a new record with its own `ce_id`, and the version guard decides what DVCQG receives.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict

from lienthong.bus.publisher import BusPublisher
from lienthong.connectors.inbound import DuplicateGuard, InboundRefusal, InboundRoute, bearer_auth
from lienthong.connectors.onestop.settings import OnestopSettings
from lienthong.connectors.onestop.worker import EVENTS_TOPIC, dossier_event_record
from lienthong.logging import get_logger
from lienthong.mappings.onestop import EXAMPLE_EVENT, OnestopDossierEventIn, onestop_event_to_canonical

log = get_logger("lienthong.onestop")

PATH = "/onestop/dossier-events"
FLOW = "dossier_sync"
"""Audit flow of dossier events."""
PEER = "onestop"
RECENT_MAX = 10_000
"""Default number of recently accepted deliveries remembered per process."""
PUBLISH_TIMEOUT_S = 10.0
"""Default longest wait for the bus before answering 503 (nothing published)."""


class WebhookAccepted(BaseModel):
    """Answer of an accepted dossier event."""

    model_config = ConfigDict(use_attribute_docstrings=True)

    accepted: bool = True
    """Always true here: the event is durable on the bus."""
    id: str
    """`ce_id` of the record on `dossier.events` (the same for every delivery of one `event_id` and version)."""
    duplicate: bool = False
    """True when this `event_id` and version was accepted recently and was not published again."""


class FieldError(BaseModel):
    """One reason a body was refused."""

    loc: str
    """The field's path in the body's own names, e.g. `dossier.DinhDanhCHS[0].SoDinhDanh` (`<body>` for the whole)."""
    msg: str
    """What is wrong; never the submitted value."""
    type: str
    """Error type, e.g. `missing`, `json_invalid`, `int_out_of_range`."""


class WebhookRefused(BaseModel):
    """Answer of a refused request: nothing was published."""

    model_config = ConfigDict(use_attribute_docstrings=True)

    accepted: bool = False
    """Always false here."""
    detail: str
    """Summary of why."""
    errors: list[FieldError] = []
    """Each offending field (empty for authentication and availability errors)."""


def _render(refusal: InboundRefusal) -> JSONResponse:
    body = WebhookRefused(
        detail=refusal.detail, errors=[FieldError(loc=e.loc, msg=e.msg, type=e.type) for e in refusal.errors]
    )
    return JSONResponse(body.model_dump(), status_code=refusal.status, headers=refusal.headers)


def _refused(status: int, description: str) -> dict[str, Any]:
    return {"model": WebhookRefused, "description": description}


def router(
    publisher: BusPublisher,
    settings: OnestopSettings,
    *,
    topic: str = EVENTS_TOPIC,
    recent_max: int = RECENT_MAX,
    publish_timeout_s: float = PUBLISH_TIMEOUT_S,
) -> APIRouter:
    """The one-stop webhook, publishing to `topic` through `publisher`.

    `settings.webhook_token` (when set) is required as a bearer token. `recent_max` bounds the in-memory
    memory of recent deliveries. An event the bus cannot take within `publish_timeout_s` is answered 503.
    """
    guard: DuplicateGuard[str] = DuplicateGuard(capacity=recent_max)
    auth = bearer_auth(
        lambda: settings.webhook_token,
        scheme_name="OnestopWebhookToken",
        description="`LIENTHONG_ONESTOP_WEBHOOK_TOKEN`, sent as `Authorization: Bearer <token>`.",
    )
    api = APIRouter(tags=["onestop"], route_class=InboundRoute.for_renderer(_render, auth=auth))

    @api.post(
        PATH,
        status_code=202,
        summary="Receive a dossier event from the one-stop system",
        response_model=WebhookAccepted,
        dependencies=[Depends(auth.dependency)],
        responses={
            200: {"model": WebhookAccepted, "description": "Duplicate: this `event_id` and version was accepted."},
            400: _refused(400, "The body is not JSON. Nothing was published."),
            401: _refused(401, "Missing or wrong bearer token."),
            408: _refused(408, "The body did not arrive in time."),
            413: _refused(413, "The body is larger than accepted (`LIENTHONG_MAX_BODY_BYTES`)."),
            415: _refused(415, "The Content-Type is not JSON."),
            422: _refused(422, "The event breaks a rule; `errors` names each field. Nothing was published."),
            503: _refused(503, "The bus is unavailable; nothing was published; send the event again later."),
        },
        openapi_extra={"requestBody": {"content": {"application/json": {"example": EXAMPLE_EVENT}}}},
    )
    async def dossier_event(body: OnestopDossierEventIn, request: Request) -> JSONResponse:
        """A dossier changed in the one-stop system: its full state, with a monotonic `version`.

        202 once the event is audited and on `dossier.events`; resend on 408, 5xx or no answer. Sending the
        same `event_id` and version again is safe (200 duplicate, or the same record id). Error answers name
        fields and rules, never submitted values (they carry personal data).
        """
        event = onestop_event_to_canonical(body)
        value, envelope = dossier_event_record(event, traceparent=request.headers.get("traceparent", ""))
        raw = await request.body()

        async def publish() -> str:
            try:
                await publisher.publish(
                    topic, value, envelope, key=event.dossier.code, flow=FLOW, peer=PEER, wire=raw,
                    detail={"event_id": event.event_id, "version": event.dossier.version},
                    queue_timeout_s=publish_timeout_s,
                )  # fmt: skip
            except Exception as exc:
                log.warning("dossier event not published", dossier_code=event.dossier.code, error=type(exc).__name__)
                raise InboundRefusal(
                    503, "the bus is unavailable; nothing was published; send the event again later",
                    headers={"Retry-After": "5"},
                ) from exc  # fmt: skip
            return envelope.id

        ce_id, duplicate = await guard.once((event.event_id, event.dossier.version), publish)
        answer = WebhookAccepted(id=ce_id, duplicate=duplicate)
        return JSONResponse(answer.model_dump(), status_code=200 if duplicate else 202)

    return api
