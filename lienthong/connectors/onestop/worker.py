"""Bus handlers of the one-stop connector.

- Notice delivery (`dossier.inbound` -> one-stop REST): DVCQG pushes (online submissions, land-tax and
  promotion notices) are posted to `{url}/api/notices`, each once: the effect key derives from the
  record's `ce_id`, is sent as `Idempotency-Key` and stored with the reply in the idempotency store,
  so a redelivered record makes no second call.
- Topic intake (the one-stop system's own topic -> `dossier.events`), the alternative to the webhook.
  The worker dead-letters any record without CloudEvents headers, so the one-stop system must produce
  CloudEvents binary-mode records there: headers `ce_specversion: 1.0`, `ce_id`, `ce_source`,
  `ce_type: vn.gov.onestop.dossier_event.v1`, key = dossier code, value = the webhook JSON
  (`OnestopDossierEventIn`). Records of another type or with an invalid value are dead-lettered.

Both inbound paths give an event the same `ce_id` (`dossier_event_record`), derived from the one-stop
`event_id`, so a dossier event arriving twice (webhook retry, topic redelivery, both paths) is the
same event on `dossier.events`; the DVCQG sync skips versions it already has.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from datetime import UTC

import orjson
from pydantic import ValidationError

from lienthong.audit.record import digest
from lienthong.bus.effects import Effect, Effects
from lienthong.bus.envelope import Envelope, derived_id, new_envelope
from lienthong.bus.idempotency import IdempotencyStore, effect_key
from lienthong.bus.producer import Outbound
from lienthong.bus.topics import TopicSpec
from lienthong.bus.worker import BatchResult, Flow, Inbound, Outcome
from lienthong.connectors.onestop.client import OPERATION, PEER, OnestopClient
from lienthong.connectors.onestop.settings import OnestopSettings
from lienthong.errors import PermanentError
from lienthong.mappings import MAPPING_VERSION
from lienthong.mappings.onestop import OnestopDossierEventIn, notice_to_onestop, onestop_event_to_canonical
from lienthong.mappings.records import describe
from lienthong.schemas.dossier import DossierEvent, InboundNotice
from lienthong.settings import Settings

SOURCE = "/onestop"
"""`ce_source` of dossier events that came from the one-stop system."""
SOURCE_EVENT_TYPE = "vn.gov.onestop.dossier_event.v1"
"""`ce_type` the one-stop system must put on records of its own topic."""
EVENTS_TOPIC = "dossier.events"
INBOUND_TOPIC = "dossier.inbound"
NOTICE_SCOPE = "onestop.notice"
"""Idempotency scope of notice deliveries."""
DELIVERY_FLOW = "onestop_notices"
"""Flow (audit name, consumer group suffix) delivering `dossier.inbound` to the one-stop system."""
INTAKE_FLOW = "onestop_events"
"""Flow republishing the one-stop system's own topic on `dossier.events`."""

Close = Callable[[], Awaitable[None]]


def dossier_event_record(
    event: DossierEvent, *, caused_by: Envelope | None = None, traceparent: str = ""
) -> tuple[bytes, Envelope]:
    """The `dossier.events` record (value, envelope) of a one-stop event.

    `ce_id` derives from the one-stop `event_id` and the dossier `version`, so every delivery of one event
    gets the same id, and an `event_id` re-sent with a newer version is a new event (the newer state);
    `ce_time` is when the event happened; `ce_subject` (and the key) is the dossier code.
    """
    ce_id = derived_id(f"{event.event_id}\x1f{event.dossier.version}", "onestop")
    code = event.dossier.code
    if caused_by is None:
        env = new_envelope(
            type=event.event_type,
            source=SOURCE,
            subject=code,
            correlation_id=ce_id,
            mapping_version=MAPPING_VERSION,
            traceparent=traceparent,
        )
    else:
        env = replace(
            caused_by.caused(type=event.event_type, source=SOURCE, subject=code), mapping_version=MAPPING_VERSION
        )
    when = event.occurred_at.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return event.model_dump_json().encode(), replace(env, id=ce_id, time=when)


