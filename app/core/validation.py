"""Validation of incoming tickets against the ``signoff.ticket/1`` contract.

The JSON Schema (``app/core/spec/ticket-v1.schema.json``) is the contract; jsonschema is the
authority that words the errors. Ingest validates up to 100k lines at a time and jsonschema
costs ~0.5 ms per ticket, so a predicate generated from the schema (``validation_fastcheck``)
accepts valid tickets first and jsonschema only runs on the lines that fail it (it is imported
at the first validation, not with this module); tests keep the two in agreement.

Besides the schema, this module rejects what Python's json module would otherwise let through
silently: NaN/Infinity, numbers that overflow to infinity, duplicate keys, unpaired surrogates,
and values that ``$`` in a Python regex accepts but ECMA-262 (the schema's regex dialect) does not.

GUI-free: no Qt, no SQL.
"""

from __future__ import annotations

import copy
import difflib
import functools
import hashlib
import json
import math
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from typing import TYPE_CHECKING, Any, BinaryIO, NamedTuple

from rfc3339_validator import validate_rfc3339

from app.core.validation_fastcheck import Unsupported, compile_check

if TYPE_CHECKING:
    from jsonschema import FormatChecker, ValidationError

SCHEMA_ID = "signoff.ticket/1"

ROOT = "$"  # the path of an error about the whole line
_CHUNK_SIZE = 1 << 20  # read_jsonl reads file objects this many bytes at a time
_BOM = b"\xef\xbb\xbf"
_JSON_WHITESPACE = b" \t\r\n"
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*", re.ASCII)


# --- public records --------------------------------------------------------------------------


@dataclass(frozen=True)
class FieldError:
    path: str  # "ai.confidence", "interaction.messages[0].text"; "$" for the whole line
    message: str


@dataclass(frozen=True)
class LineError:
    line: int  # 1-based physical line number in the file
    error: FieldError

    def format(self, filename: str) -> str:
        return f"{filename}:{self.line}: {self.error.path}: {self.error.message}"


@dataclass(frozen=True)
class ValidTicket:
    line: int
    ticket: dict[str, Any]  # normalised: "source" filled with its default when absent


# --- schema and validators -------------------------------------------------------------------


@functools.cache
def _schema() -> dict[str, Any]:
    resource = resources.files("app.core") / "spec" / "ticket-v1.schema.json"
    schema: dict[str, Any] = json.loads(resource.read_text(encoding="utf-8"))
    return schema


def load_schema() -> dict[str, Any]:
    """The ticket schema. Read once; each caller gets its own copy, so nobody can edit ours."""
    return copy.deepcopy(_schema())


def _is_number(_checker: object, value: object) -> bool:
    # bool is an int in Python but `true` is not a number in JSON; NaN/Infinity are not JSON
    # numbers (and would slip past minimum/maximum, since every comparison with NaN is False).
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return True
    return isinstance(value, float) and math.isfinite(value)


@functools.cache
def _regex(pattern: str) -> re.Pattern[str]:
    """Compile a schema pattern (ECMA-262) for Python.

    ECMA's ``$`` (without the m flag) matches only at the very end; Python's also matches before a
    final newline, so "lead_qualification\\n" would pass "^[a-z][a-z0-9_]{1,63}$". Translate every
    ``$`` outside a character class to ``\\Z``.
    """
    out: list[str] = []
    in_class = False
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char == "\\":
            out.append(pattern[i : i + 2])
            i += 2
            continue
        if in_class:
            in_class = char != "]"
        elif char == "[":
            in_class = True
        elif char == "$":
            char = r"\Z"
        out.append(char)
        i += 1
    return re.compile("".join(out))


def _pattern_keyword(
    validator: Any, pattern: str, instance: object, schema: dict[str, Any]
) -> Iterator[ValidationError]:
    if validator.is_type(instance, "string") and not _regex(pattern).search(instance):
        from jsonschema import ValidationError

        yield ValidationError(f"{instance!r} does not match {pattern!r}")


class _OutOfRange(ValueError):
    pass


def _is_datetime(value: object) -> bool:
    if not isinstance(value, str):
        return True  # format only applies to strings; "type" reports the rest
    # rfc3339-validator's regex ends in "$", so "...Z\n" would pass; and upper-casing (for its
    # upper-case-only regex) must not turn a non-ASCII character into ASCII. Neither is RFC 3339.
    if not value.isascii() or value.endswith("\n") or not validate_rfc3339(value.upper()):
        return False
    if value.startswith(("0001", "9999")):
        # Valid RFC 3339, but converting to UTC leaves datetime's range (years 1-9999) and
        # the store would crash on a line we accepted.
        try:
            datetime.fromisoformat(value.upper().replace("Z", "+00:00")).astimezone(UTC)
        except OverflowError as exc:
            raise _OutOfRange(value) from exc
    return True


