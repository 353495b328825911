"""Publishing from an inbound HTTP/SOAP request: durable on the bus and audited before the caller hears "accepted"."""

from __future__ import annotations

from aiokafka import AIOKafkaProducer

from lienthong.audit.record import AuditEntry, digest
from lienthong.audit.writer import AuditWriter
from lienthong.bus.envelope import Envelope
from lienthong.bus.producer import Outbound, make_producer, publish_all
from lienthong.settings import Settings


class BusPublisher:
    """Owned by the ASGI app: one producer (acks=all, idempotent) and the audit writer.

    `publish()` returns only when the broker acknowledged the record and the audit record is durable,
    so an inbound route can answer 202 knowing nothing will be lost.
    """

    def __init__(
        self, settings: Settings, audit: AuditWriter | None = None, producer: AIOKafkaProducer | None = None
    ) -> None:
        self.settings = settings
        self._audit = audit
        self._own_audit = audit is None
        self._own = producer is None
        self.producer = producer or make_producer(settings)
        self.started = False

    @property
    def audit(self) -> AuditWriter:
        """The audit writer (opened by `start()` when none was given)."""
        if self._audit is None:
            raise RuntimeError("BusPublisher is not started")
        return self._audit

    async def start(self) -> None:
        """Connect the producer (and open the audit store named by the settings, if none was given)."""
        if self._audit is None:
            s = self.settings
            self._audit = await AuditWriter.from_dsn(
                s.resolved_audit_dsn(), batch_max=s.audit_batch_max, encryption_key=s.audit_encryption_key
            )
        if self._own:
            await self.producer.start()
        self.started = True

    async def close(self) -> None:
        """Flush and close what this publisher opened."""
        if self._own:
            await self.producer.stop()
        if self._own_audit and self._audit is not None:
            await self._audit.close()
            self._audit = None
        self.started = False

    async def publish(
        self,
        topic: str,
        value: bytes,
        envelope: Envelope,
        *,
        key: str,
        flow: str,
        peer: str,
        wire: bytes | None = None,
        detail: dict[str, object] | None = None,
    ) -> None:
        """Publish one record and audit its reception from `peer` (digest of `wire`, the exact bytes
        received, defaulting to `value`)."""
        await publish_all(self.producer, [Outbound(topic, value, key.encode(), envelope.to_headers())])
        await self.audit.append([
            AuditEntry(
                flow=flow, direction="in", peer=peer, outcome="received", dossier_code=envelope.subject,
                correlation_id=envelope.correlation_id, event_type=envelope.type,
                digest=digest(wire if wire is not None else value), detail=dict(detail or {}),
            )
        ])  # fmt: skip
