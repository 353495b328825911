"""The README keeps its promises: the two commands first, every setting documented."""

from __future__ import annotations

from pathlib import Path

from lienthong.settings import env_names, settings_classes

README = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")


def test_readme_opens_with_make_demo_and_make_test() -> None:
    head = "\n".join(README.splitlines()[:8])
    assert "make demo" in head
    assert "make test" in head


def test_every_setting_is_in_the_readme_configuration_table() -> None:
    missing = [var for cls in settings_classes() for var in env_names(cls) if f"`{var}`" not in README]
    assert missing == []
