"""The demo part drives look-ups, ministry results and attacks through lienthong's whole API app."""

from __future__ import annotations

import pytest
from rich.console import Console

from lienthong.bus.publisher import BusPublisher
from lienthong.bus.topics import create_topics
from lienthong.connectors.registry import connector
from lienthong.demo.lookups import LookupsDemo
from lienthong.demo.parts import DemoContext
from lienthong.testing import ServedApp

pytestmark = pytest.mark.integration


async def test_the_demo_part_reports_every_summary_key(settings, audit, idempotency, monkeypatch) -> None:
    for var in ("LIENTHONG_LOOKUPS_URL", "LIENTHONG_LOOKUPS_CIVIL_STATUS_URL", "LIENTHONG_LOOKUPS_RATE_PER_MINUTE",
                "LIENTHONG_SOAP_ACCOUNTS"):  # fmt: skip
        monkeypatch.setenv(var, "")  # restored after the test; the part overwrites them
    from lienthong.app import create_app

    await create_topics(settings.bootstrap_servers, partitions=1, specs=connector("ministry").topics())
    publisher = BusPublisher(settings, audit)
    await publisher.start()
    ctx = DemoContext(settings=settings, audit=audit, idempotency=idempotency, publisher=publisher,
                      console=Console(quiet=True))  # fmt: skip
    part = LookupsDemo(lookups=9, without_purpose=2, results=4)
    try:
        await part.start(ctx)
        async with ServedApp(create_app(settings, publisher=publisher)) as api:
            ctx.api_url = api.url
            summary = await part.run(ctx)
    finally:
        for close in ctx.closers:
            await close()
        await publisher.close()
    assert summary == {
        "lookups": 9,
        "lookups_refused_without_purpose": 2,
        "ministry_results_received": 4,
        "soap_attacks_refused": 10,
        "lookups_ok": True,
    }
