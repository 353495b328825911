"""Look-ups against the national-database sandbox: desk route, bus flow, purpose log."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from lienthong.audit.writer import AuditWriter
from lienthong.bus.envelope import new_envelope
from lienthong.bus.producer import Outbound, make_producer, publish_all
from lienthong.bus.publisher import BusPublisher
from lienthong.bus.topics import TopicSpec, create_topics
from lienthong.bus.worker import Worker
from lienthong.connectors.nationaldb.routes import router
from lienthong.connectors.nationaldb.sandbox import NationalDbSandboxState, create_nationaldb_sandbox
from lienthong.connectors.nationaldb.settings import LookupSettings
from lienthong.connectors.nationaldb.worker import build_lookup_flow
from lienthong.schemas.lookup import LookupResult
from lienthong.settings import Settings
from lienthong.testing import ServedApp, consume_all

pytestmark = pytest.mark.integration

CITIZEN = "052099012345"
NAME = "Nguyễn Văn An"
PURPOSE = {
    "procedure_code": "1.001193.000.00.00.H52",
    "dossier_code": "000.00.12.H52-250703-0042",
    "officer_id": "canbo.tn01",
    "legal_basis": "Nghị định 63/2024/NĐ-CP, Điều 5",
}


@dataclass
class Desk:
    url: str
    sandbox: NationalDbSandboxState
    settings: LookupSettings


@asynccontextmanager
async def desk(settings: Settings, audit: AuditWriter, **overrides) -> AsyncIterator[Desk]:
    state = NationalDbSandboxState()
    async with ServedApp(create_nationaldb_sandbox(state)) as sb:
        ls = LookupSettings(url=sb.url, civil_status_url=f"{sb.url}/hotich/soap", hash_key="k" * 32, **overrides)
        publisher = BusPublisher(settings, audit)
        await publisher.start()
        app = FastAPI()
        app.include_router(router(publisher, ls))
        try:
            async with ServedApp(app) as api:
                yield Desk(api.url + "/lookups", state, ls)
        finally:
            await publisher.close()


async def ask(url: str, register: str, query: dict, purpose: dict | None = PURPOSE, **extra) -> httpx.Response:
    body = {"query": query, **extra}
    if purpose is not None:
        body["purpose"] = purpose
    async with httpx.AsyncClient(timeout=10) as client:
        return await client.post(f"{url}/{register}", json=body)


async def audit_rows(audit: AuditWriter) -> list:
    return [r async for r in audit.store.records() if r.flow == "lookup"]


async def test_a_population_lookup_returns_only_the_procedures_fields_and_is_logged_without_values(
    settings, audit
) -> None:
    async with desk(settings, audit) as d:
        reply = await ask(d.url, "population", {"SoDinhDanh": CITIZEN, "HoVaTen": NAME, "Nam": 1999},
                          request_id="MC-1")  # fmt: skip
        sent = d.sandbox.last_population_request
    assert reply.status_code == 200
    body = reply.json()
    assert body["status"] == "answered"
    # fields.yaml lists these for 1.001193 (birth registration); Cha, Me, QueQuan, SoCMND are withheld.
    assert set(body["fields"]) == {"SoDinhDanh", "HoVaTen", "NgayThangNamSinh", "GioiTinh", "NoiOHienTai", "ThuongTru"}
    [record] = body["records"]
    assert record["SoDinhDanh"] == CITIZEN
    assert "Cha" not in record and "SoCMND" not in record
    assert record["NgayThangNamSinh"]["Nam"] == "1999"  # 4th digit 0: born in the 1900s; digits 5-6: 99
    assert (sent["MaYeuCau"], sent["MaDVC"], sent["MaCanBo"]) == ("MC-1", d.settings.service_code, "canbo.tn01")
    [row] = await audit_rows(audit)
    assert (row.outcome, row.peer, row.dossier_code) == ("answered", "population", PURPOSE["dossier_code"])
    detail = json.loads(row.detail)
    assert detail["officer"] == "canbo.tn01"
    assert detail["procedure"] == PURPOSE["procedure_code"]
    assert detail["fields"] == ["SoDinhDanh", "HoVaTen", "NgayThangNamSinh", "GioiTinh", "NoiOHienTai", "ThuongTru"]
    assert CITIZEN not in row.detail and "Nguyễn" not in row.detail
    db = Path(settings.resolved_audit_dsn().removeprefix("sqlite:///")).read_bytes()  # noqa: ASYNC240
    assert CITIZEN.encode() not in db


async def test_a_lookup_without_purpose_is_refused_and_never_reaches_the_register(settings, audit) -> None:
    async with desk(settings, audit) as d:
        reply = await ask(d.url, "population", {"SoDinhDanh": CITIZEN, "HoVaTen": NAME}, purpose=None)
        calls = d.sandbox.calls["population"]
    assert reply.status_code == 400
    assert reply.json()["status"] == "refused"
    assert "purpose" in reply.json()["reason"]
    assert calls == 0
    [row] = await audit_rows(audit)
    assert row.outcome == "refused"


async def test_a_procedure_without_a_field_list_for_the_register_is_refused(settings, audit) -> None:
    async with desk(settings, audit) as d:
        reply = await ask(d.url, "business", {"msdn": "0101234567"})  # birth registration: no business list
    assert reply.status_code == 403


async def test_a_bad_query_names_the_field_but_not_the_value(settings, audit) -> None:
    async with desk(settings, audit) as d:
        reply = await ask(d.url, "population", {"SoDinhDanh": "12345-Nguyen", "HoVaTen": NAME})
    assert reply.status_code == 422
    assert "SoDinhDanh" in reply.json()["reason"]
    assert "Nguyen" not in reply.text


async def test_an_officer_over_the_rate_limit_is_refused_with_429(settings, audit) -> None:
    async with desk(settings, audit, rate_per_minute=3) as d:
        codes = [(await ask(d.url, "population", {"SoDinhDanh": CITIZEN, "HoVaTen": NAME})).status_code
                 for _ in range(4)]  # fmt: skip
        other = await ask(d.url, "population", {"SoDinhDanh": CITIZEN, "HoVaTen": NAME},
                          purpose={**PURPOSE, "officer_id": "canbo.tn02"})  # fmt: skip
    assert codes == [200, 200, 200, 429]
    assert other.status_code == 200


async def test_the_token_is_cached_and_renewed_once_when_it_expires_mid_run(settings, audit) -> None:
    async with desk(settings, audit) as d:
        for _ in range(3):
            assert (await ask(d.url, "population", {"SoDinhDanh": CITIZEN, "HoVaTen": NAME})).status_code == 200
        issued_before = d.sandbox.tokens_issued
        d.sandbox.expire_tokens()
        after = await ask(d.url, "population", {"SoDinhDanh": CITIZEN, "HoVaTen": NAME})
    assert issued_before == 1
    assert after.status_code == 200
    assert d.sandbox.tokens_issued == 2
    assert d.sandbox.refused_401 == 1


async def test_an_unknown_citizen_is_not_found(settings, audit) -> None:
    async with desk(settings, audit) as d:
        reply = await ask(d.url, "population", {"SoDinhDanh": "052099000000", "HoVaTen": NAME})
    assert reply.json()["status"] == "not_found"
    assert reply.json()["records"] == []


async def test_business_registry_lookup_and_not_found(settings, audit) -> None:
    purpose = {**PURPOSE, "procedure_code": "1.004227"}
    async with desk(settings, audit) as d:
        found = await ask(d.url, "business", {"msdn": "0101234567"}, purpose=purpose)
        missing = await ask(d.url, "business", {"msdn": "0101230000"}, purpose=purpose)
    assert found.json()["status"] == "answered"
    assert found.json()["records"][0]["msdn"] == "0101234567"
    assert "nguoiDaiDien" not in found.json()["records"][0]  # not in 1.004227's list
    assert missing.json()["status"] == "not_found"


async def test_civil_status_lookup_goes_through_zeep_with_a_username_token(settings, audit) -> None:
    async with desk(settings, audit) as d:
        reply = await ask(d.url, "civil-status", {"SoDinhDanh": CITIZEN})
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert body["status"] == "answered"
    assert [r["LoaiSuKien"] for r in body["records"]] == ["KhaiSinh"]  # odd last digit: no marriage
    assert set(body["fields"]) == {"LoaiSuKien", "SoDangKy", "NgayDangKy", "NoiDangKy"}


async def test_civil_status_with_a_wrong_password_fails_permanently(settings, audit) -> None:
    async with desk(settings, audit, civil_status_password="sai") as d:
        reply = await ask(d.url, "civil-status", {"SoDinhDanh": CITIZEN})
    assert reply.status_code == 502
    assert reply.json()["status"] == "failed"


@pytest.mark.parametrize("fault", ["down", "malformed", "fail_500"])
async def test_a_register_fault_is_a_503_to_try_again(settings, audit, fault) -> None:
    async with desk(settings, audit) as d:
        if fault == "down":
            d.sandbox.down()
        elif fault == "malformed":
            d.sandbox.malformed_next(1)
        else:
            d.sandbox.fail_next(1, 500)
        reply = await ask(d.url, "population", {"SoDinhDanh": CITIZEN, "HoVaTen": NAME})
    assert reply.status_code == 503
    assert reply.json()["status"] == "failed"


async def test_the_bus_path_answers_on_lookup_results_with_the_same_rules(settings, audit) -> None:
    requests_topic = f"t{uuid.uuid4().hex[:10]}"
    results_topic = f"{requests_topic}.results"
    await create_topics(settings.bootstrap_servers, partitions=1, specs=[
        TopicSpec(requests_topic, key="k", description="t", payload="x", event_types=()),
        TopicSpec(results_topic, key="k", description="t", payload="x", event_types=(), companions=False),
    ])  # fmt: skip
    state = NationalDbSandboxState()
    async with ServedApp(create_nationaldb_sandbox(state)) as sb:
        ls = LookupSettings(url=sb.url, civil_status_url=f"{sb.url}/hotich/soap", hash_key="k" * 32)
        flow, close = await build_lookup_flow(settings, audit, lookup_settings=ls, topic=requests_topic,
                                              results_topic=results_topic)  # fmt: skip
        worker = Worker(flow, settings, audit)
        await worker.start()
        import asyncio

        task = asyncio.create_task(worker.run())
        producer = make_producer(settings)
        await producer.start()
        reqs = [
            {"request_id": "bus-1", "database": "population", "purpose": PURPOSE,
             "query": {"SoDinhDanh": CITIZEN, "HoVaTen": NAME}},
            {"request_id": "bus-2", "database": "population", "query": {"SoDinhDanh": CITIZEN, "HoVaTen": NAME}},
        ]  # fmt: skip
        out = [Outbound(requests_topic, json.dumps(r).encode(), r["request_id"].encode(),
                        new_envelope(type="vn.gov.lienthong.lookup.requested.v1", source="/test").to_headers())
               for r in reqs]  # fmt: skip
        await publish_all(producer, out)
        await producer.stop()
        records = await consume_all(settings.bootstrap_servers, results_topic, expect=2)
        worker.request_stop()
        await task
        await close()
    results = {r.key.decode(): LookupResult.model_validate_json(r.value) for r in records}
    assert results["bus-1"].status.value == "answered"
    assert results["bus-1"].records[0]["SoDinhDanh"] == CITIZEN
    assert results["bus-2"].status.value == "refused"
    rows = await audit_rows(audit)
    assert {json.loads(r.detail)["channel"] for r in rows} == {"bus"}


def run_log(settings: Settings, *args: str) -> list[dict]:
    env = {**os.environ, "LIENTHONG_AUDIT_DSN": settings.resolved_audit_dsn(),
           "LIENTHONG_STATE_DIR": str(settings.state_dir), "LIENTHONG_LOOKUPS_HASH_KEY": "k" * 32}  # fmt: skip
    proc = subprocess.run([sys.executable, "-m", "lienthong.cli", "lookups", "log", *args, "--json"],
                          env=env, capture_output=True, text=True, timeout=60, check=True)  # fmt: skip
    return [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]


async def test_lookups_log_answers_who_looked_at_a_citizen_and_why(settings, audit) -> None:
    other = "079199054321"
    async with desk(settings, audit) as d:
        await ask(d.url, "population", {"SoDinhDanh": CITIZEN, "HoVaTen": NAME})
        await ask(d.url, "population", {"SoDinhDanh": other, "HoVaTen": "Trần Thị Bình"},
                  purpose={**PURPOSE, "officer_id": "canbo.tn02"})  # fmt: skip
    mine = run_log(settings, CITIZEN)
    assert [(r["officer"], r["procedure"], r["legal_basis"], r["outcome"]) for r in mine] == [
        ("canbo.tn01", PURPOSE["procedure_code"], PURPOSE["legal_basis"], "answered")
    ]
    assert [r["officer"] for r in run_log(settings, other)] == ["canbo.tn02"]
    assert [r["officer"] for r in run_log(settings, "--officer", "canbo.tn02")] == ["canbo.tn02"]
    assert len(run_log(settings, "--dossier", PURPOSE["dossier_code"])) == 2
    assert run_log(settings, "001099999999") == []
    assert run_log(settings, "--since", "2999-01-01T00:00:00+07:00") == []
