"""The one-stop system of record for the demo and benchmarks: synthetic dossiers moved through
realistic lifecycles, each step a new version with a new processing step, emitted as webhook bodies
(`OnestopDossierEventIn` JSON) and posted to lienthong by `OnestopSimulator.drive()`.

Online dossiers start at status 1 (submitted, not accepted). By default the simulator emits a dossier
from status 2 on: its status-1 state stays in the system of record, the acceptance is its first event
(`dossier.created`), and a dossier refused or withdrawn before intake (1 -> 3, 1 -> 7) is never
emitted. `emit_submitted=True` emits those states too; lienthong does not push a state without
`NgayTiepNhan` to DVCQG (real systems push a dossier once it has one), so only dossiers emitted with it
are expected there (`emitted_codes`).

A late dossier (clock running) gets its apology letter before it finishes (phiếu xin lỗi và hẹn lại ngày
trả kết quả): one more event, same status, `NgayHenTra` moved to a new date and a supplement record with
`NgayHenTraTruoc`/`NgayHenTraMoi` (`lienthong.mappings.apology`). Due dates follow each procedure's time
limit on the official working calendar (certification: same day, or the next working day after 15:00).

The one-stop system's REST API that lienthong delivers to is simulated in
`lienthong.connectors.onestop.sandbox`.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cache
from typing import Any

import httpx
import orjson

from lienthong.calendar import WorkingCalendar
from lienthong.demo.workload import (
    FAMILY_NAMES,
    FEMALE_GIVEN,
    FEMALE_MIDDLE,
    MALE_GIVEN,
    MALE_MIDDLE,
    add_working_days,
    synthetic_dossier,
)
from lienthong.mappings.apology import APOLOGY_CONTENT, with_apology
from lienthong.mappings.onestop import canonical_to_onestop
from lienthong.mappings.wire import VN_TZ
from lienthong.schemas.dossier import (
    Dossier,
    DossierEvent,
    DossierEventKind,
    DossierStatus,
    ProcessingStep,
    ResultDocument,
    SupplementRequest,
)

# The REST API -----------------------------------------------------------------------------------


_S = DossierStatus
DEFAULT_START = datetime(2025, 7, 7, tzinfo=VN_TZ)
"""A Monday after the 2025 merger: the default first receipt day (fixed, so a seed reproduces times)."""
DEFAULT_AGENCIES: tuple[str, ...] = ("000.00.12.H52", "000.20.31.H52", "000.21.32.H52")
"""Receiving units of the synthetic dossiers: a provincial centre and two communes."""

_AT_COUNTER: tuple[tuple[tuple[int, ...], float], ...] = (
    ((2, 4, 9, 10), 0.46),
    ((2, 4, 4, 9, 10), 0.12),  # transferred between departments while processing
    ((2, 4, 5, 4, 9, 10), 0.12),  # supplement requested
    ((2, 4, 6, 4, 9, 10), 0.08),  # payment requested, then processing resumes
    ((2, 4, 6, 9, 10), 0.05),  # payment as the last step (land-use fees)
    ((2, 9, 10), 0.07),  # settled on the spot
    ((2, 4, 7), 0.04),  # withdrawn
    ((2, 4, 5, 7), 0.03),  # withdrawn instead of supplementing
    ((2, 4, 8), 0.03),  # processing stopped
)
_ONLINE: tuple[tuple[tuple[int, ...], float], ...] = (
    *(((1, *plan), weight * 0.9) for plan, weight in _AT_COUNTER),
    ((1, 3), 0.08),  # refused at intake
    ((1, 7), 0.02),  # withdrawn before intake
)


def _officer(rng: random.Random) -> str:
    """A fake official's name (the one-stop desk and the specialist departments)."""
    female = rng.random() < 0.5
    middle, given = (FEMALE_MIDDLE, FEMALE_GIVEN) if female else (MALE_MIDDLE, MALE_GIVEN)
    return f"{rng.choice(FAMILY_NAMES)} {rng.choice(middle)} {rng.choice(given)}"


