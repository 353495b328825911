"""The connector interface: what an external system's connector declares so the core can wire it.

A connector is one sub-package of `lienthong.connectors` (or of any installed distribution) with the
same inner shape: `settings.py`, `client.py` (outbound), `routes.py` (inbound HTTP/SOAP), `worker.py`
(bus handlers), `sandbox.py` (a faithful simulator of the system). It exposes one object satisfying
`Connector`, registered under the entry-point group `lienthong.connectors` in its distribution's
`pyproject.toml`:

    [project.entry-points."lienthong.connectors"]
    payment = "lienthong.connectors.payment:connector"

The core (app, CLI, settings table, topic catalogue, AsyncAPI, compose check) iterates
`lienthong.connectors.registry.connectors()` and never names a connector. Everything heavy (routes,
workers, sandboxes, CLI groups) is reached through callables, so listing connectors imports only their
settings classes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from pydantic import SecretStr
from pydantic_settings import BaseSettings

if TYPE_CHECKING:
    import typer
    from fastapi import APIRouter, FastAPI

    from lienthong.audit.writer import AuditWriter
    from lienthong.bus.idempotency import IdempotencyStore
    from lienthong.bus.publisher import BusPublisher
    from lienthong.bus.topics import TopicSpec
    from lienthong.bus.worker import Flow
    from lienthong.settings import Settings

Close = Callable[[], Awaitable[None]]
"""Closes what a flow builder opened (clients, stores)."""


@dataclass(frozen=True, slots=True)
class FlowContext:
    """What the composition root hands every flow builder: the shared stores of one worker process."""

    idempotency: IdempotencyStore
    """The effects' idempotency store (one per process, shared by its flows)."""
    audit: AuditWriter
    """The process's audit writer (one writer, group commit)."""


FlowBuilder = Callable[["Settings", FlowContext], Awaitable[tuple["Flow", Close]]]
"""Builds a flow's `Flow` (topic, handler, peer) and the function that closes what it opened."""


@dataclass(frozen=True, slots=True)
class FlowSpec:
    """One worker flow a connector (or the core) offers to `lienthong run --flows`."""

    name: str
    """Flow name, unique across connectors: the `--flows` value, the audit flow and the consumer group suffix."""
    topic: str
    """Main topic consumed (its `.retry` companion is consumed too)."""
    peer: str
    """External system the flow calls (names its circuit); `-` for flows that call none."""
    description: str
    """One line for `lienthong connectors` and `run --help`."""
    build: FlowBuilder
    """Wires the flow from settings and the process's shared stores."""
    default: bool = False
    """Run by `lienthong run` when `--flows` is not given."""


@runtime_checkable
class Connector(Protocol):
    """What the core needs to know about one external system's connector."""

    @property
    def name(self) -> str:
        """Short name (`dvcqg`, `onestop`, `payment`): the entry-point name and the CLI group name."""
        ...

    @property
    def peer(self) -> str:
        """The external system it talks to, as audit records and circuits name it."""
        ...

    @property
    def description(self) -> str:
        """One line: what the system is and what the connector does with it."""
        ...

    @property
    def settings_class(self) -> type[BaseSettings]:
        """Its settings (`LIENTHONG_<NAME>_*`), listed by `lienthong config` and the README table."""
        ...

    def topics(self) -> Sequence[TopicSpec]:
        """Topics it owns (created by `topics create`, described in AsyncAPI)."""
        ...

    def flows(self) -> Sequence[FlowSpec]:
        """Worker flows it offers to `lienthong run`."""
        ...

    def routers(self, publisher: BusPublisher) -> Sequence[APIRouter]:
        """Inbound HTTP/SOAP routes, publishing through the app's `publisher`."""
        ...

    def route_paths(self) -> Sequence[str]:
        """`METHOD /path` of each inbound route (for `lienthong connectors` without building the app)."""
        ...

    def inbound_secrets(self) -> dict[str, SecretStr]:
        """Environment variable → secret the inbound routes require; an empty secret means "not set",
        and `lienthong api` refuses to listen beyond loopback while any is empty."""
        ...

    def sandbox_app(self) -> FastAPI | None:
        """A fresh ASGI app simulating the external system (None when the connector has no sandbox)."""
        ...

    def cli(self) -> typer.Typer | None:
        """Optional `lienthong <name> ...` sub-commands."""
        ...


def _no_topics() -> Sequence[TopicSpec]:
    return ()


def _no_flows() -> Sequence[FlowSpec]:
    return ()


def _no_routers(_: BusPublisher) -> Sequence[APIRouter]:
    return ()


def _no_secrets() -> dict[str, SecretStr]:
    return {}


def _none() -> None:
    return None


@dataclass(frozen=True)
class ConnectorSpec:
    """A `Connector` made of declarations: what most connectors need, with lazy parts as callables."""

    name: str
    """See `Connector.name`."""
    peer: str
    """See `Connector.peer`."""
    description: str
    """See `Connector.description`."""
    settings_class: type[BaseSettings]
    """See `Connector.settings_class`."""
    topic_specs: Callable[[], Sequence[TopicSpec]] = _no_topics
    """Returns the topics it owns."""
    flow_specs: Callable[[], Sequence[FlowSpec]] = _no_flows
    """Returns its flows."""
    make_routers: Callable[[BusPublisher], Sequence[APIRouter]] = _no_routers
    """Builds its inbound routers."""
    paths: tuple[str, ...] = ()
    """`METHOD /path` of each inbound route."""
    secrets: Callable[[], dict[str, SecretStr]] = _no_secrets
    """Returns the inbound secrets by environment variable."""
    make_sandbox: Callable[[], FastAPI | None] = _none
    """Builds its sandbox app."""
    make_cli: Callable[[], typer.Typer | None] = _none
    """Builds its CLI group."""
    cli_name: str = ""
    """Name of its CLI group (`lienthong <cli_name> ...`) when it differs from `name` (e.g. `payments` for
    the `payment` connector); empty = `name`."""
    extra: dict[str, str] = field(default_factory=dict)
    """Free-form facts shown by `lienthong connectors` (e.g. the sandbox's `python -m` command)."""

    def topics(self) -> Sequence[TopicSpec]:
        """Topics it owns."""
        return self.topic_specs()

    def flows(self) -> Sequence[FlowSpec]:
        """Worker flows it offers."""
        return self.flow_specs()

    def routers(self, publisher: BusPublisher) -> Sequence[APIRouter]:
        """Inbound routers publishing through `publisher`."""
        return self.make_routers(publisher)

    def route_paths(self) -> Sequence[str]:
        """`METHOD /path` of each inbound route."""
        return self.paths

    def inbound_secrets(self) -> dict[str, SecretStr]:
        """Secrets the inbound routes require, by environment variable."""
        return self.secrets()

    def sandbox_app(self) -> FastAPI | None:
        """A fresh sandbox app, or None."""
        return self.make_sandbox()

    def cli(self) -> typer.Typer | None:
        """Its CLI group, or None."""
        return self.make_cli()


__all__ = ["Close", "Connector", "ConnectorSpec", "FlowBuilder", "FlowContext", "FlowSpec"]
