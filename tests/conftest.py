"""Fixtures shared by the unit tests."""

import pytest


@pytest.fixture(autouse=True)
def _quick_profile(monkeypatch, tmp_path):
    """Unit tests never touch the user's data root and always see the quick profile."""
    monkeypatch.setenv("COMPANION_PROFILE", "quick")
    monkeypatch.setenv("COMPANION_DATA", str(tmp_path / "data-root"))
