"""Errors raised by the pure mappings. All are `PermanentError`s: the same input fails the same way.

They are also `ValueError`s, so pydantic validators can raise them and callers that only know the
standard library can still catch them. Messages name fields and rules; they never echo personal data
(ID numbers are masked, see `lienthong.mappings.identifiers.mask_identifier`). Defined with the shared
validators in `lienthong.schemas.validators` (the canonical models raise them too) and re-exported here.
"""

from __future__ import annotations

from lienthong.schemas.validators import InvalidIdentifier, MappingError

__all__ = ["InvalidIdentifier", "MappingError"]
