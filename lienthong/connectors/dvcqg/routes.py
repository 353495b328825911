"""Inbound HTTP from DVCQG: the push endpoint for online submissions and notices (REFERENCE 2B).

`POST /dvcqg/push` takes DVCQG's `{service, isUpdating, data}` body, reads it with
`lienthong.mappings.dvcqg.parse_inbound`, publishes the `InboundNotice` on `dossier.inbound` (keyed by
the first item's `MaHoSo`) and audits the exact bytes received before answering. Answers follow
DVCQG's JSON convention, HTTP 200 with the outcome in the body:

- `{"error_code": 0, "message": "accepted", "id": <ce_id>}`: durable on the bus;
- `{"error_code": 1, "message": "duplicate"}`: the same bytes were accepted recently (not republished);
- `{"error_code": -1, "message": <reason>}`: the push breaks a rule (a missing `data`, an unknown
  service, an item without `MaHoSo`/`SoVanBan`, a malformed code or date); the reason names fields and
  rules, never values (pushes carry personal data).

The request itself goes through the inbound kit (`lienthong.connectors.inbound`): a wrong token is HTTP
401, a body that is not JSON 400, a non-JSON Content-Type 415, an oversize body 413, a slow one 408, and a
bus failure 503 (nothing published), each with `error_code -1`. The record's `ce_id` derives from the
SHA-256 of the body, so a repeated push that escapes the in-memory duplicate check (after a restart) is
the same event, and the one-stop delivery makes its effect once (idempotency key from the `ce_id`).
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from typing import Any, Literal

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from lienthong.bus.envelope import derived_id, new_envelope
from lienthong.bus.publisher import BusPublisher
from lienthong.connectors.inbound import DuplicateGuard, InboundRefusal, InboundRoute, bearer_auth
from lienthong.logging import get_logger
from lienthong.mappings import MAPPING_VERSION
from lienthong.mappings.dvcqg import INBOUND_SERVICES, SERVICE_LAND_TAX_NOTICE, parse_inbound
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
    """DVCQG-style answer: the outcome in `error_code`."""

    model_config = ConfigDict(use_attribute_docstrings=True)

    error_code: int
    """0 accepted, 1 duplicate (accepted before), -1 refused."""
    message: str
    """`accepted`, `duplicate`, or why the push was refused (fields and rules, no values)."""
    id: str | None = None
    """`ce_id` of the record on `dossier.inbound` when accepted."""


class PushAddress(BaseModel):
    """`DiaChiDoanhNghiep`."""

    model_config = ConfigDict(extra="allow")

    MaTinh: str | None = None
    MaHuyen: str | None = None
    MaXa: str | None = None
    DiaChiChiTiet: str | None = None


class PushAttachment(BaseModel):
    """An attached file, base64."""

    model_config = ConfigDict(extra="allow")

    TenTepDinhKem: str | None = None
    Base64: str


class PushItem(BaseModel):
    """One item of a push; other fields are kept as received. `MaHoSo` or `SoVanBan` is required."""

    model_config = ConfigDict(extra="allow")

    MaHoSo: str | None = Field(None, pattern=r"^\S+-\d{6}-\d{4,5}$", description="Dossier code (QCVN form).")
    MaTTHC: str | None = None
    SoVanBan: str | None = None
    NgayNopHoSo: str | None = Field(None, pattern=r"^\d{14}$", description="yyyyMMddHHmmss, Vietnam time.")
    MaSoThue: str | None = Field(None, pattern=r"^(\d{10}(-\d{3})?|\d{12})$")
    DiaChiDoanhNghiep: PushAddress | None = None
    TepDinhKem: list[PushAttachment] = []


class PushIn(BaseModel):
    """DVCQG's push: `{service, isUpdating, data}`."""

    service: Literal[tuple(INBOUND_SERVICES)]  # type: ignore[valid-type]
    isUpdating: Literal["True", "False"] | bool | None = None  # noqa: N815 - the portal's name
    data: list[PushItem] = Field(min_length=1)


