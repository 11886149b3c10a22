"""Where an installation's files go."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from app.paths import home_dir, logs_dir


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="XDG folders are Linux's")
def test_the_everyday_installation_logs_in_the_platform_log_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SIGNOFF_HOME", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    home = home_dir()
    assert home == tmp_path / "data" / "Signoff"
    assert logs_dir(home) == tmp_path / "state" / "Signoff" / "log"
    assert logs_dir(home).is_dir()


def test_a_chosen_home_keeps_its_logs_inside_it(tmp_path: Path) -> None:
    home = home_dir(tmp_path / "elsewhere")
    assert logs_dir(home) == tmp_path / "elsewhere" / "logs"