# jsonschema is imported when the first ticket is validated, not with this module: it takes
# ~0.3 s, and the reviewer window, which imports this module, starts without it (issue 7, P2).


@functools.cache
def _formats() -> FormatChecker:
    from jsonschema import Draft202012Validator, FormatChecker

    checker = FormatChecker(formats=())
    checker.checkers.update(Draft202012Validator.FORMAT_CHECKER.checkers)
    # Our own date-time check, still built on rfc3339-validator: importing it above makes a
    # missing dependency fail loudly instead of jsonschema silently skipping the format.
    checker.checks("date-time", raises=_OutOfRange)(_is_datetime)
    return checker


@functools.cache
def _validator_class() -> Any:
    from jsonschema import Draft202012Validator
    from jsonschema.validators import extend

    return extend(
        Draft202012Validator,
        validators={"pattern": _pattern_keyword},
        type_checker=Draft202012Validator.TYPE_CHECKER.redefine("number", _is_number),
    )


class _Engine(NamedTuple):
    validator: Any  # the jsonschema validator: authority, and words the errors
    fast: Callable[[Any], bool] | None  # quick accept; None if the schema uses what it can't do


@functools.cache
def _engine() -> _Engine:
    schema = _schema()
    validator_class = _validator_class()
    validator_class.check_schema(schema)
    validator = validator_class(schema, format_checker=_formats())
    try:
        fast: Callable[[Any], bool] | None = compile_check(schema, _regex, _formats())
    except Unsupported:
        fast = None  # still correct, just slower
    return _Engine(validator, fast)


# --- error wording ---------------------------------------------------------------------------


def _path(parts: Iterable[object]) -> str:
    out: list[str] = []
    for part in parts:
        if isinstance(part, int):
            out.append(f"[{part}]")
        elif isinstance(part, str) and _IDENTIFIER.fullmatch(part):
            out.append(f".{part}" if out else part)
        else:
            # Keys that would make the path ambiguous or span lines ("a.b", "x\ny") are quoted.
            out.append(f"[{_show(part)}]")
    return "".join(out) or ROOT


def _show(value: object) -> str:
    """A value as it appears in a message: JSON words for JSON constants, short, one line.

    repr() escapes newlines, control and bidi characters, so a hostile value cannot forge extra
    lines or reorder text in an error report.
    """
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, str):
        return repr(value) if len(value) <= 60 else repr(value[:60]) + "…"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    try:
        shown = repr(value)
    except ValueError:  # an int too long to print
        return "a very large number"
    return shown if len(shown) <= 40 else shown[:40] + "…"


_TYPE_NAMES = {
    "string": "a string",
    "number": "a number",
    "integer": "an integer",
    "boolean": "a boolean",
    "null": "null",
    "object": "an object",
    "array": "an array",
}

_PATTERN_WORDING = {
    "^[a-z][a-z0-9_]{1,63}$": "must be 2-64 characters of a-z, 0-9 and _, starting with a letter",
    "^[A-Z]{3}$": "must be a three-letter upper-case code such as 'USD'",
}


def _type_message(expected: str | list[str], value: object, at_root: bool) -> str:
    types = [expected] if isinstance(expected, str) else list(expected)
    got = _show(value)
    if at_root and types == ["object"]:
        return f"must be a JSON object, one ticket per line (got {got})"
    if isinstance(value, float) and not math.isfinite(value) and {"number", "integer"} & set(types):
        return f"must be a finite number (got {got})"
    if types == ["boolean"]:
        return f"must be true or false (got {got})"
    names = [_TYPE_NAMES.get(t, t) for t in types]
    wanted = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]
    return f"must be {wanted} (got {got})"


