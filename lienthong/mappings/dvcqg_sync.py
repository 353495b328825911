"""Planning the DVCQG sync of one dossier's events in a batch (pure: no I/O).

Rules (REFERENCE section 3 and what real one-stop systems do):

- an event not newer than the version DVCQG holds is `stale`;
- an event older than a version whose send is still unresolved (`pending_version`: a timeout after the
  request left, so DVCQG may apply it later) is `stale` too: sending it could let an older version land
  after the newer one. The pending version's retry re-sends its full state, which wins;
- a dossier without `NgayTiepNhan` (status 1, or 3 refused before reception) is not sent
  (`not_received`): DVCQG requires the date, and real systems push a dossier once it has it;
- of the rest, the newest version is sent; older ones of the same batch are `superseded` and share its
  fate: done once it succeeds, sent round the retry path with it when it fails (never marked done while
  the newest could still be lost);
- a status change the reference table does not list (2->10, 4->10, 5<->6, 1->4, 9->4: real systems do
  not enforce transitions, some rewrite 5/6/8 as 9) is forwarded with a warning note for the audit, or
  refused when `strict_transitions` is set. Only consecutive versions are judged: across a gap the
  newer full state is the truth.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field

from lienthong.errors import BusinessRejection
from lienthong.mappings.records import SUMMARY_CUT, SUMMARY_MAX
from lienthong.schemas.dossier import Dossier, DossierEvent, ProcessingStep, can_transition

__all__ = ["DossierPlan", "SyncState", "plan_dossier", "steps_progress", "sync_notes"]

PEER = "dvcqg"


@dataclass(frozen=True, slots=True)
class SyncState:
    """What the portal holds of one dossier, as far as lienthong knows."""

    version: int
    """Version of the last full state the portal accepted (dossier and its steps); -1 when none was
    confirmed yet (the row only records a pending send)."""
    status: int
    """`TrangThaiHoSo` of that version."""
    steps_synced: int
    """How many leading steps of that version the portal holds."""
    steps_key: str
    """Fingerprint of those steps' identities (see `steps_progress`)."""
    pending_version: int | None = None
    """A higher version whose send may have reached the portal without an answer (ambiguous timeout);
    older versions are not sent while it is set."""

    @property
    def confirmed(self) -> bool:
        """The portal confirmed at least one version of this dossier."""
        return self.version >= 0


def _step_identity(step: ProcessingStep) -> bytes:
    return f"{step.processed_at.isoformat()}\x1f{int(step.status)}\x1f{step.handler_name}\x1e".encode()


def steps_progress(steps: Sequence[ProcessingStep], stored: SyncState | None) -> tuple[int, str]:
    """(index of the first step the portal lacks, fingerprint of all `steps`).

    The stored leading steps count only while their fingerprint still matches; otherwise every step
    is sent again from index 0.
    """
    h = hashlib.sha256()
    start = 0
    for n, step in enumerate(steps):
        if stored is not None and n == stored.steps_synced and h.hexdigest() == stored.steps_key:
            start = n
        h.update(_step_identity(step))
    key = h.hexdigest()
    if stored is not None and stored.steps_synced == len(steps) and key == stored.steps_key:
        start = len(steps)
    return start, key


@dataclass(slots=True)
class DossierPlan:
    """What to do with one dossier's events in a batch."""

    send: tuple[int, DossierEvent] | None = None
    """(batch index, event) of the version to write, or None."""
    create: bool = False
    """True when the portal never confirmed the dossier (`isUpdating "False"` first)."""
    steps_from: int = 0
    """Index of the first step to send."""
    steps_key: str = ""
    """Fingerprint of all the sent version's steps (stored on success)."""
    stale: list[int] = field(default_factory=list)
    """Batch indexes settled as `skipped_stale` (not newer than the stored or pending version)."""
    superseded: list[int] = field(default_factory=list)
    """Batch indexes of older versions of the same batch: they share the sent version's fate."""
    not_received: list[int] = field(default_factory=list)
    """Batch indexes of states without `NgayTiepNhan`, not sent."""
    rejected: list[tuple[int, BusinessRejection]] = field(default_factory=list)
    """Batch indexes refused for an unlisted status transition (only with `strict_transitions`)."""
    notes: list[str] = field(default_factory=list)
    """Warnings about the sent version for the audit (unlisted transitions, a cut summary)."""


def plan_dossier(
    events: Sequence[tuple[int, DossierEvent]], stored: SyncState | None, *, strict_transitions: bool = False
) -> DossierPlan:
    """Plan one dossier's events (batch index, event) against its stored state; rules in the module docstring."""
    plan = DossierPlan()
    confirmed = stored is not None and stored.confirmed
    version = stored.version if stored is not None else -1
    status = stored.status if stored is not None and confirmed else None
    pending = stored.pending_version if stored is not None else None
    for index, event in sorted(events, key=lambda pair: (pair[1].dossier.version, pair[0])):
        dossier = event.dossier
        if dossier.version <= version or (pending is not None and dossier.version < pending):
            plan.stale.append(index)
            continue
        if dossier.received_at is None:
            plan.not_received.append(index)
            continue
        consecutive = dossier.version == version + 1
        if status is not None and consecutive and not can_transition(status, dossier.status):
            said = (
                f"status {status} -> {int(dossier.status)} is not a listed transition "
                f"(version {dossier.version}, last synced version {version})"
            )
            if strict_transitions:
                plan.rejected.append((index, BusinessRejection(said, peer=PEER, code="invalid_transition")))
                continue
            plan.notes.append(f"{said}; forwarded as real systems do")
        if plan.send is not None:
            plan.superseded.append(plan.send[0])
        plan.send = (index, event)
        version, status = dossier.version, int(dossier.status)
    if plan.send is not None:
        plan.create = not confirmed
        plan.steps_from, plan.steps_key = steps_progress(plan.send[1].dossier.steps, stored)
        plan.notes.extend(sync_notes(plan.send[1].dossier))
    return plan


def sync_notes(d: Dossier) -> list[str]:
    """Warnings about what the DVCQG copy of `d` changes (no personal data): a summary cut to 995 + "..."."""
    notes = []
    if d.summary is not None and len(d.summary) > SUMMARY_MAX:
        notes.append(f"TrichYeuHoSo of {len(d.summary)} characters cut to {SUMMARY_CUT} + '...' for DVCQG")
    return notes
