"""The effects kit: one idempotent outbound effect per record, with its "sent" audit entry, in one place.

A flow's handler only plans: for each consumed record, the `Effect` to make (or the error that makes the
record fail). `Effects.run` then, for the whole batch:

1. looks up which effect keys already have a stored result (made by an earlier attempt, a redelivery
   after a crash, a replay): those are skipped (`skipped_duplicate`), nothing is sent again;
2. makes the others, concurrently, each key once even if several records share it;
3. stores the new results in one write, then answers an `Outcome` per record carrying the `sent` audit
   entry (digest of the exact bytes sent, the idempotency key);
4. maps an unavailable store to a `TransientError` (the record goes round the retry path), never to a
   loss: an effect made but not recorded is made again later under the same key, which the peer must
   answer the same (the key is sent to it, e.g. as `Idempotency-Key`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from sqlalchemy.exc import SQLAlchemyError

from lienthong.audit.record import AuditEntry, digest
from lienthong.bus.idempotency import IdempotencyStore
from lienthong.bus.worker import BatchResult, Inbound, Outcome
from lienthong.errors import TransientError


@dataclass(frozen=True, slots=True)
class Effect:
    """One outbound effect a record asks for."""

    key: str
    """Idempotency key (`effect_key(scope, ...)`): the same key is the same effect, made once."""
    body: bytes
    """The exact bytes sent to the peer (their digest goes into the audit entry)."""
    make: Callable[[str], Awaitable[str]]
    """Makes the effect, given the key (to pass to the peer); returns the result to store (e.g. the peer's id)."""
    operation: str
    """What is done at the peer (`POST /api/notices`, `DongBoHoSoMC`): the audit entry's event type."""


def store_unavailable(exc: Exception) -> TransientError:
    """An idempotency store failure as a transient error (retried, never a loss)."""
    return TransientError(f"idempotency store unavailable: {type(exc).__name__}", peer="idempotency-store")


class Effects:
    """Runs a batch's effects once each against an `IdempotencyStore`, for one flow and peer."""

    def __init__(self, store: IdempotencyStore, *, flow: str, peer: str, scope: str) -> None:
        self.store = store
        self.flow = flow
        self.peer = peer
        self.scope = scope

    async def run(self, batch: Sequence[Inbound], planned: Sequence[Effect | BaseException]) -> list[BatchResult]:
        """One result per record of `batch`, in order (see the module docstring)."""
        effects = {p.key: p for p in planned if isinstance(p, Effect)}
        try:
            stored = await self.store.get_many(effects)
        except SQLAlchemyError as exc:
            return [store_unavailable(exc) if isinstance(p, Effect) else p for p in planned]
        todo = [e for k, e in effects.items() if k not in stored]
        replies = await asyncio.gather(*(e.make(e.key) for e in todo), return_exceptions=True)
        made = {e.key: r for e, r in zip(todo, replies, strict=True)}
        try:
            await self.store.put_many(self.scope, {k: r for k, r in made.items() if isinstance(r, str)})
        except SQLAlchemyError as exc:
            return [store_unavailable(exc) if isinstance(p, Effect) else p for p in planned]
        results: list[BatchResult] = []
        sent_now: set[str] = set()
        for msg, p in zip(batch, planned, strict=True):
            if not isinstance(p, Effect):
                results.append(p)
                continue
            reply = made.get(p.key)
            if isinstance(reply, BaseException):
                results.append(reply)
            elif reply is None or p.key in sent_now:  # made by an earlier attempt, or by an earlier record
                results.append(Outcome(result="skipped_duplicate"))
            else:
                sent_now.add(p.key)
                results.append(Outcome(audit=[self._sent(msg, p)]))
        return results

    def _sent(self, msg: Inbound, effect: Effect) -> AuditEntry:
        return AuditEntry(
            flow=self.flow, direction="out", peer=self.peer, outcome="sent", dossier_code=msg.envelope.subject,
            correlation_id=msg.envelope.correlation_id, event_type=effect.operation, digest=digest(effect.body),
            detail={"idempotency_key": effect.key},
        )  # fmt: skip


__all__ = ["Effect", "Effects", "store_unavailable"]
