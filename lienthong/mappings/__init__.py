"""Pure mappings between the canonical model (`lienthong.schemas`) and external formats. No I/O.

Modules:
- `dvcqg`: canonical <-> DVCQG JSON (`DongBoHoSoMC`, `CapNhatTienDoHoSoMC`, inbound pushes).
- `onestop`: the one-stop system's dossier events and notice deliveries.
- `records`: the Vietnamese dossier record shared by both, as pydantic wire models.
- `wire`: value conventions on the wire (times, flags, codes).
- `status`: status labels and the national-monitoring codes.
- `identifiers`: dossier, agency, procedure, tax codes and personal IDs; dossier-code sequences.
- `admin_units`: the 2025 province merger and agency-code remapping.

Nothing is imported here on purpose: `lienthong.schemas` uses `identifiers`, and an eager import of
the other modules would make the two packages import each other.
"""

MAPPING_VERSION = "1"
"""Version of the mappings, written into the envelope's `mapping_version` header. Bump it when a
mapping's output changes for the same input (golden files change)."""
