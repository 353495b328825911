"""Test helpers for the payment connector (like `lienthong.testing`, for lienthong's tests and integrators').

`PaymentHarness` runs, on loopback, the payment platform sandbox and lienthong's payment routes under
real uvicorn servers, wired to each other (the sandbox calls back the confirmation endpoint, signed with
the harness's scheme and secret), with a real `BusPublisher` on the given broker and a payment store in
the settings' state directory. It does not start a broker, nor run the workers: tests start those they
need (`build_payment_request_flow` and friends) so every test states what runs.
"""

from __future__ import annotations

import copy
import uuid
from collections import Counter
from datetime import datetime
from typing import Any

from fastapi import FastAPI

from lienthong.audit.writer import AuditWriter
from lienthong.bus.envelope import header
from lienthong.bus.publisher import BusPublisher
from lienthong.bus.topics import create_topics
from lienthong.connectors.payment.client import PaymentClient, init_config
from lienthong.connectors.payment.events import TOPIC, TOPIC_SPEC
from lienthong.connectors.payment.ledger import PaymentLedger
from lienthong.connectors.payment.reconcile import Reconciler
from lienthong.connectors.payment.routes import CONFIRM_PATH, router
from lienthong.connectors.payment.sandbox import PaymentSandboxState, create_payment_sandbox
from lienthong.connectors.payment.settings import PaymentSettings
from lienthong.connectors.payment.store import PaymentRecord, PaymentStore, now_ms
from lienthong.mappings.onestop import EXAMPLE_EVENT, OnestopDossierEventIn, onestop_event_to_canonical
from lienthong.mappings.payment import CURRENCY, init_message, payment_reference
from lienthong.mappings.wire import VN_TZ
from lienthong.schemas.payment import FeeLine, PaymentChannel, PaymentState
from lienthong.settings import Settings
from lienthong.testing import ServedApp, consume_all, wait_for


