"""`lienthong broker`: a local Apache Kafka (KRaft) from the official Maven Central jars."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from lienthong.cli._shared import StateDir, broker_app, err, fail, out, settings_from
from lienthong.errors import ConfigurationError


@broker_app.command("start")
def broker_start(
    port: Annotated[int, typer.Option(help="Client port of the first node.")] = 9092,
    nodes: Annotated[int, typer.Option(help="1 for a single node, 3 for a loopback cluster.")] = 1,
    controller_port: Annotated[
        int | None,
        typer.Option(
            help="KRaft controller port of the first node (default LIENTHONG_BROKER_CONTROLLER_PORT, 0 = port + 100)."
        ),
    ] = None,
    state_dir: StateDir = None,
) -> None:
    """Start Apache Kafka in KRaft mode and print `bootstrap=127.0.0.1:PORT`.

    The first run fetches org.apache.kafka:kafka_2.13 with Maven into ~/.cache/lienthong (needs Java 17+).
    Example: lienthong broker start --port 9092 --controller-port 9192
    """
    from lienthong.bus.embedded import EmbeddedKafka

    s = settings_from(state_dir=state_dir, broker_controller_port=controller_port)
    if nodes < 1:
        raise fail(f"--nodes {nodes}: give 1 for a single node or 3 for a loopback cluster")
    ctl = s.broker_controller_port or None
    kafka = EmbeddedKafka(s.state_dir, port=port, nodes=nodes, version=s.kafka_version, controller_port=ctl)
    try:
        with err.status(f"starting Kafka {s.kafka_version} ({nodes} node(s))..."):
            bootstrap = kafka.start()
    except ConfigurationError as exc:
        # The first line says what is wrong; the node's log tail stays in its log file.
        raise fail(str(exc).splitlines()[0] + f" (logs under {s.state_dir / 'broker'})", 1) from exc
    out.print(f"bootstrap={bootstrap}", highlight=False)


@broker_app.command("stop")
def broker_stop(state_dir: StateDir = None) -> None:
    """Stop the broker started from this state directory.

    Example: lienthong broker stop --state-dir ~/.cache/lienthong
    """
    from lienthong.bus.embedded import EmbeddedKafka

    s = settings_from(state_dir=state_dir)
    if not EmbeddedKafka.has_state(s.state_dir):
        raise fail(_no_broker(s.state_dir), 1)
    EmbeddedKafka.from_state(s.state_dir).stop()
    out.print("stopped")


def _no_broker(state_dir: Path) -> str:
    return (f"no broker was started from {state_dir}: start one with `lienthong broker start --state-dir "
            f"{state_dir}`, or pass the --state-dir it was started with")  # fmt: skip


@broker_app.command("status")
def broker_status(state_dir: StateDir = None) -> None:
    """Show each node: process alive, port answering. Exit 1 if any is down (or none was started here).

    Example: lienthong broker status --state-dir ~/.cache/lienthong
    """
    from lienthong.bus.embedded import EmbeddedKafka

    s = settings_from(state_dir=state_dir)
    if not EmbeddedKafka.has_state(s.state_dir):
        raise fail(_no_broker(s.state_dir), 1)
    rows = EmbeddedKafka.from_state(s.state_dir).status()
    healthy = True
    for node, alive, answers in rows:
        healthy &= alive and answers
        out.print(f"node {node.node_id}: 127.0.0.1:{node.client} process={'up' if alive else 'down'} "
                  f"port={'answering' if answers else 'closed'}")  # fmt: skip
    raise typer.Exit(0 if healthy else 1)
