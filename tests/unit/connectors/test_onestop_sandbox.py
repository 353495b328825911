"""Behaviour of the one-stop system simulator: the lifecycle generator and the notices REST API."""

from __future__ import annotations

from collections import defaultdict
from itertools import pairwise
from typing import Any

import httpx
import orjson
import pytest
from fastapi import FastAPI, Request, Response

from lienthong.connectors.onestop.client import OnestopClient
from lienthong.connectors.onestop.sandbox import OnestopSandboxState, create_onestop_sandbox, sandbox_state
from lienthong.connectors.onestop.settings import OnestopSettings
from lienthong.demo.lifecycle import OnestopSimulator
from lienthong.errors import BusinessRejection, PermanentError, TransientError
from lienthong.mappings.onestop import OnestopDossierEventIn, onestop_event_to_canonical
from lienthong.schemas.dossier import DossierEvent, DossierStatus, can_transition


def run(sim: OnestopSimulator) -> dict[str, list[DossierEvent]]:
    """Every event of a full simulation, parsed as lienthong's webhook would, per dossier."""
    per_dossier: dict[str, list[DossierEvent]] = defaultdict(list)
    for body in sim.events():
        event = onestop_event_to_canonical(OnestopDossierEventIn.model_validate_json(orjson.dumps(body)))
        per_dossier[event.dossier.code].append(event)
    return per_dossier


@pytest.fixture(scope="module")
def full_run() -> tuple[OnestopSimulator, dict[str, list[DossierEvent]]]:
    sim = OnestopSimulator(400, seed=11, emit_submitted=True)
    return sim, run(sim)


# The lifecycle generator --------------------------------------------------------------------------


def test_every_lifecycle_follows_the_allowed_transitions(full_run) -> None:
    _, per_dossier = full_run
    for events in per_dossier.values():
        statuses = [e.dossier.status for e in events]
        assert all(can_transition(a, b) for a, b in pairwise(statuses)), statuses


def test_every_lifecycle_runs_to_a_terminal_status(full_run) -> None:
    sim, per_dossier = full_run
    assert set(per_dossier) == set(sim.codes)
    assert all(events[-1].dossier.status.is_terminal for events in per_dossier.values())


def test_versions_rise_by_one_per_event_and_each_step_appends_a_processing_step(full_run) -> None:
    _, per_dossier = full_run
    for events in per_dossier.values():
        versions = [e.dossier.version for e in events]
        assert versions == list(range(versions[0], versions[0] + len(versions)))
        steps = [len(e.dossier.steps) for e in events]
        assert all(b == a + 1 for a, b in pairwise(steps)), steps
        assert events[-1].dossier.steps[-1].status == events[-1].dossier.status


def test_first_event_of_a_dossier_is_created_and_later_ones_changes_or_steps(full_run) -> None:
    _, per_dossier = full_run
    for events in per_dossier.values():
        assert events[0].kind == "created"
        for before, after in pairwise(events):
            expected = "step_added" if before.dossier.status == after.dossier.status else "status_changed"
            assert after.kind == expected


def test_lifecycles_include_supplement_payment_refusal_withdrawal_and_late_finishes(full_run) -> None:
    _, per_dossier = full_run
    paths = {tuple(int(e.dossier.status) for e in events) for events in per_dossier.values()}
    assert (1, 2, 4, 9, 10) in paths
    assert (2, 4, 9, 10) in paths
    assert (2, 4, 5, 4, 9, 10) in paths
    assert (2, 4, 6, 4, 9, 10) in paths
    assert (1, 3) in paths
    assert (2, 4, 7) in paths
    finals = [events[-1].dossier for events in per_dossier.values()]
    late = [d for d in finals if d.finished_at and d.due_at and d.finished_at.date() > d.due_at.date()]
    on_time = [d for d in finals if d.finished_at and d.due_at and d.finished_at <= d.due_at]
    assert late
    assert len(on_time) > 5 * len(late)


def test_a_pause_moves_the_due_date_back_and_reports_it_as_a_supplement_item(full_run) -> None:
    _, per_dossier = full_run
    paused = [
        events
        for events in per_dossier.values()
        if {5, 6} & {int(e.dossier.status) for e in events} and events[-1].dossier.status is DossierStatus.RETURNED
    ]
    assert paused
    for events in paused:
        final = events[-1].dossier
        change = final.supplements[-1]
        assert change.previous_due_at is not None and change.new_due_at is not None
        assert change.new_due_at > change.previous_due_at
        assert final.due_at == change.new_due_at
        assert change.fulfilled


