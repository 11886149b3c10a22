"""Where Signoff's own files (icons) are, however it was started: frozen, from a wheel, or from source.

The files live once, in the repository's top-level ``resources/`` folder, and reach the other
layouts as copies of that folder:

- a PyInstaller bundle: ``<bundle>/resources/`` (``packaging/signoff.spec`` puts them there,
  ``sys._MEIPASS`` is the bundle's data root);
- an installed wheel: ``<prefix>/share/signoff/`` (``data-files`` in ``pyproject.toml``; the
  prefix is the venv, the Python installation or the user base of ``pip install --user``);
- a source checkout or an editable install: ``resources/`` beside the ``app`` package.
"""

from __future__ import annotations

import site
import sys
from pathlib import Path

SHARE_NAME = "signoff"  # <prefix>/share/signoff: what data-files installs


def resource_roots() -> list[Path]:
    """The folders that may hold Signoff's resources, the most specific first."""
    roots: list[Path] = []
    frozen_root = getattr(sys, "_MEIPASS", None)
    if frozen_root:
        roots.append(Path(frozen_root) / "resources")
    roots.append(Path(__file__).resolve().parents[1] / "resources")  # source tree
    for prefix in (sys.prefix, site.getuserbase(), sys.base_prefix):
        root = Path(prefix) / "share" / SHARE_NAME
        if root not in roots:
            roots.append(root)
    return roots


def resource_path(*parts: str) -> Path | None:
    """The file ``resources/<parts…>`` (e.g. ``resource_path("icons", "signoff.svg")``), or None
    when no layout has it; callers then do without (a missing icon never stops the app)."""
    for root in resource_roots():
        candidate = root.joinpath(*parts)
        if candidate.exists():
            return candidate
    return None
