"""Flow `ministry_dossier_view`: `dossier.events` -> the dossier view `TraCuuHoSo` answers.

Each batch keeps the newest version per dossier and upserts it version-guarded (an older state never
replaces a newer one), so redelivery and replay are harmless. Only status, due date and the last step
are kept: what a ministry needs to follow an inter-agency dossier, no applicant data.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from pydantic import ValidationError
from sqlalchemy.exc import SQLAlchemyError

from lienthong.bus.worker import BatchResult, Flow, Inbound, Outcome
from lienthong.connectors.base import Close
from lienthong.connectors.ministry.settings import MinistrySettings
from lienthong.connectors.ministry.store import MinistryStore
from lienthong.errors import PermanentError, TransientError
from lienthong.schemas.dossier import DossierEvent
from lienthong.schemas.ministry import DossierView
from lienthong.settings import Settings

FLOW = "ministry_dossier_view"
TOPIC = "dossier.events"


def view_of(event: DossierEvent, now: datetime) -> DossierView:
    """The view of an event's dossier (pure)."""
    d = event.dossier
    last = max(d.steps, key=lambda s: s.processed_at) if d.steps else None
    return DossierView(
        dossier_code=d.code,
        version=d.version,
        status=int(d.status),
        due_at=d.due_at,
        last_step_at=last.processed_at if last else None,
        last_step_status=int(last.status) if last else None,
        last_step_department=last.department if last else None,
        last_step_content=last.content if last else None,
        synced_at=now,
    )


class DossierViewHandler:
    """Batch handler of the flow."""

    def __init__(self, store: MinistryStore) -> None:
        self.store = store

    async def __call__(self, batch: Sequence[Inbound]) -> Sequence[BatchResult]:
        now = datetime.now(UTC)
        results: list[BatchResult] = []
        newest: dict[str, DossierView] = {}
        for msg in batch:
            try:
                view = view_of(DossierEvent.model_validate_json(msg.value), now)
            except ValidationError as exc:
                results.append(PermanentError(f"not a dossier event: {exc.error_count()} error(s)"))
                continue
            held = newest.get(view.dossier_code)
            if held is None or held.version <= view.version:
                newest[view.dossier_code] = view
            results.append(Outcome(result="viewed"))
        try:
            await self.store.save_views(newest.values())
        except (SQLAlchemyError, OSError) as exc:
            err = TransientError(f"dossier view store: {type(exc).__name__}", peer="-")
            return [err if isinstance(r, Outcome) else r for r in results]
        return results


async def build_dossier_view_flow(settings: Settings) -> tuple[Flow, Close]:
    """The flow and its closer (the store)."""
    ms = MinistrySettings()
    store = MinistryStore(ms.resolved_state_dsn(settings.state_dir), lease_s=ms.claim_lease_s)
    await store.open()
    return Flow(name=FLOW, topic=TOPIC, handler=DossierViewHandler(store), peer="-"), store.close


__all__ = ["FLOW", "DossierViewHandler", "build_dossier_view_flow", "view_of"]
