"""The desk look-up: `POST /lookups/{population|business|civil-status}`, answered synchronously.

Body: `{"request_id": "...", "purpose": {procedure_code, dossier_code, officer_id, legal_basis},
"query": {...}}` (`request_id` optional). Answers: 200 with a `LookupResult` (`answered`,
`not_found`); 400 without a purpose, 403 when the procedure may not use the register, 422 for a bad
query, 429 over the officer's rate limit, each `{"status": "refused", "reason": ...}`; 502 when the
register refused the call (`failed`), 503 when it is unreachable (try again). Reasons name fields and
rules, never the values sent. Every look-up, refused ones included, is in the audit chain before the
answer. The same `LookupService` serves the `lookup.requests` flow.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, Depends, FastAPI
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from lienthong.bus.publisher import BusPublisher
from lienthong.connectors.inbound import InboundRefusal, InboundRoute, bearer_auth
from lienthong.connectors.nationaldb.client import NationalDbClient
from lienthong.connectors.nationaldb.policy import FieldPolicy, LookupRefused, OfficerRateLimit, hash_key
from lienthong.connectors.nationaldb.service import LookupService
from lienthong.connectors.nationaldb.settings import LookupSettings
from lienthong.errors import TransientError
from lienthong.logging import get_logger
from lienthong.schemas.lookup import LookupPurpose, LookupRequest, LookupResult, LookupStatus, Register

log = get_logger("lienthong.lookups")

PREFIX = "/lookups"
EXAMPLE: dict[str, Any] = {
    "request_id": "MC-2025-000123",
    "purpose": {
        "procedure_code": "1.001193",
        "dossier_code": "000.00.12.H52-250703-0042",
        "officer_id": "canbo.tn01",
        "legal_basis": "Nghị định 63/2024/NĐ-CP, Điều 5",
    },
    "query": {"SoDinhDanh": "052099012345", "HoVaTen": "Nguyễn Văn An", "Nam": 1999},
}


def _refusal(status: int, reason: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"status": LookupStatus.REFUSED.value, "reason": reason}, status_code=status, headers=headers)


def _render(refusal: InboundRefusal) -> JSONResponse:
    return _refusal(refusal.status, refusal.message(), refusal.headers)


class DeskLookupIn(BaseModel):
    """The desk's look-up: the register is in the path."""

    model_config = ConfigDict(extra="forbid")

    request_id: str | None = Field(None, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:-]+$")
    """The caller's id of this request (`MaYeuCau`); generated when absent."""
    purpose: LookupPurpose | None = None
    """Why: procedure, dossier, officer, legal basis. Required: a look-up without it is refused (400)."""
    query: dict[str, Any]
    """The register's query (`PopulationQuery`, `BusinessQuery` or `CivilStatusQuery` fields)."""


def router(publisher: BusPublisher, settings: LookupSettings | None = None) -> APIRouter:
    """The desk look-up routes; the client opens with the app and closes with it."""
    s = settings or LookupSettings()
    client = NationalDbClient(s)
    fields = FieldPolicy.load(s.fields_file)
    rate = OfficerRateLimit(s.rate_per_minute)
    key = hash_key(s.hash_key.get_secret_value(), publisher.settings.state_dir)
    holder: dict[str, LookupService] = {}

    def service() -> LookupService:
        if "svc" not in holder:
            holder["svc"] = LookupService(client, publisher.audit, fields=fields, rate=rate, key=key, channel="desk")
        return holder["svc"]

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await client.close()

    auth = bearer_auth(
        lambda: s.desk_token,
        scheme_name="LookupsDeskToken",
        description="`LIENTHONG_LOOKUPS_DESK_TOKEN`, sent as `Authorization: Bearer <token>`.",
    )
    api = APIRouter(
        prefix=PREFIX, tags=["lookups"], lifespan=lifespan, route_class=InboundRoute.for_renderer(_render, auth=auth)
    )
    api.state_client = client  # type: ignore[attr-defined]

    @api.post(
        "/{register}",
        summary="Look a citizen, an enterprise or civil-status records up, stating the purpose",
        response_model=LookupResult,
        dependencies=[Depends(auth.dependency)],
        responses={
            400: {"description": "No purpose stated, or the body is not JSON."},
            401: {"description": "Missing or wrong bearer token."},
            413: {"description": "The body is larger than accepted."},
            415: {"description": "The Content-Type is not JSON."},
            403: {"description": "The procedure may not use this register."},
            422: {"description": "Bad query or purpose (fields named, values never echoed)."},
            429: {"description": "The officer is over the per-minute limit."},
            502: {"description": "The register refused the call."},
            503: {"description": "The register is unreachable; try again."},
        },
        openapi_extra={"requestBody": {"content": {"application/json": {"example": EXAMPLE}}}},
    )
    async def lookup(register: Register, body: DeskLookupIn) -> JSONResponse:
        """A purpose-logged look-up (see the module docstring); the answer holds only the procedure's fields.

        The request goes through the inbound kit: token before the body, JSON only, size cap on the bytes read,
        64-bit integers, NFC text, field paths without values in refusals."""
        req = LookupRequest(
            request_id=body.request_id or uuid.uuid4().hex, database=register, purpose=body.purpose, query=body.query
        )
        try:
            result = await service().lookup(req)
        except LookupRefused as exc:
            return _refusal(exc.http_status, exc.reason)
        except TransientError as exc:
            log.warning("lookup failed", register=register.value, error=str(exc))
            return JSONResponse({"status": LookupStatus.FAILED.value, "reason": f"{exc}; try again"}, status_code=503)
        status = 502 if result.status is LookupStatus.FAILED else 200
        return JSONResponse(result.model_dump(mode="json"), status_code=status)

    return api


__all__ = ["EXAMPLE", "PREFIX", "router"]
