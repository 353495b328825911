"""A simulator of DVCQG's payment platform: `INIT`, `QUERY`, `GET_BILL`, simulated citizens, signed callbacks.

`POST /` takes a signed JSON message naming its operation in `LoaiBanTin` (a wrong `MaXacThuc` or
`MaDoiTac` is answered `MaLoi` "02"):

- `INIT` checks every field, that `SoTien` is whole dong equal to the sum of `ThongTinBienLai.PhiLePhi`,
  stores the transaction and answers `UrlThanhToan`; the same `MaThamChieu` again with the same amount
  gets the same URL (with another amount: "03"). With the simulated citizen on, the citizen pays after a
  random delay, or abandons; the platform then calls lienthong's confirmation endpoint, signed with the
  configured scheme (`LoaiBanTin` "CONFIRM").
- `QUERY` answers `TrangThaiGD` 1 paid, 3 pending (or unknown), 4 failed, with `MaGiaoDich` and `SoTien`.
- `GET_BILL` answers the e-receipt reference `MaBienLai` of a paid transaction.

Fault switches (`POST /_sandbox/<name>`, loopback only): `faults` with rates 0..1 of callbacks `lose`,
`repeat`, `late` (sent only after a `QUERY` has answered "paid") and `alter_amount` (the callback carries
another `SoTien`, correctly signed); `down` (every call 503); `slow_query` (QUERY latency); `citizen`
(automatic payers: delays and abandon rate); `pay` / `abandon` one reference now; `configure`; `reset`.
Inspection: `GET /_sandbox/transactions`, `GET /_sandbox/stats`.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

import httpx
import orjson
from fastapi import FastAPI, Request
from fastapi.responses import Response

from lienthong.connectors.payment.settings import SignatureScheme
from lienthong.connectors.payment.signature import SCHEMES, MessageKind, sign, verify
from lienthong.connectors.sandbox_controls import control_router
from lienthong.mappings.wire import VN_TZ, format_dvcqg_time

SANDBOX_SECRET = "lienthong-sandbox-secret"  # noqa: S105 - the public sandbox default, not a credential
"""The sandbox's default shared secret (the payment settings' default)."""
SANDBOX_PARTNER = "000.00.12.H52"
"""The sandbox's default partner code (the payment settings' default)."""
CALLBACK_PATH = "/payments/dvcqg/confirm"


@dataclass
class Transaction:
    """One payment as the simulated platform holds it."""

    reference: str
    amount_vnd: int
    url: str
    created_at: float
    state: str = "pending"
    """pending, paid or failed."""
    transaction_id: str = ""
    bank_code: str = ""
    paid_at: str = ""
    """`ThoiGianGD` of the payment."""
    receipt: str = ""
    pay_count: int = 0
    """Times the citizen's money was taken (must stay 0 or 1)."""
    callbacks_sent: int = 0
    callbacks_ok: int = 0
    """Callbacks lienthong answered "00"."""
    callbacks_refused: int = 0
    late_pending: bool = False
    """A late callback waits for a QUERY that reports the payment."""
    late: bool = False
    """The callback was held back until a QUERY had reported the payment."""
    amount_altered: bool = False
    lost: bool = False
    repeated: bool = False
    queries: int = 0


@dataclass
class Faults:
    """Fault switches."""

    lose: float = 0.0
    repeat: float = 0.0
    late: float = 0.0
    alter_amount: float = 0.0
    down: bool = False
    query_latency_ms: int = 0


@dataclass
class Citizens:
    """The simulated payers."""

    auto: bool = True
    pay_min_ms: int = 200
    pay_max_ms: int = 2000
    abandon_rate: float = 0.1


