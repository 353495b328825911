"""Pins the public API of `lienthong.kpi`, and that `lienthong report` starts without the heavy imports."""

import subprocess
import sys

import lienthong.kpi


def test_public_api_is_exactly_the_documented_names() -> None:
    assert sorted(lienthong.kpi.__all__) == [
        "GROUP_KEYS",
        "KpiProjection",
        "KpiReport",
        "KpiRow",
        "KpiStore",
        "KpiTally",
        "OPEN_STATUSES",
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


def test_every_public_name_resolves_and_callables_have_a_docstring() -> None:
    for name in lienthong.kpi.__all__:
        value = getattr(lienthong.kpi, name)
        if callable(value):
            assert value.__doc__, name


def test_an_unknown_name_is_an_attribute_error() -> None:
    assert not hasattr(lienthong.kpi, "KpiTable")


def test_importing_the_cli_does_not_import_the_bus_or_the_database_driver() -> None:
    code = "import sys, lienthong.kpi.cli; print(sorted({'sqlalchemy', 'aiokafka'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
