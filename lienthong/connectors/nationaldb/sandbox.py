"""A faithful simulator of the national databases behind the integration platform, for tests, demo, bench.

- `POST /token` (HTTP Basic `client_id:client_secret`, form `grant_type=client_credentials`) ->
  `{access_token, token_type: "Bearer", expires_in}`; tokens live `token_ttl_s`.
- `POST /dancu/tracuu` (Bearer) with `{HoVaTen, SoDinhDanh, Nam, MaYeuCau, MaDVC, MaCanBo}` (all
  required but `Nam`) -> `{"message": "<SOAP XML>"}` with `Envelope/Body/CongdanCollection/CongDan`.
- `GET /dkdn/chiTietDoanhNghiep?msdn=` (Bearer) -> the enterprise as JSON, 404 when unknown.
- `POST /hotich/soap`: the civil-status SOAP service of our WSDL (`TraCuuHoTich`), WS-Security
  UsernameToken with PasswordDigest required.

Data is synthetic and deterministic: any well-formed ID or tax code is found (a person or enterprise
derived from its digits) except IDs ending `000000` and tax codes ending `0000`, which are unknown.
Fault switches (`POST /_sandbox/<name>`, loopback only): `down`, `slow` (`latency_ms`), `fail_next`
(`n`, `status`), `malformed_next` (`n`: broken XML / JSON), `expire_tokens` (every issued token
becomes invalid: the next call gets 401), `reset`; `GET /_sandbox/stats`.

    python -m lienthong.connectors.nationaldb.sandbox --port 8093
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hmac
import secrets
import time
from collections import Counter
from collections.abc import Callable
from typing import Any
from xml.sax.saxutils import escape

import orjson
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from lienthong.connectors.sandbox_controls import control_router
from lienthong.connectors.soap import (
    SOAP_CONTENT_TYPE,
    SOAP_NS,
    SoapFault,
    UsernameTokenChecker,
    client_fault,
    fault_xml,
    split_envelope,
)
from lienthong.connectors.xml import XmlRefused, parse_xml

_SURNAMES = ("Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Vũ", "Đặng", "Bùi")
_MIDDLE = ("Văn", "Thị", "Minh", "Ngọc", "Đức", "Thu")
_GIVEN = ("An", "Bình", "Chi", "Dũng", "Hà", "Lan", "Nam", "Thảo")
_HOTICH_NS = "urn:lienthong:hotich:v1"


def _pick(seq: tuple[str, ...], digits: str, at: int) -> str:
    return seq[int(digits[at % len(digits)]) % len(seq)]


def citizen_xml(id_number: str) -> str:
    """The sandbox's `CongDan` for a 12-digit ID (deterministic)."""
    female = int(id_number[3]) % 2 == 1
    century = 1900 + 100 * (int(id_number[3]) // 2)
    year = century + int(id_number[4:6])
    name = (
        _pick(_SURNAMES, id_number, 6),
        "Thị" if female else _pick(_MIDDLE, id_number, 7),
        _pick(_GIVEN, id_number, 8),
    )
    place = (f"<MaTinhThanh>{id_number[:3][-2:]}</MaTinhThanh><MaQuanHuyen></MaQuanHuyen>"
             f"<MaPhuongXa>2{id_number[6:10]}</MaPhuongXa>"
             f"<ChiTiet>Số {int(id_number[8:11])} đường Lê Lợi</ChiTiet>")  # fmt: skip
    return (
        f"<CongDan><SoDinhDanh>{id_number}</SoDinhDanh><SoCMND>{id_number[3:12]}</SoCMND>"
        f"<HoVaTen><Ho>{name[0]}</Ho><ChuDem>{name[1]}</ChuDem><Ten>{name[2]}</Ten></HoVaTen>"
        f"<GioiTinh>{'2' if female else '1'}</GioiTinh>"
        f"<NgayThangNamSinh><Nam>{year}</Nam><NgayThangNam>{year}0{1 + int(id_number[7]) % 9}1{id_number[8]}"
        f"</NgayThangNam></NgayThangNamSinh>"
        f"<ThuongTru>{place}</ThuongTru><QueQuan>{place}</QueQuan><NoiOHienTai>{place}</NoiOHienTai>"
        f"<Cha><HoVaTen>{name[0]} Văn Cường</HoVaTen><SoDinhDanh>0{id_number[1:11]}1</SoDinhDanh></Cha>"
        f"<Me><HoVaTen>Lê Thị Mai</HoVaTen><SoDinhDanh>0{id_number[1:11]}2</SoDinhDanh></Me>"
        "</CongDan>"
    )


def population_message(id_number: str) -> str:
    """The SOAP XML the platform puts in `message` for one ID."""
    found = "" if id_number.endswith("000000") else citizen_xml(id_number)
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><soap:Envelope xmlns:soap="{SOAP_NS}"><soap:Body>'
        f'<CongdanCollection xmlns="http://dancuquocgia.bca/">{found}</CongdanCollection>'
        "</soap:Body></soap:Envelope>"
    )