@dataclass
class PaymentSandboxState:
    """The simulated platform: configuration, transactions, faults, counters."""

    callback_url: str = ""
    secret: str = SANDBOX_SECRET
    scheme: SignatureScheme = "hmac-sha256"
    partner_code: str = SANDBOX_PARTNER
    base_url: str = "http://127.0.0.1:8095"
    seed: int = 11
    transactions: dict[str, Transaction] = field(default_factory=dict)
    faults: Faults = field(default_factory=Faults)
    citizens: Citizens = field(default_factory=Citizens)
    calls: dict[str, int] = field(default_factory=dict)
    refused: int = 0
    served_503: int = 0

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)  # noqa: S311 - simulated citizens, not security
        self.tasks: set[asyncio.Task[None]] = set()

    # Controls ---------------------------------------------------------------------------------------

    def configure(
        self, callback_url: str | None = None, secret: str | None = None, scheme: str | None = None,
        partner_code: str | None = None, base_url: str | None = None,
    ) -> None:  # fmt: skip
        """Set where callbacks go and how messages are signed."""
        if scheme is not None and scheme not in SCHEMES:
            raise ValueError(f"scheme must be one of {', '.join(SCHEMES)}")
        self.callback_url = callback_url if callback_url is not None else self.callback_url
        self.secret = secret if secret is not None else self.secret
        self.scheme = scheme if scheme is not None else self.scheme
        self.partner_code = partner_code if partner_code is not None else self.partner_code
        self.base_url = base_url if base_url is not None else self.base_url

    def set_faults(self, lose: float = 0.0, repeat: float = 0.0, late: float = 0.0, alter_amount: float = 0.0) -> None:
        """Rates (0..1) of lost, repeated, late and amount-altered callbacks."""
        for name, rate in (("lose", lose), ("repeat", repeat), ("late", late), ("alter_amount", alter_amount)):
            if not isinstance(rate, int | float) or not 0 <= rate <= 1:
                raise ValueError(f"{name} must be a rate between 0 and 1")
        self.faults.lose, self.faults.repeat, self.faults.late = float(lose), float(repeat), float(late)
        self.faults.alter_amount = float(alter_amount)

    def set_down(self, down: bool = True) -> None:
        """While down, every call answers HTTP 503."""
        self.faults.down = bool(down)

    def set_query_latency(self, latency_ms: int) -> None:
        """Delay every QUERY answer by `latency_ms`."""
        if not isinstance(latency_ms, int) or latency_ms < 0:
            raise ValueError("latency_ms must be an integer >= 0")
        self.faults.query_latency_ms = latency_ms

    def set_citizens(
        self, auto: bool = True, pay_min_ms: int = 200, pay_max_ms: int = 2000, abandon_rate: float = 0.1
    ) -> None:
        """Automatic payers: each pays after a random delay in [min, max] ms, or abandons at that rate."""
        if not (0 <= pay_min_ms <= pay_max_ms) or not 0 <= abandon_rate <= 1:
            raise ValueError("need 0 <= pay_min_ms <= pay_max_ms and 0 <= abandon_rate <= 1")
        self.citizens = Citizens(bool(auto), int(pay_min_ms), int(pay_max_ms), float(abandon_rate))

    def pay(self, reference: str) -> None:
        """The citizen pays `reference` now (callback as the fault switches say)."""
        self._spawn(self._settle(reference, paid=True))

    def abandon(self, reference: str) -> None:
        """The citizen abandons `reference` now."""
        self._spawn(self._settle(reference, paid=False))

    def reset(self) -> None:
        """Drop transactions, counters and fault switches (configuration kept)."""
        for task in self.tasks:
            task.cancel()
        self.tasks = set()
        self.transactions.clear()
        self.faults = Faults()
        self.calls.clear()
        self.refused = self.served_503 = 0

    # Protocol -------------------------------------------------------------------------------------------

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def _reply(self, reference: str, code: str, text: str, **extra: Any) -> dict[str, Any]:
        return {"MaLoi": code, "MoTaLoi": text, "MaDoiTac": self.partner_code, "MaThamChieu": reference, **extra}

    async def serve(self, raw: bytes) -> tuple[int, dict[str, Any]]:  # noqa: PLR0911 - one answer per check
        """Answer one `POST /` (HTTP status, JSON body)."""
        if self.faults.down:
            self.served_503 += 1
            return 503, {"MaLoi": "96", "MoTaLoi": "Hệ thống đang bảo trì (sandbox down)"}
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return 400, {"MaLoi": "01", "MoTaLoi": "body is not JSON"}
        if not isinstance(body, dict) or not isinstance(body.get("LoaiBanTin"), str):
            return 400, {"MaLoi": "01", "MoTaLoi": "LoaiBanTin is required"}
        kind = body["LoaiBanTin"]
        self.calls[kind] = self.calls.get(kind, 0) + 1
        ref = str(body.get("MaThamChieu", ""))
        if kind not in ("INIT", "QUERY", "GET_BILL"):
            return 200, self._reply(ref, "01", f"unknown LoaiBanTin {kind[:20]!r}")
        text = {k: v for k, v in body.items() if isinstance(v, str)}
        if not verify(MessageKind(kind), text, str(body.get("MaXacThuc", "")), secret=self.secret, scheme=self.scheme):
            self.refused += 1
            return 200, self._reply(ref, "02", "MaXacThuc không hợp lệ")
        if body.get("MaDoiTac") != self.partner_code:
            self.refused += 1
            return 200, self._reply(ref, "02", "MaDoiTac không hợp lệ")
        if kind == "INIT":
            return 200, self._init(body, ref)
        if kind == "QUERY":
            if self.faults.query_latency_ms:
                await asyncio.sleep(self.faults.query_latency_ms / 1000)
            return 200, self._query(ref)
        txn = self.transactions.get(ref)
        if txn is None or txn.state != "paid":
            return 200, self._reply(ref, "01", "giao dịch chưa thanh toán")
        if not txn.receipt:
            txn.receipt = f"BL{len([t for t in self.transactions.values() if t.receipt]) + 1:08d}"
        return 200, self._reply(ref, "00", "thành công", MaBienLai=txn.receipt, SoTien=str(txn.amount_vnd))

    def _init(self, body: dict[str, Any], ref: str) -> dict[str, Any]:  # noqa: PLR0911 - one answer per check
        required = ("PhienBan", "MaThamChieu", "SoTien", "LoaiHinhThanhToan", "MaKenhThanhToan", "MaThietBi",
                    "NgonNgu", "MaTienTe", "MaNganHang", "ThongTinGiaoDich", "ThoiGianGD", "Ip")  # fmt: skip
        missing = [k for k in required if not isinstance(body.get(k), str)]
        receipt = body.get("ThongTinBienLai")
        if missing or not ref:
            return self._reply(ref, "01", f"thiếu trường {', '.join(missing) or 'MaThamChieu'}")
        amount_text = body["SoTien"]
        if (
            not (amount_text.isascii() and amount_text.isdigit() and 0 < len(amount_text) <= 18)
            or int(amount_text) <= 0
        ):
            return self._reply(ref, "01", "SoTien phải là số nguyên dương")
        if body["MaTienTe"] != "VND" or body["LoaiHinhThanhToan"] != "PAY":
            return self._reply(ref, "01", "MaTienTe / LoaiHinhThanhToan không hỗ trợ")
        if not isinstance(receipt, dict) or not isinstance(receipt.get("PhiLePhi"), list):
            return self._reply(ref, "01", "thiếu ThongTinBienLai.PhiLePhi")
        try:
            total = sum(int(f["SoTien"]) for f in receipt["PhiLePhi"])
        except (KeyError, TypeError, ValueError):
            return self._reply(ref, "01", "PhiLePhi.SoTien không hợp lệ")
        amount = int(amount_text)
        if total != amount:
            return self._reply(ref, "01", "SoTien khác tổng PhiLePhi")
        txn = self.transactions.get(ref)
        if txn is not None:
            if txn.amount_vnd != amount:
                return self._reply(ref, "03", "MaThamChieu đã tồn tại với số tiền khác")
            return self._reply(ref, "00", "thành công", UrlThanhToan=txn.url)
        txn = Transaction(ref, amount, f"{self.base_url}/pay/{ref}", time.time())
        self.transactions[ref] = txn
        if self.citizens.auto:
            self._spawn(self._citizen(ref))
        return self._reply(ref, "00", "thành công", UrlThanhToan=txn.url)

    def _query(self, ref: str) -> dict[str, Any]:
        txn = self.transactions.get(ref)
        if txn is None:
            return self._reply(ref, "01", "không tìm thấy giao dịch", TrangThaiGD="3")
        txn.queries += 1
        status = {"paid": "1", "failed": "4"}.get(txn.state, "3")
        if txn.state == "paid" and txn.late_pending:
            txn.late_pending = False
            self._spawn(self._callback(txn, delay_s=0.2))
        return self._reply(ref, "00", "thành công", TrangThaiGD=status, MaGiaoDich=txn.transaction_id,
                           SoTien=str(txn.amount_vnd), MaNganHang=txn.bank_code, ThoiGianGD=txn.paid_at)  # fmt: skip

    async def _citizen(self, ref: str) -> None:
        c = self.citizens
        await asyncio.sleep(self.rng.uniform(c.pay_min_ms, c.pay_max_ms) / 1000)
        await self._settle(ref, paid=self.rng.random() >= c.abandon_rate)

    async def _settle(self, ref: str, *, paid: bool) -> None:
        txn = self.transactions.get(ref)
        if txn is None or txn.state != "pending":
            return
        txn.state = "paid" if paid else "failed"
        txn.paid_at = format_dvcqg_time(datetime.now(VN_TZ))
        if paid:
            txn.pay_count += 1
            txn.transaction_id = f"GD{self.rng.randrange(10**11, 10**12)}"
            txn.bank_code = self.rng.choice(("VCB", "BIDV", "CTG", "AGRIBANK"))
        f, r = self.faults, self.rng.random
        if f.lose and r() < f.lose:
            txn.lost = True
            return
        if paid and f.late and r() < f.late:
            txn.late_pending = txn.late = True
            return
        altered = paid and f.alter_amount > 0 and r() < f.alter_amount
        txn.amount_altered = altered
        await self._callback(txn, altered=altered)
        if f.repeat and r() < f.repeat:
            txn.repeated = True
            await self._callback(txn, delay_s=0.1, altered=altered)

    def callback_body(self, txn: Transaction, *, altered: bool = False) -> dict[str, str]:
        """The signed confirmation callback of a settled transaction."""
        fields = {
            "LoaiBanTin": "CONFIRM",
            "MaLoi": "00" if txn.state == "paid" else "01",
            "MaDoiTac": self.partner_code,
            "MaThamChieu": txn.reference,
            "SoTien": str(txn.amount_vnd + (1000 if altered else 0)),
            "MaTienTe": "VND",
            "MaGiaoDich": txn.transaction_id,
            "MaNganHang": txn.bank_code,
            "ThoiGianGD": txn.paid_at,
            "ThongTinGiaoDich": f"Thanh toan {txn.reference}",
        }
        return {**fields, "MaXacThuc": sign(MessageKind.CONFIRM, fields, secret=self.secret, scheme=self.scheme)}

    async def _callback(self, txn: Transaction, *, delay_s: float = 0.0, altered: bool = False) -> None:
        if delay_s:
            await asyncio.sleep(delay_s)
        if not self.callback_url:
            return
        txn.callbacks_sent += 1
        try:
            async with httpx.AsyncClient(timeout=10) as client:
                r = await client.post(self.callback_url, content=orjson.dumps(self.callback_body(txn, altered=altered)),
                                      headers={"Content-Type": "application/json"})  # fmt: skip
            ok = r.headers.get("content-type", "").startswith("application/json") and r.json().get("MaLoi") == "00"
        except (httpx.HTTPError, ValueError):
            ok = False
        if ok:
            txn.callbacks_ok += 1
        else:
            txn.callbacks_refused += 1

    def stats_json(self) -> dict[str, Any]:
        """Counters and switches."""
        states: dict[str, int] = {}
        for t in self.transactions.values():
            states[t.state] = states.get(t.state, 0) + 1
        txns = list(self.transactions.values())
        return {
            "transactions": len(txns), "states": states, "calls": dict(self.calls), "refused": self.refused,
            "served_503": self.served_503, "faults": asdict(self.faults), "citizens": asdict(self.citizens),
            "callbacks_sent": sum(t.callbacks_sent for t in txns), "callbacks_ok": sum(t.callbacks_ok for t in txns),
            "lost": sum(t.lost for t in txns), "repeated": sum(t.repeated for t in txns),
            "late": sum(t.late for t in txns),
            "altered": sum(t.amount_altered for t in txns),
        }  # fmt: skip