_STEP_CONTENT: Mapping[int, str] = {
    1: "Nộp hồ sơ trực tuyến",
    2: "Tiếp nhận hồ sơ",
    3: "Từ chối tiếp nhận: hồ sơ không đủ thành phần",
    4: "Chuyển xử lý",
    5: "Yêu cầu bổ sung giấy tờ",
    6: "Yêu cầu thực hiện nghĩa vụ tài chính",
    7: "Công dân yêu cầu rút hồ sơ",
    8: "Dừng xử lý",
    9: "Đã xử lý xong, chờ trả kết quả",
    10: "Đã trả kết quả",
}


@dataclass(slots=True)
class _Track:
    """One dossier in the system of record and what is left of its lifecycle."""

    dossier: Dossier
    plan: list[int]
    """Statuses still to come; the first is the current one until announced."""
    accepted: Dossier | None
    """Online dossiers: the state at acceptance (receipt and due dates), applied on 1 -> 2."""
    late: bool
    clock: datetime
    officers: tuple[str, ...]
    announced: bool = False
    emitted: bool = False
    received_emitted: bool = False
    """A state with `NgayTiepNhan` was emitted: DVCQG should hold the dossier."""
    paused_at: datetime | None = None
    original_due: datetime | None = None
    """The due date before the apology letter, once there is one."""
    apologised: bool = False


@dataclass(slots=True)
class DriveReport:
    """What `OnestopSimulator.drive` sent and how lienthong answered."""

    sent: int = 0
    """Events answered by lienthong (any answer but a transport failure)."""
    accepted: int = 0
    """Answered 202 (published)."""
    duplicates: int = 0
    """Answered 200 duplicate."""
    refused: int = 0
    """Answered 4xx; `errors` keeps the first few answers."""
    failed: int = 0
    """Still failing (5xx or no connection) after every attempt."""
    seconds: float = 0.0
    """Wall time of the drive."""
    errors: list[str] = field(default_factory=list)
    """First answers of refused or failed events (at most 20)."""


@cache
def _calendar() -> WorkingCalendar:
    return WorkingCalendar()