def _unknown_field(name: object, known: Iterable[str]) -> str:
    hint = ""
    if isinstance(name, str):
        close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.75)
        if close:
            hint = f"; did you mean {close[0]!r}?"
    return f"unknown field {_show(name)} (not in {SCHEMA_ID}{hint})"


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def _message(error: ValidationError, at_root: bool) -> str:
    keyword, limit, value = error.validator, error.validator_value, error.instance
    got = _show(value)
    if keyword == "type":
        return _type_message(limit, value, at_root)
    if keyword == "const":
        return f"must be {_show(limit)} (got {got})"
    if keyword == "enum":
        return f"must be one of {', '.join(_show(v) for v in limit)} (got {got})"
    if keyword == "minLength":
        if limit == 1:
            return "must not be empty"
        return f"must be at least {_plural(limit, 'character')} long (got {len(value)})"
    if keyword == "maxLength":
        return f"must be at most {_plural(limit, 'character')} long (got {len(value)})"
    if keyword == "minimum":
        return f"must be at least {_show(limit)} (got {got})"
    if keyword == "maximum":
        return f"must be at most {_show(limit)} (got {got})"
    if keyword == "minItems":
        return f"must have at least {_plural(limit, 'item')} (got {len(value)})"
    if keyword == "maxItems":
        return f"must have at most {_plural(limit, 'item')} (got {len(value)})"
    if keyword == "pattern":
        wording = _PATTERN_WORDING.get(limit, f"must match the pattern {limit}")
        return f"{wording} (got {got})"
    if keyword == "format" and limit == "date-time":
        if isinstance(error.cause, _OutOfRange):
            return f"date-time outside years 0001-9999 once converted to UTC: {got}"
        return f"not an RFC 3339 date-time with UTC offset: {got}"
    return error.message  # a keyword this wording does not know yet: jsonschema's own words


def _translate(error: ValidationError) -> Iterator[FieldError]:
    parts = list(error.absolute_path)
    instance = error.instance
    if error.validator == "required":
        # jsonschema reports a missing field at its parent; we name the field itself.
        for name in error.validator_value:
            if name not in instance:
                yield FieldError(_path([*parts, name]), "required field missing")
        return
    if error.validator == "additionalProperties" and error.validator_value is False:
        # One error per unknown field, at that field, instead of one list at the parent.
        known = error.schema.get("properties", {})
        patterns = [_regex(p) for p in error.schema.get("patternProperties", {})]
        for name in instance:
            if name in known or any(p.search(name) for p in patterns):
                continue
            yield FieldError(_path([*parts, name]), _unknown_field(name, known))
        return
    yield FieldError(_path(parts), _message(error, at_root=not parts))


def _sort_key(error: FieldError) -> tuple[bool, tuple[str | int, ...], str]:
    # "$" first; then natural order, so messages[2] comes before messages[10].
    chunks = re.split(r"(\d+)", error.path)
    natural = tuple(int(c) if i % 2 else c for i, c in enumerate(chunks))
    return (error.path != ROOT, natural, error.message)


def _text_errors(obj: Any) -> list[FieldError]:
    """Unpaired surrogates ("\\ud800" escapes): Python keeps them, but they are not Unicode and
    cannot be written as UTF-8, so a database or an export would fail on them later."""
    errors: list[FieldError] = []
    stack: list[tuple[tuple[object, ...], Any]] = [((), obj)]
    while stack:  # iterative: unknown fields may nest arbitrarily deep
        parts, node = stack.pop()
        if isinstance(node, dict):
            for key, value in node.items():
                here = (*parts, key)
                if isinstance(key, str) and _surrogate(key):
                    errors.append(FieldError(_path(here), _surrogate_message(key, "field name")))
                stack.append((here, value))
        elif isinstance(node, list):
            stack.extend(((*parts, i), value) for i, value in enumerate(node))
        elif isinstance(node, str) and _surrogate(node):
            errors.append(FieldError(_path(parts), _surrogate_message(node, "text")))
    return errors


def _surrogate(text: str) -> str | None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        return text[exc.start]
    return None


def _surrogate_message(text: str, what: str) -> str:
    char = _surrogate(text) or "?"
    return f"{what} contains an unpaired surrogate \\u{ord(char):04x}, which is not valid Unicode"


# --- validation ------------------------------------------------------------------------------


def validate_ticket(obj: Any) -> list[FieldError]:
    """Every problem with one ticket object (as json.loads gives it), sorted by path."""
    return _validate(obj, check_storable=True)


def _validate(obj: Any, check_storable: bool) -> list[FieldError]:
    engine = _engine()
    errors: set[FieldError] = set()
    if engine.fast is None or not engine.fast(obj):
        for error in engine.validator.iter_errors(obj):
            errors.update(_translate(error))
    if errors:
        errors.update(_text_errors(obj))
    elif check_storable:
        # A schema-valid ticket must also survive what the store will do with it.
        try:
            canonical_json(obj).encode("utf-8")
        except (UnicodeEncodeError, ValueError, TypeError) as exc:
            errors.update(_text_errors(obj) or [FieldError(ROOT, f"not storable as JSON: {exc}")])
    return sorted(errors, key=_sort_key)


