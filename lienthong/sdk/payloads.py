"""Typed payloads of lienthong's topics: the canonical pydantic models, by topic."""

from __future__ import annotations

from typing import Any

from lienthong.bus.worker import RejectionEvent
from lienthong.schemas.dossier import DossierEvent


def _catalogue_models() -> dict[str, Any]:
    from lienthong.bus.topics import catalogue

    return {name: spec.payload_model() for name, spec in catalogue().items()}


PAYLOADS: dict[str, str] = {
    "dossier.events": "DossierEvent",
    "dossier.outcomes": "RejectionEvent",
}
"""The payload model of the topics most consumers read (every topic: `payload_model(topic)`)."""


def payload_model(topic: str) -> Any:
    """The pydantic model of a topic's payload (`.retry` and `.dlq` companions carry the same)."""
    base = topic.removesuffix(".retry").removesuffix(".dlq")
    models = _catalogue_models()
    if base not in models:
        raise KeyError(f"{topic!r} is not a lienthong topic; known: {', '.join(sorted(models))}")
    return models[base]


__all__ = ["PAYLOADS", "DossierEvent", "RejectionEvent", "payload_model"]
