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
    path = Path(chosen) if chosen else default_home()
    path.mkdir(parents=True, exist_ok=True)
    return path


def replicas_dir(home: Path) -> Path:
    path = home / "replicas"
    path.mkdir(parents=True, exist_ok=True)
    return path


def default_home() -> Path:
    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def logs_dir(home: Path) -> Path:
    """The platform's log folder for the everyday installation (where support tools look:
    ~/.local/state/Signoff/log, ~/Library/Logs/Signoff, %LOCALAPPDATA%\\Signoff\\Logs); a chosen
    home (--home, $SIGNOFF_HOME, tests) keeps its logs inside it, so runs never mix."""
    if home.resolve() == default_home().resolve():
        path = Path(platformdirs.user_log_dir(APP_NAME, appauthor=False))
    else:
        path = home / "logs"
    path.mkdir(parents=True, exist_ok=True)
    return path


def settings_file(home: Path) -> Path:
    return home / "settings.json"
