"""The payment platform sandbox: INIT checks and idempotency, signatures, QUERY states, GET_BILL, faults."""

from __future__ import annotations

from datetime import datetime

import httpx
import orjson
import pytest

from lienthong.connectors.payment.sandbox import PaymentSandboxState, create_payment_sandbox
from lienthong.connectors.payment.signature import MessageKind, sign
from lienthong.mappings.payment import InitConfig, init_message, query_message
from lienthong.mappings.wire import VN_TZ
from lienthong.schemas.payment import FeeLine

SECRET = "sandbox-unit-secret"
PARTNER = "000.00.12.H52"
CODE = "000.00.12.H52-250703-0042"
CONFIG = InitConfig(PARTNER, "WEB", "lienthong", "", "127.0.0.1", "2", "3711", "01201001", "KBNN", "TT")


def signed(kind: MessageKind, body: dict, *, secret: str = SECRET) -> bytes:
    text = {k: v for k, v in body.items() if isinstance(v, str)}
    return orjson.dumps({**body, "MaXacThuc": sign(kind, text, secret=secret, scheme="hmac-sha256")})


def init_body(ref: str = f"{CODE}-TT01", amount: int = 150000) -> dict:
    fees = (FeeLine(name="Lệ phí", amount_vnd=amount),)
    return init_message(reference=ref, dossier_code=CODE, fees=fees, at=datetime.now(VN_TZ), config=CONFIG)


@pytest.fixture
def platform() -> PaymentSandboxState:
    state = PaymentSandboxState(secret=SECRET, partner_code=PARTNER)
    state.set_citizens(auto=False)
    return state


async def call(platform: PaymentSandboxState, raw: bytes) -> tuple[int, dict]:
    transport = httpx.ASGITransport(app=create_payment_sandbox(platform))
    async with httpx.AsyncClient(transport=transport, base_url="http://sandbox") as client:
        r = await client.post("/", content=raw)
    return r.status_code, r.json()


async def test_init_answers_a_pay_url_and_a_repeat_gets_the_same_one(platform) -> None:
    _, first = await call(platform, signed(MessageKind.INIT, init_body()))
    _, again = await call(platform, signed(MessageKind.INIT, init_body()))
    assert first["MaLoi"] == "00"
    assert first["UrlThanhToan"] == again["UrlThanhToan"]
    assert len(platform.transactions) == 1


async def test_init_of_a_known_reference_with_another_amount_is_refused(platform) -> None:
    await call(platform, signed(MessageKind.INIT, init_body()))
    _, other = await call(platform, signed(MessageKind.INIT, init_body(amount=1)))
    assert other["MaLoi"] == "03"


async def test_init_signed_with_another_secret_is_refused(platform) -> None:
    _, answer = await call(platform, signed(MessageKind.INIT, init_body(), secret="wrong"))
    assert answer["MaLoi"] == "02"
    assert platform.transactions == {}


async def test_init_whose_amount_is_not_the_sum_of_its_fees_is_refused(platform) -> None:
    body = init_body()
    body["SoTien"] = "150001"
    _, answer = await call(platform, signed(MessageKind.INIT, body))
    assert answer["MaLoi"] == "01"


async def test_query_reports_pending_paid_and_failed(platform) -> None:
    paid, gone, waiting = f"{CODE}-TT01", f"{CODE}-TT02", f"{CODE}-TT03"
    for ref in (paid, gone, waiting):
        await call(platform, signed(MessageKind.INIT, init_body(ref)))
    await platform._settle(paid, paid=True)
    await platform._settle(gone, paid=False)
    states = {}
    for ref in (paid, gone, waiting, f"{CODE}-TT09"):
        q = query_message("QUERY", reference=ref, partner_code=PARTNER, at=datetime.now(VN_TZ))
        states[ref] = (await call(platform, signed(MessageKind.QUERY, q)))[1]["TrangThaiGD"]
    assert states == {paid: "1", gone: "4", waiting: "3", f"{CODE}-TT09": "3"}
    assert platform.transactions[paid].pay_count == 1


async def test_get_bill_answers_a_receipt_only_once_paid(platform) -> None:
    ref = f"{CODE}-TT01"
    await call(platform, signed(MessageKind.INIT, init_body(ref)))
    bill = query_message("GET_BILL", reference=ref, partner_code=PARTNER, at=datetime.now(VN_TZ))
    _, before = await call(platform, signed(MessageKind.GET_BILL, bill))
    await platform._settle(ref, paid=True)
    _, after = await call(platform, signed(MessageKind.GET_BILL, bill))
    assert before["MaLoi"] != "00"
    assert after["MaLoi"] == "00"
    assert after["MaBienLai"]


async def test_down_answers_503(platform) -> None:
    platform.set_down(True)
    status, _ = await call(platform, signed(MessageKind.INIT, init_body()))
    assert status == 503


def test_the_callback_body_is_signed_and_an_altered_amount_stays_validly_signed(platform) -> None:
    from lienthong.connectors.payment.sandbox import Transaction
    from lienthong.connectors.payment.signature import verify

    txn = Transaction(f"{CODE}-TT01", 150000, "u", 0.0, state="paid", transaction_id="GD1", paid_at="20250703091500")
    body = platform.callback_body(txn, altered=True)
    fields = {k: v for k, v in body.items() if k != "MaXacThuc"}
    assert body["SoTien"] == "151000"
    assert verify(MessageKind.CONFIRM, fields, body["MaXacThuc"], secret=SECRET, scheme="hmac-sha256")


def test_fault_rates_outside_zero_to_one_are_refused(platform) -> None:
    with pytest.raises(ValueError, match="lose"):
        platform.set_faults(lose=1.5)
