"""Guards against a broken Qt binding: PySide6 6.12.0 leaks a reference to None on every void
call and aborts the interpreter after a few thousand of them (a reviewer's morning)."""

from __future__ import annotations

import sys

from PySide6.QtCore import QObject


def test_void_qt_calls_do_not_eat_references_to_none() -> None:
    holder = QObject()
    before = sys.getrefcount(None)
    for _ in range(2000):
        holder.setObjectName("probe")
    # A little slack for unrelated objects; the broken binding loses exactly 2000.
    assert sys.getrefcount(None) >= before - 50