def test_the_same_seed_gives_the_same_events_and_another_seed_others() -> None:
    one = list(OnestopSimulator(60, seed=5).events())
    assert one == list(OnestopSimulator(60, seed=5).events())
    assert one != list(OnestopSimulator(60, seed=6).events())


def test_by_default_a_dossier_is_emitted_only_once_accepted_so_dvcqg_gets_its_dates() -> None:
    sim = OnestopSimulator(300, seed=2)
    bodies = list(sim.events())
    assert bodies
    assert all(b["dossier"]["NgayTiepNhan"] and b["dossier"]["NgayHenTra"] for b in bodies)
    never_emitted = set(sim.codes) - set(sim.emitted_codes)
    assert never_emitted, "some online dossiers are refused or withdrawn before intake"
    assert all(sim.latest(code).received_at is None for code in never_emitted)


def test_latest_is_the_state_of_the_last_event_emitted() -> None:
    sim = OnestopSimulator(50, seed=4)
    last: dict[str, dict[str, Any]] = {}
    for n, body in enumerate(sim.events()):
        last[body["dossier"]["MaHoSo"]] = body
        if n == 80:
            break
    for code, body in last.items():
        assert onestop_event_to_canonical(OnestopDossierEventIn.model_validate(body)).dossier == sim.latest(code)


def test_pending_events_counts_what_the_generator_still_yields() -> None:
    for emit_submitted in (False, True):
        sim = OnestopSimulator(120, seed=9, emit_submitted=emit_submitted)
        expected = sim.pending_events()
        assert expected == sum(1 for _ in sim.events())
        assert sim.pending_events() == 0


def webhook_recorder(fail_first: int = 0) -> tuple[FastAPI, list[dict[str, Any]]]:
    """A stand-in for lienthong's webhook: records bodies, answers 503 to the first `fail_first` calls."""
    received: list[dict[str, Any]] = []
    calls = [0]
    app = FastAPI()

    @app.post("/onestop/dossier-events")
    async def hook(request: Request) -> Response:
        calls[0] += 1
        if calls[0] <= fail_first:
            return Response(status_code=503)
        received.append(orjson.loads(await request.body()))
        return Response('{"accepted": true}', status_code=202, media_type="application/json")

    return app, received


async def test_drive_posts_every_event_keeping_each_dossiers_version_order() -> None:
    app, received = webhook_recorder(fail_first=3)
    sim = OnestopSimulator(80, seed=1)
    total = sim.pending_events()
    progress: list[int] = []
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app)) as client:
        report = await sim.drive("http://hub/onestop/dossier-events", client, concurrency=8,
                                 on_progress=lambda r: progress.append(r.sent))  # fmt: skip
    assert report.accepted == report.sent == total == len(received)
    assert report.failed == 0
    assert progress[-1] == total
    versions: dict[str, list[int]] = defaultdict(list)
    for body in received:
        versions[body["dossier"]["MaHoSo"]].append(body["version"])
    assert all(v == sorted(v) for v in versions.values())


async def test_drive_with_a_limit_stops_there_and_the_next_drive_continues() -> None:
    app, received = webhook_recorder()
    sim = OnestopSimulator(30, seed=3)
    total = sim.pending_events()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app)) as client:
        first = await sim.drive("http://hub/onestop/dossier-events", client, events=25)
        rest = await sim.drive("http://hub/onestop/dossier-events", client)
    assert first.sent == 25
    assert first.sent + rest.sent == total == len(received)
    assert len({(b["event_id"]) for b in received}) == total


# The notices REST API -----------------------------------------------------------------------------

NOTICE = {"service": "NhanThongBaoThueDat", "kind": "land_tax_notice", "data": [{"MaHoSo": "x"}]}


@pytest.fixture
async def api() -> Any:
    app = create_onestop_sandbox()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://onestop") as client:
        yield client, sandbox_state(app)


async def post(client: httpx.AsyncClient, key: str | None = "k-1", body: Any = NOTICE) -> httpx.Response:
    headers = {"Idempotency-Key": key} if key else {}
    return await client.post("/api/notices", content=orjson.dumps(body), headers=headers)