def first_error(errors: list[FieldError]) -> FieldError:
    """The one error reported for a bad line: a "$" error if any, else the first by path."""
    if not errors:
        raise ValueError("first_error() needs at least one error")
    return min(errors, key=_sort_key)


@functools.cache
def _default_source() -> str:
    default: str = _schema()["properties"]["source"]["default"]
    return default


def _normalise(ticket: dict[str, Any]) -> dict[str, Any]:
    """Fill defaults in place, so equal tickets hash equal and the store can rely on them."""
    if "source" not in ticket:
        ticket["source"] = _default_source()
    routing = ticket.get("routing")
    if routing is not None and isinstance(routing.get("priority"), float):
        # JSON Schema counts 1.0 as an integer; the store's column wants an int.
        routing["priority"] = int(routing["priority"])
    return ticket


# --- parsing ---------------------------------------------------------------------------------


class _BadLine(Exception):
    """A line that fails before schema validation, with its one error."""

    def __init__(self, error: FieldError) -> None:
        super().__init__(error)
        self.error = error


class _DuplicateKey(Exception):
    pass


def _unique_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise _DuplicateKey  # located by a second, slower parse: off the hot path
    return obj


def _no_constants(name: str) -> Any:
    raise _BadLine(FieldError(ROOT, f"not valid JSON: {name} is not a number in JSON"))


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e400 would silently become Infinity
        raise _BadLine(FieldError(ROOT, f"not valid JSON: number {text[:40]} is too large"))
    return value


_DECODER = json.JSONDecoder(
    object_pairs_hook=_unique_pairs, parse_constant=_no_constants, parse_float=_finite_float
)


class _Duplicates(dict[str, Any]):
    """An object that repeated keys, remembering which, so the error can say where."""

    repeated: list[tuple[str, int]]


def _marking_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) == len(pairs):
        return obj
    marked = _Duplicates(obj)
    counts: dict[str, int] = {}
    for key, _value in pairs:
        counts[key] = counts.get(key, 0) + 1
    marked.repeated = [(key, n) for key, n in counts.items() if n > 1]
    return marked


_MARKING_DECODER = json.JSONDecoder(
    object_pairs_hook=_marking_pairs, parse_constant=_no_constants, parse_float=_finite_float
)

_JSON_WORDING = {"Extra data": "more than one JSON value on the line"}


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:]


def _decode(decoder: json.JSONDecoder, text: str) -> Any:
    try:
        return decoder.decode(text)
    except json.JSONDecodeError as exc:
        if text.startswith("\ufeff"):
            what = "a UTF-8 byte order mark is only allowed at the start of the file"
        else:
            what = _JSON_WORDING.get(exc.msg, _lower_first(exc.msg))
            # Some messages end in "at" already ("Unterminated string starting at").
            what = f"{what} {'' if what.endswith(' at') else 'at '}column {exc.colno}"
        raise _BadLine(FieldError(ROOT, f"not valid JSON: {what}")) from None
    except RecursionError:
        raise _BadLine(FieldError(ROOT, "not valid JSON: nested too deeply")) from None
    except ValueError as exc:  # e.g. an integer longer than Python's 4300-digit limit
        message = f"not valid JSON: {_lower_first(str(exc).split(';')[0])}"
        raise _BadLine(FieldError(ROOT, message)) from None


def _load(text: str) -> Any:
    """The JSON value of one line; raises _BadLine if it is not acceptable JSON."""
    try:
        return _decode(_DECODER, text)
    except _DuplicateKey:
        pass
    # A repeated key (the last value would silently win): parse again to say where.
    errors: list[FieldError] = []
    stack: list[tuple[tuple[object, ...], Any]] = [((), _decode(_MARKING_DECODER, text))]
    while stack:
        parts, node = stack.pop()
        if isinstance(node, _Duplicates):
            for key, count in node.repeated:
                message = f"duplicate key {_show(key)}: appears {count} times in one object"
                errors.append(FieldError(_path([*parts, key]), message))
        if isinstance(node, dict):
            stack.extend(((*parts, k), v) for k, v in node.items())
        elif isinstance(node, list):
            stack.extend(((*parts, i), v) for i, v in enumerate(node))
    raise _BadLine(first_error(errors or [FieldError(ROOT, "duplicate key in one object")]))


