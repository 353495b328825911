"""KPIs and SLA alerts of the one-stop system: a projection of dossier state, reports and an SLA watch.

- `KpiStore` / `project`: the `dossier_kpi` projection (one row per dossier, newest version only).
- `build_kpi_flow` / `KpiProjection`: the `kpi` flow folding `dossier.events` into the projection.
- `kpi_table` / `load_report` / `KpiRow`: received, accepted, refused, returned, early / on time /
  late, on-or-before-time rate and online share per agency, field and channel.
- `overdue_dossiers` / `load_overdue`: open dossiers past their due moment.
- `SlaWatch`: publishes `due_soon` and `overdue` alerts on `dossier.alerts`, each once.

Names are loaded on first use, so `lienthong report` starts without importing the bus or the database
driver before a command needs them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lienthong.kpi.report import (
        GROUP_KEYS,
        KpiReport,
        KpiRow,
        KpiTally,
        OverdueDossier,
        kpi_table,
        load_overdue,
        load_report,
        overdue_dossiers,
    )
    from lienthong.kpi.sla import SlaAlert, SlaWatch, build_sla_watch, pending_alerts
    from lienthong.kpi.store import OPEN_STATUSES, KpiStore, ProjectedDossier, default_kpi_dsn, project
    from lienthong.kpi.worker import KpiProjection, build_kpi_flow

__all__ = [
    "GROUP_KEYS",
    "OPEN_STATUSES",
    "KpiProjection",
    "KpiReport",
    "KpiRow",
    "KpiStore",
    "KpiTally",
    "OverdueDossier",
    "ProjectedDossier",
    "SlaAlert",
    "SlaWatch",
    "build_kpi_flow",
    "build_sla_watch",
    "default_kpi_dsn",
    "kpi_table",
    "load_overdue",
    "load_report",
    "overdue_dossiers",
    "pending_alerts",
    "project",
]

_HOME = {
    **dict.fromkeys(
        ("GROUP_KEYS", "KpiReport", "KpiRow", "KpiTally", "OverdueDossier", "kpi_table", "load_overdue",
         "load_report", "overdue_dossiers"), "lienthong.kpi.report"),
    **dict.fromkeys(("SlaAlert", "SlaWatch", "build_sla_watch", "pending_alerts"), "lienthong.kpi.sla"),
    **dict.fromkeys(("OPEN_STATUSES", "KpiStore", "ProjectedDossier", "default_kpi_dsn", "project"),
                    "lienthong.kpi.store"),
    **dict.fromkeys(("KpiProjection", "build_kpi_flow"), "lienthong.kpi.worker"),
}  # fmt: skip


def __getattr__(name: str) -> object:
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module 'lienthong.kpi' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
