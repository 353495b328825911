"""Chain verification: walks the records once and names the first broken one."""

from __future__ import annotations

from dataclasses import dataclass

from lienthong.audit.record import GENESIS
from lienthong.audit.store import AuditStore


@dataclass(frozen=True)
class VerifyResult:
    """Outcome of a verification."""

    ok: bool
    """True when every record links and hashes correctly and no anchored record is missing."""
    records: int
    """Records checked."""
    first_broken_seq: int | None = None
    """Sequence number of the first record that fails (or the first missing one)."""
    reason: str = ""
    """What is wrong there, in words an operator can act on."""
    head: str = ""
    """`SEQ:HASH` of the last verified record: keep it outside the store and pass it back as
    `--expect-head` to detect a tail cut off together with its anchors."""


async def verify_chain(store: AuditStore, *, expect_head: tuple[int, str] | None = None) -> VerifyResult:
    """Verify the whole chain; `expect_head` is an externally kept (seq, hash) the chain must reach."""
    anchors = dict(await store.anchors())
    if expect_head is not None:
        anchors[expect_head[0]] = expect_head[1]
    prev_hash, expected_seq, n = GENESIS, 1, 0
    async for rec in store.records():
        if rec.seq != expected_seq:
            what = "missing" if rec.seq > expected_seq else "out of order or duplicated"
            return VerifyResult(False, n, expected_seq, f"record {expected_seq} is {what} (found {rec.seq})")
        if rec.prev_hash != prev_hash:
            return VerifyResult(False, n, rec.seq, "prev_hash does not match the previous record's hash")
        if rec.expected_hash() != rec.hash:
            return VerifyResult(False, n, rec.seq, "content does not match its hash (record altered)")
        anchored = anchors.get(rec.seq)
        if anchored is not None and anchored != rec.hash:
            return VerifyResult(False, n, rec.seq, "hash differs from the anchor committed with it")
        prev_hash = rec.hash
        expected_seq += 1
        n += 1
    beyond = [seq for seq in anchors if seq >= expected_seq]
    if beyond:
        return VerifyResult(
            False, n, expected_seq,
            f"record {expected_seq} is missing: the chain ends at {expected_seq - 1} but an anchor "
            f"says it reached {max(beyond)} (tail cut off)",
        )  # fmt: skip
    return VerifyResult(True, n, head=f"{expected_seq - 1}:{prev_hash}")
