"""A compiled yes/no validator for the JSON Schema subset dta's schemas use (fast path).

Rules this module enforces:

* It only ever answers "valid" or "not valid"; error messages always come from ``jsonschema``.
  :mod:`dta.schemas` uses it as a fast path: ``True`` means jsonschema would report no error,
  ``False`` means jsonschema is asked for the errors.
* Every keyword it does not implement exactly makes :func:`compile_schema` raise
  :class:`Unsupported`, and the caller then uses ``jsonschema`` only. Implemented (draft 2020-12
  semantics, ``format`` as annotation as in ``jsonschema``'s default): type, enum, const,
  properties, patternProperties, additionalProperties, required, minProperties, maxProperties,
  items, prefixItems, minItems, maxItems, uniqueItems, pattern, minLength, maxLength, minimum,
  maximum, exclusiveMinimum, exclusiveMaximum, multipleOf (integers only), allOf, anyOf, oneOf,
  not, if/then/else, and ``$ref`` to ``#/json/pointer`` or ``<urn>#/json/pointer`` of a
  packaged schema.
* Equality for enum/const/uniqueItems follows JSON Schema: ``true`` is not ``1``, ``1`` equals
  ``1.0``, arrays and objects compare element-wise.
* A differential property test (tests/foundation/test_fastschema.py) checks agreement with
  ``jsonschema`` on random and mutated documents.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["Check", "Unsupported", "compile_schema"]

Check = Callable[[Any], bool]

_ANNOTATIONS = frozenset(
    {
        "$schema",
        "$id",
        "$comment",
        "$defs",
        "title",
        "description",
        "examples",
        "default",
        "deprecated",
        "readOnly",
        "writeOnly",
        "format",
        "contentMediaType",
        "contentEncoding",
    }
)


class Unsupported(Exception):
    """The schema uses a keyword the fast path does not implement exactly."""


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _is_integer(v: Any) -> bool:
    if isinstance(v, bool):
        return False
    return isinstance(v, int) or (isinstance(v, float) and v.is_integer())


_TYPES: dict[str, Check] = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "integer": _is_integer,
    "number": _is_number,
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
}


def _equal(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if _is_number(a) and _is_number(b):
        return bool(a == b)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    return type(a) is type(b) and bool(a == b)


def _unique(items: list[Any]) -> bool:
    return all(not _equal(items[i], items[j]) for i in range(len(items)) for j in range(i))


def _resolve_pointer(document: Any, pointer: str) -> Any:
    node = document
    if pointer in ("", "/"):
        return node
    if not pointer.startswith("/"):
        raise Unsupported(f"fragment {pointer!r}")
    for raw in pointer[1:].split("/"):
        token = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(node, list):
            node = node[int(token)]
        elif isinstance(node, dict) and token in node:
            node = node[token]
        else:
            raise Unsupported(f"unresolvable $ref pointer {pointer!r}")
    return node


class _Compiler:
    def __init__(self, resources: Mapping[str, Any]) -> None:
        self.resources = resources
        self.cache: dict[tuple[str, str], Check] = {}

    def ref(self, base: str, ref: str) -> Check:
        uri, _, fragment = ref.partition("#")
        uri = uri or base
        if uri not in self.resources:
            raise Unsupported(f"$ref to unknown resource {uri!r}")
        key = (uri, fragment)
        if key not in self.cache:
            cell: list[Check] = []
            self.cache[key] = lambda v: cell[0](v)  # noqa: PLW0108 - late-bound, for recursion
            target = _resolve_pointer(self.resources[uri], fragment)
            cell.append(self.compile(target, uri))
            self.cache[key] = cell[0]
        return self.cache[key]

    def compile(self, schema: Any, base: str) -> Check:
        if schema is True:
            return lambda v: True
        if schema is False:
            return lambda v: False
        if not isinstance(schema, dict):
            raise Unsupported("schema is not an object or boolean")
        if "$id" in schema and schema["$id"] != base:
            raise Unsupported("embedded $id")
        checks: list[Check] = []
        for keyword, arg in schema.items():
            if keyword in _ANNOTATIONS or keyword in {"then", "else"}:
                continue
            builder = getattr(self, "k_" + keyword.lstrip("$"), None)
            if builder is None:
                raise Unsupported(f"keyword {keyword!r}")
            checks.append(builder(arg, schema, base))
        if not checks:
            return lambda v: True
        if len(checks) == 1:
            return checks[0]
        return lambda v: all(c(v) for c in checks)

    # --- keywords -------------------------------------------------------------------------
    def k_ref(self, arg: Any, schema: Any, base: str) -> Check:
        return self.ref(base, arg)

    def k_type(self, arg: Any, schema: Any, base: str) -> Check:
        names = [arg] if isinstance(arg, str) else list(arg)
        tests = [_TYPES[n] for n in names]
        return lambda v: any(t(v) for t in tests)

    def k_enum(self, arg: Any, schema: Any, base: str) -> Check:
        return lambda v: any(_equal(v, option) for option in arg)

    def k_const(self, arg: Any, schema: Any, base: str) -> Check:
        return lambda v: _equal(v, arg)

    def k_required(self, arg: Any, schema: Any, base: str) -> Check:
        names = tuple(arg)
        return lambda v: not isinstance(v, dict) or all(n in v for n in names)

    def k_properties(self, arg: Any, schema: Any, base: str) -> Check:
        subs = {name: self.compile(sub, base) for name, sub in arg.items()}

        def check(v: Any) -> bool:
            if not isinstance(v, dict):
                return True
            return all(subs[k](v[k]) for k in subs.keys() & v.keys())

        return check

    def k_patternProperties(self, arg: Any, schema: Any, base: str) -> Check:  # noqa: N802
        subs = [(re.compile(p), self.compile(s, base)) for p, s in arg.items()]

        def check(v: Any) -> bool:
            if not isinstance(v, dict):
                return True
            return all(c(v[k]) for k in v for rx, c in subs if rx.search(k))

        return check

    def k_additionalProperties(self, arg: Any, schema: Any, base: str) -> Check:  # noqa: N802
        known = frozenset(schema.get("properties", {}))
        patterns = [re.compile(p) for p in schema.get("patternProperties", {})]
        sub = self.compile(arg, base)

        def check(v: Any) -> bool:
            if not isinstance(v, dict):
                return True
            for k in v:
                if k in known or any(rx.search(k) for rx in patterns):
                    continue
                if not sub(v[k]):
                    return False
            return True

        return check

    def k_minProperties(self, arg: Any, schema: Any, base: str) -> Check:  # noqa: N802
        return lambda v: not isinstance(v, dict) or len(v) >= arg

    def k_maxProperties(self, arg: Any, schema: Any, base: str) -> Check:  # noqa: N802
        return lambda v: not isinstance(v, dict) or len(v) <= arg

    def k_items(self, arg: Any, schema: Any, base: str) -> Check:
        sub = self.compile(arg, base)
        skip = len(schema.get("prefixItems", ()))
        return lambda v: not isinstance(v, list) or all(sub(x) for x in v[skip:])

    def k_prefixItems(self, arg: Any, schema: Any, base: str) -> Check:  # noqa: N802
        subs = [self.compile(s, base) for s in arg]
        return lambda v: not isinstance(v, list) or all(c(x) for c, x in zip(subs, v, strict=False))

    def k_minItems(self, arg: Any, schema: Any, base: str) -> Check:  # noqa: N802
        return lambda v: not isinstance(v, list) or len(v) >= arg

    def k_maxItems(self, arg: Any, schema: Any, base: str) -> Check:  # noqa: N802
        return lambda v: not isinstance(v, list) or len(v) <= arg

    def k_uniqueItems(self, arg: Any, schema: Any, base: str) -> Check:  # noqa: N802
        if not arg:
            return lambda v: True
        return lambda v: not isinstance(v, list) or _unique(v)

    def k_pattern(self, arg: Any, schema: Any, base: str) -> Check:
        rx = re.compile(arg)
        return lambda v: not isinstance(v, str) or rx.search(v) is not None

    def k_minLength(self, arg: Any, schema: Any, base: str) -> Check:  # noqa: N802
        return lambda v: not isinstance(v, str) or len(v) >= arg

    def k_maxLength(self, arg: Any, schema: Any, base: str) -> Check:  # noqa: N802
        return lambda v: not isinstance(v, str) or len(v) <= arg

    def k_minimum(self, arg: Any, schema: Any, base: str) -> Check:
        return lambda v: not _is_number(v) or v >= arg

    def k_maximum(self, arg: Any, schema: Any, base: str) -> Check:
        return lambda v: not _is_number(v) or v <= arg

    def k_exclusiveMinimum(self, arg: Any, schema: Any, base: str) -> Check:  # noqa: N802
        return lambda v: not _is_number(v) or v > arg

    def k_exclusiveMaximum(self, arg: Any, schema: Any, base: str) -> Check:  # noqa: N802
        return lambda v: not _is_number(v) or v < arg

    def k_multipleOf(self, arg: Any, schema: Any, base: str) -> Check:  # noqa: N802
        if not isinstance(arg, int) or isinstance(arg, bool):
            raise Unsupported("non-integer multipleOf")
        return lambda v: not _is_number(v) or not v % arg  # jsonschema's rule for int divisors

    def k_allOf(self, arg: Any, schema: Any, base: str) -> Check:  # noqa: N802
        subs = [self.compile(s, base) for s in arg]
        return lambda v: all(c(v) for c in subs)

    def k_anyOf(self, arg: Any, schema: Any, base: str) -> Check:  # noqa: N802
        subs = [self.compile(s, base) for s in arg]
        return lambda v: any(c(v) for c in subs)

    def k_oneOf(self, arg: Any, schema: Any, base: str) -> Check:  # noqa: N802
        subs = [self.compile(s, base) for s in arg]
        return lambda v: sum(1 for c in subs if c(v)) == 1

    def k_if(self, arg: Any, schema: Any, base: str) -> Check:
        cond = self.compile(arg, base)
        then = self.compile(schema.get("then", True), base)
        other = self.compile(schema.get("else", True), base)
        return lambda v: then(v) if cond(v) else other(v)

    def k_not(self, arg: Any, schema: Any, base: str) -> Check:
        sub = self.compile(arg, base)
        return lambda v: not sub(v)


def compile_schema(sid: str, resources: Mapping[str, Any]) -> Check:
    """Compile the schema with ``$id`` ``sid`` into a yes/no check.

    Args:
        sid: ``$id`` of the schema to compile.
        resources: Every packaged schema by ``$id`` (for ``$ref`` between schemas).

    Raises:
        Unsupported: The schema (or one it references) uses a keyword not implemented exactly.
    """
    return _Compiler(resources).ref(sid, "")
