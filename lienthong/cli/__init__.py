"""The `lienthong` command, one module per command group (each registers itself on the root `app`)."""

from __future__ import annotations

from lienthong.calendar.cli import app as calendar_app
from lienthong.cli import audit, broker, connectors, ops, replay, run, topics
from lienthong.cli._shared import app
from lienthong.kpi.cli import app as report_app

app.add_typer(calendar_app, name="calendar", help="Working-time calendar: due moments and on-time classification.")
app.add_typer(report_app, name="report", help="KPIs per agency, field and channel; overdue dossiers.")


def _mount_connector_commands() -> None:
    """`lienthong <connector> ...` for every registered connector that brings sub-commands."""
    from lienthong.connectors.registry import connectors as registered

    for c in registered():
        group = c.cli()
        if group is not None:
            # A connector may name its group differently (`cli_name`, e.g. `payments` for `payment`).
            app.add_typer(group, name=getattr(c, "cli_name", "") or c.name)


_mount_connector_commands()

__all__ = ["app", "audit", "broker", "connectors", "main", "ops", "replay", "run", "topics"]


def main() -> None:
    """Entry point of the `lienthong` script."""
    app()
