"""The SOAP endpoint for ministries: `POST /soap/ministry`, its WSDL at `GET /soap/ministry?wsdl`.

WSDL 1.1 / SOAP 1.1, document-literal wrapped (lienthong/schemas/ministry.wsdl + ministry.xsd):

- `TraCuuHoSo(MaHoSo)` answers the dossier's status, due date and last step as lienthong last saw
  them on `dossier.events` (the `ministry_dossier_view` flow keeps that view);
- `GuiKetQuaXuLy(MaThongDiep, MaHoSo, MaDonVi, TrangThai, NoiDungXuLy, ThoiDiemXuLy, TepKetQua[])`
  publishes the ministry's result to `ministry.results` once per (account, MaThongDiep), and answers
  `MaLoi 0` only when it is durable on the bus and audited (`MaLoi 1` for a repeat).

Every request, in this order: content type `text/xml` (SOAP 1.1); the bytes actually read capped at
`LIENTHONG_MAX_BODY_BYTES` (chunked bodies included); the XML kit (no DTD, no entities, UTF-8 only,
depth cap); a SOAP 1.1 envelope with one Body element; WS-Security UsernameToken with PasswordDigest
(nonce and Created checked, nonces remembered for the replay window); an X.509 signature of Body and
Timestamp when the account has a certificate; the account's allowed operations; XSD validation.
Faults are SOAP 1.1: `soap:Client` (HTTP 400, 401 for authentication, 413 oversize, 415 content type)
for the caller's mistakes, `soap:Server` (HTTP 500, 503 when the bus is unavailable) otherwise; their
text names rules and elements, never submitted values or internals. Every request is audited
(flow `ministry`, peer = the account, or `ministry:unknown`).
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import Response
from lxml import etree
from starlette.exceptions import HTTPException

from lienthong.audit.record import AuditEntry, digest
from lienthong.bus.envelope import derived_id, new_envelope
from lienthong.bus.publisher import BusPublisher
from lienthong.connectors.ministry.accounts import MinistryAccount, load_accounts
from lienthong.connectors.ministry.settings import MinistrySettings
from lienthong.connectors.ministry.store import Claim, MinistryStore
from lienthong.connectors.ministry.wire import (
    NS,
    dossier_code_of,
    operation_name,
    result_from_xml,
    result_reply,
    view_reply,
)
from lienthong.connectors.soap import (
    SOAP_CONTENT_TYPE,
    SoapFault,
    SoapRequest,
    UsernameTokenChecker,
    client_fault,
    envelope_xml,
    fault_xml,
    server_fault,
    split_envelope,
    verify_signature,
)
from lienthong.connectors.xml import XmlLimits, XmlRefused, parse_xml, schema_from_element, validate
from lienthong.logging import get_logger
from lienthong.mappings.errors import MappingError
from lienthong.schemas.ministry import RESULT_EVENT_TYPE

log = get_logger("lienthong.ministry")

PATH = "/soap/ministry"
RESULTS_TOPIC = "ministry.results"
FLOW = "ministry"
SOURCE = "/lienthong/ministry"
SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"
WSDL_FILE = SCHEMAS / "ministry.wsdl"
XSD_FILE = SCHEMAS / "ministry.xsd"
_WSDL_NS = "http://schemas.xmlsoap.org/wsdl/"
_WSDL_SOAP_NS = "http://schemas.xmlsoap.org/wsdl/soap/"
_XS_NS = "http://www.w3.org/2001/XMLSchema"
_FUTURE_SLACK = timedelta(days=1)


@cache
def _xsd_root() -> bytes:
    return XSD_FILE.read_bytes()


@cache
def _schema() -> etree.XMLSchema:
    return schema_from_element(etree.fromstring(_xsd_root()))


def published_wsdl(address: str) -> bytes:
    """The WSDL as served: the schema inlined in `types`, `soap:address` set to `address`."""
    root = etree.fromstring(WSDL_FILE.read_bytes())
    types = root.find(f"{{{_WSDL_NS}}}types")
    if types is None:
        raise RuntimeError("ministry.wsdl has no types")
    for child in list(types):
        types.remove(child)
    types.append(etree.fromstring(_xsd_root()))
    for addr in root.iter(f"{{{_WSDL_SOAP_NS}}}address"):
        addr.set("location", address)
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))


def _soap(body: bytes, status: int = 200) -> Response:
    return Response(body, status_code=status, media_type=SOAP_CONTENT_TYPE)


def _fault(fault: SoapFault) -> Response:
    return _soap(fault_xml(fault), fault.http_status)


async def read_capped(request: Request, limit: int) -> bytes:
    """The request body, refusing (413) as soon as more than `limit` bytes were actually read."""
    chunks: list[bytes] = []
    size = 0
    too_large = client_fault(f"request larger than {limit} bytes", http_status=413)
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise too_large
            chunks.append(chunk)
    except HTTPException as exc:
        # The app-wide cap (FastAPI's max_body_size) counts the same bytes and may stop the stream first.
        if exc.status_code == 413:
            raise too_large from exc
        raise
    return b"".join(chunks)


class MinistryEndpoint:
    """State of one SOAP endpoint: accounts, the UsernameToken checker, the store and the publisher."""

    def __init__(
        self,
        publisher: BusPublisher,
        settings: MinistrySettings,
        *,
        accounts: dict[str, MinistryAccount] | None = None,
        topic: str = RESULTS_TOPIC,
    ) -> None:
        self.publisher = publisher
        self.settings = settings
        self.topic = topic
        self.accounts = accounts if accounts is not None else load_accounts(settings.accounts.get_secret_value())
        self.tokens = UsernameTokenChecker(
            {a.username: a.password for a in self.accounts.values()}, window_s=settings.replay_window_s
        )
        self.limits = XmlLimits(max_bytes=publisher.settings.max_body_bytes, max_depth=settings.max_depth)
        self.store = MinistryStore(
            settings.resolved_state_dsn(publisher.settings.state_dir), lease_s=settings.claim_lease_s
        )
        self.stats = {"accepted": 0, "duplicates": 0, "faults": 0}

    async def _audit(self, peer: str, outcome: str, wire: bytes, *, dossier: str = "", op: str = "",
                     **detail: object) -> None:  # fmt: skip
        try:
            await self.publisher.audit.append([
                AuditEntry(flow=FLOW, direction="in", peer=peer, outcome=outcome, dossier_code=dossier,
                           event_type=op, digest=digest(wire), detail=dict(detail))
            ])  # fmt: skip
        except Exception as exc:  # the answer does not depend on it, and faults must stay fast
            log.warning("ministry audit failed", error=type(exc).__name__)

    async def handle(self, request: Request) -> Response:
        """One SOAP request, start to finish (see the module docstring)."""
        raw = b""
        peer = "ministry:unknown"
        op = ""
        try:
            ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
            if ctype not in ("text/xml", "application/xml"):
                raise client_fault("SOAP 1.1 requests must be sent as text/xml", http_status=415)
            raw = await read_capped(request, self.publisher.settings.max_body_bytes)
            req = split_envelope(parse_xml(raw, self.limits))
            op = operation_name(req.operation) or ""
            if not op:
                raise client_fault(f"unknown operation; the service namespace is {NS}")
            username = self.tokens.check(req.header)
            account = self.accounts[username]
            peer = f"ministry:{username}"
            if account.certificate is not None:
                verify_signature(req, account.certificate, window_s=self.settings.replay_window_s)
            if op not in account.operations:
                raise client_fault(f"account may not call {op}", http_status=403)
            validate(_schema(), req.operation)
            if op == "TraCuuHoSo":
                return await self._lookup(req, peer, raw)
            if op == "GuiKetQuaXuLy":
                return await self._result(req, peer, raw)
            raise client_fault("unknown operation; the service offers TraCuuHoSo and GuiKetQuaXuLy")
        except XmlRefused as exc:
            fault = client_fault(str(exc))
        except SoapFault as exc:
            fault = exc
        except Exception as exc:
            log.exception("ministry SOAP request failed", error=type(exc).__name__, operation=op)
            fault = server_fault("internal error; send again later")
        self.stats["faults"] += 1
        await self._audit(peer, "refused", raw, op=op, fault=fault.code, reason=fault.reason[:200])
        return _fault(fault)

    async def _lookup(self, req: SoapRequest, peer: str, raw: bytes) -> Response:
        code = dossier_code_of(req.operation)
        view = await self.store.view(code)
        await self._audit(peer, "answered", raw, dossier=code, op="TraCuuHoSo", found=view is not None)
        return _soap(envelope_xml(view_reply(code, view)))

    async def _result(self, req: SoapRequest, peer: str, raw: bytes) -> Response:
        ministry = peer.removeprefix("ministry:")
        try:
            result = result_from_xml(req.operation, ministry=ministry, received_at=datetime.now(UTC))
        except (MappingError, ValueError):
            raise client_fault("GuiKetQuaXuLy ThoiDiemXuLy is not a real date and time") from None
        if result.processed_at > datetime.now(UTC) + _FUTURE_SLACK:
            raise client_fault("GuiKetQuaXuLy ThoiDiemXuLy lies in the future")
        content = result.model_dump(exclude={"received_at"}, mode="json")
        content_digest = hashlib.sha256(repr(sorted(content.items())).encode()).hexdigest()
        key = f"{ministry}\x1f{result.message_id}"
        ce_id = derived_id(key, "ministry-result")
        deadline = asyncio.get_running_loop().time() + self.settings.publish_timeout_s
        while True:
            state, stored_id = await self.store.claim(key, content_digest, ce_id)
            if state is Claim.CONFLICT:
                raise client_fault("MaThongDiep was already used for a different message")
            if state is Claim.DONE:
                self.stats["duplicates"] += 1
                await self._audit(peer, "duplicate", raw, dossier=result.dossier_code, op="GuiKetQuaXuLy",
                                  message_id=result.message_id)  # fmt: skip
                return _soap(envelope_xml(result_reply(1, "duplicate", result.message_id, stored_id)))
            if state is Claim.OWNER:
                break
            if asyncio.get_running_loop().time() > deadline:
                raise server_fault("the same message is being processed; send it again later", http_status=503)
            await asyncio.sleep(0.02)  # another request owns it: it finishes within the publish timeout
        envelope = replace(
            new_envelope(type=RESULT_EVENT_TYPE, source=SOURCE, subject=result.dossier_code, correlation_id=ce_id),
            id=ce_id,
        )
        try:
            async with asyncio.timeout(self.settings.publish_timeout_s):
                await self.publisher.publish(
                    self.topic, result.model_dump_json().encode(), envelope, key=result.dossier_code, flow=FLOW,
                    peer=peer, wire=raw, detail={"message_id": result.message_id, "status": result.status,
                                                 "files": len(result.files)},
                )  # fmt: skip
        except Exception as exc:
            await self.store.release(key)
            log.warning("ministry result not published", dossier_code=result.dossier_code, error=type(exc).__name__)
            raise server_fault("the bus is unavailable; send again later", http_status=503) from None
        await self.store.done(key)
        self.stats["accepted"] += 1
        return _soap(envelope_xml(result_reply(0, "accepted", result.message_id, ce_id)))


def router(publisher: BusPublisher, settings: MinistrySettings | None = None, **kw: object) -> APIRouter:
    """The SOAP endpoint's routes on `publisher` (settings from the environment by default)."""
    endpoint = MinistryEndpoint(publisher, settings or MinistrySettings(), **kw)  # type: ignore[arg-type]

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await endpoint.store.open()
        try:
            yield
        finally:
            await endpoint.store.close()

    api = APIRouter(tags=["ministry (SOAP)"], lifespan=lifespan)
    api.state_endpoint = endpoint  # type: ignore[attr-defined]

    @api.get(
        PATH,
        summary="WSDL of the ministry SOAP service (GET /soap/ministry?wsdl)",
        response_class=Response,
        responses={200: {"content": {"text/xml": {}}, "description": "WSDL 1.1 document, schema inlined."}},
    )
    async def wsdl(request: Request) -> Response:
        """WSDL 1.1 / SOAP 1.1 document-literal wrapped: TraCuuHoSo, GuiKetQuaXuLy."""
        if not any(k.lower() == "wsdl" for k in request.query_params):
            return Response(f"the WSDL is at GET {PATH}?wsdl; SOAP requests are POSTed here", status_code=400)
        address = str(request.url.replace(query=None))
        return _soap(published_wsdl(address))

    @api.post(
        PATH,
        summary="SOAP 1.1 endpoint for ministries (TraCuuHoSo, GuiKetQuaXuLy)",
        response_class=Response,
        responses={
            200: {"content": {"text/xml": {}}, "description": "SOAP response envelope."},
            400: {"content": {"text/xml": {}}, "description": "soap:Client fault: the request is wrong."},
            401: {"content": {"text/xml": {}}, "description": "soap:Client fault: WS-Security failed."},
            503: {"content": {"text/xml": {}}, "description": "soap:Server fault: send again later."},
        },
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"text/xml": {"schema": {"type": "string", "description": "SOAP 1.1 envelope"}}},
            }
        },
    )
    async def soap(request: Request) -> Response:
        """Document-literal SOAP 1.1 with WS-Security; see the WSDL at `?wsdl`."""
        return await endpoint.handle(request)

    return api


__all__ = ["PATH", "RESULTS_TOPIC", "MinistryEndpoint", "published_wsdl", "read_capped", "router"]
