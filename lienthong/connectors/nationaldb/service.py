"""The one implementation of a look-up, shared by the desk route and the `lookup.requests` flow.

`LookupService.lookup(request)`:

1. the purpose must be stated (procedure, dossier, officer, legal basis), else `refused`;
2. the procedure must have a field list for the register (`fields.yaml`), else `refused`;
3. the query must fit the register's query model, else `refused` (the reason names fields only);
4. the officer's rate limit (`rate_per_minute`), else `refused` (429 at the desk);
5. the register is called (`NationalDbClient`); a transient failure is raised to the caller (the desk
   gets 503, the flow retries), a permanent one is a `failed` result;
6. the records are cut down to the procedure's fields;
7. one audit record says who (officer), why (procedure, dossier, legal basis), which register, the
   outcome, the names of the fields returned and a keyed hash of the subject (never a value); only
   then is the answer given.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ValidationError

from lienthong.audit.record import AuditEntry
from lienthong.audit.redact import mask_text
from lienthong.audit.writer import AuditWriter
from lienthong.connectors.nationaldb.client import NationalDbClient
from lienthong.connectors.nationaldb.policy import (
    FieldPolicy,
    LookupRefused,
    OfficerRateLimit,
    check_purpose,
    subject_hash,
)
from lienthong.errors import PermanentError
from lienthong.mappings.lookup import select_fields
from lienthong.schemas.lookup import (
    BusinessQuery,
    CivilStatusQuery,
    LookupPurpose,
    LookupRequest,
    LookupResult,
    LookupStatus,
    PopulationQuery,
    Register,
)

FLOW = "lookup"
"""Audit flow of every look-up (what `lienthong lookups log` reads)."""
EVENT_TYPE = "lookup"
_QUERY_MODELS: dict[Register, type[BaseModel]] = {
    Register.POPULATION: PopulationQuery,
    Register.BUSINESS: BusinessQuery,
    Register.CIVIL_STATUS: CivilStatusQuery,
}


def _subject(query: BaseModel) -> str:
    if isinstance(query, BusinessQuery):
        return query.msdn
    return str(getattr(query, "SoDinhDanh", ""))


class LookupService:
    """Look-ups with purpose, field lists, rate limit and audit (see the module docstring)."""

    def __init__(
        self,
        client: NationalDbClient,
        audit: AuditWriter,
        *,
        fields: FieldPolicy,
        rate: OfficerRateLimit,
        key: bytes,
        channel: str,
    ) -> None:
        self.client = client
        self.audit = audit
        self.fields = fields
        self.rate = rate
        self.key = key
        self.channel = channel
        """`desk` (REST) or `bus` (lookup.requests), recorded in the audit detail."""

    async def lookup(self, request: LookupRequest) -> LookupResult:
        """Run one look-up; transient peer failures are raised (`TransientError`) after being audited."""
        purpose = request.purpose
        subject = ""
        try:
            purpose = check_purpose(request.purpose)
            allowed = self.fields.fields_for(purpose.procedure_code, request.database)
            query = self._query(request)
            subject = _subject(query)
            self.rate.take(purpose.officer_id)
        except LookupRefused as exc:
            await self._audit(request, purpose, LookupStatus.REFUSED, (), subject, reason=exc.reason)
            raise
        try:
            records = await self._call(request, query, purpose)
        except PermanentError as exc:
            await self._audit(request, purpose, LookupStatus.FAILED, (), subject, reason=str(exc))
            return LookupResult(request_id=request.request_id, database=request.database,
                                status=LookupStatus.FAILED, reason=str(exc))  # fmt: skip
        except Exception as exc:
            await self._audit(request, purpose, LookupStatus.FAILED, (), subject, reason=str(exc), transient=True)
            raise
        selected = tuple(select_fields(r, allowed) for r in records)
        returned = tuple(f for f in allowed if any(f in r for r in selected))
        status = LookupStatus.ANSWERED if selected else LookupStatus.NOT_FOUND
        await self._audit(request, purpose, status, returned, subject, records=len(selected))
        return LookupResult(request_id=request.request_id, database=request.database, status=status,
                            fields=returned, records=selected)  # fmt: skip

    def _query(self, request: LookupRequest) -> BaseModel:
        model = _QUERY_MODELS[request.database]
        try:
            return model.model_validate(request.query)
        except ValidationError as exc:
            where = sorted({".".join(str(p) for p in e["loc"]) or "query" for e in exc.errors()})
            raise LookupRefused(f"query for {request.database.value} is invalid at: {', '.join(where)}") from None

    async def _call(self, request: LookupRequest, query: BaseModel, purpose: LookupPurpose) -> Sequence[Any]:
        if isinstance(query, PopulationQuery):
            return await self.client.population(query, request_id=request.request_id, officer_id=purpose.officer_id)
        if isinstance(query, BusinessQuery):
            found = await self.client.business(query)
            return [found] if found is not None else []
        if isinstance(query, CivilStatusQuery):
            return await self.client.civil_status(query, request_id=request.request_id, officer_id=purpose.officer_id)
        raise PermanentError(f"no client for {request.database.value}")  # pragma: no cover - enum is closed

    async def _audit(
        self,
        request: LookupRequest,
        purpose: LookupPurpose | None,
        status: LookupStatus,
        fields: tuple[str, ...],
        subject: str,
        **extra: object,
    ) -> None:
        detail: dict[str, object] = {
            "request_id": request.request_id,
            "register": request.database.value,
            "channel": self.channel,
            "officer": purpose.officer_id if purpose else "",
            "procedure": purpose.procedure_code if purpose else "",
            "legal_basis": mask_text(purpose.legal_basis) if purpose else "",
            "fields": list(fields),
            "subject": subject_hash(self.key, request.database, subject) if subject else "",
            **extra,
        }
        await self.audit.append([
            AuditEntry(flow=FLOW, direction="out", peer=request.database.value, outcome=status.value,
                       dossier_code=purpose.dossier_code if purpose else "", correlation_id=request.request_id,
                       event_type=EVENT_TYPE, detail=detail)
        ])  # fmt: skip


__all__ = ["FLOW", "LookupService"]
