"""Every user action of the reviewer window in one registry: text, default key, what it does.

Menus, shortcuts, the shortcut overlay and the README's keyboard map all come from here, so a
key is documented, testable and remappable in one place (Picard keeps its actions this way).
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtCore import QObject, Qt
from PySide6.QtGui import QAction, QKeySequence


class ActionId(enum.StrEnum):
    APPROVE = "approve"
    REJECT = "reject"
    CLARIFY = "clarify"
    NEXT = "next"
    PREVIOUS = "previous"
    CANCEL = "cancel"
    NOTE = "note"
    UNDO = "undo"
    SYNC = "sync"
    TAKE_OFFLINE = "take_offline"
    FIND = "find"
    SHORTCUTS = "shortcuts"
    QUIT = "quit"
    REASON_1 = "reason_1"
    REASON_2 = "reason_2"
    REASON_3 = "reason_3"
    REASON_4 = "reason_4"
    REASON_5 = "reason_5"
    REASON_6 = "reason_6"
    REASON_7 = "reason_7"
    REASON_8 = "reason_8"
    REASON_9 = "reason_9"


@dataclass(frozen=True)
class ActionSpec:
    id: ActionId
    text: str
    keys: tuple[str, ...]
    menu: str
    help: str


REASON_ACTIONS = tuple(ActionId(f"reason_{n}") for n in range(1, 10))

REGISTRY: tuple[ActionSpec, ...] = (
    ActionSpec(
        ActionId.APPROVE, "&Approve…", ("A",), "Decide", "Approve the AI's proposal, then pick a reason"
    ),
    ActionSpec(ActionId.REJECT, "&Reject…", ("R",), "Decide", "Reject the AI's proposal, then pick a reason"),
    ActionSpec(
        ActionId.CLARIFY, "Ask for &clarification…", ("C",), "Decide", "Ask a question, then pick a reason"
    ),
    *(
        ActionSpec(spec_id, f"Reason {n}", (str(n),), "", f"Pick reason {n} and record the decision")
        for n, spec_id in enumerate(REASON_ACTIONS, start=1)
    ),
    ActionSpec(ActionId.NOTE, "Write a &note", ("N",), "Decide", "Type a note for the next decision"),
    ActionSpec(ActionId.CANCEL, "Cancel", ("Esc",), "Decide", "Close the reason picker"),
    ActionSpec(
        ActionId.UNDO,
        "&Undo last decision",
        ("Ctrl+Z",),
        "Decide",
        "Take back the last decision not yet sent",
    ),
    ActionSpec(ActionId.NEXT, "&Next ticket", ("J",), "Go", "Open the next ticket in the queue"),
    ActionSpec(ActionId.PREVIOUS, "&Previous ticket", ("K",), "Go", "Open the previous ticket"),
    ActionSpec(ActionId.FIND, "&Find in queue", ("Ctrl+F", "/"), "Go", "Search the queue"),
    ActionSpec(ActionId.SYNC, "&Sync now", ("F5",), "Store", "Send decisions and fetch new tickets now"),
    ActionSpec(
        ActionId.TAKE_OFFLINE,
        "Take &offline…",
        ("Ctrl+Shift+O",),
        "Store",
        "Check out 50 tickets of this view for review without a connection",
    ),
    ActionSpec(ActionId.SHORTCUTS, "&Keyboard shortcuts", ("?",), "Help", "Show every shortcut"),
    ActionSpec(ActionId.QUIT, "&Quit", ("Ctrl+Q",), "File", "Quit Signoff"),
)

SPECS: dict[ActionId, ActionSpec] = {spec.id: spec for spec in REGISTRY}


def build_actions(parent: QObject, handlers: dict[ActionId, Callable[[], None]]) -> dict[ActionId, QAction]:
    """QActions for every registry entry that has a handler, with their default shortcuts."""
    actions: dict[ActionId, QAction] = {}
    for spec in REGISTRY:
        handler = handlers.get(spec.id)
        if handler is None:
            continue
        action = QAction(parent.tr(spec.text), parent)
        action.setObjectName(f"action_{spec.id}")
        action.setShortcuts([QKeySequence(k) for k in spec.keys])
        action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        action.setStatusTip(parent.tr(spec.help))
        action.triggered.connect(lambda _checked=False, h=handler: h())
        actions[spec.id] = action
    return actions


def keyboard_map() -> list[tuple[str, str]]:
    """(keys, what they do), for the overlay and the README."""
    rows = [(", ".join(spec.keys), spec.help) for spec in REGISTRY if spec.id not in REASON_ACTIONS]
    rows.insert(3, ("1 … 9", "Pick that reason and record the decision"))
    return rows
