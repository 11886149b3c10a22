"""Payload values as display text: scalars, known enum values in words, key: value pairs, amounts."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from PySide6.QtCore import QCoreApplication

from app.core.pii import MASK  # the store's mask: a masked payload and a masked view read alike

__all__ = ["MASK", "amount_text", "named", "pairs", "scalar_text", "translated"]
CONTEXT = "TicketDetail"  # translation context of strings made outside a widget

# For strings made outside a widget; pyside6-lupdate extracts translate("Context", "literal").
translate = QCoreApplication.translate


def translated(text: str) -> str:
    """Translate a string marked with QT_TRANSLATE_NOOP(CONTEXT, ...) where it was defined."""
    return translate(CONTEXT, text)


def scalar_text(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return translate("TicketDetail", "yes") if value else translate("TicketDetail", "no")
    if isinstance(value, float):
        return format(value, ".15g")
    return str(value)


def named(table: Mapping[str, str], value: Any) -> str:
    """A known enum value in words; anything else exactly as received."""
    key = str(value) if value is not None else ""
    return translated(table[key]) if key in table else scalar_text(value)


def pairs(mapping: Any) -> list[str]:
    if not isinstance(mapping, Mapping):
        return []
    return [f"{key}: {scalar_text(value)}" for key, value in mapping.items()]


def amount_text(amount: Any, currency: Any) -> str:
    if isinstance(amount, bool) or not isinstance(amount, int | float):
        return ""
    number = f"{amount:,.0f}" if float(amount).is_integer() else f"{amount:,.2f}"
    return f"{number} {currency}" if isinstance(currency, str) and currency else number
