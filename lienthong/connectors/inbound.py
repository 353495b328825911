"""The inbound kit: one hardened path for every HTTP entry point of every connector.

A route built on it is a thin declaration: its pydantic body model (so OpenAPI states what is enforced),
its bearer token, its answer format, and what to publish. The kit does, in this order and for every
route the same way:

1. authentication, as a FastAPI security dependency (`bearer_auth`): `Authorization: Bearer <token>`
   compared in constant time, 401 with `WWW-Authenticate: Bearer`, the scheme declared in OpenAPI;
2. the body: a Content-Type that is not JSON is 415; the bytes actually read are capped (chunked bodies
   included) and over the cap is 413 before any parsing (a client that drips the body is cut with 408 by
   the server's body deadline, `lienthong.http_server`);
3. JSON sanity before the model sees it: integers outside signed 64-bit are 422 (never a float, never
   a 500 later), text is normalised to NFC;
4. validation errors are 422 naming the caller's own field path in wire names (`dossier.MaHoSo`,
   `data[0].NgayNopHoSo`) and the rule broken, never the submitted value;
5. duplicates reserved atomically (`DuplicateGuard`): of N simultaneous copies of one message, one is
   published and N-1 get the duplicate answer;
6. publishing through `BusPublisher`: durable on the bus and audited before the caller hears "accepted";
   a 503 means nothing was published.

Each router picks its own answer format by passing a `Refusal` renderer to `InboundRoute.for_renderer`.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import math
import unicodedata
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Coroutine, Hashable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from fastapi import Request, Response, Security
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import SecretStr, ValidationError
from starlette.exceptions import HTTPException

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
_LOC_PART_MAX = 64


@dataclass(frozen=True, slots=True)
class FieldIssue:
    """One reason a request was refused: where (wire path) and what rule; never the value."""

    loc: str
    """The caller's field path in wire names, e.g. `dossier.DinhDanhCHS[0].SoDinhDanh` (`<body>` for the whole)."""
    msg: str
    """The rule broken."""
    type: str
    """A stable error type (pydantic's, or `int_out_of_range`, `json_invalid`, ...)."""


class InboundRefusal(Exception):  # noqa: N818 - an answer, not a failure of ours
    """A request refused by the kit or by a route: the status, a summary and the field issues."""

    def __init__(
        self,
        status: int,
        detail: str,
        errors: list[FieldIssue] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.errors = errors or []
        self.headers = headers or {}

    def message(self, most: int = 10) -> str:
        """The summary and the first `most` issues as one line (`detail: loc: msg; ...`), for answers that
        carry a single message field."""
        issues = "; ".join(f"{e.loc}: {e.msg}" for e in self.errors[:most])
        return f"{self.detail}: {issues}" if issues else self.detail


Refusal = Callable[[InboundRefusal], Response]
"""Renders a refusal in the route's own answer format."""


def wire_path(loc: tuple[int | str, ...]) -> str:
    """`('body', 'data', 0, 'MaHoSo')` -> `data[0].MaHoSo` (the leading `body` dropped, indexes bracketed)."""
    parts = list(loc)
    if parts and parts[0] == "body":
        parts = parts[1:]
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            text = str(part)[:_LOC_PART_MAX]
            out += f".{text}" if out else text
    return out or "<body>"


def issues_of(exc: ValidationError | RequestValidationError) -> list[FieldIssue]:
    """A validation error's issues, in wire paths, without input values."""
    raw: list[Any] = (
        list(exc.errors(include_url=False, include_context=False, include_input=False))
        if isinstance(exc, ValidationError)
        else list(exc.errors())
    )
    return [FieldIssue(loc=wire_path(tuple(e["loc"])), msg=str(e["msg"]), type=str(e["type"])) for e in raw]


# -- authentication -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BearerAuth:
    """`Authorization: Bearer <token()>` as a FastAPI security dependency (`dependency`, declared in OpenAPI)
    and as a plain check (`check`) the route class runs before reading the body.

    `token` is read per request (settings may be reloaded); an empty token disables the check (loopback
    demos only: `lienthong api` refuses to listen beyond loopback while any inbound secret is empty).
    Wrong or missing credentials raise a 401 refusal carrying `WWW-Authenticate: Bearer`.
    """

    token: Callable[[], SecretStr]
    scheme: HTTPBearer

    def verify(self, header: str) -> None:
        """Raise the 401 refusal unless `header` (the Authorization value) carries the token."""
        expected = self.token().get_secret_value()
        if not expected:
            return
        scheme, _, given = header.partition(" ")
        ok = scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), expected.encode())
        if not ok:
            raise InboundRefusal(401, "missing or wrong bearer token", headers={"WWW-Authenticate": "Bearer"})

    def check(self, request: Request) -> None:
        """The check on a request (before its body is read)."""
        self.verify(request.headers.get("authorization", ""))

    @property
    def dependency(self) -> Any:
        """The FastAPI dependency (`dependencies=[Depends(auth.dependency)]`)."""

        async def require(credentials: HTTPAuthorizationCredentials | None = Security(self.scheme)) -> None:  # noqa: B008
            self.verify(f"Bearer {credentials.credentials}" if credentials is not None else "")

        return require


