"""Where an installation keeps its files: one place, with overrides for tests and power users."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

APP_NAME = "Signoff"
HOME_ENV = "SIGNOFF_HOME"


def home_dir(override: str | os.PathLike[str] | None = None) -> Path:
    """The installation's data folder: ``--home``, else ``$SIGNOFF_HOME``, else the platform's."""
    chosen = override or os.environ.get(HOME_ENV)
    path = Path(chosen) if chosen else Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))
    path.mkdir(parents=True, exist_ok=True)
    return path


def replicas_dir(home: Path) -> Path:
    path = home / "replicas"
    path.mkdir(parents=True, exist_ok=True)
    return path


def logs_dir(home: Path) -> Path:
    path = home / "logs"
    path.mkdir(parents=True, exist_ok=True)
    return path


def settings_file(home: Path) -> Path:
    return home / "settings.json"
