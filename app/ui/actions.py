"""Every user action of the reviewer window in one registry: text, default key, what it does.

Menus, shortcuts, the shortcut overlay and the README's keyboard map all come from here, so a
key is documented, testable and remappable in one place (Picard keeps its actions this way).
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping, Sequence
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
    PREFERENCES = "preferences"
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
    # The platform's own key for this (Cmd+, on macOS …), bound besides `keys` unless remapped.
    standard: QKeySequence.StandardKey | None = None


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
    ActionSpec(
        ActionId.FIND,
        "&Find in queue",
        ("Ctrl+F", "/"),
        "Go",
        "Search the queue",
        QKeySequence.StandardKey.Find,
    ),
    ActionSpec(ActionId.SYNC, "&Sync now", ("F5",), "Store", "Send decisions and fetch new tickets now"),
    ActionSpec(
        ActionId.TAKE_OFFLINE,
        "Take &offline…",
        ("Ctrl+Shift+O",),
        "Store",
        "Check out 50 tickets of this view for review without a connection",
    ),
    ActionSpec(ActionId.SHORTCUTS, "&Keyboard shortcuts", ("?",), "Help", "Show every shortcut"),
    ActionSpec(
        ActionId.PREFERENCES,
        "&Preferences…",
        ("Ctrl+,",),
        "File",
        "Change your name, store, theme, font size and shortcuts",
        QKeySequence.StandardKey.Preferences,
    ),
    ActionSpec(ActionId.QUIT, "&Quit", ("Ctrl+Q",), "File", "Quit Signoff", QKeySequence.StandardKey.Quit),
)

SPECS: dict[ActionId, ActionSpec] = {spec.id: spec for spec in REGISTRY}


Overrides = Mapping[str, Sequence[str]]  # action id -> portable key strings (Settings.shortcuts)


def default_keys(action_id: ActionId) -> list[QKeySequence]:
    spec = SPECS[action_id]
    keys = [QKeySequence(k) for k in spec.keys]
    if spec.standard is not None:
        keys += [k for k in QKeySequence.keyBindings(spec.standard) if not k.isEmpty() and k not in keys]
    return keys


def keys_for(action_id: ActionId, overrides: Overrides | None = None) -> list[QKeySequence]:
    """The keys an action answers to: the user's own when remapped, else the defaults."""
    if overrides and str(action_id) in overrides:
        return [QKeySequence(k) for k in overrides[str(action_id)] if k]
    return default_keys(action_id)


def conflict(
    action_id: ActionId, keys: QKeySequence, current: Mapping[ActionId, Sequence[QKeySequence]]
) -> ActionId | None:
    """The other action already bound to `keys`, if any: one key must never mean two things."""
    if keys.isEmpty():
        return None
    for other, bound in current.items():
        if other != action_id and any(
            k.matches(keys) == QKeySequence.SequenceMatch.ExactMatch for k in bound
        ):
            return other
    return None


def build_actions(
    parent: QObject, handlers: dict[ActionId, Callable[[], None]], overrides: Overrides | None = None
) -> dict[ActionId, QAction]:
    """QActions for every registry entry that has a handler, with their shortcuts."""
    actions: dict[ActionId, QAction] = {}
    for spec in REGISTRY:
        handler = handlers.get(spec.id)
        if handler is None:
            continue
        action = QAction(parent.tr(spec.text), parent)
        action.setObjectName(f"action_{spec.id}")
        action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        action.setStatusTip(parent.tr(spec.help))
        if spec.id == ActionId.PREFERENCES:
            action.setMenuRole(QAction.MenuRole.PreferencesRole)  # macOS: in the application menu
        elif spec.id == ActionId.QUIT:
            action.setMenuRole(QAction.MenuRole.QuitRole)
        action.triggered.connect(lambda _checked=False, h=handler: h())
        actions[spec.id] = action
    apply_shortcuts(actions, overrides)
    return actions


def apply_shortcuts(actions: Mapping[ActionId, QAction], overrides: Overrides | None) -> None:
    for action_id, action in actions.items():
        action.setShortcuts(keys_for(action_id, overrides))


def key_text(keys: Sequence[QKeySequence]) -> str:
    return ", ".join(k.toString(QKeySequence.SequenceFormat.NativeText) for k in keys)


def keyboard_map(overrides: Overrides | None = None) -> list[tuple[str, str]]:
    """(keys, what they do), for the overlay and (without overrides) the README."""
    rows = []
    for spec in REGISTRY:
        if spec.id in REASON_ACTIONS:
            continue
        remapped = overrides is not None and str(spec.id) in overrides
        rows.append((key_text(keys_for(spec.id, overrides)) if remapped else ", ".join(spec.keys), spec.help))
    reasons = [keys_for(a, overrides) for a in REASON_ACTIONS]
    default_reasons = all(not (overrides and str(a) in overrides) for a in REASON_ACTIONS)
    rows.insert(
        3,
        (
            "1 … 9" if default_reasons else " / ".join(key_text(k) or "—" for k in reasons),
            "Pick that reason and record the decision",
        ),
    )
    return rows
