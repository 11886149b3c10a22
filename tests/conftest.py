"""Test-wide setup: headless Qt, a keyring that can never hold real secrets, a temp home."""

from __future__ import annotations

import os

# Before anything imports Qt or keyring.
os.environ["QT_QPA_PLATFORM"] = "offscreen"
os.environ["PYTHON_KEYRING_BACKEND"] = "keyring.backends.null.Keyring"
os.environ.pop("SIGNOFF_STORE", None)

from pathlib import Path

import pytest

pytest_plugins = ["postgres_fixtures"]

SPEC_EXAMPLES = Path(__file__).resolve().parents[1] / "app" / "core" / "spec" / "examples.jsonl"


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own SIGNOFF_HOME: no test reads or writes a real user's data."""
    home = tmp_path / "home"
    monkeypatch.setenv("SIGNOFF_HOME", str(home))
    return home


@pytest.fixture
def home(_isolated_home: Path) -> Path:
    _isolated_home.mkdir(parents=True, exist_ok=True)
    return _isolated_home


@pytest.fixture
def examples_path() -> Path:
    return SPEC_EXAMPLES