async def test_a_new_key_is_stored_once_and_a_repeat_gets_the_first_answer(api) -> None:
    client, state = api
    first = await post(client)
    again = await post(client)
    assert first.status_code == again.status_code == 200
    assert first.json() == again.json()
    assert first.json()["accepted"] is True
    assert list(state.notices) == ["k-1"]
    assert state.notices["k-1"].body == NOTICE
    assert state.duplicates == 1


async def test_a_notice_without_idempotency_key_or_with_a_bad_body_is_400(api) -> None:
    client, state = api
    assert (await post(client, key=None)).status_code == 400
    assert (await post(client, body={"service": "x", "data": "nope"})).status_code == 400
    assert not state.notices


async def test_down_and_fail_next_answer_5xx_and_store_nothing(api) -> None:
    client, state = api
    assert (await client.post("/_sandbox/down", json={"down": True})).status_code == 200
    assert (await post(client)).status_code == 503
    await client.post("/_sandbox/down", json={"down": False})
    await client.post("/_sandbox/fail_next", json={"n": 1, "status": 429})
    assert (await post(client)).status_code == 429
    assert not state.notices
    assert (await post(client)).json()["accepted"] is True
    assert state.stats_json()["served_5xx"] == 1


async def test_reject_next_refuses_in_the_body_and_the_refusal_sticks_to_the_key(api) -> None:
    client, state = api
    await client.post("/_sandbox/reject_next", json={"n": 1, "reason": "sai mẫu"})
    refused = await post(client)
    assert refused.status_code == 200
    assert refused.json() == {"accepted": False, "reason": "sai mẫu", "code": "REFUSED"}
    assert (await post(client)).json() == refused.json()
    assert (await post(client, key="k-2")).json()["accepted"] is True
    assert list(state.notices) == ["k-2"]


async def test_unknown_control_is_404_and_bad_arguments_are_422(api) -> None:
    client, _ = api
    assert (await client.post("/_sandbox/explode")).status_code == 404
    assert (await client.post("/_sandbox/slow", json={"latency_ms": -1})).status_code == 422


async def test_controls_answer_loopback_clients_only() -> None:
    app = create_onestop_sandbox()
    transport = httpx.ASGITransport(app=app, client=("10.1.2.3", 5000))
    async with httpx.AsyncClient(transport=transport, base_url="http://onestop") as client:
        assert (await client.post("/_sandbox/down")).status_code == 403
        assert (await client.get("/_sandbox/stats")).status_code == 403


# The sandbox as the peer of lienthong's client: the error taxonomy ---------------------------------


@pytest.fixture
async def client_and_state() -> Any:
    state = OnestopSandboxState()
    app = create_onestop_sandbox(state)
    client = OnestopClient(OnestopSettings(url="http://onestop"), transport=httpx.ASGITransport(app=app))
    yield client, state
    await client.close()


async def test_client_delivers_and_returns_the_reply(client_and_state) -> None:
    client, state = client_and_state
    reply = await client.deliver_notice(orjson.dumps(NOTICE), idempotency_key="k")
    assert orjson.loads(reply)["accepted"] is True
    assert list(state.notices) == ["k"]


async def test_client_maps_5xx_to_transient_4xx_to_permanent_and_refusal_to_business_rejection(
    client_and_state,
) -> None:
    client, state = client_and_state
    state.set_down(True)
    with pytest.raises(TransientError):
        await client.deliver_notice(orjson.dumps(NOTICE), idempotency_key="k")
    state.set_down(False)
    with pytest.raises(PermanentError):
        await client.deliver_notice(b"not json", idempotency_key="k")
    state.reject_next(1, reason="không đúng đơn vị")
    with pytest.raises(BusinessRejection, match="không đúng đơn vị"):
        await client.deliver_notice(orjson.dumps(NOTICE), idempotency_key="k2")


async def test_client_maps_a_refused_connection_to_transient() -> None:
    client = OnestopClient(OnestopSettings(url="http://127.0.0.1:9", timeout_s=1.0))
    try:
        with pytest.raises(TransientError):
            await client.deliver_notice(orjson.dumps(NOTICE), idempotency_key="k")
    finally:
        await client.close()
