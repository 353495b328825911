"""Rules of dossier sync: the version guard's plan (pure) and the DVCQG client's session, fallbacks and
error taxonomy, driven against the sandbox through an in-process ASGI transport (no sockets)."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from lienthong.connectors.dvcqg.client import DvcqgClient, Sent
from lienthong.connectors.dvcqg.sandbox import (
    DvcqgSandboxConfig,
    DvcqgSandboxState,
    create_dvcqg_sandbox,
    sandbox_state,
)
from lienthong.connectors.dvcqg.settings import DvcqgSettings
from lienthong.connectors.dvcqg.worker import SyncState, plan_dossier, steps_progress
from lienthong.demo.workload import synthetic_dossier
from lienthong.errors import BusinessRejection, PermanentError, TransientError
from lienthong.mappings.dvcqg import dossier_to_dvcqg, steps_to_dvcqg
from lienthong.mappings.wire import VN_TZ
from lienthong.schemas.dossier import Dossier, DossierEvent, DossierEventKind, DossierStatus, ProcessingStep

AGENCY = "000.00.12.H52"
RECEIVED = datetime(2025, 7, 3, 9, 0, tzinfo=VN_TZ)


def dossiers(n: int, *, seed: int = 1) -> list[Dossier]:
    rng = random.Random(seed)
    return [
        synthetic_dossier(rng, agency_code=AGENCY, received_at=RECEIVED, seq=i + 1, channel="counter") for i in range(n)
    ]


def step(minutes: int, status: DossierStatus = DossierStatus.PROCESSING) -> ProcessingStep:
    return ProcessingStep(handler_name="Lê Văn Cường", processed_at=RECEIVED + timedelta(minutes=minutes),
                          status=status, content="Xử lý")  # fmt: skip


def version(d: Dossier, v: int, status: DossierStatus, *extra: ProcessingStep) -> Dossier:
    return d.model_copy(update={"version": v, "status": status, "steps": (*d.steps, *extra)})


def event(d: Dossier) -> DossierEvent:
    return DossierEvent(event_id=f"e-{d.version}", kind=DossierEventKind.UPDATED, occurred_at=datetime.now(UTC),
                        source="onestop", dossier=d)  # fmt: skip


def synced(d: Dossier) -> SyncState:
    """The state stored after `d` was fully accepted."""
    return SyncState(d.version, int(d.status), len(d.steps), steps_progress(d.steps, None)[1])


# -- the version guard's plan -------------------------------------------------------------------------


def test_an_event_not_newer_than_the_stored_version_is_stale() -> None:
    [d] = dossiers(1)
    v2 = version(d, 2, DossierStatus.PROCESSING, step(60))
    plan = plan_dossier([(0, event(d)), (1, event(v2))], synced(v2))
    assert plan.send is None
    assert sorted(plan.stale) == [0, 1]


def test_only_the_newest_event_of_a_batch_is_sent_and_the_older_ones_share_its_fate() -> None:
    [d] = dossiers(1)
    v2 = version(d, 2, DossierStatus.PROCESSING, step(60))
    v3 = version(v2, 3, DossierStatus.FINISHED, step(120, DossierStatus.FINISHED))
    plan = plan_dossier([(0, event(v3)), (1, event(d)), (2, event(v2))], None)
    assert plan.send is not None
    assert plan.send[0] == 0
    assert sorted(plan.superseded) == [1, 2]
    assert plan.stale == []
    assert plan.create
    assert plan.steps_from == 0


@pytest.mark.parametrize(
    ("before", "after"),
    [(2, 10), (4, 10), (5, 6), (6, 5), (1, 4), (9, 4)],
)
def test_a_status_change_the_table_does_not_list_is_forwarded_with_a_note(before: int, after: int) -> None:
    # Real one-stop systems do not enforce transitions (REFERENCE 3; issue 7).
    [d] = dossiers(1)
    old = version(d, 1, DossierStatus(before))
    new = version(d, 2, DossierStatus(after))
    plan = plan_dossier([(0, event(new))], synced(old))
    assert plan.send is not None
    assert plan.rejected == []
    assert any(f"{before} -> {after}" in note for note in plan.notes)


def test_with_strict_transitions_an_unlisted_status_change_is_rejected() -> None:
    [d] = dossiers(1)
    returned = version(d, 2, DossierStatus.RETURNED)  # 2 -> 10 skips processing and finishing
    plan = plan_dossier([(0, event(returned))], synced(d), strict_transitions=True)
    assert plan.send is None
    [(index, rejection)] = plan.rejected
    assert index == 0
    assert isinstance(rejection, BusinessRejection)
    assert rejection.code == "invalid_transition"


def test_a_newer_full_state_after_a_version_gap_is_sent_whatever_the_status_jump() -> None:
    # Versions 3 and 4 are still in the retry topic: 4 -> 10 across the gap is not a transition.
    [d] = dossiers(1)
    v2 = version(d, 2, DossierStatus.PROCESSING)
    v5 = version(v2, 5, DossierStatus.RETURNED)
    plan = plan_dossier([(0, event(v5))], synced(v2))
    assert plan.rejected == []
    assert plan.send is not None
    assert plan.send[0] == 0


def test_transitions_are_checked_version_by_version_through_the_batch() -> None:
    [d] = dossiers(1)
    v2 = version(d, 2, DossierStatus.PROCESSING)
    v3 = version(v2, 3, DossierStatus.FINISHED)
    v4 = version(v3, 4, DossierStatus.RETURNED)
    plan = plan_dossier([(0, event(v4)), (1, event(v2)), (2, event(v3))], synced(d))
    assert plan.send is not None
    assert plan.send[0] == 0
    assert not plan.rejected
    assert not plan.create


def test_with_strict_transitions_a_forbidden_version_is_skipped_and_a_later_allowed_one_is_sent() -> None:
    [d] = dossiers(1)
    bad = version(d, 2, DossierStatus.RETURNED)
    good = version(d, 3, DossierStatus.PROCESSING)
    plan = plan_dossier([(0, event(bad)), (1, event(good))], synced(d), strict_transitions=True)
    assert [i for i, _ in plan.rejected] == [0]
    assert plan.send is not None
    assert plan.send[0] == 1


def test_only_steps_after_the_ones_the_portal_holds_are_sent() -> None:
    [d] = dossiers(1)
    v2 = version(d, 2, DossierStatus.PROCESSING, step(60), step(90))
    plan = plan_dossier([(0, event(v2))], synced(d))
    assert plan.steps_from == len(d.steps)


def test_when_the_leading_steps_changed_every_step_is_sent_again() -> None:
    [d] = dossiers(1)
    v2 = version(d, 2, DossierStatus.PROCESSING, step(60))
    rewritten = v2.model_copy(update={"version": 3, "steps": (step(30), *v2.steps[1:])})
    plan = plan_dossier([(0, event(rewritten))], synced(v2))
    assert plan.steps_from == 0


# -- the client against the sandbox ---------------------------------------------------------------------


class FakeClock:
    """Seconds that move only when a test says so (shared by the client and the sandbox)."""

    def __init__(self) -> None:
        self.now = 1_750_000_000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Portal:
    state: DvcqgSandboxState
    client: DvcqgClient
    clock: FakeClock

    def calls(self, service: str) -> int:
        return self.state.stats.calls_by_service[service]


async def open_portal(config: DvcqgSandboxConfig | None = None, **settings: object) -> AsyncIterator[Portal]:
    clock = FakeClock()
    app = create_dvcqg_sandbox(config, clock=clock)
    client = DvcqgClient(DvcqgSettings(url="http://dvcqg.test", **settings), transport=httpx.ASGITransport(app=app),
                         clock=clock)  # fmt: skip
    try:
        yield Portal(sandbox_state(app), client, clock)
    finally:
        await client.close()


@pytest.fixture
async def portal() -> AsyncIterator[Portal]:
    async for opened in open_portal():
        yield opened


def items(ds: list[Dossier]) -> list[dict[str, object]]:
    return [dossier_to_dvcqg(d) for d in ds]


async def test_a_create_answered_exists_is_sent_again_as_an_update(portal: Portal) -> None:
    portal.state.set_duplicate(True)
    results = await portal.client.dong_bo(items(dossiers(5)), is_updating=False)
    assert all(isinstance(r, Sent) and r.is_updating for r in results)
    assert portal.calls("DongBoHoSoMC") == 2
    assert all(not rec.seeded and rec.writes == 1 for rec in portal.state.dossiers.values())


async def test_an_update_answered_missing_is_sent_again_as_a_create(portal: Portal) -> None:
    results = await portal.client.dong_bo(items(dossiers(3)), is_updating=True)
    assert all(isinstance(r, Sent) and r.is_updating is False for r in results)
    assert len(portal.state.dossiers) == 3


async def test_a_mixed_chunk_is_split_by_lookups_into_one_create_and_one_update(portal: Portal) -> None:
    ds = dossiers(6)
    await portal.client.dong_bo(items(ds[:2]), is_updating=False)
    results = await portal.client.dong_bo(items(ds), is_updating=False)
    assert [r.is_updating for r in results if isinstance(r, Sent)] == [True, True, False, False, False, False]
    assert portal.calls("TraCuuHoSo") == 6
    assert portal.calls("DongBoHoSoMC") == 1 + 2 + 2
    assert {code: rec.writes for code, rec in portal.state.dossiers.items()} == {
        d.code: 1 + (i < 2) for i, d in enumerate(ds)
    }


@pytest.mark.parametrize("message", ["Mã TTHC không tồn tại trong danh mục", "Thủ tục của hồ sơ không tồn tại"])
async def test_an_update_refused_for_something_else_missing_is_a_content_refusal(portal: Portal, message: str) -> None:
    [d] = dossiers(1)
    await portal.client.dong_bo(items([d]), is_updating=False)
    portal.state.reject_next(3, message=message, service="DongBoHoSoMC")
    [result] = await portal.client.dong_bo(items([version(d, 2, DossierStatus.PROCESSING)]), is_updating=True)
    assert isinstance(result, BusinessRejection)
    assert message in str(result)
    assert portal.state.dossier(d.code).writes == 1  # type: ignore[union-attr]


async def test_a_refused_item_is_isolated_and_the_rest_of_its_call_is_written(portal: Portal) -> None:
    ds = dossiers(8)
    # Not yet accepted: no NgayTiepNhan, which the portal requires.
    ds[5] = ds[5].model_copy(update={"status": DossierStatus.SUBMITTED, "received_at": None})
    results = await portal.client.dong_bo(items(ds), is_updating=False)
    assert [type(r).__name__ for r in results] == ["Sent"] * 5 + ["BusinessRejection"] + ["Sent"] * 2
    refused = results[5]
    assert isinstance(refused, BusinessRejection)
    assert refused.code == "-1"
    assert refused.peer == "dvcqg"
    assert "NgayTiepNhan" in str(refused)
    assert ds[5].code not in portal.state.dossiers


async def test_a_refusal_message_never_carries_an_id_number_in_clear(portal: Portal) -> None:
    portal.state.reject_next(1, message="Số định danh 038095001234 không khớp")
    [result] = await portal.client.dong_bo(items(dossiers(1)), is_updating=False)
    assert isinstance(result, BusinessRejection)
    assert "038095001234" not in str(result)
    assert "không khớp" in str(result)


async def test_a_call_meeting_an_expired_session_logs_in_again_and_succeeds(portal: Portal) -> None:
    await portal.client.dong_bo(items(dossiers(1)), is_updating=False)
    portal.state.expire_sessions()
    [result] = await portal.client.dong_bo(items(dossiers(2))[1:], is_updating=False)
    assert isinstance(result, Sent)
    assert portal.client.logins == 2


async def test_the_session_is_renewed_before_it_expires() -> None:
    async for portal in open_portal(DvcqgSandboxConfig(session_ttl_s=300), session_refresh_margin_s=60):
        await portal.client.tra_cuu(dossiers(1)[0].code)
        portal.clock.now += 241
        await portal.client.tra_cuu(dossiers(1)[0].code)
        assert portal.client.logins == 2
        assert portal.state.stats.replies_by_error_code[-2] == 0


async def test_steps_go_ten_per_call_in_order(portal: Portal) -> None:
    [d] = dossiers(1)
    many = version(d, 2, DossierStatus.PROCESSING, *(step(i) for i in range(1, 25)))
    await portal.client.dong_bo(items([many]), is_updating=False)
    results = await portal.client.cap_nhat_tien_do(steps_to_dvcqg(many))
    assert all(isinstance(r, Sent) for r in results)
    assert portal.calls("CapNhatTienDoHoSoMC") == 3
    assert portal.state.dossier(d.code).steps == steps_to_dvcqg(many)  # type: ignore[union-attr]


async def test_a_portal_answering_503_is_a_transient_failure(portal: Portal) -> None:
    portal.state.set_down(True)
    [result] = await portal.client.dong_bo(items(dossiers(1)), is_updating=False)
    assert isinstance(result, TransientError)
    assert result.peer == "dvcqg"


async def test_a_refused_request_http_4xx_is_a_permanent_failure() -> None:
    async for portal in open_portal(dstcode="VN:GOV:wrong"):
        [result] = await portal.client.dong_bo(items(dossiers(1)), is_updating=False)
        assert isinstance(result, PermanentError)
        assert result.code == "400"


async def test_a_connection_failure_is_a_transient_failure() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    client = DvcqgClient(DvcqgSettings(url="http://dvcqg.test"), transport=httpx.MockTransport(refuse))
    [result] = await client.dong_bo(items(dossiers(1)), is_updating=False)
    await client.close()
    assert isinstance(result, TransientError)
    assert result.code == "transport"


async def test_a_refused_login_says_which_settings_to_check() -> None:
    async for portal in open_portal(password="wrong"):
        [result] = await portal.client.dong_bo(items(dossiers(1)), is_updating=False)
        assert isinstance(result, TransientError)
        assert "LIENTHONG_DVCQG_USERNAME" in str(result)
        assert "wrong" not in str(result)


def test_a_version_older_than_a_pending_send_is_stale_and_the_pending_one_is_sent() -> None:
    [d] = dossiers(1)
    v2 = version(d, 2, DossierStatus.PROCESSING, step(60))
    v3 = version(v2, 3, DossierStatus.FINISHED, step(120, DossierStatus.FINISHED))
    pending = SyncState(d.version, int(d.status), len(d.steps), steps_progress(d.steps, None)[1], pending_version=3)
    assert plan_dossier([(0, event(v2))], pending).stale == [0]
    plan = plan_dossier([(0, event(v3))], pending)
    assert plan.send is not None and plan.send[0] == 0


def test_a_state_without_ngay_tiep_nhan_is_not_sent() -> None:
    [d] = dossiers(1)
    submitted = d.model_copy(update={"status": DossierStatus.SUBMITTED, "received_at": None})
    plan = plan_dossier([(0, event(submitted))], None)
    assert plan.send is None and plan.not_received == [0]
