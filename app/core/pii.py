"""Personal data (PII) in tickets: which fields, masking them out of a payload and putting them
back, and who may see them. Pure functions and values: no I/O (see `pii_access` for that).

Which fields: those whose description in the ticket schema says "PII" (`PII_FIELDS`, read from
the schema itself): subject.display_name, subject.email, subject.phone and
interaction.messages[].from. A concrete field path names one value, in the style of
validation errors: "subject.email", "interaction.messages[2].from".

How the store keeps them: at ingest a ticket is split (`split`) into its payload, with `MASK` in
place of every personal value, and the values themselves, {path: value}, which go to the
`ticket_pii` table. The masked payload is still a valid `signoff.ticket/1` (MASK is a short
string where strings go), so every view and export that reads payloads works unchanged and can
never leak what it does not have. The content hash stays the hash of the whole ticket as
received, so re-sending the same ticket is still a no-op.

Who sees them (`PiiPolicy`, a per-store setting in store_info):
- `pii_roles` see personal data, while connected to the store. Default: escalation managers and
  administrators, who settle escalations and conflicts and may need to call the person.
- `pii_reveal_roles` see the mask and may reveal one ticket at a time; every reveal is logged
  in the store (`pii_reveals`, written by the database on Postgres) and in the installation's
  audit chain (PII_REVEALED). Default: reviewers. Most decisions (segment, ask amount, timing)
  do not need a donor's name or email, so a nonprofit's volunteers and staff reviewers work
  without it by default and the rare look (is this the same person?) leaves a trace.
- any other role sees only the mask.
Personal data never reaches a replica, whatever the role: it is fetched from the store on
demand and held in memory only, so a lost laptop holds no donor's contact details.
"""

from __future__ import annotations

import copy
import functools
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from app.core.domain import Role
from app.core.validation import canonical_json, canonical_tree_json, load_schema

MASK = "•••••"
SEE_KEY = "pii_roles"  # store_info keys of the per-store setting
REVEAL_KEY = "pii_reveal_roles"
_INDEX = re.compile(r"\[\d+\]")


def _schema_paths(node: Mapping[str, Any], prefix: str = "") -> Iterator[str]:
    for name, prop in (node.get("properties") or {}).items():
        path = f"{prefix}.{name}" if prefix else name
        if prop.get("description") == "PII":
            yield path
        if prop.get("type") == "object":
            yield from _schema_paths(prop, path)
        elif prop.get("type") == "array" and isinstance(prop.get("items"), Mapping):
            yield from _schema_paths(prop["items"], f"{path}[]")


# Generic paths ("[]" for every element of an array), in schema order.
PII_FIELDS: tuple[str, ...] = tuple(_schema_paths(load_schema()))


def field_name(path: str) -> str:
    """The generic field of a concrete path: "interaction.messages[3].from" -> "...[].from"."""
    return _INDEX.sub("[]", path)


def field_names(paths: Any) -> list[str]:
    """The generic fields among concrete paths, each once, in schema order (for audit data)."""
    present = {field_name(p) for p in paths}
    return [f for f in PII_FIELDS if f in present]


def _slots(node: Any, parts: list[str], index: int = 0, path: str = "") -> Iterator[tuple[str, dict, str]]:
    """(concrete path, parent object, key) of every value a generic path names in `node`."""
    part = parts[index]
    is_array = part.endswith("[]")
    name = part[:-2] if is_array else part
    if not isinstance(node, dict) or name not in node:
        return
    here = f"{path}.{name}" if path else name
    if index == len(parts) - 1:
        yield here, node, name
    elif is_array:
        items = node[name]
        if isinstance(items, list):
            for position, item in enumerate(items):
                yield from _slots(item, parts, index + 1, f"{here}[{position}]")
    else:
        yield from _slots(node[name], parts, index + 1, here)


def slots(ticket: Any) -> Iterator[tuple[str, dict, str]]:
    for generic in PII_FIELDS:
        yield from _slots(ticket, generic.split("."))


