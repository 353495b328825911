"""Outbound calls to the national databases: population and business registry through the integration
platform (OAuth2 client credentials), civil status over SOAP with zeep and a UsernameToken.

- `PlatformToken`: `POST {url}/token` with HTTP Basic `client_id:client_secret` and
  `grant_type=client_credentials`; the token is cached until `token_refresh_margin_s` before it
  expires (at most half its lifetime early), fetched by one caller at a time, and renewed once when a
  call is answered 401 (the platform forgot it, or it expired mid-run).
- `population()`: `POST {url}{population_path}` with `{HoVaTen, SoDinhDanh, Nam, MaYeuCau, MaDVC,
  MaCanBo}`; the reply's JSON `message` holds SOAP XML (`Envelope/Body/CongdanCollection/CongDan`),
  parsed with the hardened XML kit and mapped to `Citizen`s.
- `business()`: `GET {url}{business_path}?msdn=<tax code>`; 404 or an empty answer is "not found".
- `civil_status()`: zeep `AsyncClient` on the vendored `lienthong/schemas/civil_status.wsdl` (local file
  only), endpoint `civil_status_url`, WS-Security UsernameToken with PasswordDigest.

Errors: connection failures, timeouts, HTTP 5xx/429, `soap:Server` faults and unreadable replies are
`TransientError`; other 4xx and `soap:Client` faults are `PermanentError`. Messages name the register
and the failure, never the person looked up.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx
import orjson

from lienthong.connectors.http import raise_for_peer, transport_error
from lienthong.connectors.nationaldb.settings import LookupSettings
from lienthong.connectors.xml import XmlRefused, local_wsdl_client, parse_xml
from lienthong.errors import PermanentError, TransientError
from lienthong.mappings.errors import MappingError
from lienthong.mappings.lookup import citizens_from_soap
from lienthong.schemas.lookup import (
    BusinessQuery,
    Citizen,
    CivilStatusEvent,
    CivilStatusQuery,
    Enterprise,
    PopulationQuery,
)

CIVIL_STATUS_WSDL = Path(__file__).resolve().parents[2] / "schemas" / "civil_status.wsdl"
"""Our vendored civil-status WSDL (the ministry's contract is not public)."""
_BINDING = "{urn:lienthong:hotich:v1}HoTichBinding"


class PlatformToken:
    """The integration platform's OAuth2 client-credentials token, cached."""

    def __init__(self, http: httpx.AsyncClient, settings: LookupSettings) -> None:
        self.http = http
        self.settings = settings
        self._token = ""
        self._renew_at = 0.0
        self._lock = asyncio.Lock()
        self.fetched = 0
        """Tokens fetched by this process (for tests and metrics)."""

    async def get(self, *, stale: str = "") -> str:
        """A valid token; `stale` (a token just refused with 401) forces a new one unless already renewed."""
        if self._token and self._token != stale and time.monotonic() < self._renew_at:
            return self._token
        async with self._lock:
            if self._token and self._token != stale and time.monotonic() < self._renew_at:
                return self._token
            s = self.settings
            try:
                reply = await self.http.post(
                    f"{s.url}/token",
                    data={"grant_type": "client_credentials"},
                    auth=(s.client_id, s.client_secret.get_secret_value()),
                )
            except httpx.TransportError as exc:
                raise transport_error(exc, peer="lgsp", operation="token") from None
            raise_for_peer(reply, peer="lgsp", operation="token")
            try:
                body = reply.json()
                token = str(body["access_token"])
                lifetime = float(body.get("expires_in", 300))
            except (ValueError, KeyError, TypeError):
                raise TransientError("lgsp token: unreadable reply", peer="lgsp") from None
            margin = min(s.token_refresh_margin_s, lifetime / 2)
            self._token, self._renew_at = token, time.monotonic() + lifetime - margin
            self.fetched += 1
            return token


class NationalDbClient:
    """One connection pool, one platform token, one civil-status zeep client; safe to share."""

    def __init__(self, settings: LookupSettings | None = None) -> None:
        self.settings = settings or LookupSettings()
        timeout = httpx.Timeout(self.settings.timeout_s)
        self.http = httpx.AsyncClient(timeout=timeout, limits=httpx.Limits(max_connections=64))
        self.token = PlatformToken(self.http, self.settings)
        self._zeep: Any = None

    async def close(self) -> None:
        """Close the connection pool."""
        await self.http.aclose()

    async def _platform(self, peer: str, method: str, path: str, **kw: Any) -> httpx.Response:
        """A call through the platform with its bearer token, renewed once on 401."""
        token = await self.token.get()
        for attempt in (1, 2):
            try:
                reply = await self.http.request(
                    method, f"{self.settings.url}{path}", headers={"Authorization": f"Bearer {token}"}, **kw
                )
            except httpx.TransportError as exc:
                raise transport_error(exc, peer=peer, operation="lookup") from None
            if reply.status_code == 401 and attempt == 1:
                token = await self.token.get(stale=token)
                continue
            return reply
        raise AssertionError("unreachable")

    async def population(self, query: PopulationQuery, *, request_id: str, officer_id: str) -> list[Citizen]:
        """Look a citizen up in the population database; [] when not found."""
        body = {
            "HoVaTen": query.HoVaTen, "SoDinhDanh": query.SoDinhDanh, "Nam": query.Nam,
            "MaYeuCau": request_id, "MaDVC": self.settings.service_code, "MaCanBo": officer_id,
        }  # fmt: skip
        reply = await self._platform("population", "POST", self.settings.population_path, content=orjson.dumps(body))
        raise_for_peer(reply, peer="population", operation="lookup")
        try:
            message = reply.json()["message"]
            if not isinstance(message, str):
                raise TypeError
        except (ValueError, KeyError, TypeError):
            raise TransientError("population lookup: reply without a SOAP message", peer="population") from None
        try:
            return citizens_from_soap(parse_xml(message.encode("utf-8")))
        except (XmlRefused, MappingError) as exc:
            raise TransientError(f"population lookup: {exc}", peer="population") from None

    async def business(self, query: BusinessQuery) -> Enterprise | None:
        """The enterprise registered under `msdn`, or None."""
        reply = await self._platform("business", "GET", self.settings.business_path, params={"msdn": query.msdn})
        if reply.status_code == 404:
            return None
        raise_for_peer(reply, peer="business", operation="chiTietDoanhNghiep")
        try:
            data = reply.json()
        except ValueError:
            raise TransientError("business lookup: reply is not JSON", peer="business") from None
        if not data:
            return None
        try:
            return Enterprise.model_validate(data)
        except ValueError:
            raise TransientError("business lookup: reply does not fit the model", peer="business") from None

    def _civil_status_service(self) -> Any:
        if self._zeep is None:
            from zeep.wsse.username import UsernameToken

            s = self.settings
            token = UsernameToken(  # type: ignore[no-untyped-call]
                s.civil_status_username, s.civil_status_password.get_secret_value(), use_digest=True
            )
            client = local_wsdl_client(CIVIL_STATUS_WSDL, self.http, timeout_s=s.timeout_s, wsse=token)
            from zeep.proxy import AsyncServiceProxy

            # AsyncClient.create_service() returns a synchronous proxy (zeep 4.3); build the async one.
            binding = client.wsdl.bindings[_BINDING]
            self._zeep = AsyncServiceProxy(  # type: ignore[no-untyped-call]
                client, binding, address=s.civil_status_url
            )
        return self._zeep

    async def civil_status(
        self, query: CivilStatusQuery, *, request_id: str, officer_id: str
    ) -> list[CivilStatusEvent]:
        """The civil-status events of a person (optionally of one kind)."""
        from zeep.exceptions import Fault, TransportError, XMLSyntaxError
        from zeep.helpers import serialize_object

        service = self._civil_status_service()
        try:
            reply = await service.TraCuuHoTich(
                SoDinhDanh=query.SoDinhDanh, LoaiSuKien=query.LoaiSuKien, MaYeuCau=request_id, MaCanBo=officer_id
            )
        except Fault as exc:
            cls = PermanentError if "Client" in str(exc.code or "") else TransientError
            raise cls(f"civil-status lookup: SOAP fault {str(exc.code or '?')[:40]}", peer="civil-status") from None
        except TransportError as exc:
            status = int(getattr(exc, "status_code", 0) or 0)
            cls = PermanentError if 400 <= status < 500 and status not in (408, 429) else TransientError
            raise cls(f"civil-status lookup: HTTP {status}", peer="civil-status", code=str(status)) from None
        except (httpx.TransportError, XMLSyntaxError) as exc:
            raise TransientError(f"civil-status lookup: {type(exc).__name__}", peer="civil-status") from None
        data = serialize_object(reply, dict)  # type: ignore[no-untyped-call]
        events = data.get("SuKien") or [] if isinstance(data, dict) else []
        try:
            return [CivilStatusEvent.model_validate(e) for e in events]
        except ValueError:
            raise TransientError("civil-status lookup: reply does not fit the model", peer="civil-status") from None


__all__ = ["CIVIL_STATUS_WSDL", "NationalDbClient", "PlatformToken"]