class PaymentHarness:
    """Sandbox platform + lienthong's payment routes + store + publisher, as an async context manager."""

    def __init__(self, settings: Settings, audit: AuditWriter, *, auto_citizens: bool = False, **payment: Any) -> None:
        """`payment` overrides `PaymentSettings` fields (e.g. `signature="sha256-suffix"`, `secret=...`)."""
        self.settings = settings
        self.audit = audit
        self.overrides = payment
        self.sandbox = PaymentSandboxState()
        self.sandbox.set_citizens(auto=auto_citizens)
        self._sandbox_srv = ServedApp(create_payment_sandbox(self.sandbox))
        self.publisher = BusPublisher(settings, audit)
        self.payment = PaymentSettings()
        self.store: PaymentStore | None = None
        self._api_srv: ServedApp | None = None
        self.client: PaymentClient | None = None

    @property
    def confirm_url(self) -> str:
        """lienthong's confirmation endpoint under uvicorn."""
        assert self._api_srv is not None
        return self._api_srv.url + CONFIRM_PATH

    @property
    def api_url(self) -> str:
        """Base URL of lienthong's payment routes."""
        assert self._api_srv is not None
        return self._api_srv.url

    @property
    def ledger(self) -> PaymentLedger:
        """The ledger over the harness's store."""
        assert self.store is not None
        return PaymentLedger(self.store, self.payment)

    async def __aenter__(self) -> PaymentHarness:
        await create_topics(self.settings.bootstrap_servers, partitions=self.settings.partitions, specs=[TOPIC_SPEC])
        await self._sandbox_srv.start()
        fields: dict[str, Any] = {
            "url": self._sandbox_srv.url,
            "state_dsn": f"sqlite:///{self.settings.state_dir / 'payments.db'}",
            **self.overrides,
        }
        self.payment = PaymentSettings(**fields)
        self.store = PaymentStore(self.payment.state_dsn)
        await self.store.open()
        await self.publisher.start()
        api = FastAPI()
        api.include_router(router(self.publisher, self.payment, store_dsn=self.payment.state_dsn))
        self._api_srv = ServedApp(api)
        await self._api_srv.start()
        self.sandbox.configure(
            callback_url=self.confirm_url, base_url=self._sandbox_srv.url,
            secret=self.payment.secret.get_secret_value(), scheme=self.payment.signature,
            partner_code=self.payment.partner_code,
        )  # fmt: skip
        self.client = PaymentClient(self.payment)
        return self

    async def __aexit__(self, *exc: object) -> None:
        for task in list(self.sandbox.tasks):
            task.cancel()
        if self._api_srv is not None:
            await self._api_srv.stop()
        await self._sandbox_srv.stop()
        if self.client is not None:
            await self.client.close()
        await self.publisher.close()
        if self.store is not None:
            await self.store.close()

    async def initiate(
        self, dossier_code: str, amount_vnd: int, *, attempt: int = 1, age_s: float = 0.0
    ) -> PaymentRecord:
        """Record a pending payment and `INIT` it on the sandbox, as `lienthong payments init` does;
        `age_s` backdates its creation (for reconciliation windows)."""
        assert self.store is not None
        assert self.client is not None
        fees = (FeeLine(name="Lệ phí", amount_vnd=amount_vnd, code="LP-1"),)
        ref = payment_reference(dossier_code, attempt)
        await self.store.create(
            PaymentRecord(
                reference=ref, dossier_code=dossier_code, attempt=attempt, channel=PaymentChannel.ONLINE,
                state=PaymentState.PENDING, amount_vnd=amount_vnd, currency=CURRENCY, fees=fees,
                created_ms=now_ms() - int(age_s * 1000),
            )
        )  # fmt: skip
        body = init_message(reference=ref, dossier_code=dossier_code, fees=fees, at=datetime.now(VN_TZ),
                            config=init_config(self.payment))  # fmt: skip
        await self.store.set_initiated(ref, await self.client.init(body))
        record = await self.store.get(ref)
        assert record is not None
        return record

    def reconciler(self) -> Reconciler:
        """A reconciler over the harness's store, client and publisher."""
        assert self.client is not None
        return Reconciler(self.ledger, self.client, self.publisher)


def unique_dossier_code() -> str:
    """A valid dossier code unlikely to repeat across tests sharing a broker."""
    return f"000.00.12.H52-250703-{uuid.uuid4().int % 9000 + 1000:04d}"


def status6_event(code: str, fee_vnd: int = 150000) -> bytes:
    """A canonical `dossier.events` payload: the one-stop example dossier in status 6 with one fee."""
    body = copy.deepcopy(EXAMPLE_EVENT)
    body["event_id"] = str(uuid.uuid4())
    d = body["dossier"]
    d["MaHoSo"] = code
    d["TrangThaiHoSo"] = "6"
    d["DanhSachLePhi"] = [{"TenPhiLePhi": "Lệ phí cấp giấy phép", "MaPhiLePhi": "LP-1", "Gia": str(fee_vnd)}]
    return onestop_event_to_canonical(OnestopDossierEventIn.model_validate(body)).model_dump_json().encode()


async def payment_records(bootstrap: str, reference: str, *, expect: int, timeout: float = 20) -> list[Any]:
    """Records of `payment.events` keyed by `reference`, read until `expect` of them arrived."""
    found: list[Any] = []

    async def enough() -> bool:
        every = await consume_all(bootstrap, TOPIC, expect=10**9, timeout=0.8)
        found[:] = [r for r in every if r.key == reference.encode()]
        return len(found) >= expect

    await wait_for(enough, timeout=timeout, what=f"{expect} payment event(s) for {reference}")
    return found


def types_of(records: list[Any]) -> Counter[str]:
    """How many records of each `ce_type`."""
    return Counter(header(r.headers, "ce_type") or "" for r in records)


__all__ = ["PaymentHarness", "payment_records", "status6_event", "types_of", "unique_dossier_code"]
