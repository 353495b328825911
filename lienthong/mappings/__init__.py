"""Pure mappings between the canonical model (`lienthong.schemas`) and external formats. No I/O.

The dossier flows implement the one-stop mechanism of Decree 118/2025/NĐ-CP (in force 1 Jul 2025,
replacing Decree 61/2018/NĐ-CP; reception regardless of administrative boundary at commune level).

Modules:
- `dvcqg`: canonical <-> DVCQG JSON (`DongBoHoSoMC`, `CapNhatTienDoHoSoMC`, inbound pushes).
- `dvcqg_sync`: planning the DVCQG sync of a dossier's events (version guard, superseded and pending
  versions, unlisted transitions).
- `onestop`: the one-stop system's dossier events and notice deliveries.
- `records`: the Vietnamese dossier record shared by both, as pydantic wire models.
- `wire`: value conventions on the wire (times, flags, codes).
- `status`: status labels and the national-monitoring codes.
- `identifiers`: dossier, agency, procedure, tax codes and personal IDs (validators re-exported from
  `lienthong.schemas.validators`, their one home); dossier-code sequences.
- `admin_units`: the 2025 province merger and agency-code remapping tables; `merger`: applying them to
  dossiers and notices in the flow.
- `apology`: the apology letter of a late dossier as a supplement record.

`lienthong.schemas` imports nothing from here; nothing is imported eagerly here either.
"""

MAPPING_VERSION = "1"
"""Version of the mappings, written into the envelope's `mapping_version` header. Bump it when a
mapping's output changes for the same input (golden files change)."""
