"""A system on the other side of lienthong: follow every dossier's status from `dossier.events`.

Run it against a broker where lienthong publishes (e.g. after `lienthong demo --dossiers 50` in another shell):

    python examples/dossier_subscriber.py --bootstrap 127.0.0.1:9092 --group monitoring-demo

or, with FastStream's own runner: `LIENTHONG_BOOTSTRAP_SERVERS=127.0.0.1:9092 faststream run
examples.dossier_subscriber:app`. Each event is applied once per `ce_id` (a redelivery or a replay is
skipped) and never over a newer state of the same dossier (the `ce_time` rule). `--db sqlite:///seen.db`
keeps the processed ids across restarts.
"""

from __future__ import annotations

import argparse
import asyncio
import os

from faststream import FastStream

from lienthong.sdk import (
    Attributes,
    DossierEvent,
    IdempotentConsumer,
    MemorySeenIds,
    OrderGuard,
    SeenIds,
    StoreSeenIds,
    lienthong_broker,
)


class DossierBoard:
    """The subscriber's own state: the latest status of each dossier, applied once per event."""

    def __init__(self, seen: SeenIds | None = None) -> None:
        self.status: dict[str, int] = {}
        self.once = IdempotentConsumer(seen or MemorySeenIds())
        self.order = OrderGuard()
        self.stale = 0

    async def on_event(self, event: DossierEvent, ce: Attributes) -> None:
        """Handler body: drop stale events, apply the rest once."""
        if self.order.is_stale(ce):
            self.stale += 1
            return

        def apply() -> None:
            self.status[event.dossier.code] = int(event.dossier.status)
            when = ce.time.isoformat() if ce.time else "-"
            print(f"{when} {event.dossier.code} -> status {int(event.dossier.status)} "
                  f"(correlation {ce.correlation_id[:8]})", flush=True)  # fmt: skip

        await self.once.run(ce, apply)


def build(bootstrap: str, group: str, topic: str = "dossier.events", seen: SeenIds | None = None) -> tuple[
    FastStream, DossierBoard
]:  # fmt: skip
    """The FastStream app and its board (tests read the board)."""
    broker = lienthong_broker(bootstrap)
    board = DossierBoard(seen)
    broker.subscriber(topic, group_id=group, auto_offset_reset="earliest")(board.on_event)
    return FastStream(broker), board


app, _board = build(os.environ.get("LIENTHONG_BOOTSTRAP_SERVERS", "127.0.0.1:9092"),
                    os.environ.get("SUBSCRIBER_GROUP", "dossier-subscriber-example"))  # fmt: skip


def main() -> None:
    """`python examples/dossier_subscriber.py --bootstrap HOST:PORT [--group G] [--db DSN]`."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap", default=os.environ.get("LIENTHONG_BOOTSTRAP_SERVERS", "127.0.0.1:9092"))
    parser.add_argument("--group", default="dossier-subscriber-example")
    parser.add_argument("--topic", default="dossier.events")
    parser.add_argument("--db", default="", help="sqlite:///seen.db or postgresql://... to keep processed ids")
    args = parser.parse_args()
    seen = StoreSeenIds(args.db) if args.db else None
    stream, _ = build(args.bootstrap, args.group, args.topic, seen)
    asyncio.run(stream.run())


if __name__ == "__main__":
    main()
