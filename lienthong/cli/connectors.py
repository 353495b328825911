"""`lienthong connectors`: what each registered connector brings (topics, routes, flows, peer, settings)."""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any

import typer
from rich.table import Table

from lienthong.cli._shared import app, out


def describe_connectors() -> list[dict[str, Any]]:
    """One JSON-able description per registered connector, in registry order."""
    from lienthong.connectors.registry import connectors

    rows: list[dict[str, Any]] = []
    for c in connectors():
        prefix = str(c.settings_class.model_config.get("env_prefix", ""))
        rows.append({
            "name": c.name,
            "description": c.description,
            "peer": c.peer,
            "settings_prefix": prefix,
            "settings": sorted(f"{prefix}{f}".upper() for f in c.settings_class.model_fields),
            "topics": [t.name for t in c.topics()],
            "routes": list(c.route_paths()),
            "flows": [
                {"name": f.name, "topic": f.topic, "peer": f.peer, "default": f.default, "description": f.description}
                for f in c.flows()
            ],
            "has_sandbox": c.sandbox_app() is not None,
            "cli": c.cli() is not None,
        })  # fmt: skip
    return rows


@app.command("connectors")
def connectors_cmd(
    as_json: Annotated[bool, typer.Option("--json", help="A JSON array, one object per connector.")] = False,
) -> None:
    """List every registered connector: its topics, inbound routes, flows, peer and settings prefix.

    Connectors register through the Python entry-point group `lienthong.connectors`, so an installed
    package can add one (README, "Adding a connector").
    Example: lienthong connectors --json
    """
    rows = describe_connectors()
    if as_json:
        sys.stdout.write(json.dumps(rows, ensure_ascii=False, indent=2) + "\n")
        return
    t = Table("connector", "peer", "topics", "routes", "flows", "settings")
    for r in rows:
        t.add_row(
            r["name"], r["peer"], "\n".join(r["topics"]) or "-", "\n".join(r["routes"]) or "-",
            "\n".join(f["name"] + (" (default)" if f["default"] else "") for f in r["flows"]) or "-",
            r["settings_prefix"] + "*",
        )  # fmt: skip
    out.print(t)
