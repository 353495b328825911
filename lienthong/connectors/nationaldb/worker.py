"""Flow `lookups`: `lookup.requests` -> the same `LookupService` as the desk route -> `lookup.results`.

A request record's value is a `LookupRequest` (JSON); its result goes to `lookup.results` keyed by
`request_id`, with a `ce_id` derived from the request's (a redelivered request re-publishes the same
event, which consumers drop) and the request's correlation id. A refusal (no purpose, not allowed,
rate limit, bad query) is a `refused` result, not a dead letter; an unreadable request is dead-lettered;
an unreachable register goes round the retry topic.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from pydantic import ValidationError

from lienthong.audit.writer import AuditWriter
from lienthong.bus.envelope import derived_id
from lienthong.bus.producer import Outbound
from lienthong.bus.worker import BatchResult, Flow, Inbound, Outcome
from lienthong.connectors.base import Close
from lienthong.connectors.nationaldb.client import NationalDbClient
from lienthong.connectors.nationaldb.policy import FieldPolicy, LookupRefused, OfficerRateLimit, hash_key
from lienthong.connectors.nationaldb.service import LookupService
from lienthong.connectors.nationaldb.settings import LookupSettings
from lienthong.errors import LienthongError, PermanentError
from lienthong.schemas.lookup import RESULT_EVENT_TYPE, LookupRequest, LookupResult, LookupStatus
from lienthong.settings import Settings

FLOW = "lookups"
REQUESTS_TOPIC = "lookup.requests"
RESULTS_TOPIC = "lookup.results"
CONCURRENCY = 16


class LookupHandler:
    """Batch handler: each request through the service, up to `CONCURRENCY` at once."""

    def __init__(self, service: LookupService, *, results_topic: str = RESULTS_TOPIC) -> None:
        self.service = service
        self.results_topic = results_topic
        self._sem = asyncio.Semaphore(CONCURRENCY)

    async def _one(self, msg: Inbound) -> BatchResult:
        try:
            req = LookupRequest.model_validate_json(msg.value)
        except ValidationError as exc:
            return PermanentError(f"not a lookup request: {exc.error_count()} error(s)")
        async with self._sem:
            try:
                result = await self.service.lookup(req)
            except LookupRefused as exc:
                result = LookupResult(request_id=req.request_id, database=req.database,
                                      status=LookupStatus.REFUSED, reason=exc.reason)  # fmt: skip
            except LienthongError as exc:
                return exc
        env = msg.envelope.caused(
            type=RESULT_EVENT_TYPE, source="/lienthong/lookups", subject=msg.envelope.subject,
            id=derived_id(msg.envelope.id, "lookup-result"),
        )  # fmt: skip
        out = Outbound(self.results_topic, result.model_dump_json().encode(), req.request_id.encode(),
                       env.to_headers())  # fmt: skip
        return Outcome(publish=[out], result=result.status.value)

    async def __call__(self, batch: Sequence[Inbound]) -> Sequence[BatchResult]:
        return await asyncio.gather(*(self._one(m) for m in batch))


async def build_lookup_flow(
    settings: Settings, audit: AuditWriter, *, lookup_settings: LookupSettings | None = None,
    topic: str = REQUESTS_TOPIC, results_topic: str = RESULTS_TOPIC,
) -> tuple[Flow, Close]:  # fmt: skip
    """The flow and its closer (the client)."""
    s = lookup_settings or LookupSettings()
    client = NationalDbClient(s)
    service = LookupService(
        client, audit, fields=FieldPolicy.load(s.fields_file), rate=OfficerRateLimit(s.rate_per_minute),
        key=hash_key(s.hash_key.get_secret_value(), settings.state_dir), channel="bus",
    )  # fmt: skip
    handler = LookupHandler(service, results_topic=results_topic)
    return Flow(name=FLOW, topic=topic, handler=handler, peer="nationaldb"), client.close


__all__ = ["FLOW", "REQUESTS_TOPIC", "RESULTS_TOPIC", "LookupHandler", "build_lookup_flow"]