def sandbox_state(app: FastAPI) -> PaymentSandboxState:
    """The state behind an app made by `create_payment_sandbox`."""
    state: PaymentSandboxState = app.state.payment_sandbox
    return state


def create_payment_sandbox(state: PaymentSandboxState | None = None, *, controls_loopback_only: bool = True) -> FastAPI:
    """The simulated payment platform as an ASGI app (state: `sandbox_state`). Never mount it in the hub."""
    platform = state or PaymentSandboxState()
    app = FastAPI(title="Payment platform sandbox", docs_url="/_sandbox/docs", openapi_url="/_sandbox/openapi.json")
    app.state.payment_sandbox = platform

    async def api(request: Request) -> Response:
        status, body = await platform.serve(await request.body())
        return Response(orjson.dumps(body), status_code=status, media_type="application/json")

    async def pay_page(request: Request) -> Response:
        ref = request.path_params["ref"]
        txn = platform.transactions.get(ref)
        if txn is None:
            return Response("unknown payment", status_code=404)
        if request.method == "POST":
            platform.pay(ref)
        return Response(f"Thanh toán {txn.amount_vnd} VND: {txn.state}", media_type="text/plain; charset=utf-8")

    app.add_route("/", api, methods=["POST"], include_in_schema=False)
    app.add_route("/pay/{ref}", pay_page, methods=["GET", "POST"], include_in_schema=False)
    controls = control_router(
        {
            "configure": platform.configure, "faults": platform.set_faults, "down": platform.set_down,
            "slow_query": platform.set_query_latency, "citizen": platform.set_citizens, "pay": platform.pay,
            "abandon": platform.abandon, "reset": platform.reset,
        },
        loopback_only=controls_loopback_only,
        answer=platform.stats_json,
    )  # fmt: skip

    @controls.get("/transactions")
    async def transactions() -> Response:
        return Response(orjson.dumps({r: asdict(t) for r, t in platform.transactions.items()}),
                        media_type="application/json")  # fmt: skip

    @controls.get("/stats")
    async def stats() -> dict[str, Any]:
        return platform.stats_json()

    app.include_router(controls)
    return app


def main(argv: list[str] | None = None) -> None:
    """Run the simulated platform: `python -m lienthong.connectors.payment.sandbox --port 8095`."""
    import uvicorn

    parser = argparse.ArgumentParser(description="DVCQG payment platform simulator (sandbox).")
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default: loopback only)")
    parser.add_argument("--port", type=int, default=8095)
    parser.add_argument("--callback-url", default="http://127.0.0.1:8080" + CALLBACK_PATH)
    parser.add_argument("--secret", default=SANDBOX_SECRET)
    parser.add_argument("--scheme", default="hmac-sha256", choices=SCHEMES)
    parser.add_argument("--partner-code", default=SANDBOX_PARTNER)
    args = parser.parse_args(argv)
    state = PaymentSandboxState(callback_url=args.callback_url, secret=args.secret, scheme=args.scheme,
                                partner_code=args.partner_code, base_url=f"http://{args.host}:{args.port}")  # fmt: skip
    uvicorn.run(create_payment_sandbox(state), host=args.host, port=args.port, access_log=False)


if __name__ == "__main__":
    main()
