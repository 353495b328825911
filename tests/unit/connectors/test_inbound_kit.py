"""The inbound kit's pure parts: wire paths, JSON sanity, the duplicate guard."""

from __future__ import annotations

import asyncio

import pytest
from pydantic import SecretStr

from lienthong.connectors.inbound import (
    DuplicateGuard,
    FieldIssue,
    InboundRefusal,
    _sanitise,
    bearer_auth,
    wire_path,
)


@pytest.mark.parametrize(
    ("loc", "expected"),
    [
        (("body", "data", 0, "MaHoSo"), "data[0].MaHoSo"),
        (("body", "dossier", "DinhDanhCHS", 2, "SoDinhDanh"), "dossier.DinhDanhCHS[2].SoDinhDanh"),
        (("body",), "<body>"),
        ((), "<body>"),
        (("version",), "version"),
    ],
)
def test_wire_path_names_the_callers_field(loc, expected) -> None:
    assert wire_path(loc) == expected


def test_sanitise_flags_integers_outside_int64_with_their_path() -> None:
    issues: list[FieldIssue] = []
    _sanitise({"a": [1, 2**63], "b": -(2**63), "c": -(2**63) - 1, "d": True}, (), issues)
    assert [(i.loc, i.type) for i in issues] == [("a[1]", "int_out_of_range"), ("c", "int_out_of_range")]


def test_sanitise_normalises_keys_and_values_to_nfc() -> None:
    decomposed = "Nguye\u0302\u0303n"  # "Nguyễn" with combining marks
    out = _sanitise({decomposed: [decomposed]}, (), [])
    assert out == {"Nguy\u1ec5n": ["Nguy\u1ec5n"]}


def test_bearer_check_accepts_only_the_exact_token() -> None:
    auth = bearer_auth(lambda: SecretStr("t0ken"), scheme_name="x", description="x")
    auth.verify("Bearer t0ken")
    auth.verify("bearer t0ken")
    for header in ("", "Bearer", "Bearer t0ke", "Bearer t0kenX", "Basic t0ken", "t0ken"):
        with pytest.raises(InboundRefusal) as refused:
            auth.verify(header)
        assert refused.value.status == 401
        assert refused.value.headers == {"WWW-Authenticate": "Bearer"}


def test_bearer_check_is_off_without_a_token() -> None:
    bearer_auth(lambda: SecretStr(""), scheme_name="x", description="x").verify("")


async def test_duplicate_guard_runs_the_publication_once_for_concurrent_copies() -> None:
    guard: DuplicateGuard[str] = DuplicateGuard()
    calls = 0
    entered, release = asyncio.Event(), asyncio.Event()

    async def publish() -> str:
        nonlocal calls
        calls += 1
        entered.set()
        await release.wait()
        return "ce-1"

    tasks = [asyncio.create_task(guard.once("k", publish)) for _ in range(50)]
    # The first copy is inside the publication; the 49 others, scheduled before this test resumes, are
    # waiting on it: none can see a finished publication.
    await asyncio.wait_for(entered.wait(), timeout=5)
    assert not any(t.done() for t in tasks)
    release.set()
    results = await asyncio.gather(*tasks)
    assert calls == 1
    assert sorted(d for _, d in results) == [False] + [True] * 49
    assert {r for r, _ in results} == {"ce-1"}


async def test_duplicate_guard_releases_the_key_when_publication_fails() -> None:
    guard: DuplicateGuard[str] = DuplicateGuard()

    async def fail() -> str:
        raise RuntimeError("bus down")

    async def succeed() -> str:
        return "ce-2"

    with pytest.raises(RuntimeError):
        await guard.once("k", fail)
    assert await guard.once("k", succeed) == ("ce-2", False)
    assert await guard.once("k", succeed) == ("ce-2", True)


async def test_duplicate_guard_forgets_the_oldest_beyond_capacity() -> None:
    guard: DuplicateGuard[int] = DuplicateGuard(capacity=2)

    async def value() -> int:
        return 1

    for key in ("a", "b", "c"):
        await guard.once(key, value)
    assert (await guard.once("a", value))[1] is False
    assert (await guard.once("c", value))[1] is True
