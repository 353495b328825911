"""`lienthong topics`: create the catalogue's topics, list them, print the AsyncAPI document."""

from __future__ import annotations

import asyncio
import json
import sys

from rich.table import Table

from lienthong.cli._shared import Bootstrap, out, require_broker, settings_from, topics_app


@topics_app.command("create")
def topics_create(bootstrap: Bootstrap = None) -> None:
    """Create every catalogue topic with its .retry and .dlq companions (existing ones are kept).

    Replication factor: LIENTHONG_REPLICATION_FACTOR (-1 = the cluster's default.replication.factor).
    Example: lienthong topics create --bootstrap 127.0.0.1:9092
    """
    from lienthong.bus.topics import create_topics

    s = settings_from(bootstrap_servers=bootstrap)
    require_broker(s.bootstrap_servers)
    created = asyncio.run(create_topics(s.bootstrap_servers, partitions=s.partitions,
                                        replication_factor=s.replication_factor))  # fmt: skip
    out.print(f"created {len(created)} topic(s)" + (": " + ", ".join(created) if created else " (all existed)"))


@topics_app.command("list")
def topics_list() -> None:
    """Print the catalogue: topic, key, payload, event types.

    Example: lienthong topics list
    """
    from lienthong.bus.topics import catalogue

    t = Table("topic", "key", "payload", "retry/dlq")
    for spec in catalogue().values():
        t.add_row(spec.name, spec.key, spec.payload.rsplit(".", 1)[-1], "yes" if spec.companions else "-")
    out.print(t)


@topics_app.command("asyncapi")
def topics_asyncapi(bootstrap: Bootstrap = None) -> None:
    """Print the AsyncAPI 3.0 document of the topics (also served at /asyncapi.json).

    Example: lienthong topics asyncapi > asyncapi.json
    """
    from lienthong.bus.topics import asyncapi_document

    s = settings_from(bootstrap_servers=bootstrap)
    sys.stdout.write(json.dumps(asyncapi_document(s.bootstrap_servers), indent=2, ensure_ascii=False) + "\n")
