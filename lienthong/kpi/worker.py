"""The `kpi` flow: fold `dossier.events` into the KPI projection, one write per poll batch."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from pydantic import ValidationError
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from lienthong.bus.worker import BatchResult, Flow, Inbound, Outcome
from lienthong.errors import PermanentError, TransientError
from lienthong.kpi.store import KpiStore, default_kpi_dsn
from lienthong.schemas.dossier import Dossier, DossierEvent
from lienthong.settings import Settings

__all__ = ["FLOW_NAME", "PEER", "KpiProjection", "build_kpi_flow"]

FLOW_NAME = "kpi"
"""Audit flow name (and consumer group suffix) of the projection."""

PEER = "kpi-store"
"""The projection's database, as the worker's circuit and audit records name it."""

# Failures of the database that another attempt may not meet (connection lost, locked, pool exhausted).
_TRANSIENT_DB_ERRORS = (OperationalError, InterfaceError, PoolTimeoutError, OSError)


class KpiProjection:
    """Batch handler: parse each record as a `DossierEvent` and upsert the batch's dossiers at once.

    A record that is not a valid `DossierEvent` fails alone (PermanentError: to the DLQ). A database
    failure fails the batch's valid records as transient, so the worker retries them; the upsert is
    idempotent and version-ordered, so a repeat is harmless.
    """

    def __init__(self, store: KpiStore) -> None:
        self.store = store
        """Where the projection is written."""

    async def __call__(self, batch: Sequence[Inbound]) -> Sequence[BatchResult]:
        """One result per record, in order: `Outcome(result="projected")` or the record's failure."""
        results: list[BatchResult] = []
        dossiers: list[Dossier] = []
        for msg in batch:
            try:
                event = DossierEvent.model_validate_json(msg.value)
            except ValidationError as exc:
                results.append(PermanentError(f"invalid DossierEvent payload: {exc.error_count()} error(s)"))
                continue
            dossiers.append(event.dossier)
            results.append(Outcome(result="projected"))
        if not dossiers:
            return results
        try:
            await self.store.upsert_many(dossiers)
        except _TRANSIENT_DB_ERRORS as exc:
            failure = TransientError(f"KPI projection write failed: {type(exc).__name__}", peer=PEER)
            return [failure if isinstance(r, Outcome) else r for r in results]
        return results


async def build_kpi_flow(
    settings: Settings, *, topic: str = "dossier.events", dsn: str | None = None
) -> tuple[Flow, Callable[[], Awaitable[None]]]:
    """The `kpi` flow on `topic`, its store opened at `dsn` (default: `kpi.db` under the state directory).

    Returns the flow and the function that closes its store (call it after the worker stopped).
    """
    store = KpiStore(dsn or default_kpi_dsn(settings))
    await store.open()
    return Flow(name=FLOW_NAME, topic=topic, handler=KpiProjection(store), peer=PEER), store.close
