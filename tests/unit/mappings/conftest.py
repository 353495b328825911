"""Golden files for the mapping tests: `golden/<name>` holds the expected JSON of a mapping.

Inputs (`*.in.json`) are written by hand. Expected outputs are compared exactly; set
`LIENTHONG_UPDATE_GOLDEN=1` to rewrite them from the current code, then review the diff.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

GOLDEN_DIR = Path(__file__).parent / "golden"
UPDATE_ENV = "LIENTHONG_UPDATE_GOLDEN"


def _dump(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, indent=2) + "\n"


@pytest.fixture
def golden_input() -> Callable[[str], Any]:
    """Load a hand-written input file from `golden/`."""

    def load(name: str) -> Any:
        return json.loads((GOLDEN_DIR / name).read_text(encoding="utf-8"))

    return load


@pytest.fixture
def golden() -> Callable[[str, Any], None]:
    """Compare a JSON-able value with `golden/<name>`, or rewrite the file when the update env var is set."""

    def check(name: str, actual: Any) -> None:
        path = GOLDEN_DIR / name
        if os.environ.get(UPDATE_ENV) == "1":
            path.write_text(_dump(actual), encoding="utf-8")
            return
        if not path.exists():
            pytest.fail(f"golden file {path.name} is missing; run with {UPDATE_ENV}=1 to create it, then review it")
        expected = json.loads(path.read_text(encoding="utf-8"))
        # Round-trip through JSON so tuples, enums and key order compare as they would on the wire.
        assert json.loads(_dump(actual)) == expected, f"{path.name} differs; if intended, rerun with {UPDATE_ENV}=1"

    return check
