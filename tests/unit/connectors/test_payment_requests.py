"""The payment request handler's decisions that need no platform: what it skips and what it refuses."""

from __future__ import annotations

import orjson
import pytest
from aiokafka import ConsumerRecord

from lienthong.bus.envelope import new_envelope
from lienthong.bus.worker import Inbound, Outcome
from lienthong.connectors.payment.client import PaymentClient
from lienthong.connectors.payment.ledger import PaymentLedger
from lienthong.connectors.payment.settings import PaymentSettings
from lienthong.connectors.payment.store import PaymentStore
from lienthong.connectors.payment.testing import status6_event
from lienthong.connectors.payment.worker import PaymentRequestHandler
from lienthong.errors import PermanentError

CODE = "000.00.12.H52-250703-0042"


def inbound(value: bytes) -> Inbound:
    env = new_envelope(type="vn.gov.lienthong.dossier.status_changed.v1", source="/test", subject=CODE)
    rec = ConsumerRecord("dossier.events", 0, 0, 0, 0, CODE.encode(), value, None, 0, len(value), env.to_headers())
    return Inbound(rec, env, 0)


@pytest.fixture
async def handler(tmp_path):
    # The platform URL points nowhere: these cases must be decided before any call.
    settings = PaymentSettings(url="http://127.0.0.1:9", state_dsn=f"sqlite:///{tmp_path / 'p.db'}")
    store = PaymentStore(settings.state_dsn)
    await store.open()
    client = PaymentClient(settings)
    yield PaymentRequestHandler(PaymentLedger(store, settings), client), store
    await client.close()
    await store.close()


def with_status(value: bytes, status: int, fee: int | None = None) -> bytes:
    body = orjson.loads(value)
    body["dossier"]["status"] = status
    if fee is not None:
        body["dossier"]["fees"][0]["amount_vnd"] = fee
    return orjson.dumps(body)


async def test_a_dossier_not_in_status_6_is_skipped_without_a_payment(handler) -> None:
    h, store = handler
    [result] = await h([inbound(with_status(status6_event(CODE), 4))])
    assert isinstance(result, Outcome)
    assert result.result == "skipped"
    assert await store.list_payments(limit=10) == []


async def test_a_dossier_in_status_6_without_fees_to_pay_is_skipped(handler) -> None:
    h, store = handler
    [result] = await h([inbound(with_status(status6_event(CODE), 6, fee=0))])
    assert isinstance(result, Outcome)
    assert result.result == "skipped"
    assert await store.list_payments(limit=10) == []


async def test_fees_beyond_eighteen_digits_are_a_permanent_error(handler) -> None:
    h, store = handler
    [result] = await h([inbound(with_status(status6_event(CODE), 6, fee=10**18))])
    assert isinstance(result, PermanentError)
    assert await store.list_payments(limit=10) == []


async def test_a_record_that_is_not_a_dossier_event_is_a_permanent_error(handler) -> None:
    h, _ = handler
    [result] = await h([inbound(b'{"not": "a dossier event"}')])
    assert isinstance(result, PermanentError)