def source_topic_spec(onestop: OnestopSettings) -> TopicSpec:
    """The one-stop system's own topic with lienthong's `.retry` and `.dlq` companions, for
    `create_topics(specs=[...])` (the main topic is normally created by the one-stop side)."""
    return TopicSpec(
        onestop.source_topic,
        key="dossier code (MaHoSo)",
        description="The one-stop system's dossier events (CloudEvents binary mode, type "
        f"`{SOURCE_EVENT_TYPE}`, value = the webhook JSON), republished by lienthong on `dossier.events`.",
        payload="lienthong.mappings.onestop.OnestopDossierEventIn",
        event_types=(SOURCE_EVENT_TYPE,),
    )


class NoticeDeliveryHandler:
    """Batch handler: each `InboundNotice` record posted once to the one-stop REST API (on the effects kit)."""

    def __init__(self, client: OnestopClient, idempotency: IdempotencyStore) -> None:
        self.client = client
        self.effects = Effects(idempotency, flow=DELIVERY_FLOW, peer=PEER, scope=NOTICE_SCOPE)

    def _plan(self, msg: Inbound) -> Effect | BaseException:
        try:
            notice = InboundNotice.model_validate_json(msg.value)
        except ValidationError as exc:
            return PermanentError(f"invalid inbound notice: {describe(exc)}")
        body = orjson.dumps(notice_to_onestop(notice))
        # Keyed by the notice's bytes, not its event id: a redriven record gets a new id, and the same
        # notice must still reach the one-stop system once.
        key = effect_key(NOTICE_SCOPE, digest(msg.value))

        async def deliver(idempotency_key: str) -> str:
            return await self.client.deliver_notice(body, idempotency_key=idempotency_key)

        return Effect(key=key, body=body, make=deliver, operation=OPERATION)

    async def __call__(self, batch: Sequence[Inbound]) -> Sequence[BatchResult]:
        """Plan each record's delivery; the effects kit skips what was delivered and makes the rest once."""
        return await self.effects.run(batch, [self._plan(msg) for msg in batch])


class DossierEventIntakeHandler:
    """Batch handler: the one-stop system's topic records, validated and republished as canonical events."""

    def __init__(self, out_topic: str = EVENTS_TOPIC) -> None:
        self.out_topic = out_topic

    async def __call__(self, batch: Sequence[Inbound]) -> Sequence[BatchResult]:
        """One canonical `DossierEvent` per record; an invalid record is a `PermanentError` (DLQ)."""
        return [self._one(msg) for msg in batch]

    def _one(self, msg: Inbound) -> BatchResult:
        if msg.envelope.type != SOURCE_EVENT_TYPE:
            return PermanentError(f"unexpected ce_type {msg.envelope.type[:80]!r}; expected {SOURCE_EVENT_TYPE}")
        try:
            body = OnestopDossierEventIn.model_validate_json(msg.value)
        except ValidationError as exc:
            return PermanentError(f"invalid one-stop dossier event: {describe(exc)}")
        event = onestop_event_to_canonical(body)
        value, env = dossier_event_record(event, caused_by=msg.envelope)
        return Outcome(publish=[Outbound(self.out_topic, value, event.dossier.code.encode(), env.to_headers())])


async def build_onestop_delivery_flow(
    settings: Settings,
    *,
    idempotency: IdempotencyStore,
    onestop: OnestopSettings | None = None,
    topic: str = INBOUND_TOPIC,
) -> tuple[Flow, Close]:
    """The flow delivering `topic` (DVCQG notices) to the one-stop REST API, and its close function.

    `settings` are the hub's; the `Worker` running the flow takes its group, retry and circuit policy
    from them. `onestop` defaults to the `LIENTHONG_ONESTOP_*` environment.
    """
    client = OnestopClient(onestop or OnestopSettings())
    handler = NoticeDeliveryHandler(client, idempotency)
    return Flow(name=DELIVERY_FLOW, topic=topic, handler=handler, peer=PEER), client.close


async def build_onestop_topic_flow(
    settings: Settings,
    *,
    onestop: OnestopSettings | None = None,
    topic: str | None = None,
    out_topic: str = EVENTS_TOPIC,
) -> tuple[Flow, Close]:
    """The flow consuming the one-stop system's own topic (default `onestop.source_topic`) and
    publishing canonical `DossierEvent`s on `out_topic`, and its (no-op) close function."""
    source = topic or (onestop or OnestopSettings()).source_topic

    async def close() -> None:
        return None

    return Flow(name=INTAKE_FLOW, topic=source, handler=DossierEventIntakeHandler(out_topic), peer=PEER), close
