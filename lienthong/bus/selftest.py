"""The bus self-test flow: consume → validate → map → (optional idempotent effect) → audit → publish.

Used by the foundation demo, the benchmark and the delivery tests. The optional effect is an HTTP POST
to a peer with an `Idempotency-Key`, through the idempotency store, so tests can count effects.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import httpx
import orjson
from pydantic import BaseModel, ValidationError

from lienthong.audit.record import AuditEntry, digest
from lienthong.bus.envelope import derived_id, new_envelope
from lienthong.bus.idempotency import IdempotencyStore, effect_key
from lienthong.bus.producer import Outbound
from lienthong.bus.worker import BatchResult, Inbound, Outcome
from lienthong.connectors.http import raise_for_peer, transport_error
from lienthong.errors import PermanentError

TOPIC = "bus.selftest"
OUT_TOPIC = "bus.selftest.out"
EVENT_TYPE = "vn.gov.lienthong.selftest.v1"
OUT_EVENT_TYPE = "vn.gov.lienthong.selftest.mapped.v1"


class SelfTestMessage(BaseModel):
    """A self-test payload."""

    id: str
    """Message id (also the dossier-code-like subject)."""
    seq: int
    """Sequence number in the run."""
    body: str
    """Filler text (about 1 KB in the benchmark)."""
    fail_times: int = 0
    """How many times the peer should answer 503 before accepting (transient-failure drill)."""


class MappedMessage(BaseModel):
    """The self-test payload after mapping (what lands on `bus.selftest.out`)."""

    ma: str
    """Message id."""
    so_thu_tu: int
    """Sequence number."""
    noi_dung: str
    """Body."""
    do_dai: int
    """Body length in characters."""


def make_message(seq: int, *, body_size: int = 1000, fail_times: int = 0) -> tuple[bytes, list[tuple[str, bytes]]]:
    """A self-test record (value, headers)."""
    mid = f"selftest-{seq:08d}"
    value = orjson.dumps({"id": mid, "seq": seq, "body": "x" * body_size, "fail_times": fail_times})
    env = new_envelope(type=EVENT_TYPE, source="/lienthong/selftest", subject=mid)
    return value, env.to_headers()


class SelfTestHandler:
    """Batch handler of the self-test flow."""

    def __init__(
        self,
        *,
        peer_url: str | None = None,
        idempotency: IdempotencyStore | None = None,
        concurrency: int = 32,
        out_topic: str = OUT_TOPIC,
    ) -> None:
        self.out_topic = out_topic
        self.peer_url = peer_url
        self.idempotency = idempotency
        self.client = httpx.AsyncClient(timeout=httpx.Timeout(2.0)) if peer_url else None
        self._sem = asyncio.Semaphore(concurrency)
        self.effects_made = 0

    async def __call__(self, batch: Sequence[Inbound]) -> Sequence[BatchResult]:
        """Validate and map every record; call the peer for those that need an effect."""
        results: list[BatchResult] = []
        mapped: list[tuple[Inbound, SelfTestMessage]] = []
        for msg in batch:
            try:
                m = SelfTestMessage.model_validate_json(msg.value)
            except ValidationError as exc:
                results.append(PermanentError(f"invalid self-test payload: {exc.error_count()} error(s)"))
                continue
            mapped.append((msg, m))
            results.append(Outcome())
        effects: list[str | BaseException | None]
        if self.client is not None:
            stored = (
                await self.idempotency.get_many(effect_key("selftest", m.id) for _, m in mapped)
                if self.idempotency
                else {}
            )
            effects = await asyncio.gather(*(self._effect(m, stored) for _, m in mapped), return_exceptions=True)
            made = {effect_key("selftest", m.id): e for (_, m), e in zip(mapped, effects, strict=True)
                    if isinstance(e, str)}  # fmt: skip
            if self.idempotency is not None and made:
                # One write for the batch's new results; a crash before it only means the peer sees the
                # same Idempotency-Key again, which it ignores.
                await self.idempotency.put_many("selftest", made)
        else:
            effects = [None for _ in mapped]
        it = iter(zip(mapped, effects, strict=True))
        for i, res in enumerate(results):
            if not isinstance(res, Outcome):
                continue
            (msg, m), effect = next(it)
            if isinstance(effect, BaseException):
                results[i] = effect
                continue
            results[i] = self._outcome(msg, m, effect)
        return results

    def _outcome(self, msg: Inbound, m: SelfTestMessage, effect: object) -> Outcome:
        out = MappedMessage(ma=m.id, so_thu_tu=m.seq, noi_dung=m.body, do_dai=len(m.body))
        env = msg.envelope.caused(
            type=OUT_EVENT_TYPE, source="/lienthong/selftest", id=derived_id(msg.envelope.id, "mapped")
        )
        value = orjson.dumps(out.model_dump())
        audit = []
        if effect is not None:
            audit.append(AuditEntry(flow="selftest", direction="out", peer="selftest-peer", outcome="sent",
                                    dossier_code=m.id, correlation_id=msg.envelope.correlation_id,
                                    event_type="POST /effects", digest=digest(msg.value)))  # fmt: skip
        return Outcome(publish=[Outbound(self.out_topic, value, msg.record.key, env.to_headers())], audit=audit)

    async def _effect(self, m: SelfTestMessage, stored: dict[str, str]) -> str:
        key = effect_key("selftest", m.id)
        if key in stored:
            return stored[key]
        if self.client is None or self.peer_url is None:
            raise RuntimeError("no peer configured for the self-test effect")
        async with self._sem:
            try:
                r = await self.client.post(
                    self.peer_url, json={"id": m.id, "seq": m.seq, "fail_times": m.fail_times},
                    headers={"Idempotency-Key": key},
                )  # fmt: skip
            except httpx.TransportError as exc:
                raise transport_error(exc, peer="selftest-peer", operation="POST /effects") from exc
        raise_for_peer(r, peer="selftest-peer", operation="POST /effects")
        self.effects_made += 1
        return r.text

    async def close(self) -> None:
        """Close the HTTP client."""
        if self.client is not None:
            await self.client.aclose()
