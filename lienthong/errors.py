"""The error taxonomy. The bus routes on the class alone (see `lienthong.bus.policy`).

- `TransientError`: worth trying again (timeouts, connection errors, HTTP 5xx/429, SOAP server faults).
- `PermanentError`: will fail the same way every time (schema/validation, HTTP 4xx, SOAP client faults):
  straight to the DLQ.
- `BusinessRejection`: the peer understood and refused the content: a status event goes back to the
  source system; not a DLQ entry.
"""

from __future__ import annotations


class LienthongError(Exception):
    """Base of lienthong's own errors. `peer` names the external system involved, if any."""

    def __init__(self, message: str, *, peer: str = "", code: str = "") -> None:
        super().__init__(message)
        self.peer = peer
        """External system involved (`dvcqg`, `onestop`, ...), empty when internal."""
        self.code = code
        """The peer's own error code, kept verbatim for operators (e.g. DVCQG `error_code`)."""


class TransientError(LienthongError):
    """A failure that may succeed on another attempt."""


class PermanentError(LienthongError):
    """A failure that will repeat: the message goes to the DLQ with its original bytes."""


class BusinessRejection(LienthongError):  # noqa: N818 - the design's name for the class
    """The peer refused the content; reported back to the source as a status event."""


class ConfigurationError(LienthongError):
    """lienthong cannot start as configured; the message says what to change."""