def _utf8_message(raw: bytes, exc: UnicodeDecodeError) -> str:
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "not valid UTF-8: the file looks like UTF-16; save it as UTF-8"
    return f"not valid UTF-8: byte 0x{raw[exc.start]:02x} at byte {exc.start + 1} of the line"


_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def parse_ticket_line(raw: bytes, line: int) -> ValidTicket | LineError:
    """One line of a .jsonl file (without its "\\n") to a valid ticket or its one error."""
    if raw.endswith(b"\r"):
        raw = raw[:-1]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return LineError(line, FieldError(ROOT, _utf8_message(raw, exc)))
    try:
        obj = _load(text)
    except _BadLine as exc:
        return LineError(line, exc.error)
    # Straight from JSON text, the only thing canonical_json could still fail on is an unpaired
    # surrogate, and that can only come from a \uD800-\uDFFF escape: skip the check otherwise.
    errors = _validate(obj, check_storable=_SURROGATE_ESCAPE.search(text) is not None)
    if errors:
        return LineError(line, first_error(errors))
    return ValidTicket(line, _normalise(obj))


def _split_bytes(data: bytes) -> Iterator[bytes]:
    start = 0
    while True:
        end = data.find(b"\n", start)
        if end < 0:
            if start < len(data):
                yield data[start:]
            return
        yield data[start:end]
        start = end + 1


def _split_stream(stream: BinaryIO) -> Iterator[bytes]:
    # Fixed-size reads rather than readline(): works for any object with read(), and only
    # splits on b"\n" (U+2028/U+2029/U+0085 may sit inside JSON strings).
    pending: list[bytes] = []
    while True:
        chunk = stream.read(_CHUNK_SIZE)
        if chunk is None:  # a non-blocking stream with nothing ready: stopping would lose lines
            raise BlockingIOError("read_jsonl() needs a blocking binary stream")
        if not chunk:
            break
        if not isinstance(chunk, bytes | bytearray):
            raise TypeError("read_jsonl() needs bytes or a binary file, not a text file")
        start = 0
        while (end := chunk.find(b"\n", start)) >= 0:
            if pending:
                pending.append(chunk[start:end])
                yield b"".join(pending)
                pending.clear()
            else:
                yield bytes(chunk[start:end])
            start = end + 1
        if start < len(chunk):
            pending.append(bytes(chunk[start:]))
    if pending:
        yield b"".join(pending)


def read_jsonl(data: bytes | BinaryIO) -> Iterator[ValidTicket | LineError]:
    """Every ticket line of a JSON Lines file, in order, each valid or with its one error.

    Streams file objects; blank lines are skipped (they are not tickets) but still counted, so
    line numbers match what an editor shows.
    """
    if isinstance(data, bytes | bytearray | memoryview):
        lines = _split_bytes(bytes(data))
    else:
        lines = _split_stream(data)
    for number, raw in enumerate(lines, start=1):
        if number == 1 and raw.startswith(_BOM):
            raw = raw[len(_BOM) :]
        if not raw.strip(_JSON_WHITESPACE):
            continue
        yield parse_ticket_line(raw, number)


# --- canonical form --------------------------------------------------------------------------


# What json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
# allow_nan=False) builds on every call, built once: ingest serialises three times a ticket.
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def canonical_json(obj: Any) -> str:
    """The one text of a JSON value: used for content hashes and the audit chain."""
    return _CANONICAL.encode(obj)


def _tree_encoder() -> Callable[[Any], str]:
    """canonical_json for a value with no object inside itself (anything json.loads gives, and
    ingest's masked copies of it): the same text without the bookkeeping that detects such a
    cycle, from one C encoder built once. ~15% faster on a ticket (issue 7, P6)."""
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:  # no C accelerator (another Python): the plain way
        return canonical_json
    # The arguments JSONEncoder.iterencode passes, minus the cycle markers (None).
    basestring = json.encoder.encode_basestring
    chunks = make(None, _CANONICAL.default, basestring, None, ":", ",", True, False, False)

    def encode(obj: Any) -> str:
        if isinstance(obj, dict | list):
            return "".join(chunks(obj, 0))
        if type(obj) is str:
            return basestring(obj)
        return canonical_json(obj)

    return encode


canonical_tree_json = _tree_encoder()


def content_hash(ticket: dict[str, Any]) -> str:
    return text_hash(canonical_json(ticket))


def text_hash(canonical: str) -> str:
    """SHA-256 of text already in canonical form (saves serialising a ticket twice)."""
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()