def enterprise(msdn: str) -> dict[str, Any] | None:
    """The sandbox's enterprise for a tax code (None when unknown)."""
    if msdn.endswith("0000"):
        return None
    return {
        "msdn": msdn,
        "tenDoanhNghiep": f"Công ty TNHH {_pick(_GIVEN, msdn, 3)} {msdn[-4:]}",
        "tenTiengAnh": f"{msdn[-4:]} Company Limited",
        "tinhTrang": "Đang hoạt động",
        "loaiHinh": "Công ty trách nhiệm hữu hạn một thành viên",
        "ngayThanhLap": f"20{msdn[2:4]}0{1 + int(msdn[4]) % 9}15",
        "diaChiTruSo": f"Số {msdn[-3:]} đường Trần Phú, phường Quy Nhơn, tỉnh Gia Lai",
        "nguoiDaiDien": f"{_pick(_SURNAMES, msdn, 5)} Văn {_pick(_GIVEN, msdn, 6)}",
        "vonDieuLe": int(msdn[-5:]) * 1_000_000,
        "nganhNgheChinh": "4659 Bán buôn máy móc, thiết bị",
    }


def civil_status_events(id_number: str, kind: str | None) -> list[dict[str, str]]:
    """The sandbox's civil-status events for a person (a birth; a marriage for even IDs)."""
    if id_number.endswith("000000"):
        return []
    name = f"{_pick(_SURNAMES, id_number, 6)} {_pick(_MIDDLE, id_number, 7)} {_pick(_GIVEN, id_number, 8)}"
    events = [{"LoaiSuKien": "KhaiSinh", "SoDangKy": f"{int(id_number[6:10])}/20{id_number[4:6]}",
               "NgayDangKy": f"20{id_number[4:6]}0315", "NoiDangKy": "UBND phường Quy Nhơn",
               "HoVaTen": name, "NgaySinh": f"20{id_number[4:6]}0301", "GioiTinh": "Nam",
               "HoTenCha": "Trần Văn Cường", "HoTenMe": "Lê Thị Mai"}]  # fmt: skip
    if int(id_number[-1]) % 2 == 0:
        events.append({"LoaiSuKien": "KetHon", "SoDangKy": f"{int(id_number[7:10])}/2024",
                       "NgayDangKy": "20240520", "NoiDangKy": "UBND xã Tuy Phước", "HoVaTen": name})  # fmt: skip
    return [e for e in events if not kind or e["LoaiSuKien"] == kind]