def _render(refusal: InboundRefusal) -> JSONResponse:
    # The portal's convention: a push that breaks a rule is HTTP 200 with error_code -1; transport-level
    # refusals (auth, size, type, availability) keep their HTTP status, with error_code -1 too.
    status = 200 if refusal.status == 422 else refusal.status
    body = PushReply(error_code=-1, message=refusal.message()).model_dump(exclude_none=True)
    return JSONResponse(body, status_code=status, headers=refusal.headers)


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
    token: str | SecretStr = "",
) -> APIRouter:
    """The DVCQG push endpoint, publishing to `topic` through `publisher`.

    `token` (when set, `LIENTHONG_DVCQG_PUSH_TOKEN`) is required as a bearer token: without it anyone
    who reaches the port could queue notices for the one-stop system. `recent_max` bounds the in-memory
    memory of recently accepted bodies. A push the bus cannot take within `publish_timeout_s` is 503.
    """
    if recent_max < 1:
        raise ValueError("recent_max must be at least 1")
    secret = token if isinstance(token, SecretStr) else SecretStr(token)
    guard: DuplicateGuard[str] = DuplicateGuard(capacity=recent_max)
    auth = bearer_auth(
        lambda: secret,
        scheme_name="DvcqgPushToken",
        description="`LIENTHONG_DVCQG_PUSH_TOKEN`, sent as `Authorization: Bearer <token>`.",
    )
    api = APIRouter(tags=["dvcqg"], route_class=InboundRoute.for_renderer(_render, auth=auth))
    refused = {"model": PushReply}

    @api.post(
        PATH,
        summary="Receive an online submission or a notice pushed by DVCQG",
        response_model=PushReply,
        dependencies=[Depends(auth.dependency)],
        responses={
            200: {
                "model": PushReply,
                "description": "`error_code` 0 accepted, 1 duplicate, -1 refused (the "
                "push breaks a rule, e.g. no `data`: `message` names the fields; nothing was published).",
            },
            400: {**refused, "description": "The body is not JSON."},
            401: {**refused, "description": "Missing or wrong bearer token."},
            408: {**refused, "description": "The body did not arrive in time."},
            413: {**refused, "description": "The body is larger than accepted."},
            415: {**refused, "description": "The Content-Type is not JSON."},
            503: {**refused, "description": "The bus is unavailable; nothing was published; push again later."},
        },
        openapi_extra={"requestBody": {"content": {"application/json": {"example": EXAMPLE_PUSH}}}},
    )
    async def push(body: PushIn, request: Request) -> JSONResponse:
        """DVCQG pushes `{service, isUpdating, data}`; `error_code` 0 once it is audited and durable on the bus."""
        del body  # validated for the contract; the mapping reads the same JSON below
        raw = await request.body()
        try:
            notice = parse_inbound(await request.json())
        except MappingError as exc:
            log.info("DVCQG push refused", reason=str(exc))
            return _reply(-1, str(exc))
        sha = hashlib.sha256(raw).hexdigest()
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

        async def publish() -> str:
            try:
                await publisher.publish(
                    topic, notice.model_dump_json().encode(), envelope, key=key, flow=FLOW, peer=PEER, wire=raw,
                    detail={"service": notice.service, "items": len(notice.items)}, queue_timeout_s=publish_timeout_s,
                )  # fmt: skip
            except Exception as exc:
                log.warning("DVCQG push not published", dossier_code=subject, error=type(exc).__name__)
                raise InboundRefusal(503, "the bus is unavailable; nothing was published; push again later") from exc
            return ce_id

        _, duplicate = await guard.once(sha, publish)
        if duplicate:
            return _reply(1, "duplicate", ce_id=ce_id)
        return _reply(0, "accepted", ce_id=ce_id)

    return api


def _reply(error_code: int, message: str, *, status: int = 200, ce_id: str | None = None) -> JSONResponse:
    body = PushReply(error_code=error_code, message=message, id=ce_id).model_dump(exclude_none=True)
    return JSONResponse(body, status_code=status)
