"""A real kill between recording a confirmation and publishing it: the API process is SIGKILLed after its
store committed the payment while its `payment.confirmed` cannot be sent (the topic is deleted for the
moment, and the broker does not auto-create topics, so the producer waits for metadata). The topic comes
back, a new API process gets the platform's repeated callback: the payment is recorded once and
published once."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from datetime import datetime

import httpx
import orjson
import pytest
from aiokafka.admin import AIOKafkaAdminClient

from lienthong.bus.topics import create_topics
from lienthong.connectors.payment.events import TOPIC, TOPIC_SPEC
from lienthong.connectors.payment.signature import MessageKind, sign
from lienthong.connectors.payment.store import PaymentRecord, PaymentStore, now_ms
from lienthong.connectors.payment.testing import payment_records, types_of, unique_dossier_code
from lienthong.mappings.wire import VN_TZ, format_dvcqg_time
from lienthong.schemas.payment import FeeLine, PaymentChannel, PaymentState
from lienthong.testing import consume_all, free_port, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SECRET = "crash-test-secret"


async def topic_exists(bootstrap: str) -> bool:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        return TOPIC in await admin.list_topics()
    finally:
        await admin.close()


async def delete_topic(bootstrap: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.delete_topics([TOPIC])
    finally:
        await admin.close()

    async def gone() -> bool:
        return not await topic_exists(bootstrap)

    await wait_for(gone, timeout=30, what=f"{TOPIC} deleted")


async def restore_topic(settings) -> None:
    async def back() -> bool:
        await create_topics(settings.bootstrap_servers, partitions=settings.partitions, specs=[TOPIC_SPEC])
        return await topic_exists(settings.bootstrap_servers)

    await wait_for(back, timeout=60, interval=0.5, what=f"{TOPIC} created again")


async def start_api(settings, port: int) -> asyncio.subprocess.Process:
    env = {**os.environ, "LIENTHONG_BOOTSTRAP_SERVERS": settings.bootstrap_servers,
           "LIENTHONG_STATE_DIR": str(settings.state_dir), "LIENTHONG_PAYMENT_SECRET": SECRET,
           "LIENTHONG_LOG_LEVEL": "WARNING"}  # fmt: skip
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "lienthong.cli", "api", "--port", str(port), env=env,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip

    async def ready() -> bool:
        try:
            async with httpx.AsyncClient(timeout=2) as client:
                return (await client.get(f"http://127.0.0.1:{port}/readyz")).status_code == 200
        except httpx.TransportError:
            return False

    await wait_for(ready, timeout=60, what="lienthong api ready")
    return proc


async def test_api_killed_after_recording_before_publishing_publishes_once_on_the_repeat(settings) -> None:
    await create_topics(settings.bootstrap_servers, partitions=settings.partitions, specs=[TOPIC_SPEC])
    code = unique_dossier_code()
    ref = f"{code}-TT01"
    store = PaymentStore(f"sqlite:///{settings.state_dir / 'payments.db'}")
    await store.open()
    await store.create(PaymentRecord(
        reference=ref, dossier_code=code, attempt=1, channel=PaymentChannel.ONLINE, state=PaymentState.PENDING,
        amount_vnd=150000, currency="VND", fees=(FeeLine(name="Lệ phí", amount_vnd=150000),), created_ms=now_ms(),
        pay_url="http://127.0.0.1/pay",
    ))  # fmt: skip
    fields = {"LoaiBanTin": "CONFIRM", "MaLoi": "00", "MaDoiTac": "000.00.12.H52", "MaThamChieu": ref,
              "SoTien": "150000", "MaTienTe": "VND", "MaGiaoDich": "GD777", "MaNganHang": "VCB",
              "ThoiGianGD": format_dvcqg_time(datetime.now(VN_TZ)), "ThongTinGiaoDich": "x"}  # fmt: skip
    body = orjson.dumps({**fields, "MaXacThuc": sign(MessageKind.CONFIRM, fields, secret=SECRET, scheme="hmac-sha256")})
    port_a, port_b = free_port(), free_port()
    await delete_topic(settings.bootstrap_servers)
    try:
        api_a = await start_api(settings, port_a)
        async with httpx.AsyncClient(timeout=60) as client:
            hanging = asyncio.create_task(
                client.post(f"http://127.0.0.1:{port_a}/payments/dvcqg/confirm", content=body)
            )

            async def recorded() -> bool:
                record = await store.get(ref)
                return record is not None and record.state is PaymentState.PAID

            await wait_for(recorded, timeout=30, what="the payment recorded by the first API process")
            api_a.send_signal(signal.SIGKILL)
            await api_a.wait()
            with pytest.raises(httpx.HTTPError):  # the process died before answering
                await hanging
    finally:
        await restore_topic(settings)
    after_kill = await store.get(ref)
    nothing = [r for r in await consume_all(settings.bootstrap_servers, TOPIC, expect=10**9, timeout=2)
               if r.key == ref.encode()]  # fmt: skip
    api_b = await start_api(settings, port_b)
    try:
        async with httpx.AsyncClient(timeout=60) as client:
            repeat = await client.post(f"http://127.0.0.1:{port_b}/payments/dvcqg/confirm", content=body)
        records = await payment_records(settings.bootstrap_servers, ref, expect=1)
    finally:
        api_b.send_signal(signal.SIGINT)
        await api_b.wait()
    final = await store.get(ref)
    await store.close()
    assert after_kill.published is False
    assert nothing == []
    assert repeat.json()["MaLoi"] == "00"
    assert types_of(records) == {"vn.gov.lienthong.payment.confirmed.v1": 1}
    assert final.confirmed_by == "callback"
    assert final.settled_ms == after_kill.settled_ms  # recorded once, by the killed process