class OnestopSimulator:
    """The one-stop system of record of `dossiers` synthetic dossiers, deterministic for a seed.

    Each emitted event is the full state after one step, with `version` one higher and one more
    processing step; statuses follow `can_transition`. Pauses (5, 6) move the due date back by the
    paused time and record the change as a supplement item (`NgayHenTraTruoc`/`NgayHenTraMoi`);
    `late_share` of the dossiers finish after their due date.
    """

    def __init__(
        self,
        dossiers: int = 100,
        *,
        seed: int = 0,
        start: datetime = DEFAULT_START,
        agency_codes: Sequence[str] = DEFAULT_AGENCIES,
        online_share: float = 0.35,
        late_share: float = 0.08,
        per_day: int = 400,
        emit_submitted: bool = False,
        run_id: str | None = None,
    ) -> None:
        """`dossiers` are received from `start` on, `per_day` per working day, at `agency_codes`.

        Event ids are `evt-<run_id>-<dossier code>-v<version>`; `run_id` defaults to `s<seed>`. Dossier
        codes depend on `start` and the order only, so two runs with the same `start` share codes: give
        a hub that kept state from an earlier run (idempotency store, DVCQG versions) a new `start`.
        """
        if dossiers < 0 or per_day < 1 or start.tzinfo is None:
            raise ValueError("dossiers >= 0, per_day >= 1 and an aware start are required")
        self.rng = random.Random(seed)  # noqa: S311 - synthetic data, reproducible by seed; not security
        self.emit_submitted = emit_submitted
        self.run_id = f"s{seed}" if run_id is None else run_id
        self._tracks: dict[str, _Track] = {}
        sequences: dict[tuple[str, int], int] = {}
        for i in range(dossiers):
            day = add_working_days(start, i // per_day)
            received = day.replace(hour=7, minute=30, second=0, microsecond=0) + timedelta(
                seconds=self.rng.randint(0, 9 * 3600)
            )
            agency = self.rng.choice(agency_codes)
            seq = sequences[(agency, i // per_day)] = sequences.get((agency, i // per_day), 0) + 1
            online = self.rng.random() < online_share
            track = self._new_track(received, agency, seq, online, late_share)
            self._tracks[track.dossier.code] = track
        self._active = list(self._tracks)

    def _new_track(self, received: datetime, agency: str, seq: int, online: bool, late_share: float) -> _Track:
        rng = self.rng
        channel = "online" if online else rng.choice(("counter",) * 9 + ("post",))
        d = synthetic_dossier(rng, agency_code=agency, received_at=received, seq=seq, channel=channel)
        plans = _ONLINE if online else _AT_COUNTER
        plan = list(rng.choices([p for p, _ in plans], weights=[w for _, w in plans])[0])
        officers = (d.steps[0].handler_name, _officer(rng), _officer(rng))
        if not online:
            return _Track(d, plan, None, rng.random() < late_share, received, officers)
        submitted = d.submitted_at or received
        initial = d.model_copy(update={"status": _S.SUBMITTED, "received_at": None, "due_at": None, "steps": ()})
        return _Track(initial, plan, d, rng.random() < late_share, submitted, officers)

    # Inspection -------------------------------------------------------------------------------------

    @property
    def codes(self) -> list[str]:
        """Every dossier code, in creation order."""
        return list(self._tracks)

    def latest(self, code: str) -> Dossier:
        """The system of record's current state of dossier `code` (after every event emitted so far)."""
        return self._tracks[code].dossier

    @property
    def emitted_codes(self) -> list[str]:
        """Codes of the dossiers emitted at least once with `NgayTiepNhan` (the ones DVCQG should hold
        after a drive: a state without it is not pushed)."""
        return [code for code, track in self._tracks.items() if track.received_emitted]

    def pending_events(self) -> int:
        """Events still to be emitted if the simulation runs to the end."""
        return sum(self._pending(track) for track in self._tracks.values())

    def _pending(self, track: _Track) -> int:
        # Before the announcement, plan[0] is the initial state: announcing it is an event too.
        accepted, count = track.dossier.received_at is not None, 0
        for status in track.plan:
            accepted = accepted or status == _S.ACCEPTED
            count += self.emit_submitted or accepted
        return count + self._will_apologise(track)

    @staticmethod
    def _will_apologise(track: _Track) -> bool:
        """A late dossier apologises when it is about to finish with its clock running (status 2 or 4)."""
        if not track.late or track.apologised or _S.FINISHED not in track.plan:
            return False
        i = track.plan.index(_S.FINISHED)
        before = track.plan[i - 1] if i > 0 else track.dossier.status
        if i == 0 and not track.announced:
            return False
        return before in (_S.ACCEPTED, _S.PROCESSING)

    # Generation -------------------------------------------------------------------------------------

    def events(self) -> Iterator[dict[str, Any]]:
        """Webhook bodies (`OnestopDossierEventIn` JSON) until every lifecycle ends.

        Dossiers interleave at random (seeded); one dossier's events come in version order.
        """
        while self._active:
            i = self.rng.randrange(len(self._active))
            track = self._tracks[self._active[i]]
            event = self._step(track)
            if not track.plan:
                self._active[i] = self._active[-1]
                self._active.pop()
            if event is not None:
                track.emitted = True
                track.received_emitted = track.received_emitted or event.dossier.received_at is not None
                yield canonical_to_onestop(event)

    def _step(self, track: _Track) -> DossierEvent | None:
        """Advance one step; the event to emit, or None for a state that is not emitted."""
        d = track.dossier
        if not track.announced:
            track.announced = True
            track.plan.pop(0)
            return self._event(track, DossierEventKind.CREATED) if self._emits(d) else None
        if track.plan[0] == _S.FINISHED and self._will_apologise(track) and d.due_at is not None:
            return self._apologise(track, d.due_at)
        new = _S(track.plan.pop(0))
        at = self._when(track, new)
        changes = self._changes(track, new, at)
        step = ProcessingStep(
            handler_name=track.officers[d.version % len(track.officers)],
            title="Chuyên viên" if new in (_S.PROCESSING, _S.FINISHED) else "Công chức Bộ phận Một cửa",
            processed_at=at,
            status=new,
            department="Bộ phận Tiếp nhận và Trả kết quả" if new in (_S.ACCEPTED, _S.RETURNED) else "Phòng chuyên môn",
            content=_STEP_CONTENT[new],
            started_at=track.clock,
        )
        base = track.accepted if new is _S.ACCEPTED and track.accepted is not None else d
        steps = base.steps if base is not d else (*d.steps, step)
        track.dossier = base.model_copy(update={**changes, "status": new, "version": d.version + 1, "steps": steps})
        track.clock = at
        if not self._emits(track.dossier):
            return None
        first = not track.emitted
        kind = DossierEventKind.STATUS_CHANGED if new != d.status else DossierEventKind.STEP_ADDED
        return self._event(track, DossierEventKind.CREATED if first else kind)

    def _apologise(self, track: _Track, due: datetime) -> DossierEvent | None:
        """The apology letter: issued shortly before the missed date, with a new date 5 working days later."""
        d = track.dossier
        at = max(track.clock + timedelta(minutes=10), due - timedelta(hours=2))
        new_due = _calendar().due_moment(due, days=5)
        step = ProcessingStep(
            handler_name=track.officers[0], title="Công chức Bộ phận Một cửa", processed_at=at, status=d.status,
            department="Bộ phận Tiếp nhận và Trả kết quả", content=APOLOGY_CONTENT, started_at=track.clock,
        )  # fmt: skip
        apologised = with_apology(d, new_due_at=new_due, issued_at=at, issued_by=track.officers[0])
        track.dossier = apologised.model_copy(update={"version": d.version + 1, "steps": (*d.steps, step)})
        track.original_due, track.apologised, track.clock = due, True, at
        if not self._emits(track.dossier):
            return None
        return self._event(track, DossierEventKind.STEP_ADDED if track.emitted else DossierEventKind.CREATED)

    def _emits(self, d: Dossier) -> bool:
        # DVCQG requires NgayTiepNhan: by default a dossier is emitted only once accepted.
        return self.emit_submitted or d.received_at is not None

    def _event(self, track: _Track, kind: DossierEventKind) -> DossierEvent:
        d = track.dossier
        return DossierEvent(
            event_id=f"evt-{self.run_id}-{d.code}-v{d.version:04d}",
            kind=kind,
            occurred_at=track.clock,
            source="onestop",
            dossier=d,
        )

    def _later(self, at: datetime, low_s: int, high_s: int) -> datetime:
        return at + timedelta(seconds=self.rng.randint(low_s, high_s))

    def _when(self, track: _Track, new: DossierStatus) -> datetime:
        """The time of the step into `new`: inside the time left before the due date, or after it
        for a late dossier's finish; pauses last one to five days."""
        d, now, hour = track.dossier, track.clock, 3600
        if new is _S.ACCEPTED and track.accepted is not None:
            return track.accepted.received_at or self._later(now, hour, 6 * hour)
        if d.status in (_S.SUPPLEMENT_REQUESTED, _S.PAYMENT_REQUESTED):
            return self._later(now, 24 * hour, 5 * 24 * hour)
        left = (d.due_at - now).total_seconds() if d.due_at is not None else 0
        if new is _S.FINISHED and d.due_at is not None:
            if track.late or left < 2 * hour:
                # Late against the date before any apology (the new date is the agency's promise).
                return self._later(max(now, track.original_due or d.due_at), 2 * hour, 3 * 24 * hour)
            return self._later(now, hour, int(left * 0.9))
        if new in (_S.RETURNED, _S.REFUSED, _S.WITHDRAWN, _S.STOPPED) or left < 4 * hour:
            return self._later(now, 10 * 60, 2 * 24 * hour if new is _S.RETURNED else 4 * hour)
        return self._later(now, 10 * 60, int(left * 0.25))

    def _changes(self, track: _Track, new: DossierStatus, at: datetime) -> dict[str, Any]:
        """The dossier fields a step into `new` changes, besides status, version and steps."""
        d = track.dossier
        changes: dict[str, Any] = {}
        if d.status in (_S.SUPPLEMENT_REQUESTED, _S.PAYMENT_REQUESTED) and new in (_S.PROCESSING, _S.FINISHED):
            changes = self._resumed(track, at)
        if new is _S.REFUSED:
            changes["refused_at"] = at
        elif new is _S.FINISHED:
            result = ResultDocument(
                name=f"Kết quả: {d.procedure_name}",
                document_id=f"KQ-{d.code}",
                url=f"https://motcua.example.gov.vn/ket-qua/{d.code}",
            )
            changes |= {"finished_at": at, "results": (result,)}
        elif new is _S.RETURNED:
            changes["returned_at"] = at
        elif new in (_S.SUPPLEMENT_REQUESTED, _S.PAYMENT_REQUESTED):
            track.paused_at = at
            if new is _S.SUPPLEMENT_REQUESTED:
                request = SupplementRequest(
                    id=f"BS-{d.code}-{len(d.supplements) + 1}",
                    content="Bổ sung bản sao giấy tờ chứng minh còn thiếu",
                    requested_at=at,
                    requested_by=track.officers[0],
                )
                changes["supplements"] = (*d.supplements, request)
        return changes

    def _resumed(self, track: _Track, at: datetime) -> dict[str, Any]:
        """The due date moved back by the pause, reported as a supplement item (REFERENCE 3)."""
        d, paused_at = track.dossier, track.paused_at
        if paused_at is None or d.due_at is None:
            return {}
        track.paused_at = None
        new_due = d.due_at + (at - paused_at)
        supplements = list(d.supplements)
        if d.status is _S.SUPPLEMENT_REQUESTED and supplements:
            supplements[-1] = supplements[-1].model_copy(
                update={"fulfilled": True, "previous_due_at": d.due_at, "new_due_at": new_due}
            )
        else:
            supplements.append(
                SupplementRequest(
                    id=f"BS-{d.code}-{len(supplements) + 1}",
                    content="Tạm dừng chờ thực hiện nghĩa vụ tài chính; điều chỉnh ngày hẹn trả",
                    requested_at=paused_at,
                    fulfilled=True,
                    previous_due_at=d.due_at,
                    new_due_at=new_due,
                )
            )
        return {"due_at": new_due, "supplements": tuple(supplements)}

    # Driving lienthong --------------------------------------------------------------------------------

    async def drive(
        self,
        webhook_url: str,
        client: httpx.AsyncClient,
        *,
        events: int | None = None,
        concurrency: int = 16,
        on_progress: Callable[[DriveReport], None] | None = None,
        attempts: int = 5,
    ) -> DriveReport:
        """POST the next `events` events (all when None) to lienthong's webhook and report.

        `concurrency` lanes post in parallel; a dossier always uses the same lane, so its events
        arrive in version order. A 5xx, 429 or connection failure is retried (`attempts` in all,
        backing off), as the real system's outbox would. Authentication and other headers come from
        `client` (e.g. `httpx.AsyncClient(headers={"Authorization": "Bearer ..."})`).
        """
        report = DriveReport()
        began = time.monotonic()
        lanes: list[asyncio.Queue[bytes | None]] = [asyncio.Queue(maxsize=64) for _ in range(max(1, concurrency))]
        lane_of = {code: i % len(lanes) for i, code in enumerate(self._tracks)}

        async def lane(queue: asyncio.Queue[bytes | None]) -> None:
            while (body := await queue.get()) is not None:
                await self._post(webhook_url, client, body, report, attempts)
                if on_progress is not None:
                    on_progress(report)

        workers = [asyncio.create_task(lane(q)) for q in lanes]
        try:
            for n, body in enumerate(self.events(), start=1):
                await lanes[lane_of[body["dossier"]["MaHoSo"]]].put(orjson.dumps(body))
                if events is not None and n >= events:
                    break
            for q in lanes:
                await q.put(None)
            await asyncio.gather(*workers)
        finally:
            for task in workers:
                task.cancel()
        report.seconds = time.monotonic() - began
        return report

    @staticmethod
    async def _post(url: str, client: httpx.AsyncClient, body: bytes, report: DriveReport, attempts: int) -> None:
        answer = ""
        for attempt in range(max(1, attempts)):
            if attempt:
                await asyncio.sleep(min(2.0, 0.1 * 2**attempt))
            try:
                r = await client.post(url, content=body, headers={"Content-Type": "application/json"})
            except httpx.TransportError as exc:
                answer = type(exc).__name__
                continue
            if r.status_code >= 500 or r.status_code == 429:
                answer = f"HTTP {r.status_code}"
                continue
            report.sent += 1
            if r.status_code == 202:
                report.accepted += 1
            elif r.is_success:
                report.duplicates += 1
            else:
                report.refused += 1
                if len(report.errors) < 20:
                    report.errors.append(f"HTTP {r.status_code}: {r.text[:300]}")
            return
        report.failed += 1
        if len(report.errors) < 20:
            report.errors.append(answer)
