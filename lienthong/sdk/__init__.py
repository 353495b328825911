"""lienthong.sdk: consume lienthong's Kafka topics from another system, with FastStream.

A small library for the systems on the other side of the hub (monitoring, a ministry's desk system, a data
warehouse). It gives:

- typed payload models (`DossierEvent`, `RejectionEvent`, ...: the canonical models lienthong publishes);
- `CloudEvent`: the record's CloudEvents attributes parsed (extension attributes included, the deprecated
  header names understood), injectable into a FastStream handler as `Attributes`;
- `IdempotentConsumer`: an effect made once per `ce_id` (lienthong delivers at least once: a redelivered,
  replayed or re-published record has the same id, or a deterministic derived one);
- `OrderGuard`: the `ce_time` ordering rule (per subject, an event older than the newest one applied is
  stale: a redelivery or a replay of the past, not news);
- `lienthong_broker()`: a FastStream `KafkaBroker` configured for lienthong's topics;
- `standard_event()`: the record as the CloudEvents SDK's event, for code that already speaks CloudEvents.

    from lienthong.sdk import Attributes, DossierEvent, IdempotentConsumer, OrderGuard, lienthong_broker

    broker = lienthong_broker("kafka-1:9092")
    once, order = IdempotentConsumer(), OrderGuard()

    @broker.subscriber("dossier.events", group_id="monitoring")
    async def on_dossier(event: DossierEvent, ce: Attributes) -> None:
        if order.is_stale(ce):
            return
        await once.run(ce, lambda: store(event))

`examples/dossier_subscriber.py` is a runnable subscriber. The topics are described in lienthong's AsyncAPI
document (`lienthong topics asyncapi`, or `/asyncapi.json` on the API).
"""

from __future__ import annotations

from lienthong.sdk.consumer import (
    Attributes,
    CloudEvent,
    IdempotentConsumer,
    MemorySeenIds,
    OrderGuard,
    SeenIds,
    StoreSeenIds,
    cloudevent_of,
    lienthong_broker,
    standard_event,
)
from lienthong.sdk.payloads import PAYLOADS, DossierEvent, RejectionEvent, payload_model

__all__ = [
    "PAYLOADS",
    "Attributes",
    "CloudEvent",
    "DossierEvent",
    "IdempotentConsumer",
    "MemorySeenIds",
    "OrderGuard",
    "RejectionEvent",
    "SeenIds",
    "StoreSeenIds",
    "cloudevent_of",
    "lienthong_broker",
    "payload_model",
    "standard_event",
]
