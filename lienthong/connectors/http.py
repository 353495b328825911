"""HTTP outcome → error taxonomy, shared by every REST connector."""

from __future__ import annotations

import httpx

from lienthong.errors import PermanentError, TransientError

TRANSIENT_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})


def raise_for_peer(response: httpx.Response, *, peer: str, operation: str) -> None:
    """Raise the taxonomy's error for a failed HTTP reply (nothing for 2xx)."""
    if response.is_success:
        return
    status = response.status_code
    text = f"{peer} {operation}: HTTP {status}"
    if status in TRANSIENT_STATUS or status >= 500:
        raise TransientError(text, peer=peer, code=str(status))
    raise PermanentError(text, peer=peer, code=str(status))


def transport_error(exc: httpx.TransportError, *, peer: str, operation: str) -> TransientError:
    """A connection/timeout failure as a TransientError naming the peer."""
    return TransientError(f"{peer} {operation}: {type(exc).__name__}", peer=peer, code="transport")
