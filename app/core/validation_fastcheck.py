"""The fast predicate of ticket validation: a yes/no check generated from the schema.

A check generated from the schema (like fastjsonschema does), ~10x faster than jsonschema, which
`app.core.validation` then runs only on the tickets this refuses, to word their errors.
Generated rather than hand-written so a schema edit cannot leave it behind: any keyword it does
not know makes it give up (Unsupported) and jsonschema does all the work. It may refuse more
than the schema does (whatever it refuses goes to jsonschema, which has the last word), but it
must never accept more: tests compare the two on every rule.

GUI-free, and free of jsonschema: the format checker comes from the caller.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from jsonschema import FormatChecker

Regex = Callable[[str], re.Pattern[str]]  # a schema pattern (ECMA-262) compiled for Python

_ANNOTATIONS = frozenset(
    {"$schema", "$id", "$comment", "title", "description", "examples", "default", "deprecated"}
)

# Exact types, not isinstance: type(True) is bool, never int, so `true` is not a number here.
_EXACT_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "number": (int,),  # floats: see _float_rule
    "integer": (int,),
    "boolean": (bool,),
    "null": (type(None),),
    "object": (dict,),
    "array": (list,),
}

# Date-times with a day that exists in that month in every year (29 and 30 outside February,
# 31 in the 31-day months), upper-case T/Z and years 0002-9998: the common case, accepted
# without the slower rfc3339-validator call. Strictly narrower than the full check, so anything
# else (29 February included) just takes the full check.
_COMMON_DATETIME = re.compile(
    r"(?!0000|0001|9999)\d{4}-"
    r"(?:(?:0[1-9]|1[0-2])-(?:0[1-9]|1\d|2[0-8])|(?:0[13-9]|1[0-2])-(?:29|30)|(?:0[13578]|1[02])-31)"
    r"T(?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d(?:\.\d+)?(?:Z|[+-](?:[01]\d|2[0-3]):[0-5]\d)\Z",
    re.ASCII,
)


class Unsupported(Exception):
    pass


def _only(node: dict[str, Any], allowed: set[str]) -> None:
    unknown = set(node) - _ANNOTATIONS - allowed
    if unknown:
        raise Unsupported(sorted(unknown))


def _float_rule(kinds: Iterable[str]) -> Callable[[float], bool] | None:
    """Which floats a set of types admits: finite ones for number, whole ones for integer."""
    if "number" in kinds:
        return math.isfinite
    if "integer" in kinds:
        return float.is_integer  # Draft 2020-12 (and jsonschema): 1.0 is an integer
    return None


def _format_predicate(fmt: str, formats: FormatChecker) -> Callable[[str], bool]:
    if fmt == "date-time":
        common = _COMMON_DATETIME.match
        return lambda v: common(v) is not None or formats.conforms(v, fmt)
    return lambda v: formats.conforms(v, fmt)


class _CodeGen:
    """Writes the body of `def check(v0)`: each schema node becomes `if <wrong>: return False`.

    Every schema value reaches the code as a named constant, never as source text, except
    property names, which are written with repr().
    """

    def __init__(self, regex: Regex, formats: FormatChecker) -> None:
        self.regex = regex
        self.formats = formats
        self.lines: list[str] = []
        self.constants: dict[str, Any] = {}
        self.variables = 0

    def const(self, value: Any) -> str:
        name = f"_k{len(self.constants)}"
        self.constants[name] = value
        return name

    def variable(self) -> str:
        self.variables += 1
        return f"v{self.variables}"

    def emit(self, depth: int, line: str) -> None:
        self.lines.append("    " * depth + line)

    def fail_if(self, depth: int, condition: str) -> None:
        self.emit(depth, f"if {condition}: return False")

    def node(self, schema: Any, v: str, depth: int) -> None:
        if schema is True:
            return
        if not isinstance(schema, dict):
            raise Unsupported(schema)
        kind = schema.get("type")
        if kind is None:
            self.choice(schema, v, depth)
            return
        kinds = [kind] if isinstance(kind, str) else kind
        if not isinstance(kinds, list) or not all(k in _EXACT_TYPES for k in kinds):
            raise Unsupported(kind)
        if len(kinds) > 1 or kind in ("boolean", "null"):
            _only(schema, {"type"})
            self.types(kinds, v, depth)
        elif kind == "object":
            self.object(schema, v, depth)
        elif kind == "array":
            self.array(schema, v, depth)
        elif kind == "string":
            self.string(schema, v, depth)
        else:
            self.number(schema, kinds, v, depth)

    def choice(self, schema: dict[str, Any], v: str, depth: int) -> None:
        _only(schema, {"const", "enum"})
        if len(schema.keys() & {"const", "enum"}) != 1:
            raise Unsupported(schema)
        allowed = [schema["const"]] if "const" in schema else schema["enum"]
        if not all(isinstance(a, str) for a in allowed):
            raise Unsupported(allowed)  # other JSON values need jsonschema's equality rules
        self.fail_if(depth, f"type({v}) is not str or {v} not in {self.const(frozenset(allowed))}")

    def types(self, kinds: list[str], v: str, depth: int) -> None:
        classes = self.const(frozenset(c for k in kinds for c in _EXACT_TYPES[k]))
        float_ok = _float_rule(kinds)
        if float_ok is None:
            self.fail_if(depth, f"type({v}) not in {classes}")
        else:
            admits = f"type({v}) is float and {self.const(float_ok)}({v})"
            self.fail_if(depth, f"type({v}) not in {classes} and not ({admits})")

    def object(self, schema: dict[str, Any], v: str, depth: int) -> None:
        _only(schema, {"type", "properties", "required", "additionalProperties"})
        properties: dict[str, Any] = schema.get("properties", {})
        required = schema.get("required", [])
        self.fail_if(depth, f"type({v}) is not dict")
        # No explicit "required" check: reading a required field below raises KeyError,
        # which check() turns into False.
        extra = schema.get("additionalProperties", True)
        known = self.const(frozenset(properties))
        if extra is False:
            self.fail_if(depth, f"not {v}.keys() <= {known}")
        elif extra is not True:
            key, item = self.variable(), self.variable()
            self.emit(depth, f"for {key}, {item} in {v}.items():")
            self.emit(depth + 1, f"if {key} in {known}: continue")
            self.node(extra, item, depth + 1)
        for name in required:
            if name not in properties:
                self.emit(depth, f"{v}[{name!r}]")  # required, any value
        for name, sub in properties.items():
            if not isinstance(name, str):
                raise Unsupported(name)
            item = self.variable()
            if name in required:
                self.emit(depth, f"{item} = {v}[{name!r}]")
                self.node(sub, item, depth)
            else:
                self.emit(depth, f"if {name!r} in {v}:")
                self.emit(depth + 1, f"{item} = {v}[{name!r}]")
                self.node(sub, item, depth + 1)

    def array(self, schema: dict[str, Any], v: str, depth: int) -> None:
        _only(schema, {"type", "items", "minItems", "maxItems"})
        self.fail_if(depth, f"type({v}) is not list")
        self.sizes(schema, "minItems", "maxItems", v, depth)
        if schema.get("items", True) is not True:
            item = self.variable()
            self.emit(depth, f"for {item} in {v}:")
            self.emit(depth + 1, "pass")
            self.node(schema["items"], item, depth + 1)

    def string(self, schema: dict[str, Any], v: str, depth: int) -> None:
        _only(schema, {"type", "minLength", "maxLength", "pattern", "format"})
        self.fail_if(depth, f"type({v}) is not str")
        self.sizes(schema, "minLength", "maxLength", v, depth)
        if "pattern" in schema:
            search = self.const(self.regex(schema["pattern"]).search)
            self.fail_if(depth, f"{search}({v}) is None")
        if "format" in schema:
            full = self.const(_format_predicate(schema["format"], self.formats))
            if schema["format"] == "date-time":
                # The common shape inline: no call of a predicate for most date-times.
                self.fail_if(depth, f"{self.const(_COMMON_DATETIME.match)}({v}) is None and not {full}({v})")
            else:
                self.fail_if(depth, f"not {full}({v})")

    def sizes(self, schema: dict[str, Any], low: str, high: str, v: str, depth: int) -> None:
        if schema.get(low, 0) == 1 and high not in schema:
            self.fail_if(depth, f"not {v}")
        elif schema.get(low, 0) == 0 and high in schema:  # one comparison, not two
            self.fail_if(depth, f"len({v}) > {self.const(schema[high])}")
        elif low in schema or high in schema:
            bounds = self.const(schema.get(low, 0)), self.const(schema.get(high, math.inf))
            self.fail_if(depth, f"not {bounds[0]} <= len({v}) <= {bounds[1]}")

    def number(self, schema: dict[str, Any], kinds: list[str], v: str, depth: int) -> None:
        _only(schema, {"type", "minimum", "maximum"})
        rule = self.const(_float_rule(kinds))
        self.fail_if(depth, f"type({v}) is not int and not (type({v}) is float and {rule}({v}))")
        if "minimum" in schema:
            self.fail_if(depth, f"{v} < {self.const(schema['minimum'])}")
        if "maximum" in schema:
            self.fail_if(depth, f"{v} > {self.const(schema['maximum'])}")


def compile_check(schema: Any, regex: Regex, formats: FormatChecker) -> Callable[[Any], bool]:
    """The quick accept for `schema`; raises Unsupported if it uses what this cannot check.
    `regex` compiles a schema pattern, `formats` is the format checker jsonschema uses."""
    gen = _CodeGen(regex, formats)
    gen.node(schema, "v0", 2)
    # Builtins as default arguments: local lookups, the cheapest there are.
    builtins = ("type", "len", "str", "int", "float", "dict", "list")
    parameters = ", ".join(["v0", *(f"{name}={name}" for name in builtins)])
    source = "\n".join(
        [
            f"def check({parameters}):",
            "    try:",
            *gen.lines,
            "    except KeyError:",
            "        return False",
            "    return True",
        ]
    )
    namespace = dict(gen.constants)
    try:
        exec(compile(source, "<signoff.ticket fast check>", "exec"), namespace)
    except (SyntaxError, RecursionError, MemoryError) as exc:  # e.g. nesting beyond Python's
        raise Unsupported(exc) from exc
    check: Callable[[Any], bool] = namespace["check"]
    return check