class NationalDbSandboxState:
    """Credentials, issued tokens, fault switches and counters."""

    def __init__(
        self,
        *,
        client_id: str = "lienthong",
        client_secret: str = "sandbox-secret",  # noqa: S107 - the sandbox's published demo credential
        soap_username: str = "lienthong",
        soap_password: str = "sandbox-secret",  # noqa: S107 - the sandbox's published demo credential
        token_ttl_s: float = 3600.0,
    ) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.token_ttl_s = token_ttl_s
        self.soap = UsernameTokenChecker({soap_username: soap_password})
        self.reset()

    def reset(self) -> None:
        """No tokens, no faults, zero counters."""
        self.tokens: dict[str, float] = {}
        self.is_down = False
        self.latency_ms = 0
        self._fail = (0, 500)
        self._malformed = 0
        self.calls: Counter[str] = Counter()
        self.tokens_issued = 0
        self.refused_401 = 0
        self.last_population_request: dict[str, Any] = {}

    def down(self, down: bool = True) -> None:
        """While down, every call answers 503."""
        self.is_down = bool(down)

    def slow(self, latency_ms: int) -> None:
        """Delay every call by `latency_ms`."""
        if not isinstance(latency_ms, int) or latency_ms < 0:
            raise ValueError("latency_ms must be an integer >= 0")
        self.latency_ms = latency_ms

    def fail_next(self, n: int, status: int = 500) -> None:
        """Answer the next `n` service calls (not token calls) with HTTP `status`."""
        if not isinstance(n, int) or n < 0 or not isinstance(status, int) or not 400 <= status <= 599:
            raise ValueError("n >= 0 and a 4xx/5xx status")
        self._fail = (n, status)

    def malformed_next(self, n: int) -> None:
        """The next `n` service replies are broken (XML that does not parse, JSON that is not)."""
        if not isinstance(n, int) or n < 0:
            raise ValueError("n must be an integer >= 0")
        self._malformed = n

    def expire_tokens(self) -> None:
        """Every issued token becomes invalid (the next call with one gets 401)."""
        self.tokens.clear()

    def stats(self) -> dict[str, Any]:
        """Counters for `GET /_sandbox/stats`."""
        return {"calls": dict(self.calls), "tokens_issued": self.tokens_issued, "refused_401": self.refused_401}

    async def gate(self, service: str) -> Response | None:
        """Latency, down and injected failures common to every call."""
        self.calls[service] += 1
        if self.latency_ms:
            await asyncio.sleep(self.latency_ms / 1000)
        if self.is_down:
            return JSONResponse({"error": "unavailable"}, status_code=503)
        if service != "token" and self._fail[0] > 0:
            self._fail = (self._fail[0] - 1, self._fail[1])
            return JSONResponse({"error": "injected"}, status_code=self._fail[1])
        return None

    def malformed(self) -> bool:
        """Take one malformed-reply switch, if set."""
        if self._malformed > 0:
            self._malformed -= 1
            return True
        return False

    def bearer_ok(self, request: Request) -> bool:
        """A live token in `Authorization: Bearer`."""
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        until = self.tokens.get(token.strip())
        ok = scheme.lower() == "bearer" and until is not None and until > time.time()
        if not ok:
            self.refused_401 += 1
        return ok


