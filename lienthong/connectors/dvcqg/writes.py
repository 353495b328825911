"""DVCQG writes with their fallbacks: the exists/missing flip, the look-up split and the bisection planner.

The portal refuses a whole `DongBoHoSoMC` call when one item breaks its rule, so writes work per chunk:

1. a create (`isUpdating "False"`) answered `error_code` in `exists_error_codes` with "đã tồn tại"
   is sent again whole as an update; an update answered "không tồn tại" beside "hồ sơ" is sent again
   whole as a create. This settles the common cases in two calls: every item exists (a lost sync
   state, or a crash between the portal's answer and the state's write), or none does (a portal reset);
2. when the other direction is refused too, the chunk is mixed: `TraCuuHoSo` for each item (in
   parallel, within `concurrency`) splits it, then one create and one update, with no further
   flipping. N+2 extra calls for an N-item chunk: bounded, and independent of whether the portal's
   message names the offending dossier. An update of a dossier the look-up found, still answered
   "không tồn tại", refers to something else (a code in the item): a content refusal;
3. a content refusal (`error_code -1`, any other code) of a multi-item call is bisected until the
   refused items stand alone; they alone become `BusinessRejection`s, the others are written.

Steps (`CapNhatTienDoHoSoMC`) go 10 per call, one call after another so the portal receives them in
order; a refused step is isolated the same way. Transport and session are `DvcqgClient`'s.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from lienthong.connectors.dvcqg.client import PEER, DossierExists, DossierMissing, DvcqgClient, ItemResult
from lienthong.errors import BusinessRejection, LienthongError, TransientError
from lienthong.logging import get_logger
from lienthong.mappings.dvcqg import SERVICE_SYNC_DOSSIER, SERVICE_UPDATE_PROGRESS, STEPS_PER_CALL, chunk

__all__ = ["cap_nhat_tien_do", "dong_bo"]

log = get_logger("lienthong.dvcqg")


async def dong_bo(client: DvcqgClient, items: Sequence[dict[str, Any]], *, is_updating: bool) -> list[ItemResult]:
    """`DongBoHoSoMC`: create (`is_updating=False`) or update dossier items, `max_items_per_call` per call,
    chunks in parallel; one result per item, in order (fallbacks in the module docstring)."""
    writer = _Writer(client)
    results: list[ItemResult | None] = [None] * len(items)
    await asyncio.gather(*(
        writer._sync(items, idx, is_updating, results)
        for idx in chunk(range(len(items)), client.settings.max_items_per_call)
    ))  # fmt: skip
    return _complete(results)


async def cap_nhat_tien_do(client: DvcqgClient, steps: Sequence[dict[str, Any]]) -> list[ItemResult]:
    """`CapNhatTienDoHoSoMC`: add steps, `STEPS_PER_CALL` per call, chunks one after another so the portal
    receives them in order. After a transient failure the remaining steps are not sent (they get the same
    error); a refused step is isolated by bisection and the others are still sent."""
    writer = _Writer(client)
    results: list[ItemResult | None] = [None] * len(steps)
    failed: LienthongError | None = None
    for idx in chunk(range(len(steps)), STEPS_PER_CALL):
        if failed is not None:
            for i in idx:
                results[i] = failed
            continue
        await writer._steps(steps, idx, results)
        failed = next((r for i in idx if isinstance(r := results[i], LienthongError)
                       and not isinstance(r, BusinessRejection)), None)  # fmt: skip
    return _complete(results)


class _Writer:
    """The recursive planner over one client (no state beside it)."""

    def __init__(self, client: DvcqgClient) -> None:
        self.client = client

    async def _sync(
        self, items: Sequence[dict[str, Any]], idx: list[int], updating: bool, results: list[ItemResult | None],
        *, fallback: bool = True,
    ) -> None:  # fmt: skip
        try:
            sent = await self.client.write(SERVICE_SYNC_DOSSIER, [items[i] for i in idx], updating)
        except (DossierExists, DossierMissing) as exc:
            if fallback:
                await self._flipped(items, idx, not updating, results)
            elif isinstance(exc, DossierMissing):
                # The look-up found these dossiers: "không tồn tại" names something else they refer to.
                await self._bisect(items, idx, updating, results, _rejection(exc), fallback=False)
            else:
                _settle(results, idx, _unsettled(exc))
            return
        except BusinessRejection as exc:
            await self._bisect(items, idx, updating, results, exc, fallback=fallback)
            return
        except LienthongError as exc:
            _settle(results, idx, exc)
            return
        _settle(results, idx, sent)

    async def _flipped(
        self, items: Sequence[dict[str, Any]], idx: list[int], updating: bool, results: list[ItemResult | None]
    ) -> None:
        """The chunk sent the other way round; refused that way too, look each item up."""
        log.info("dvcqg: retrying chunk the other way", items=len(idx), is_updating=updating)
        try:
            sent = await self.client.write(SERVICE_SYNC_DOSSIER, [items[i] for i in idx], updating)
        except (DossierExists, DossierMissing):
            await self._split_by_lookup(items, idx, results)
            return
        except BusinessRejection as exc:
            await self._bisect(items, idx, updating, results, exc, fallback=True)
            return
        except LienthongError as exc:
            _settle(results, idx, exc)
            return
        _settle(results, idx, sent)

    async def _split_by_lookup(
        self, items: Sequence[dict[str, Any]], idx: list[int], results: list[ItemResult | None]
    ) -> None:
        log.info("dvcqg: refused both ways, looking each dossier up", items=len(idx))
        found = await asyncio.gather(*(self.client.tra_cuu(items[i]["MaHoSo"]) for i in idx), return_exceptions=True)
        existing: list[int] = []
        missing: list[int] = []
        for i, answer in zip(idx, found, strict=True):
            if isinstance(answer, LienthongError):
                results[i] = answer
            elif isinstance(answer, BaseException):
                raise answer
            else:
                (missing if answer is None else existing).append(i)
        await asyncio.gather(*(
            self._sync(items, part, updating, results, fallback=False)
            for part, updating in ((missing, False), (existing, True)) if part
        ))  # fmt: skip

    async def _bisect(
        self, items: Sequence[dict[str, Any]], idx: list[int], updating: bool, results: list[ItemResult | None],
        exc: BusinessRejection, *, fallback: bool,
    ) -> None:  # fmt: skip
        if len(idx) == 1:
            results[idx[0]] = exc
            return
        half = len(idx) // 2
        await asyncio.gather(
            self._sync(items, idx[:half], updating, results, fallback=fallback),
            self._sync(items, idx[half:], updating, results, fallback=fallback),
        )

    async def _steps(self, steps: Sequence[dict[str, Any]], idx: list[int], results: list[ItemResult | None]) -> None:
        try:
            sent = await self.client.write(SERVICE_UPDATE_PROGRESS, [steps[i] for i in idx], None)
        except (BusinessRejection, DossierMissing) as exc:
            if len(idx) == 1:
                # A step of a dossier the portal lacks: the retry writes the dossier again first.
                results[idx[0]] = _unsettled(exc) if isinstance(exc, DossierMissing) else exc
                return
            half = len(idx) // 2
            await self._steps(steps, idx[:half], results)  # one after the other: steps keep their order
            await self._steps(steps, idx[half:], results)
            return
        except LienthongError as exc:
            _settle(results, idx, exc)
            return
        _settle(results, idx, sent)


def _rejection(exc: LienthongError) -> BusinessRejection:
    return BusinessRejection(str(exc), peer=PEER, code=exc.code)


def _unsettled(exc: LienthongError) -> TransientError:
    """An exists/missing answer the fallback could not resolve (the portal changed in between)."""
    return TransientError(f"{exc} (after the exists/update fallback; will try again)", peer=PEER, code=exc.code)


def _settle(results: list[ItemResult | None], idx: list[int], result: ItemResult) -> None:
    for i in idx:
        results[i] = result


def _complete(results: list[ItemResult | None]) -> list[ItemResult]:
    done = [r for r in results if r is not None]
    if len(done) != len(results):
        raise AssertionError("DVCQG client left an item without a result")
    return done
