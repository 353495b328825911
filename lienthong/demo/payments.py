"""The payments part of `lienthong demo`: fees of a few hundred dossiers paid online and at the counter.

Started before the API (`start`): the payment platform sandbox and a one-stop REST sandbox that receives
the payment notices; `LIENTHONG_PAYMENT_*` point the connector at them. Then (`run`), with lienthong's API
served: the payment workers (INIT on status 6, notices to the one-stop system, receipts and
reconciliation), and this part plays the one-stop system. Each online dossier is accepted and then
moved to status 6 with its fees (webhook -> `dossier.events` -> `INIT` -> pay link); simulated citizens
pay after a random delay or abandon; the platform loses, repeats and delays some callbacks; a share of
the dossiers is paid at the counter (`POST /payments/counter`); some forged callbacks are sent. When a
confirmation reaches the one-stop sandbox, the dossier resumes (status 4) with the due date moved back
by the pause and the fee's `HinhThucThu`, and that state syncs to DVCQG.

At the end, every payment must be paid exactly once on both sides with the same amount, or on neither:
`payment_mismatches` counts those that are not.
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

import httpx
import orjson

from lienthong.bus.envelope import header
from lienthong.bus.worker import Worker
from lienthong.connectors.onestop.sandbox import OnestopSandboxState, create_onestop_sandbox
from lienthong.connectors.payment.events import TOPIC
from lienthong.connectors.payment.routes import CONFIRM_PATH, COUNTER_PATH
from lienthong.connectors.payment.sandbox import PaymentSandboxState, create_payment_sandbox
from lienthong.connectors.payment.settings import PaymentSettings
from lienthong.connectors.payment.signature import MessageKind, sign
from lienthong.connectors.payment.store import PaymentStore
from lienthong.connectors.payment.worker import (
    build_payment_notice_flow,
    build_payment_reconcile_flow,
    build_payment_request_flow,
    default_store_dsn,
)
from lienthong.demo.parts import DemoContext
from lienthong.demo.workload import synthetic_dossier
from lienthong.mappings.onestop import canonical_to_onestop
from lienthong.mappings.payment import resumed_dossier
from lienthong.mappings.wire import VN_TZ, format_dvcqg_time, parse_dvcqg_time
from lienthong.schemas.dossier import (
    Dossier,
    DossierEvent,
    DossierEventKind,
    DossierStatus,
    Fee,
    ProcessingStep,
)
from lienthong.schemas.payment import PaymentState
from lienthong.testing import ServedApp, consume_all

DOSSIERS = 300
"""Dossiers with fees in the part."""
COUNTER_SHARE = 0.2
"""Share of them paid at the desk (POS or transfer) instead of online."""
FORGERIES = 12
"""Forged callbacks sent to lienthong (all must be refused)."""
FAULTS = {"lose": 0.12, "repeat": 0.12, "late": 0.08}
"""Callback faults switched on in the platform sandbox."""
SETTLE_TIMEOUT_S = 60.0
"""Longest wait for every payment to settle on both sides."""
AGENCY = "000.00.12.H52"
FEES_VND = (50_000, 100_000, 150_000, 200_000, 500_000, 1_250_000)

_ENV = {
    "LIENTHONG_PAYMENT_RECONCILE_AFTER_S": "4",
    "LIENTHONG_PAYMENT_RECONCILE_INTERVAL_S": "1.5",
}


class PaymentsDemo:
    """Payments in `lienthong demo` (see the module docstring)."""

    name = "payments"

    def __init__(self, dossiers: int = DOSSIERS, seed: int = 23) -> None:
        self.dossiers = dossiers
        self.rng = random.Random(seed)  # noqa: S311 - synthetic workload, not security
        self.platform = PaymentSandboxState(seed=seed)
        self.onestop = OnestopSandboxState()
        self._platform_srv = ServedApp(create_payment_sandbox(self.platform))
        self._onestop_srv = ServedApp(create_onestop_sandbox(self.onestop))
        self._saved_env: dict[str, str | None] = {}

    async def start(self, ctx: DemoContext) -> None:
        """Start both sandboxes and point the payment settings at them (before the API reads them)."""
        await self._platform_srv.start()
        await self._onestop_srv.start()
        env = {**_ENV, "LIENTHONG_PAYMENT_URL": self._platform_srv.url,
               "LIENTHONG_PAYMENT_ONESTOP_URL": self._onestop_srv.url}  # fmt: skip
        for k, v in env.items():
            self._saved_env[k] = os.environ.get(k)
            os.environ[k] = v
        ctx.closers.append(self._close)

    async def _close(self) -> None:
        await self._platform_srv.stop()
        await self._onestop_srv.stop()
        for k, v in self._saved_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v

    async def run(self, ctx: DemoContext) -> dict[str, Any]:
        """Drive the payments and check both sides agree; the summary keys."""
        from lienthong.demo.dossiers import start_groups_at_end

        began = time.monotonic()
        s, payment = ctx.settings, PaymentSettings()
        self.platform.configure(callback_url=ctx.api_url + CONFIRM_PATH, base_url=self._platform_srv.url,
                                secret=payment.secret.get_secret_value(), scheme=payment.signature,
                                partner_code=payment.partner_code)  # fmt: skip
        self.platform.set_faults(**FAULTS)
        self.platform.set_citizens(auto=True, pay_min_ms=300, pay_max_ms=4000, abandon_rate=0.08)
        flows = [
            await build_payment_request_flow(s, payment=payment),
            await build_payment_notice_flow(s, idempotency=ctx.idempotency, payment=payment),
            await build_payment_reconcile_flow(s, audit=ctx.audit, payment=payment),
        ]
        await start_groups_at_end(s, [f.topic for f, _ in flows], [f"{s.consumer_group}.{f.name}" for f, _ in flows])
        for flow, close in flows:
            await ctx.start_worker(Worker(flow, s, ctx.audit))
            ctx.closers.append(close)
        online, counter = self._dossiers()
        async with httpx.AsyncClient(timeout=30) as client:
            webhook = ctx.api_url + "/onestop/dossier-events"
            await self._post_all(client, webhook, [self._event(d, DossierEventKind.CREATED) for d in online + counter])
            paused = [self._paused(d) for d in online]
            await self._post_all(client, webhook, [self._event(d, DossierEventKind.STATUS_CHANGED) for d in paused])
            counter_refs = await self._counter_payments(client, ctx.api_url + COUNTER_PATH, counter)
            forged = await self._forge(client, ctx.api_url + CONFIRM_PATH, [f"{d.code}-TT01" for d in online])
            latest = {d.code: d for d in paused + counter}
            resumed = await self._settle_and_resume(client, webhook, latest, ctx, s)
        summary = await self._summary(ctx, online, counter_refs, forged, resumed)
        summary["payments_seconds"] = round(time.monotonic() - began, 1)
        return summary

    # The one-stop system's side -----------------------------------------------------------------------

    def _dossiers(self) -> tuple[list[Dossier], list[Dossier]]:
        """Accepted dossiers with one fee each, on today's date with a random sequence block (unique per run)."""
        base = self.rng.randrange(0, 9999 - self.dossiers)
        now = datetime.now(VN_TZ).replace(microsecond=0) - timedelta(hours=2)
        online: list[Dossier] = []
        counter: list[Dossier] = []
        for i in range(self.dossiers):
            d = synthetic_dossier(self.rng, agency_code=AGENCY, received_at=now, seq=base + i + 1, channel="counter")
            fee = Fee(name=f"Lệ phí {d.procedure_name.lower()}"[:200], amount_vnd=self.rng.choice(FEES_VND),
                      code=f"LP-{d.procedure_code[:8]}", fee_type=2)  # fmt: skip
            d = d.model_copy(update={"fees": (fee,), "due_at": now + timedelta(days=3)})
            (counter if i < self.dossiers * COUNTER_SHARE else online).append(d)
        return online, counter

    @staticmethod
    def _paused(d: Dossier) -> Dossier:
        at = datetime.now(VN_TZ).replace(microsecond=0) - timedelta(minutes=30)
        step = ProcessingStep(
            handler_name=d.steps[0].handler_name,
            processed_at=at,
            status=DossierStatus.PAYMENT_REQUESTED,
            content="Yêu cầu thực hiện nghĩa vụ tài chính",
        )
        return d.model_copy(update={"status": DossierStatus.PAYMENT_REQUESTED, "version": d.version + 1,
                                    "steps": (*d.steps, step)})  # fmt: skip

    @staticmethod
    def _event(d: Dossier, kind: DossierEventKind) -> bytes:
        ev = DossierEvent(event_id=f"evt-pay-{d.code}-v{d.version}", kind=kind, source="onestop",
                          occurred_at=datetime.now(VN_TZ), dossier=d)  # fmt: skip
        return orjson.dumps(canonical_to_onestop(ev))

    @staticmethod
    async def _post_all(client: httpx.AsyncClient, url: str, bodies: list[bytes]) -> None:
        slots = asyncio.Semaphore(16)

        async def one(body: bytes) -> None:
            async with slots:
                for _ in range(5):
                    r = await client.post(url, content=body, headers={"Content-Type": "application/json"})
                    if r.status_code < 500:
                        return
                    await asyncio.sleep(0.5)

        await asyncio.gather(*(one(b) for b in bodies))

    async def _counter_payments(self, client: httpx.AsyncClient, url: str, dossiers: list[Dossier]) -> list[str]:
        refs: list[str] = []
        for d in dossiers:
            body = {"MaHoSo": d.code, "SoTien": str(d.fees[0].amount_vnd), "MaTienTe": "VND",
                    "MaGiaoDich": f"{self.rng.choice(('POS', 'CK'))}-{self.rng.randrange(10**9, 10**10)}",
                    "MaNganHang": self.rng.choice(("VCB", "BIDV", "AGRIBANK")),
                    "ThoiGianGD": format_dvcqg_time(datetime.now(VN_TZ)),
                    "DanhSachLePhi": [{"TenPhiLePhi": d.fees[0].name, "MaPhiLePhi": d.fees[0].code,
                                       "Gia": str(d.fees[0].amount_vnd)}]}  # fmt: skip
            r = await client.post(url, content=orjson.dumps(body), headers={"Content-Type": "application/json"})
            if r.status_code in (200, 202):
                refs.append(r.json()["MaThamChieu"])
        return refs

    async def _forge(self, client: httpx.AsyncClient, url: str, refs: list[str]) -> dict[str, int]:
        """Forged callbacks: wrong signature, wrong secret, altered amount, stale time, unknown reference."""
        sent = refused = 0
        now = datetime.now(VN_TZ)
        for i in range(FORGERIES):
            ref = refs[i % len(refs)]
            fields = {
                "LoaiBanTin": "CONFIRM", "MaLoi": "00", "MaDoiTac": self.platform.partner_code, "MaThamChieu": ref,
                "SoTien": "1000", "MaTienTe": "VND", "MaGiaoDich": f"FAKE{i}", "MaNganHang": "VCB",
                "ThoiGianGD": format_dvcqg_time(now), "ThongTinGiaoDich": "forged",
            }  # fmt: skip
            kind = i % 4
            secret = self.platform.secret
            if kind == 1:
                secret = "attacker-guess"  # noqa: S105 - a forged callback's wrong secret, on purpose
            elif kind == 2:
                fields["ThoiGianGD"] = format_dvcqg_time(now - timedelta(days=2))
            elif kind == 3:
                fields["MaThamChieu"] = f"{AGENCY}-000101-0001-TT09"
            mac = (
                "0" * 64 if kind == 0 else sign(MessageKind.CONFIRM, fields, secret=secret, scheme=self.platform.scheme)
            )
            r = await client.post(url, content=orjson.dumps({**fields, "MaXacThuc": mac}))
            sent += 1
            refused += r.json().get("MaLoi") == "99"
        return {"sent": sent, "refused": refused}

    async def _settle_and_resume(
        self, client: httpx.AsyncClient, webhook: str, dossiers: dict[str, Dossier], ctx: DemoContext, s: Any
    ) -> int:
        """Wait until every payment settled on both sides; resume each dossier whose confirmation reached
        the one-stop system (status 4, due date moved back, fee with its HinhThucThu)."""
        store = PaymentStore(default_store_dsn(s, PaymentSettings()))
        await store.open()
        resumed: set[str] = set()
        deadline = time.monotonic() + SETTLE_TIMEOUT_S
        try:
            with ctx.console.status("payments: citizens paying, callbacks, reconciliation...") as status:
                while True:
                    await self._resume(client, webhook, dossiers, resumed)
                    settled = await self._settled(store, dossiers)
                    status.update(f"payments: {settled}/{len(dossiers)} settled on both sides, "
                                  f"{len(resumed)} dossiers resumed")  # fmt: skip
                    done = settled >= len(dossiers) and len(resumed) >= self._confirmed_notices()
                    if done or time.monotonic() > deadline:
                        return len(resumed)
                    await asyncio.sleep(0.5)
        finally:
            await store.close()

    async def _settled(self, store: PaymentStore, dossiers: dict[str, Dossier]) -> int:
        records = {r.dossier_code: r for r in await store.list_payments(limit=100_000) if r.dossier_code in dossiers}
        txns = {t.reference: t for t in self.platform.transactions.values()}
        done = 0
        for code in dossiers:
            record = records.get(code)
            if record is None or record.state is PaymentState.PENDING or not record.published:
                continue
            txn = txns.get(record.reference)
            if txn is not None and txn.state == "pending":
                continue
            done += 1
        return done

    def _confirmed_notices(self) -> int:
        return sum(n.body.get("kind") == "payment_confirmed" for n in list(self.onestop.notices.values()))

    async def _resume(
        self, client: httpx.AsyncClient, webhook: str, dossiers: dict[str, Dossier], resumed: set[str]
    ) -> None:
        bodies: list[bytes] = []
        for notice in list(self.onestop.notices.values()):
            if notice.body.get("kind") != "payment_confirmed":
                continue
            item = notice.body["data"][0]
            code = item["MaHoSo"]
            if code in resumed or code not in dossiers:
                continue
            resumed.add(code)
            bodies.append(self._event(self._resumed(dossiers[code], item), DossierEventKind.STATUS_CHANGED))
        if bodies:
            await self._post_all(client, webhook, bodies)

    @staticmethod
    def _resumed(d: Dossier, item: dict[str, Any]) -> Dossier:
        """The one-stop system's next state after a confirmed payment (status 4, clock resumed)."""
        methods = [int(w["HinhThucThu"]) for w in item["DanhSachLePhi"] if w.get("HinhThucThu")]
        return resumed_dossier(
            d,
            collection_method=methods[0] if methods else 1,
            paid_online=ref_online(item["MaThamChieu"]),
            new_due=parse_dvcqg_time(item["NgayHenTraMoi"]) if item.get("NgayHenTraMoi") else None,
            at=datetime.now(VN_TZ).replace(microsecond=0),
            handler_name=d.steps[0].handler_name,
        )

    # The check --------------------------------------------------------------------------------------

    async def _summary(
        self, ctx: DemoContext, online: list[Dossier], counter_refs: list[str], forged: dict[str, int], resumed: int
    ) -> dict[str, Any]:
        store = PaymentStore(default_store_dsn(ctx.settings, PaymentSettings()))
        await store.open()
        try:
            codes = {d.code for d in online} | {r.rsplit("-", 1)[0] for r in counter_refs}
            records = {r.reference: r for r in await store.list_payments(limit=100_000) if r.dossier_code in codes}
        finally:
            await store.close()
        confirmed: dict[str, set[str]] = defaultdict(set)
        for rec in await consume_all(ctx.settings.bootstrap_servers, TOPIC, expect=10**9, timeout=3):
            ref = (rec.key or b"").decode()
            if ref in records and header(rec.headers, "ce_type") == "vn.gov.lienthong.payment.confirmed.v1":
                confirmed[ref].add(header(rec.headers, "ce_id") or "")
        mismatches = 0
        txns = self.platform.transactions
        for ref in {*txns, *(r for r in records if ref_online(r))}:
            txn, record = txns.get(ref), records.get(ref)
            platform_paid = txn is not None and txn.pay_count == 1
            ours_paid = record is not None and record.state is PaymentState.PAID and len(confirmed[ref]) == 1
            same_amount = txn is None or record is None or txn.amount_vnd == record.amount_vnd
            if (txn is not None and txn.pay_count > 1) or platform_paid != ours_paid or not same_amount:
                mismatches += 1
        for ref in counter_refs:
            record = records.get(ref)
            mismatches += not (record is not None and record.state is PaymentState.PAID and len(confirmed[ref]) == 1)
        stats = self.platform.stats_json()
        online_records = [r for r in records.values() if ref_online(r.reference)]
        summary = {
            "payments_initiated": len(txns),
            "payments_confirmed": sum(r.state is PaymentState.PAID for r in records.values()),
            "payments_failed": sum(r.state is PaymentState.FAILED for r in records.values()),
            "payments_reconciled": sum(
                r.confirmed_by == "query" and r.state is PaymentState.PAID for r in online_records
            ),
            "payments_counter": len(counter_refs),
            "payments_callbacks_lost": stats["lost"],
            "payments_callbacks_repeated": stats["repeated"],
            "payments_callbacks_late": stats["late"],
            "payments_resumed": resumed,
            "forged_callbacks_sent": forged["sent"],
            "forged_callbacks_refused": forged["refused"],
            "payment_mismatches": mismatches,
        }
        summary["payments_ok"] = bool(mismatches == 0 and forged["refused"] == forged["sent"]
                                      and summary["payments_initiated"] == len(online))  # fmt: skip
        return summary


def ref_online(reference: str) -> bool:
    """An online payment's reference (`...-TTnn`), not a counter one (`...-TQxxxxxxxx`)."""
    return reference.rsplit("-", 1)[-1].startswith("TT")


__all__ = ["PaymentsDemo"]
