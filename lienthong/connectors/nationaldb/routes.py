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

import orjson
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from lienthong.bus.publisher import BusPublisher
from lienthong.connectors.http import bearer_ok
from lienthong.connectors.nationaldb.client import NationalDbClient
from lienthong.connectors.nationaldb.policy import FieldPolicy, LookupRefused, OfficerRateLimit, hash_key
from lienthong.connectors.nationaldb.service import LookupService
from lienthong.connectors.nationaldb.settings import LookupSettings
from lienthong.errors import TransientError
from lienthong.logging import get_logger
from lienthong.schemas.lookup import LookupRequest, LookupResult, LookupStatus, Register

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


def _refusal(status: int, reason: str) -> JSONResponse:
    return JSONResponse({"status": LookupStatus.REFUSED.value, "reason": reason}, status_code=status)


async def _body(request: Request, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise LookupRefused(f"body larger than {limit} bytes", 413)
        chunks.append(chunk)
    return b"".join(chunks)


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

    api = APIRouter(prefix=PREFIX, tags=["lookups"], lifespan=lifespan)
    api.state_client = client  # type: ignore[attr-defined]

    @api.post(
        "/{register}",
        summary="Look a citizen, an enterprise or civil-status records up, stating the purpose",
        response_model=LookupResult,
        responses={
            400: {"description": "No purpose stated."},
            403: {"description": "The procedure may not use this register."},
            422: {"description": "Bad query or purpose (fields named, values never echoed)."},
            429: {"description": "The officer is over the per-minute limit."},
            502: {"description": "The register refused the call."},
            503: {"description": "The register is unreachable; try again."},
        },
        openapi_extra={"requestBody": {"required": True, "content": {"application/json": {"example": EXAMPLE}}}},
    )
    async def lookup(register: Register, request: Request) -> JSONResponse:  # noqa: PLR0911 - one answer per refusal
        """A purpose-logged look-up (see the module docstring); the answer holds only the procedure's fields."""
        token = s.desk_token.get_secret_value()
        if token and not bearer_ok(request, token):
            return _refusal(401, "missing or wrong bearer token")
        if request.headers.get("content-type", "").split(";")[0].strip().lower() != "application/json":
            return _refusal(415, "send the look-up as application/json")
        try:
            raw = await _body(request, publisher.settings.max_body_bytes)
            body = orjson.loads(raw)
            if not isinstance(body, dict):
                raise LookupRefused("the body must be a JSON object", 400)
            body.setdefault("request_id", uuid.uuid4().hex)
            req = LookupRequest.model_validate({**body, "database": register.value})
        except orjson.JSONDecodeError:
            return _refusal(400, "the body is not JSON")
        except LookupRefused as exc:
            return _refusal(exc.http_status, exc.reason)
        except ValidationError as exc:
            where = sorted({".".join(str(p) for p in e["loc"]) for e in exc.errors()})
            return _refusal(422, f"invalid fields: {', '.join(where)}")
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
