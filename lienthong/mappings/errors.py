"""Errors raised by the pure mappings. All are `PermanentError`s: the same input fails the same way.

They are also `ValueError`s, so pydantic validators can raise them and callers that only know the
standard library can still catch them. Messages name fields and rules; they never echo personal data
(ID numbers are masked, see `lienthong.mappings.identifiers.mask_identifier`).
"""

from __future__ import annotations

from lienthong.errors import PermanentError


class MappingError(PermanentError, ValueError):
    """A message cannot be mapped to or from the canonical model: its content breaks a rule."""


class InvalidIdentifier(MappingError):  # noqa: N818 - the domain name callers catch; reads as a noun
    """An identifier (dossier, agency, procedure or tax code, personal ID) is malformed."""