def bearer_auth(token: Callable[[], SecretStr], *, scheme_name: str, description: str) -> BearerAuth:
    """A `BearerAuth` for one route family, its OpenAPI security scheme named `scheme_name`."""
    return BearerAuth(token, HTTPBearer(auto_error=False, scheme_name=scheme_name, description=description))


# -- body -----------------------------------------------------------------------------------------------


def _is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


async def read_json_body(request: Request) -> Any:
    """The request's JSON, read under the app's body cap, sanity-checked and NFC-normalised.

    Raises `InboundRefusal`: 415 (not JSON), 413 (over the cap: the app's `BodySizeLimit` counts the bytes
    actually received, chunked bodies included), 400 (not parseable, NaN/Infinity), 422 (an
    integer outside signed 64-bit, a number too large for a float). The parsed value is also left on the
    request, so FastAPI's own body handling
    does not parse it again.
    """
    content_type = request.headers.get("content-type", "")
    if not _is_json(content_type):
        raise InboundRefusal(415, "the body must be JSON: send Content-Type: application/json")
    try:
        # A client dripping its body is cut by the server's body deadline (`lienthong.http_server`, 408).
        raw = await request.body()
    except HTTPException as exc:
        if exc.status_code == 413:
            raise InboundRefusal(413, "the body is larger than this endpoint accepts") from exc
        raise
    try:
        # The standard parser, not orjson: orjson turns integers beyond 64 bits into floats silently.
        value = json.loads(raw, parse_constant=_no_constant)
    except (ValueError, RecursionError) as exc:
        raise InboundRefusal(400, "the body is not JSON", [FieldIssue("<body>", "not JSON", "json_invalid")]) from exc
    issues: list[FieldIssue] = []
    value = _sanitise(value, (), issues)
    if issues:
        raise InboundRefusal(422, f"the body breaks {len(issues)} rule(s); nothing was published", issues[:50])
    request._json = value
    return value


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _nfc(text: str) -> str:
    return text if unicodedata.is_normalized("NFC", text) else unicodedata.normalize("NFC", text)


def _sanitise(node: Any, path: tuple[int | str, ...], issues: list[FieldIssue]) -> Any:
    """NFC strings; integers outside signed 64-bit and non-finite floats become issues (at their wire path)."""
    if isinstance(node, str):
        return _nfc(node)
    if isinstance(node, dict):
        return {_nfc(k): _sanitise(v, (*path, k), issues) for k, v in node.items()}
    if isinstance(node, list):
        return [_sanitise(v, (*path, i), issues) for i, v in enumerate(node)]
    if isinstance(node, float) and not math.isfinite(node):  # 1e999 parses to infinity
        issues.append(FieldIssue(wire_path(path), "number out of range", "float_out_of_range"))
    elif isinstance(node, int) and not isinstance(node, bool) and not INT64_MIN <= node <= INT64_MAX:
        issues.append(FieldIssue(wire_path(path), "integer outside the signed 64-bit range", "int_out_of_range"))
    return node


