"""Every user mistake: one line on stderr naming what is wrong and what to do, exit 2 (1 for a failed
check), never a traceback. Run through the real command tree (typer's CliRunner) and, once, as a process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.main import get_command
from typer.testing import CliRunner

from lienthong.cli import app
from lienthong.testing import free_port


def invoke(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args), env=env)
    return result.exit_code, result.stdout, result.stderr


def one_error_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert lines[0].startswith("error: ")
    assert "Traceback" not in stderr
    return lines[0]


@pytest.fixture
def dead_broker() -> str:
    """A loopback address where nothing listens."""
    return f"127.0.0.1:{free_port()}"


@pytest.mark.parametrize(
    "args",
    [
        ["topics", "create"],
        ["tap", "dossier.events"],
        ["dlq", "list"],
        ["dlq", "list", "--json"],
        ["api"],
        ["run", "--flows", "kpi"],
        [
            "replay",
            "--topic",
            "dossier.events",
            "--flow",
            "kpi",
            "--since",
            "2025-07-01T00:00:00Z",
            "--until",
            "2025-07-02T00:00:00Z",
            "--why",
            "test",
        ],
    ],
)
def test_commands_without_a_reachable_broker_say_how_to_get_one(args: list[str], dead_broker: str) -> None:
    code, _, stderr = invoke(*args, env={"LIENTHONG_BOOTSTRAP_SERVERS": dead_broker})
    line = one_error_line(stderr)
    assert code == 2
    assert dead_broker in line
    assert "lienthong broker start" in line


def test_audit_verify_with_an_unsupported_dsn_names_the_forms_it_takes() -> None:
    code, _, stderr = invoke("audit", "verify", "--dsn", "mysql://root:pw@db/lienthong")
    line = one_error_line(stderr)
    assert code == 2
    assert "'mysql'" in line
    assert "postgresql://" in line


def test_audit_verify_with_an_unreachable_database_hides_the_password(tmp_path: Path) -> None:
    code, _, stderr = invoke("audit", "verify", "--dsn", f"postgresql://u:hunter2@127.0.0.1:{free_port()}/x")
    line = one_error_line(stderr)
    assert code == 2
    assert "hunter2" not in line
    assert "cannot open the audit store" in line


def test_audit_verify_of_a_missing_sqlite_file_says_so(tmp_path: Path) -> None:
    code, _, stderr = invoke("audit", "verify", "--db", str(tmp_path / "nope.db"))
    assert code == 2
    assert "no audit store at" in one_error_line(stderr)


def test_audit_verify_of_a_tampered_chain_is_a_failed_check_exit_1(tmp_path: Path) -> None:
    import asyncio
    import sqlite3

    from lienthong.audit.record import AuditEntry
    from lienthong.audit.writer import AuditWriter

    db = tmp_path / "audit.db"

    async def fill() -> None:
        writer = await AuditWriter.from_dsn(f"sqlite:///{db}")
        await writer.append([AuditEntry("f", "in", "p", "received"), AuditEntry("f", "in", "p", "received")])
        await writer.close()

    asyncio.run(fill())
    with sqlite3.connect(db) as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        table = next(t for t in tables if "anchor" not in t)
        triggers = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='trigger'")]
        for trig in triggers:
            conn.execute(f"DROP TRIGGER {trig}")
        conn.execute(f"UPDATE {table} SET outcome='forged' WHERE seq=1")
    code, _, stderr = invoke("audit", "verify", "--db", str(db))
    assert code == 1
    assert "BROKEN at record 1" in stderr
    assert "Traceback" not in stderr


@pytest.mark.parametrize("option", ["--since", "--until"])
def test_dlq_redrive_with_a_non_iso_time_shows_how_to_write_one(option: str, dead_broker: str) -> None:
    code, _, stderr = invoke("dlq", "redrive", "--why", "x", option, "yesterday",
                             env={"LIENTHONG_BOOTSTRAP_SERVERS": dead_broker})  # fmt: skip
    line = one_error_line(stderr)
    assert code == 2
    assert f"{option} 'yesterday'" in line
    assert "2025-07-01T08:00:00+07:00" in line


def test_run_with_a_misspelt_flow_suggests_the_closest(dead_broker: str) -> None:
    code, _, stderr = invoke("run", "--flows", "dosier_sync", env={"LIENTHONG_BOOTSTRAP_SERVERS": dead_broker})
    line = one_error_line(stderr)
    assert code == 2
    assert "Did you mean 'dossier_sync'?" in line


@pytest.mark.parametrize(
    ("var", "value"), [("LIENTHONG_HTTP_PORT", "abc"), ("LIENTHONG_LOG_LEVEL", "verbose"),
                       ("LIENTHONG_REPLICATION_FACTOR", "0")],
)  # fmt: skip
def test_a_bad_setting_names_the_variable_without_a_traceback(var: str, value: str) -> None:
    code, _, stderr = invoke("config", env={var: value})
    line = one_error_line(stderr)
    assert code == 2
    assert line.startswith(f"error: {var}: ")


def test_a_bad_connector_setting_names_its_own_prefixed_variable() -> None:
    code, _, stderr = invoke("config", env={"LIENTHONG_DVCQG_TIMEOUT_S": "soon"})
    assert code == 2
    assert one_error_line(stderr).startswith("error: LIENTHONG_DVCQG_TIMEOUT_S: ")


def test_log_level_is_accepted_in_any_case() -> None:
    code, stdout, _ = invoke("config", env={"LIENTHONG_LOG_LEVEL": "debug"})
    assert code == 0
    assert "LIENTHONG_LOG_LEVEL=DEBUG" in stdout


def test_broker_status_of_a_state_dir_without_a_broker_says_so(tmp_path: Path) -> None:
    code, stdout, stderr = invoke("broker", "status", "--state-dir", str(tmp_path))
    line = one_error_line(stderr)
    assert code == 1
    assert "no broker was started from" in line
    assert "node 1" not in stdout


def test_a_missing_required_option_is_one_line_pointing_at_help() -> None:
    code, _, stderr = invoke("dlq", "redrive")
    line = one_error_line(stderr)
    assert code == 2
    assert "--why" in line
    assert "lienthong dlq redrive --help" in line


def test_an_unknown_option_is_one_line_exit_2() -> None:
    code, _, stderr = invoke("tap", "x", "--frm-beginning")
    assert code == 2
    assert "--frm-beginning" in one_error_line(stderr)


def test_dlq_show_with_a_malformed_position_shows_the_form() -> None:
    code, _, stderr = invoke("dlq", "show", "dossier.events.dlq-42")
    assert code == 2
    assert "dossier.events.dlq/0/42" in one_error_line(stderr)


def test_every_commands_help_ends_with_an_example() -> None:
    def leaves(cmd: object, path: list[str]) -> list[tuple[str, object]]:
        subs = getattr(cmd, "commands", None)
        if not subs:
            return [(" ".join(path), cmd)]
        return [leaf for name, sub in subs.items() for leaf in leaves(sub, [*path, name])]

    missing = []
    for path, cmd in leaves(get_command(app), []):
        text = (getattr(cmd, "epilog", None) or getattr(cmd, "help", None) or "").strip()
        last_paragraph = text.split("\n\n")[-1]
        if "Example: lienthong" not in last_paragraph and "Example: LIENTHONG_" not in last_paragraph:
            missing.append(path)
    assert missing == []


def test_the_installed_script_prints_one_line_and_exit_2_for_a_bad_setting() -> None:
    env = {**os.environ, "LIENTHONG_HTTP_PORT": "abc"}
    proc = subprocess.run([sys.executable, "-m", "lienthong.cli", "config"], capture_output=True, text=True,
                          env=env, timeout=60, check=False)  # fmt: skip
    assert proc.returncode == 2
    assert one_error_line(proc.stderr).startswith("error: LIENTHONG_HTTP_PORT: ")


def test_a_worker_with_the_sandbox_password_against_a_real_portal_refuses_to_start(dead_broker: str) -> None:
    env = {"LIENTHONG_BOOTSTRAP_SERVERS": dead_broker, "LIENTHONG_DVCQG_URL": "https://dichvucong.gov.vn/api"}
    code, _, stderr = invoke("run", "--flows", "kpi", env=env)
    line = one_error_line(stderr)
    assert code == 2
    assert "LIENTHONG_DVCQG_PASSWORD" in line
    assert "dichvucong.gov.vn" in line


def test_a_real_password_against_a_real_portal_is_not_refused(dead_broker: str) -> None:
    code, _, stderr = invoke("run", "--flows", "kpi", env={
        "LIENTHONG_BOOTSTRAP_SERVERS": dead_broker, "LIENTHONG_DVCQG_URL": "https://dichvucong.gov.vn/api",
        "LIENTHONG_DVCQG_PASSWORD": "from-the-vault"})  # fmt: skip
    assert code == 2
    assert "Kafka is not reachable" in one_error_line(stderr)  # got past the credential check
