"""`lienthong payments ...`: initiate a payment, list and show payments, run a reconciliation round."""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import datetime
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from lienthong.connectors.payment.settings import PaymentSettings
from lienthong.schemas.payment import PaymentState

app = typer.Typer(
    help="Fees paid through DVCQG's payment platform: initiate, list, show, reconcile.", no_args_is_help=True
)
out = Console()
err = Console(stderr=True)

AsJson = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def _emit(data: Any) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2) + "\n")


async def _with_store(action: Any) -> Any:
    from lienthong.connectors.payment.store import PaymentStore
    from lienthong.connectors.payment.worker import default_store_dsn
    from lienthong.settings import Settings

    store = PaymentStore(default_store_dsn(Settings(), PaymentSettings()))
    await store.open()
    try:
        return await action(store)
    finally:
        await store.close()


@app.command("init")
def init(
    dossier: Annotated[str, typer.Option("--dossier", help="Dossier code (MaHoSo).")],
    amount: Annotated[int, typer.Option("--amount", help="Amount in whole VND.", min=1, max=10**18 - 1)],
    fee_name: Annotated[str, typer.Option("--fee-name", help="Name of the fee on the receipt.")] = "Phí, lệ phí",
    as_json: AsJson = False,
) -> None:
    """Initiate an online payment for a dossier (INIT), publish `payment.requested`, print the pay URL.

    A pending payment of the same amount for the dossier is returned instead of a new one.
    Example: lienthong payments init --dossier 000.00.12.H52-250703-0042 --amount 150000 --json
    """
    from lienthong.mappings.identifiers import validate_dossier_code

    try:
        validate_dossier_code(dossier)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--dossier") from None
    try:
        result = asyncio.run(_init(dossier, amount, fee_name))
    except Exception as exc:
        err.print(f"[red]error:[/red] {type(exc).__name__}: {exc}")
        raise typer.Exit(1) from None
    if as_json:
        _emit(result)
    else:
        out.print(f"MaThamChieu {result['MaThamChieu']}\nUrlThanhToan {result['UrlThanhToan']}")


async def _init(dossier: str, amount: int, fee_name: str) -> dict[str, Any]:
    from lienthong.bus.publisher import BusPublisher
    from lienthong.connectors.payment.client import PaymentClient, init_config
    from lienthong.connectors.payment.events import publish_durably
    from lienthong.connectors.payment.ledger import PaymentLedger
    from lienthong.connectors.payment.store import PaymentRecord, PaymentStore, now_ms
    from lienthong.connectors.payment.worker import default_store_dsn
    from lienthong.mappings.payment import CURRENCY, init_message, payment_reference
    from lienthong.mappings.wire import VN_TZ
    from lienthong.schemas.payment import FeeLine, PaymentChannel, PaymentEventKind
    from lienthong.settings import Settings

    settings, payment = Settings(), PaymentSettings()
    store = PaymentStore(default_store_dsn(settings, payment))
    await store.open()
    client = PaymentClient(payment)
    publisher = BusPublisher(settings)
    try:
        existing = [
            r for r in await store.list_payments(dossier_code=dossier, state=PaymentState.PENDING)
            if r.amount_vnd == amount and r.channel is PaymentChannel.ONLINE and r.pay_url
        ]  # fmt: skip
        record = existing[0] if existing else None
        if record is None:
            attempt = await store.next_attempt(dossier)
            fees = (FeeLine(name=fee_name, amount_vnd=amount),)
            record, _ = await store.create(
                PaymentRecord(
                    reference=payment_reference(dossier, attempt), dossier_code=dossier, attempt=attempt,
                    channel=PaymentChannel.ONLINE, state=PaymentState.PENDING, amount_vnd=amount, currency=CURRENCY,
                    fees=fees, created_ms=now_ms(),
                )
            )  # fmt: skip
            body = init_message(reference=record.reference, dossier_code=dossier, fees=fees,
                                at=datetime.now(VN_TZ), config=init_config(payment))  # fmt: skip
            url = await client.init(body)
            await store.set_initiated(record.reference, url)
            record = await store.get(record.reference) or record
        await publisher.start()
        event = PaymentLedger(store, payment).event(record, PaymentEventKind.REQUESTED)
        await publish_durably(publisher, event, flow="payment_operator")
        return {"MaThamChieu": record.reference, "UrlThanhToan": record.pay_url, "MaHoSo": dossier,
                "SoTien": record.amount_vnd, "state": record.state.value}  # fmt: skip
    finally:
        await publisher.close()
        await client.close()
        await store.close()


