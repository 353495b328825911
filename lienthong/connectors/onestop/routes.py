"""Inbound HTTP of the one-stop connector: the dossier-event webhook.

`POST /onestop/dossier-events` takes one `OnestopDossierEventIn` JSON body, maps it to a canonical
`DossierEvent`, publishes it on `dossier.events` keyed by the dossier code, audits the exact bytes
received, and only then answers 202: a 202 means the event is durable on the bus.

Duplicate deliveries are harmless: every delivery of one `event_id` becomes a record with the same
`ce_id` and the same dossier version, and the DVCQG sync skips a version it already has, so there is
one effect. That version guard downstream is what makes duplicates safe across restarts and between
replicas; the small in-memory memory of recently accepted `event_id`s here only spares the bus the
repeat (answer 200 `{"accepted": true, "duplicate": true}`), within one process.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Hashable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, ValidationError

from lienthong.bus.publisher import BusPublisher
from lienthong.connectors.http import bearer_ok
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
"""Default number of recently accepted event ids remembered per process."""
PUBLISH_TIMEOUT_S = 10.0
"""Default longest wait for the bus and the audit store before answering 503."""
_LOC_PART_MAX = 64


class RecentKeys:
    """A bounded set of recently seen keys; the least recently seen is forgotten first."""

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = capacity
        self._keys: OrderedDict[Hashable, None] = OrderedDict()

    def seen(self, key: Hashable) -> bool:
        """True when `key` was added and not forgotten since (it becomes the most recent)."""
        if key in self._keys:
            self._keys.move_to_end(key)
            return True
        return False

    def add(self, key: Hashable) -> None:
        """Remember `key`, forgetting the oldest beyond capacity."""
        self._keys[key] = None
        self._keys.move_to_end(key)
        while len(self._keys) > self.capacity:
            self._keys.popitem(last=False)


class WebhookAccepted(BaseModel):
    """Answer of an accepted dossier event."""

    model_config = ConfigDict(use_attribute_docstrings=True)

    accepted: bool = True
    """Always true here: the event is durable on the bus."""
    id: str
    """`ce_id` of the record on `dossier.events` (the same for every delivery of one `event_id`)."""
    duplicate: bool = False
    """True when this `event_id` was accepted recently and was not published again."""


class FieldError(BaseModel):
    """One reason a body was refused."""

    loc: str
    """Path of the offending field, e.g. `dossier.DinhDanhCHS.0.SoDinhDanh` (`<body>` for the whole)."""
    msg: str
    """What is wrong; never the submitted value."""
    type: str
    """Pydantic error type, e.g. `missing`, `json_invalid`."""


class WebhookRefused(BaseModel):
    """Answer of a refused body: nothing was published."""

    model_config = ConfigDict(use_attribute_docstrings=True)

    accepted: bool = False
    """Always false here."""
    detail: str
    """Summary of why."""
    errors: list[FieldError] = []
    """Each offending field (empty for authentication and availability errors)."""


def _inline_refs(schema: dict[str, Any]) -> dict[str, Any]:
    """The model's JSON Schema with `$defs` inlined: an OpenAPI request body cannot carry `$defs`."""
    defs = schema.get("$defs", {})

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return walk(defs[ref.removeprefix("#/$defs/")])
            return {k: walk(v) for k, v in node.items() if k != "$defs"}
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    inlined: dict[str, Any] = walk(schema)
    return inlined


def _refused(
    status: int, detail: str, errors: list[FieldError] | None = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    body = WebhookRefused(detail=detail, errors=errors or [])
    return JSONResponse(body.model_dump(), status_code=status, headers=headers)


def _invalid(exc: ValidationError) -> JSONResponse:
    errors = [
        FieldError(
            loc=".".join(str(part)[:_LOC_PART_MAX] for part in e["loc"]) or "<body>",
            msg=e["msg"],
            type=e["type"],
        )
        for e in exc.errors(include_url=False, include_context=False, include_input=False)
    ]
    if any(e.type == "json_invalid" for e in errors):
        return _refused(400, "the body is not JSON", errors)
    return _refused(422, f"the dossier event is invalid: {len(errors)} error(s); nothing was published", errors)


def router(
    publisher: BusPublisher,
    settings: OnestopSettings,
    *,
    topic: str = EVENTS_TOPIC,
    recent_max: int = RECENT_MAX,
    publish_timeout_s: float = PUBLISH_TIMEOUT_S,
) -> APIRouter:
    """The one-stop webhook, publishing to `topic` through `publisher`.

    `settings.webhook_token` (when set) is required as a bearer token. `recent_max` bounds the
    in-memory set of recently accepted event ids. An event not durable within `publish_timeout_s`
    (broker unreachable, topic missing) is answered 503.
    """
    api = APIRouter(tags=["onestop"])
    recent = RecentKeys(recent_max)
    body_schema = _inline_refs(OnestopDossierEventIn.model_json_schema())
    body_schema.pop("examples", None)

    @api.post(
        PATH,
        status_code=202,
        summary="Receive a dossier event from the one-stop system",
        response_model=WebhookAccepted,
        responses={
            200: {"model": WebhookAccepted, "description": "Duplicate: this `event_id` was accepted recently."},
            400: {"model": WebhookRefused, "description": "The body is not JSON. Nothing was published."},
            401: {"model": WebhookRefused, "description": "Missing or wrong bearer token."},
            422: {"model": WebhookRefused, "description": "The event breaks a rule; `errors` names each field."},
            503: {"model": WebhookRefused, "description": "The bus is unavailable; send the event again later."},
        },
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": body_schema, "example": EXAMPLE_EVENT}},
            }
        },
    )
    async def dossier_event(request: Request) -> JSONResponse:
        """A dossier changed in the one-stop system: its full state, with a monotonic `version`.

        202 once the event is on `dossier.events` and audited; resend on anything else but 4xx. Sending
        the same `event_id` again is safe (same record id, same version; the DVCQG sync keeps one).
        Error answers name fields and rules, never submitted values (they carry personal data).
        """
        if settings.webhook_token and not bearer_ok(request, settings.webhook_token):
            return _refused(401, "missing or wrong bearer token", headers={"WWW-Authenticate": "Bearer"})
        raw = await request.body()
        try:
            body = OnestopDossierEventIn.model_validate_json(raw)
        except ValidationError as exc:
            log.info("dossier event refused", errors=exc.error_count())
            return _invalid(exc)
        event = onestop_event_to_canonical(body)
        value, envelope = dossier_event_record(event, traceparent=request.headers.get("traceparent", ""))
        if recent.seen(event.event_id):
            return JSONResponse(WebhookAccepted(id=envelope.id, duplicate=True).model_dump(), status_code=200)
        try:
            async with asyncio.timeout(publish_timeout_s):
                await publisher.publish(
                    topic,
                    value,
                    envelope,
                    key=event.dossier.code,
                    flow=FLOW,
                    peer=PEER,
                    wire=raw,
                    detail={"event_id": event.event_id, "version": event.dossier.version},
                )
        except Exception as exc:
            # Not durable in time (broker, topic or audit store unavailable): the sender must retry. If the
            # record did reach the bus anyway, the retry carries the same ce_id and version: still one effect.
            log.warning("dossier event not published", dossier_code=event.dossier.code, error=type(exc).__name__)
            return _refused(503, "the bus is unavailable; send the event again later", headers={"Retry-After": "5"})
        recent.add(event.event_id)
        return JSONResponse(WebhookAccepted(id=envelope.id).model_dump(), status_code=202)

    return api