def split(ticket: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(masked copy of the ticket, {concrete path: personal value}). Empty values stay as they
    are: there is nothing to hide in them."""
    masked = copy.deepcopy(dict(ticket))
    values: dict[str, Any] = {}
    for path, parent, key in slots(masked):
        if parent[key] in (None, ""):
            continue
        values[path] = parent[key]
        parent[key] = MASK
    return masked, values


def split_shared(ticket: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """`split` for callers that only serialise the masked ticket (ingest): the same result, but
    only the objects and lists on the way to a masked value are copied, each once; everything
    else is shared with `ticket`, so do not mutate either. Ingest-speed path (issue 7, P6): a
    deep copy of every ticket cost more than validating it."""
    if _PII_TREE is None:
        return split(ticket)
    values: dict[str, Any] = {}
    return _mask_shared(dict(ticket), _PII_TREE, "", values, _mask), values


def split_canonical(ticket: Mapping[str, Any]) -> tuple[str, str, dict[str, Any]]:
    """(canonical JSON of the masked ticket, canonical JSON of the whole ticket, its personal
    values) for ingest, which stores the one and hashes the other. Ingest-speed path (issue 7,
    P6): encoding a ticket is the dearest step of storing it, so it is encoded once, with a
    numbered placeholder in each personal slot, and both texts are made by substituting the
    mask or the value's own encoding there (a value encodes the same alone as inside the ticket).
    Should the placeholders' text occur anywhere else, it encodes both in full instead."""
    if _PII_TREE is None:
        masked, values = split(ticket)
        return canonical_tree_json(masked), canonical_tree_json(ticket), values
    values = {}
    text = canonical_tree_json(_mask_shared(dict(ticket), _PII_TREE, "", values, _placeholder))
    if not values:
        return text, text, values
    parts = _PLACEHOLDERS.split(text)  # text, slot number, text, slot number, ..., text
    between, slots = parts[::2], parts[1::2]
    if len(slots) != len(values) or set(slots) != _slot_numbers(len(values)):
        masked, values = split_shared(ticket)
        return canonical_tree_json(masked), canonical_tree_json(ticket), values
    encoded = [canonical_tree_json(value) for value in values.values()]
    whole = [between[0]]
    for slot, after in zip(slots, between[1:], strict=True):
        whole += (encoded[int(slot)], after)
    return _MASK_JSON.join(between), "".join(whole), values


@functools.cache
def _slot_numbers(count: int) -> frozenset[str]:
    return frozenset(str(i) for i in range(count))


def _mask(_values: dict[str, Any]) -> str:
    return MASK


def _placeholder(values: dict[str, Any]) -> str:
    """The n-th value's placeholder: a string no ticket has in practice (NUL, a number, NUL)."""
    return f"\x00{len(values)}\x00"


# A placeholder as canonical JSON writes it (NUL is always escaped), and the mask as it writes it.
_PLACEHOLDERS = re.compile(r'"\\u0000(\d+)\\u0000"')
_MASK_JSON = canonical_json(MASK)


def _field_tree(paths: tuple[str, ...]) -> dict[str, Any] | None:
    """The generic paths as a tree, {name: (is_array, subtree, or None for a leaf)}, in schema
    order: a walk of it meets the fields in the order `slots` does. None if a field is also the
    parent of another (the schema has none), where `split_shared` falls back to `split`."""
    tree: dict[str, Any] = {}
    for path in paths:
        node = tree
        parts = path.split(".")
        for position, part in enumerate(parts):
            is_array = part.endswith("[]")
            name = part[:-2] if is_array else part
            leaf = position == len(parts) - 1
            if name in node and (leaf or node[name][1] is None or node[name][0] != is_array):
                return None
            if leaf:
                node[name] = (is_array, None)
            else:
                node = node.setdefault(name, (is_array, {}))[1]
    return tree


_PII_TREE = _field_tree(PII_FIELDS)


Marker = Callable[[dict[str, Any]], str]  # what goes in a personal slot, given the values so far


def _mask_shared(node: Any, tree: dict[str, Any], path: str, values: dict[str, Any], mark: Marker) -> Any:
    """`node` with the values `tree` names replaced by `mark(values)` and recorded in `values`:
    a shallow copy when something under it changed, else `node` itself. Same rules as `_slots`
    and `split`."""
    if not isinstance(node, dict):
        return node
    copied = None
    for name, (is_array, subtree) in tree.items():
        if name not in node:
            continue
        here = f"{path}.{name}" if path else name
        child = node[name]
        if subtree is None:  # the personal value itself (an array leaf names the list itself)
            if child in (None, ""):
                continue
            new = mark(values)
            values[here] = child
        elif is_array:
            if not isinstance(child, list):
                continue
            new = _mask_items(child, subtree, here, values, mark)
            if new is child:
                continue
        else:
            new = _mask_shared(child, subtree, here, values, mark)
            if new is child:
                continue
        if copied is None:
            copied = dict(node)
        copied[name] = new
    return node if copied is None else copied


def _mask_items(
    items: list[Any], tree: dict[str, Any], path: str, values: dict[str, Any], mark: Marker
) -> list[Any]:
    """`_mask_shared` of each item: a new list if any changed, else `items` itself."""
    new = items
    for i, item in enumerate(items):
        masked = _mask_shared(item, tree, f"{path}[{i}]", values, mark)
        if masked is not item:
            if new is items:
                new = list(items)
            new[i] = masked
    return new


def restore(payload: Mapping[str, Any], values: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of a masked payload with the given values back in place (paths it does not have
    are ignored: a purged or changed payload keeps what it has)."""
    restored = copy.deepcopy(dict(payload))
    for path, parent, key in slots(restored):
        if path in values:
            parent[key] = values[path]
    return restored


def masked_paths(payload: Any) -> list[str]:
    """Concrete paths whose value is the mask."""
    return [path for path, parent, key in slots(payload) if parent[key] == MASK]


def personal_paths(payload: Any) -> list[str]:
    """Concrete paths whose value is personal and in clear (a payload from before s0005)."""
    return [path for path, parent, key in slots(payload) if parent[key] not in (None, "", MASK)]


def has_personal_values(payload: Any) -> bool:
    return bool(personal_paths(payload))


# --- who sees what ------------------------------------------------------------------------------


class PiiPolicyError(ValueError):
    """A PII setting that names no role Signoff knows."""


def parse_roles(text: str | None) -> tuple[str, ...]:
    roles = tuple(dict.fromkeys(r.strip() for r in (text or "").split(",") if r.strip()))
    unknown = sorted(set(roles) - {str(r) for r in Role})
    if unknown:
        raise PiiPolicyError(
            f"unknown role(s) {', '.join(unknown)}: choose among {', '.join(r.value for r in Role)}"
        )
    return roles


@dataclass(frozen=True)
class PiiPolicy:
    see: tuple[str, ...] = (str(Role.ESCALATION_MANAGER), str(Role.ADMIN))
    reveal: tuple[str, ...] = (str(Role.REVIEWER),)

    @classmethod
    def from_info(cls, info: Mapping[str, str]) -> PiiPolicy:
        """From store_info values; a missing key keeps the default."""
        default = cls()
        see = parse_roles(info[SEE_KEY]) if SEE_KEY in info else default.see
        reveal = parse_roles(info[REVEAL_KEY]) if REVEAL_KEY in info else default.reveal
        return cls(see, reveal)

    def to_info(self) -> dict[str, str]:
        return {SEE_KEY: ",".join(self.see), REVEAL_KEY: ",".join(self.reveal)}

    def sees(self, role: str) -> bool:
        return str(role) in self.see

    def may_reveal(self, role: str) -> bool:
        """Reveal is for roles that see the mask; a role that sees personal data has no need."""
        return str(role) in self.reveal and not self.sees(role)

    def describe(self) -> str:
        revealers = [r for r in self.reveal if r not in self.see]
        return (
            f"personal data shown to: {', '.join(self.see) or 'nobody'}; "
            f"revealed on request (audited) by: {', '.join(revealers) or 'nobody'}"
        )
