"""The `/_sandbox/*` fault controls every simulator offers: one POST per state method, loopback only."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
from fastapi import APIRouter, Depends, HTTPException, Request

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost", "testclient"})  # testclient: Starlette's
"""Clients allowed to steer a sandbox."""


def control_router(
    actions: dict[str, Callable[..., None]], *, loopback_only: bool, answer: Callable[[], dict[str, Any]]
) -> APIRouter:
    """`POST /_sandbox/<action>` calls `actions[action](**json_body)` and returns `answer()`.

    Bad arguments get 422, an unknown action 404, a non-loopback client 403 (when `loopback_only`).
    Add inspection routes to the returned router.
    """

    def guard(request: Request) -> None:
        host = request.client.host if request.client is not None else None
        if loopback_only and host not in LOOPBACK_HOSTS:
            raise HTTPException(403, "sandbox controls answer loopback clients only")

    controls = APIRouter(prefix="/_sandbox", dependencies=[Depends(guard)])

    @controls.post("/{action}")
    async def control(action: str, request: Request) -> dict[str, Any]:
        """Call the state method named by `action` with the JSON body as keyword arguments."""
        method = actions.get(action)
        if method is None:
            raise HTTPException(404, f"unknown control; one of {sorted(actions)}")
        raw = await request.body()
        try:
            kwargs = orjson.loads(raw) if raw.strip() else {}
        except orjson.JSONDecodeError as exc:
            raise HTTPException(422, f"body is not JSON: {exc}") from exc
        if not isinstance(kwargs, dict):
            raise HTTPException(422, "body must be a JSON object of keyword arguments")
        try:
            method(**kwargs)
        except (TypeError, ValueError) as exc:
            raise HTTPException(422, str(exc)) from exc
        return answer()

    return controls