# -- the route class ------------------------------------------------------------------------------------


class InboundRoute(APIRoute):
    """An `APIRoute` whose JSON body goes through `read_json_body` first and whose refusals (from the kit,
    a dependency, FastAPI's body validation or the endpoint) are rendered by the router's `Refusal`."""

    render: Refusal
    auth: BearerAuth | None = None

    @classmethod
    def for_renderer(cls, render: Refusal, *, auth: BearerAuth | None = None) -> type[InboundRoute]:
        """A route class rendering refusals with `render` (pass it as `APIRouter(route_class=...)`); with
        `auth`, every route of the router checks it before anything of the body is read."""
        attrs = {"render": staticmethod(render), "auth": auth}
        return type("InboundRouteFor", (cls,), attrs)

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        """The endpoint wrapped in the kit's body reading and refusal rendering."""
        handler = super().get_route_handler()
        render = type(self).render
        auth = type(self).auth

        async def kit_handler(request: Request) -> Response:
            try:
                if auth is not None:
                    auth.check(request)
                if request.method in ("POST", "PUT", "PATCH"):
                    await read_json_body(request)
                return await handler(request)
            except InboundRefusal as refusal:
                return render(refusal)
            except RequestValidationError as exc:
                issues = issues_of(exc)
                return render(InboundRefusal(422, f"the body breaks {len(issues)} rule(s); nothing was published",
                                             issues))  # fmt: skip

        return kit_handler


def validation_refusal(exc: ValidationError, what: str) -> InboundRefusal:
    """A 422 refusal from a pydantic error raised by a route's own validation (wire paths, no values)."""
    issues = issues_of(exc)
    return InboundRefusal(422, f"{what} is invalid: {len(issues)} error(s); nothing was published", issues)


# -- duplicates -----------------------------------------------------------------------------------------

T = TypeVar("T")


@dataclass
class DuplicateGuard(Generic[T]):
    """Reserves a message key atomically (within this process) before it is published.

    The first caller with a key runs the publication; concurrent callers with the same key wait for it and
    are told "duplicate" with its result; a key that was published recently is "duplicate" at once. When the
    publication fails, the key is released: the next copy (the sender's retry) publishes it.

    Across processes and restarts the kit relies on what is downstream: the record id derives from the key,
    so a second publication is the same event and consumers (version guard, idempotent effects) keep one.
    """

    capacity: int = 10_000
    """How many recently published keys are remembered."""
    _recent: OrderedDict[Hashable, T] = field(default_factory=OrderedDict)
    _inflight: dict[Hashable, asyncio.Future[T]] = field(default_factory=dict)

    async def once(self, key: Hashable, publish: Callable[[], Awaitable[T]]) -> tuple[T, bool]:
        """(result, duplicate): `publish()` runs only for the first holder of `key`."""
        if key in self._recent:
            self._recent.move_to_end(key)
            return self._recent[key], True
        pending = self._inflight.get(key)
        if pending is not None:
            return await asyncio.shield(pending), True
        fut: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._inflight[key] = fut
        try:
            result = await publish()
        except BaseException as exc:
            fut.set_exception(exc)
            fut.exception()  # retrieved: waiters re-raise it themselves
            raise
        finally:
            self._inflight.pop(key, None)
        fut.set_result(result)
        self._recent[key] = result
        while len(self._recent) > self.capacity:
            self._recent.popitem(last=False)
        return result, False


__all__ = [
    "INT64_MAX",
    "INT64_MIN",
    "BearerAuth",
    "DuplicateGuard",
    "FieldIssue",
    "InboundRefusal",
    "InboundRoute",
    "Refusal",
    "bearer_auth",
    "issues_of",
    "read_json_body",
    "validation_refusal",
    "wire_path",
]
