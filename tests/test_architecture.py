"""The core stays GUI-free: nothing under app/core imports Qt, so the CLI and servers run without it."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap

from helpers import ROOT

CORE = ROOT / "app" / "core"
QT = re.compile(r"\b(PySide6|shiboken6|PyQt[56]|qtpy)\b")

_PROBE = textwrap.dedent(
    """
    import importlib, pkgutil, sys
    import app.core

    names = ["app.core"]
    def failed(name):
        raise SystemExit(f"cannot import {name}")
    for module in pkgutil.walk_packages(app.core.__path__, "app.core.", onerror=failed):
        names.append(module.name)
    for name in names:
        # Alembic env scripts only run under Alembic's own loader.
        if name.endswith(".env"):
            continue
        importlib.import_module(name)
    qt = sorted(m for m in sys.modules if m.split(".")[0] in ("PySide6", "shiboken6"))
    print(len(names))
    assert not qt, f"app.core pulled in Qt: {qt}"
    """
)


def test_importing_every_core_module_loads_no_qt() -> None:
    result = subprocess.run(
        [sys.executable, "-c", _PROBE], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    expected = {p for p in CORE.rglob("*.py") if p.name != "env.py" and "versions" not in p.parts}
    # Every module (not only a lucky few) was imported: walk_packages found them all.
    assert int(result.stdout.split()[-1]) >= len(expected)


def test_the_probe_would_notice_qt() -> None:
    """The probe is not vacuous: importing Qt in the same way makes it fail."""
    probe = _PROBE.replace("import app.core\n", "import app.core\nimport shiboken6\n", 1)
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode != 0
    assert "app.core pulled in Qt" in result.stderr


def test_no_core_source_mentions_qt() -> None:
    offenders = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in sorted(CORE.rglob("*.py"))
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if QT.search(line)
    ]
    assert offenders == []