@app.command("list")
def list_cmd(
    dossier: Annotated[str | None, typer.Option("--dossier", help="Only this dossier's payments.")] = None,
    state: Annotated[str | None, typer.Option("--state", help="pending | paid | failed")] = None,
    as_json: AsJson = False,
) -> None:
    """List payments, newest first.

    Example: lienthong payments list --state pending --json
    """
    wanted = None
    if state is not None:
        try:
            wanted = PaymentState(state)
        except ValueError:
            raise typer.BadParameter("one of pending, paid, failed", param_hint="--state") from None

    async def load(store: Any) -> list[Any]:
        return list(await store.list_payments(dossier_code=dossier, state=wanted))

    records = asyncio.run(_with_store(load))
    if as_json:
        _emit([r.as_json() for r in records])
        return
    t = Table("MaThamChieu", "dossier", "channel", "state", "amount (VND)", "by", "receipt")
    for r in records:
        t.add_row(r.reference, r.dossier_code, r.channel.value, r.state.value, f"{r.amount_vnd:,}",
                  r.confirmed_by or "-", r.receipt_ref or "-")  # fmt: skip
    out.print(t)


@app.command("show")
def show(
    reference: Annotated[str, typer.Argument(help="MaThamChieu.")],
    as_json: AsJson = False,
) -> None:
    """Show one payment (exit 1 when unknown).

    Example: lienthong payments show 000.00.12.H52-250703-0042-TT01
    """

    async def load(store: Any) -> Any:
        return await store.get(reference)

    record = asyncio.run(_with_store(load))
    if record is None:
        err.print(f"[red]error:[/red] no payment {reference!r}; `lienthong payments list` shows the known ones")
        raise typer.Exit(1)
    if as_json:
        _emit(record.as_json())
        return
    t = Table("", "")
    for k, v in record.as_json().items():
        t.add_row(k, json.dumps(v, ensure_ascii=False) if isinstance(v, list) else str(v))
    out.print(t)


@app.command("reconcile")
def reconcile(as_json: AsJson = False) -> None:
    """One reconciliation round: QUERY pending payments (after LIENTHONG_PAYMENT_RECONCILE_AFTER_S, within
    LIENTHONG_PAYMENT_RECONCILE_LOOKBACK_S), publish recorded-but-unpublished events, fetch receipts.

    Example: lienthong payments reconcile --json
    """
    report = asyncio.run(_reconcile())
    if as_json:
        _emit(report)
    else:
        for k, v in report.items():
            out.print(f"{k}: {v}")


async def _reconcile() -> dict[str, int]:
    from lienthong.bus.publisher import BusPublisher
    from lienthong.connectors.payment.client import PaymentClient
    from lienthong.connectors.payment.ledger import PaymentLedger
    from lienthong.connectors.payment.reconcile import Reconciler
    from lienthong.connectors.payment.store import PaymentStore
    from lienthong.connectors.payment.worker import default_store_dsn
    from lienthong.settings import Settings

    settings, payment = Settings(), PaymentSettings()
    store = PaymentStore(default_store_dsn(settings, payment))
    await store.open()
    client = PaymentClient(payment)
    publisher = BusPublisher(settings)
    await publisher.start()
    try:
        report = await Reconciler(PaymentLedger(store, payment), client, publisher).run_once()
        return report.as_json()
    finally:
        await publisher.close()
        await client.close()
        await store.close()
