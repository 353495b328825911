"""Test helpers for the payment connector (like `lienthong.testing`, for lienthong's tests and integrators').

`PaymentHarness` runs, on loopback, the payment platform sandbox and lienthong's payment routes under
real uvicorn servers, wired to each other (the sandbox calls back the confirmation endpoint, signed with
the harness's scheme and secret), with a real `BusPublisher` on the given broker and a payment store in
the settings' state directory. It does not start a broker, nor run the workers: tests start those they
need (`build_payment_request_flow` and friends) so every test states what runs.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import FastAPI

from lienthong.audit.writer import AuditWriter
from lienthong.bus.publisher import BusPublisher
from lienthong.bus.topics import create_topics
from lienthong.connectors.payment.client import PaymentClient, init_config
from lienthong.connectors.payment.events import TOPIC_SPEC
from lienthong.connectors.payment.ledger import PaymentLedger
from lienthong.connectors.payment.reconcile import Reconciler
from lienthong.connectors.payment.routes import CONFIRM_PATH, router
from lienthong.connectors.payment.sandbox import PaymentSandboxState, create_payment_sandbox
from lienthong.connectors.payment.settings import PaymentSettings
from lienthong.connectors.payment.store import PaymentRecord, PaymentStore, now_ms
from lienthong.mappings.payment import CURRENCY, init_message, payment_reference
from lienthong.mappings.wire import VN_TZ
from lienthong.schemas.payment import FeeLine, PaymentChannel, PaymentState
from lienthong.settings import Settings
from lienthong.testing import ServedApp


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

    async def initiate(self, dossier_code: str, amount_vnd: int, *, attempt: int = 1) -> PaymentRecord:
        """Record a pending payment and `INIT` it on the sandbox, as `lienthong payments init` does."""
        assert self.store is not None
        assert self.client is not None
        fees = (FeeLine(name="Lệ phí", amount_vnd=amount_vnd, code="LP-1"),)
        ref = payment_reference(dossier_code, attempt)
        await self.store.create(
            PaymentRecord(
                reference=ref, dossier_code=dossier_code, attempt=attempt, channel=PaymentChannel.ONLINE,
                state=PaymentState.PENDING, amount_vnd=amount_vnd, currency=CURRENCY, fees=fees, created_ms=now_ms(),
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


__all__ = ["PaymentHarness"]