def create_nationaldb_sandbox(state: NationalDbSandboxState | None = None) -> FastAPI:
    """A fresh sandbox app (its state at `app.state.sandbox`)."""
    st = state or NationalDbSandboxState()
    app = FastAPI(title="national databases sandbox")
    app.state.sandbox = st

    @app.post("/token")
    async def token(request: Request) -> Response:
        if (early := await st.gate("token")) is not None:
            return early
        scheme, _, cred = request.headers.get("authorization", "").partition(" ")
        try:
            user, _, pw = base64.b64decode(cred).decode().partition(":")
        except ValueError:
            user, pw = "", ""
        form = (await request.body()).decode(errors="replace")
        if scheme.lower() != "basic" or not (
            hmac.compare_digest(user, st.client_id) and hmac.compare_digest(pw, st.client_secret)
        ):
            return JSONResponse({"error": "invalid_client"}, status_code=401)
        if "grant_type=client_credentials" not in form:
            return JSONResponse({"error": "unsupported_grant_type"}, status_code=400)
        value = secrets.token_urlsafe(24)
        st.tokens[value] = time.time() + st.token_ttl_s
        st.tokens_issued += 1
        return JSONResponse({"access_token": value, "token_type": "Bearer", "expires_in": int(st.token_ttl_s)})

    @app.post("/dancu/tracuu")
    async def population(request: Request) -> Response:  # noqa: PLR0911 - one answer per fault
        if (early := await st.gate("population")) is not None:
            return early
        if not st.bearer_ok(request):
            return JSONResponse({"error": "invalid_token"}, status_code=401)
        try:
            body = orjson.loads(await request.body())
        except orjson.JSONDecodeError:
            return JSONResponse({"error": "body is not JSON"}, status_code=400)
        required = ("HoVaTen", "SoDinhDanh", "MaYeuCau", "MaDVC", "MaCanBo")
        if not isinstance(body, dict) or any(not body.get(k) for k in required):
            return JSONResponse({"error": f"required: {', '.join(required)}"}, status_code=400)
        st.last_population_request = body
        if st.malformed():
            return JSONResponse({"message": "<soap:Envelope><soap:Body><CongdanCollection>"})
        id_number = str(body["SoDinhDanh"])
        if len(id_number) != 12 or not id_number.isdigit():
            return JSONResponse({"error": "SoDinhDanh must be 12 digits"}, status_code=400)
        return JSONResponse({"message": population_message(id_number)})

    @app.get("/dkdn/chiTietDoanhNghiep")
    async def business(request: Request, msdn: str = "") -> Response:
        if (early := await st.gate("business")) is not None:
            return early
        if not st.bearer_ok(request):
            return JSONResponse({"error": "invalid_token"}, status_code=401)
        if st.malformed():
            return Response(b"{not json", media_type="application/json")
        found = enterprise(msdn) if msdn.isdigit() else None
        if found is None:
            return JSONResponse({"error": "not found"}, status_code=404)
        return JSONResponse(found)

    @app.post("/hotich/soap")
    async def civil_status(request: Request) -> Response:
        if (early := await st.gate("civil-status")) is not None:
            return early
        raw = await request.body()
        try:
            req = split_envelope(parse_xml(raw))
            st.soap.check(req.header)
        except XmlRefused as exc:
            return Response(fault_xml(client_fault(str(exc))), 500, media_type=SOAP_CONTENT_TYPE)
        except SoapFault as exc:
            return Response(fault_xml(exc), 500, media_type=SOAP_CONTENT_TYPE)
        if st.malformed():
            return Response(b"<soap:Envelope><broken", media_type=SOAP_CONTENT_TYPE)
        op = req.operation
        id_number = (op.findtext(f"{{{_HOTICH_NS}}}SoDinhDanh") or "").strip()
        kind = (op.findtext(f"{{{_HOTICH_NS}}}LoaiSuKien") or "").strip() or None
        request_id = (op.findtext(f"{{{_HOTICH_NS}}}MaYeuCau") or "").strip()
        if len(id_number) != 12 or not id_number.isdigit():
            fault = client_fault("SoDinhDanh must be 12 digits")
            return Response(fault_xml(fault), 500, media_type=SOAP_CONTENT_TYPE)
        items = "".join(
            "<SuKien>" + "".join(f"<{k}>{escape(v)}</{k}>" for k, v in e.items()) + "</SuKien>"
            for e in civil_status_events(id_number, kind)
        )
        xml = (
            f'<?xml version="1.0" encoding="UTF-8"?><soap:Envelope xmlns:soap="{SOAP_NS}"><soap:Body>'
            f'<TraCuuHoTichResponse xmlns="{_HOTICH_NS}"><MaYeuCau>{escape(request_id)}</MaYeuCau>{items}'
            "</TraCuuHoTichResponse></soap:Body></soap:Envelope>"
        )
        return Response(xml.encode(), media_type=SOAP_CONTENT_TYPE)

    actions: dict[str, Callable[..., None]] = {
        "down": st.down, "slow": st.slow, "fail_next": st.fail_next, "malformed_next": st.malformed_next,
        "expire_tokens": st.expire_tokens, "reset": st.reset,
    }  # fmt: skip
    controls = control_router(actions, loopback_only=True, answer=st.stats)

    @controls.get("/stats")
    async def stats() -> dict[str, Any]:
        return st.stats()

    app.include_router(controls)
    return app


def main(argv: list[str] | None = None) -> None:
    """Serve the sandbox on loopback."""
    import uvicorn

    parser = argparse.ArgumentParser(description="National databases sandbox (population, business, civil status)")
    parser.add_argument("--port", type=int, default=8093)
    parser.add_argument("--host", default="127.0.0.1")
    args = parser.parse_args(argv)
    uvicorn.run(create_nationaldb_sandbox(), host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()


__all__ = ["NationalDbSandboxState", "create_nationaldb_sandbox", "enterprise", "population_message"]
