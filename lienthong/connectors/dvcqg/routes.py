"""Inbound HTTP from DVCQG: the push endpoint for online submissions and notices (REFERENCE 2B).

`POST /dvcqg/push` takes DVCQG's `{service, isUpdating, data}` body, reads it with
`lienthong.mappings.dvcqg.parse_inbound`, publishes the `InboundNotice` on `dossier.inbound` (keyed by
the first item's `MaHoSo`) and audits the exact bytes received before answering. Answers follow
DVCQG's JSON convention, HTTP 200 with the outcome in the body:

- `{"error_code": 0, "message": "accepted", "id": <ce_id>}`: durable on the bus;
- `{"error_code": 1, "message": "duplicate"}`: the same bytes were accepted recently (not republished);
- `{"error_code": -1, "message": <reason>}`: the push breaks a rule; the reason names fields and
  rules, never values (pushes carry personal data).

A body that is not JSON at all gets HTTP 400 (with `error_code -1`); a bus failure HTTP 503, so the
sender retries. The record's `ce_id` derives from the SHA-256 of the body, so a repeated push that
escapes the in-memory duplicate check (after a restart) is the same event, and the one-stop delivery
makes its effect once (idempotency key from the `ce_id`).
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import OrderedDict
from dataclasses import replace
from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict

from lienthong.bus.envelope import derived_id, new_envelope
from lienthong.bus.publisher import BusPublisher
from lienthong.connectors.http import bearer_ok
from lienthong.logging import get_logger
from lienthong.mappings import MAPPING_VERSION
from lienthong.mappings.dvcqg import SERVICE_LAND_TAX_NOTICE, parse_inbound
from lienthong.mappings.errors import MappingError
from lienthong.schemas.dossier import InboundNotice

log = get_logger("lienthong.dvcqg")

PATH = "/dvcqg/push"
INBOUND_TOPIC = "dossier.inbound"
EVENT_TYPE = "vn.gov.lienthong.dossier.inbound_notice.v1"
SOURCE = "/dvcqg"
FLOW = "inbound"
PEER = "dvcqg"
RECENT_MAX = 10_000
"""Default number of recently accepted body digests remembered per process."""
PUBLISH_TIMEOUT_S = 10.0
"""Default longest wait for the bus and the audit store before answering 503."""

EXAMPLE_PUSH: dict[str, Any] = {
    "service": SERVICE_LAND_TAX_NOTICE,
    "isUpdating": "False",
    "data": [
        {
            "MaHoSo": "000.00.12.H52-250703-0042",
            "MaTTHC": "1.004227.000.00.00.H52",
            "SoVanBan": "TB-2025-001234",
            "NgayNopHoSo": "20250703083000",
            "MaSoThue": "0101234567",
            "DiaChiDoanhNghiep": {"MaTinh": "52", "MaXa": "21550", "DiaChiChiTiet": "Số 12 đường Lê Lợi"},
            "TepDinhKem": [{"TenTepDinhKem": "thong-bao-thue.pdf", "Base64": "JVBERi0xLjQK"}],
        }
    ],
}
"""A valid push (also the OpenAPI example)."""


class PushReply(BaseModel):
    """DVCQG-style answer: HTTP 200 with the outcome in the body."""

    model_config = ConfigDict(use_attribute_docstrings=True)

    error_code: int
    """0 accepted, 1 duplicate (accepted before), -1 refused."""
    message: str
    """`accepted`, `duplicate`, or why the push was refused (fields and rules, no values)."""
    id: str | None = None
    """`ce_id` of the record on `dossier.inbound` when accepted."""


def _reply(error_code: int, message: str, *, status: int = 200, ce_id: str | None = None) -> JSONResponse:
    body = PushReply(error_code=error_code, message=message, id=ce_id).model_dump(exclude_none=True)
    return JSONResponse(body, status_code=status)


def _record_key(notice: InboundNotice, digest_hex: str) -> tuple[str, str]:
    """(record key, ce_subject): the first item's MaHoSo; a push without one is keyed by its digest."""
    first = notice.items[0]
    if first.dossier_code:
        return first.dossier_code, first.dossier_code
    return first.document_number or digest_hex, ""


def router(
    publisher: BusPublisher,
    *,
    topic: str = INBOUND_TOPIC,
    recent_max: int = RECENT_MAX,
    publish_timeout_s: float = PUBLISH_TIMEOUT_S,
    token: str = "",
) -> APIRouter:
    """The DVCQG push endpoint, publishing to `topic` through `publisher`.

    `token` (when set, `LIENTHONG_DVCQG_PUSH_TOKEN`) is required as a bearer token: without it anyone
    who reaches the port could queue notices for the one-stop system.

    `recent_max` bounds the in-memory set of digests of recently accepted bodies. A push not durable
    within `publish_timeout_s` (broker unreachable, topic missing) is answered HTTP 503.
    """
    if recent_max < 1:
        raise ValueError("recent_max must be at least 1")
    api = APIRouter(tags=["dvcqg"])
    recent: OrderedDict[str, None] = OrderedDict()

    @api.post(
        PATH,
        summary="Receive an online submission or a notice pushed by DVCQG",
        response_model=PushReply,
        responses={
            400: {"model": PushReply, "description": "The body is not JSON."},
            503: {"model": PushReply, "description": "The bus is unavailable; push again later."},
        },
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "required": ["service", "data"],
                            "properties": {
                                "service": {"type": "string", "description": "DVCQG service name."},
                                "isUpdating": {"type": "string", "enum": ["True", "False"]},
                                "data": {"type": "array", "items": {"type": "object"}},
                            },
                        },
                        "example": EXAMPLE_PUSH,
                    }
                },
            }
        },
    )
    async def push(request: Request) -> JSONResponse:  # noqa: PLR0911 - one early answer per refusal
        """DVCQG pushes `{service, isUpdating, data}`; `error_code` 0 once it is durable on the bus."""
        if token and not bearer_ok(request, token):
            return _reply(-1, "missing or wrong bearer token", status=401)
        raw = await request.body()
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return _reply(-1, "the body is not JSON", status=400)
        sha = hashlib.sha256(raw).hexdigest()
        if sha in recent:
            recent.move_to_end(sha)
            return _reply(1, "duplicate")
        try:
            notice = parse_inbound(body)
        except MappingError as exc:
            log.info("DVCQG push refused", reason=str(exc))
            return _reply(-1, str(exc))
        if not notice.items:
            return _reply(-1, f"inbound push {notice.service}: 'data' has no items")
        key, subject = _record_key(notice, sha)
        ce_id = derived_id(sha, "dvcqg-push")
        envelope = replace(
            new_envelope(
                type=EVENT_TYPE,
                source=SOURCE,
                subject=subject,
                correlation_id=ce_id,
                mapping_version=MAPPING_VERSION,
                traceparent=request.headers.get("traceparent", ""),
            ),
            id=ce_id,
        )
        try:
            async with asyncio.timeout(publish_timeout_s):
                await publisher.publish(
                    topic,
                    notice.model_dump_json().encode(),
                    envelope,
                    key=key,
                    flow=FLOW,
                    peer=PEER,
                    wire=raw,
                    detail={"service": notice.service, "items": len(notice.items)},
                )
        except Exception as exc:
            # Not durable: DVCQG must push again; a record that did reach the bus has the same ce_id.
            log.warning("DVCQG push not published", dossier_code=subject, error=type(exc).__name__)
            return _reply(-1, "the bus is unavailable; push again later", status=503)
        recent[sha] = None
        while len(recent) > recent_max:
            recent.popitem(last=False)
        return _reply(0, "accepted", ce_id=ce_id)

    return api
