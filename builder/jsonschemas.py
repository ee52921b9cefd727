"""Check a loaded YAML/JSON document against a JSON Schema, in words an admin reads.

jsonschema's own messages are written for programmers ("Additional properties are
not allowed ('prots' was unexpected)"). Here every error becomes one
:class:`~builder.errors.Problem` that names the file, line, key path, and says what
to do, with a "did you mean" for misspelt keys and names. A schema may carry an
``x-message`` next to a constraint to phrase its failure.
"""

from __future__ import annotations

import difflib
import functools
import json
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

from .errors import Problem
from .datafiles import schema_path
from .yamlsource import Document, KeyPath


@functools.cache
def load_schema(name: str) -> dict[str, Any]:
    """A schema of ``schemas/`` by file name, parsed once."""
    return json.loads(Path(schema_path(name)).read_text(encoding="utf-8"))


@functools.cache
def validator(name: str) -> Any:
    """A jsonschema validator for a schema of ``schemas/``, made once, whose ``pattern``
    keeps JSON Schema's (ECMA-262) meaning: see :func:`ecma_regex`."""
    schema = load_schema(name)
    return validator_class(schema)(schema)


def validator_class(schema: dict[str, Any]) -> Any:
    """The jsonschema validator class for ``schema``'s dialect, with ECMA-262 patterns."""
    import jsonschema  # deferred: importing it costs more than the whole CLI start-up

    return _ecma_class(jsonschema.validators.validator_for(schema))


@functools.cache
def _ecma_class(base: Any) -> Any:
    """One extended class per dialect: making one costs about 13 ms, and a build asks for
    it for every schema it checks."""
    import jsonschema

    return jsonschema.validators.extend(base, {"pattern": _pattern})


def _pattern(validator: Any, pattern: str, instance: Any, schema: dict[str, Any]) -> Any:
    from jsonschema.exceptions import ValidationError

    if validator.is_type(instance, "string") and not ecma_search(pattern, instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


@functools.cache
def _compiled(pattern: str) -> Any:
    import re

    return re.compile(ecma_regex(pattern))


def string_test(schema: Mapping[str, Any]) -> Callable[[object], bool] | None:
    """For a schema that only constrains a string (``type``, ``minLength``, ``maxLength``,
    ``pattern``; ``description``, ``title``), a test that accepts exactly what it accepts,
    without jsonschema's machinery (a build checks tens of thousands of IDs); ``None`` for
    any other schema. On ``False``, ask the validator for the message."""
    if schema.get("type") != "string" or set(schema) - {"type", "minLength", "maxLength", "pattern", "description", "title"}:
        return None
    low, high, pattern = schema.get("minLength", 0), schema.get("maxLength"), schema.get("pattern")
    if not isinstance(low, int) or not (high is None or isinstance(high, int)) or not (pattern is None or isinstance(pattern, str)):
        return None
    compiled = _compiled(pattern) if pattern is not None else None

    def test(value: object) -> bool:
        # len() counts code points, as JSON Schema's lengths do.
        return (
            isinstance(value, str) and len(value) >= low and (high is None or len(value) <= high)
            and (compiled is None or compiled.search(value) is not None)
        )

    return test


def ecma_search(pattern: str, text: str) -> bool:
    """``pattern`` found in ``text`` as JSON Schema means it (ECMA-262, no flags)."""
    return _compiled(pattern).search(text) is not None


def ecma_regex(pattern: str) -> str:
    """A JSON Schema (ECMA-262) pattern as a Python regex with the same meaning.

    Two characters differ, and both let a trailing newline through in Python:
    ``$`` means the very end in ECMA-262 but "the end, or before a final newline" in
    Python (so ``^[a-z]+$`` would accept ``"host1\\n"``); ``.`` excludes every line
    terminator in ECMA-262 but only ``\\n`` in Python. Outside character classes they
    become ``\\Z`` and ``[^\\n\\r\\u2028\\u2029]``.
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
            out.append(char)
        elif char == "[":
            in_class = True
            out.append(char)
            if pattern[i + 1 : i + 2] == "]":  # "[]..." in Python: a literal "]" first
                out.append("]")
                i += 1
        elif char == "$":
            out.append("\\Z")
        elif char == ".":
            out.append("[^\\n\\r\\u2028\\u2029]")
        else:
            out.append(char)
        i += 1
    return "".join(out)


def schema_problems(doc: Document, schema_name: str) -> list[Problem]:
    """Every way ``doc.data`` breaks the schema, one problem each, in file order.

    A matrix of many policies that differ in little but their names is checked with
    each distinct policy once (:func:`_valid_by_shape`); when that finds anything, the
    whole document is checked again, so the problems are exactly those of a full check.
    """
    if _valid_by_shape(doc.data, schema_name):
        return []
    problems: list[Problem] = []
    for error in validator(schema_name).iter_errors(doc.data):
        problems.extend(_translate(doc, error))
    return sorted(set(problems), key=lambda p: (p.line, p.column, p.path, p.message))


#: Keywords of an array, and of its items, under which items can be checked one by one and
#: a field that no other keyword mentions can be checked on its own.
_ARRAY_KEYWORDS = {"type", "minItems", "items", "description", "title"}
_ITEM_KEYWORDS = {"type", "additionalProperties", "required", "properties", "description", "title"}


def _valid_by_shape(data: object, schema_name: str) -> bool:
    """Whether ``data`` passes, checking each distinct item of a repeated array once.

    For an array whose schema says nothing across items (no ``uniqueItems``, no
    ``contains``) and whose items are objects constrained only by their properties,
    items that are equal but for their free-standing fields (a policy's ``name`` and
    ``id``) pass or fail alike. Those fields are checked on their own; the document is
    checked with one item per shape. ``False`` means: check it in full.
    """
    if not isinstance(data, dict) or not any(isinstance(v, list) and len(v) >= 8 for v in data.values()):
        return False  # nothing repeated enough to be worth it (most matrices): no set-up
    arrays = _repeated_arrays(schema_name)
    if not arrays:
        return False
    reduced = dict(data)
    for name, fields in arrays.items():
        items = data.get(name)
        if not isinstance(items, list) or len(items) < 8 or not all(isinstance(i, dict) for i in items):
            continue
        field_validators = {f: _field_validator(schema_name, name, f) for f in fields}
        shapes: dict[str, dict[str, Any]] = {}
        for item in items:
            for field, check in field_validators.items():
                if field in item and not check.is_valid(item[field]):
                    return False
            stand_in = {k: (_STAND_INS[k] if k in fields else v) for k, v in item.items()}
            try:
                shapes.setdefault(json.dumps(stand_in, sort_keys=True), stand_in)
            except (TypeError, ValueError):
                return False
        reduced[name] = list(shapes.values())
    if all(reduced.get(name) is data.get(name) for name in arrays):
        return False  # nothing repeated enough to be worth it
    return bool(validator(schema_name).is_valid(reduced))


#: What stands in for a free-standing field while the rest of an item is checked: a value
#: every such field accepts (the field itself is checked on its own).
_STAND_INS = {"name": "x", "id": "x"}


@functools.cache
def _repeated_arrays(schema_name: str) -> dict[str, tuple[str, ...]]:
    """Top-level arrays of the schema whose items may be checked by shape, with the
    fields of an item that stand on their own (only ``name`` and ``id`` here)."""
    schema = load_schema(schema_name)
    out: dict[str, tuple[str, ...]] = {}
    for name, sub in schema.get("properties", {}).items():
        if not isinstance(sub, dict) or set(sub) - _ARRAY_KEYWORDS or sub.get("type") != "array":
            continue
        item = _resolve(schema, sub.get("items"))
        if not isinstance(item, dict) or set(item) - _ITEM_KEYWORDS or item.get("type") != "object":
            continue
        properties = item.get("properties", {})
        fields = tuple(f for f in _STAND_INS if f in properties and _standalone(schema, properties[f]))
        if fields:
            out[name] = fields
    return out


def _standalone(schema: dict[str, Any], sub: object) -> bool:
    """A field schema that constrains a string by itself (and accepts its stand-in)."""
    sub = _resolve(schema, sub)
    if not isinstance(sub, dict) or set(sub) - {"type", "minLength", "maxLength", "pattern", "description", "x-message"}:
        return False
    return bool(validator_class(schema)(sub).is_valid("x"))


def _resolve(schema: dict[str, Any], sub: object) -> object:
    if isinstance(sub, dict) and set(sub) == {"$ref"} and str(sub["$ref"]).startswith("#/$defs/"):
        return schema.get("$defs", {}).get(str(sub["$ref"])[len("#/$defs/"):])
    return sub


@functools.cache
def _field_validator(schema_name: str, array: str, field: str) -> Any:
    schema = load_schema(schema_name)
    item = _resolve(schema, schema["properties"][array]["items"])
    assert isinstance(item, dict)
    return validator_class(schema)(_resolve(schema, item["properties"][field]))


def json_problems(path: str, doc: object, schema_name: str) -> list[Problem]:
    """Every way a generated JSON/YAML document breaks a schema, located by JSON path."""
    return [Problem(path, path=e.json_path, message=e.message) for e in validator(schema_name).iter_errors(doc)]


def lean_problems(path: str, doc: object, schema_name: str) -> list[Problem]:
    """:func:`json_problems`, checked the lean way where a document repeats itself (a
    build.json of 1,000 policies lists 10,000 files and 33,000 rule IDs).

    Where a container's entries are independent of each other (no ``uniqueItems``, no
    condition across fields), a plain string (only ``type``, lengths, ``pattern``) is
    checked by :func:`string_test` and then stands for any other value that passed the
    same test; a list of plain strings, or a map of them, passes as an empty one; a list
    of objects is checked with one entry per distinct shape. jsonschema then checks that
    lean document; if anything fails, or anything is out of the ordinary, it checks the
    whole document, so the problems are exactly its own.
    """
    schema = load_schema(schema_name)
    reduced = _lean(schema, schema, doc, {})
    if reduced is not None and validator(schema_name).is_valid(reduced):
        return []
    return json_problems(path, doc, schema_name)


#: Keywords under which a container's entries are independent of each other and of it
#: (with those that validate nothing: identifiers, definitions, annotations).
_INERT = {"$schema", "$id", "$defs", "$comment", "description", "title"}
_LEAN_OBJECT = {"type", "additionalProperties", "required", "properties", "propertyNames"} | _INERT
_LEAN_ARRAY = {"type", "items"} | _INERT


def _lean(root: dict[str, Any], sub: object, value: object, stand_ins: dict[int, object]) -> object | None:
    """``value`` made lean (see :func:`lean_problems`), or ``None`` if an entry fails its test."""
    test = _plain(root, sub)
    if test is not None:
        if not test(value):
            return None
        return stand_ins.setdefault(id(test), value)  # any value that passed stands for the rest
    sub = _resolve(root, sub)
    if not isinstance(sub, dict):
        return value
    kind = sub.get("type")
    if kind == "array" and isinstance(value, list) and not set(sub) - _LEAN_ARRAY:
        if _plain(root, sub.get("items")) is not None:
            return [] if all(_lean(root, sub.get("items"), item, stand_ins) is not None for item in value) else None
        shapes: dict[str, object] = {}
        for item in value:
            lean = _lean(root, sub.get("items"), item, stand_ins)
            if lean is None:
                return None
            try:
                shapes.setdefault(json.dumps(lean, sort_keys=True), lean)
            except (TypeError, ValueError):
                return None
        return list(shapes.values())
    if kind == "object" and isinstance(value, dict) and not set(sub) - _LEAN_OBJECT:
        if "propertyNames" in sub and not sub.get("properties") and not sub.get("required"):
            names = _plain(root, dict(sub["propertyNames"], type="string"))
            rest = _plain(root, sub.get("additionalProperties"))
            if names is not None and rest is not None:
                return {} if all(names(k) and rest(v) for k, v in value.items()) else None
        properties = sub.get("properties", {})
        out: dict[str, object] = {}
        for key, item in value.items():
            lean = _lean(root, properties[key], item, stand_ins) if key in properties else item
            if lean is None:
                return None
            out[key] = lean
        return out
    return value


@functools.lru_cache(maxsize=256)
def _plain_for(key: str) -> Callable[[object], bool] | None:
    return string_test(json.loads(key))


def _plain(root: dict[str, Any], sub: object) -> Callable[[object], bool] | None:
    """The plain string test of ``sub`` (a ``$ref`` followed, its annotations aside), if any."""
    if isinstance(sub, dict) and "$ref" in sub and not set(sub) - {"$ref", "description", "title"}:
        sub = _resolve(root, {"$ref": sub["$ref"]})
    if not isinstance(sub, dict) or sub.get("type") != "string":
        return None
    return _plain_for(json.dumps(sub, sort_keys=True))


def suggest(value: object, choices: Iterable[str]) -> str:
    """``"; did you mean 'x'?"`` for the closest choice, or an empty string."""
    if not isinstance(value, str):
        return ""
    options = list(choices)
    folded = {c.casefold(): c for c in options}
    if value.casefold() in folded:
        return f"; did you mean {folded[value.casefold()]!r}?"
    close = difflib.get_close_matches(value, options, n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def describe_type(value: object) -> str:
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int):
        return "a whole number"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    if value is None:
        return "empty"
    return type(value).__name__


_TYPE_WORDS = {
    "object": "a mapping",
    "array": "a list",
    "string": "text",
    "integer": "a whole number",
    "number": "a number",
    "boolean": "true or false",
    "null": "empty",
}


def _translate(doc: Document, error: Any) -> list[Problem]:
    path: KeyPath = tuple(error.absolute_path)
    schema = error.schema if isinstance(error.schema, dict) else {}
    custom = schema.get("x-message")
    value = error.instance
    kind = error.validator
    shown = _show(value)

    if kind == "additionalProperties" and isinstance(value, dict):
        known = list(schema.get("properties", {}))
        out = []
        for key in value:
            if key not in known:
                out.append(doc.problem(path + (key,), f"unknown key {key!r}{suggest(key, known)}", key=True))
        return out
    if kind == "required":
        missing = [k for k in error.validator_value if isinstance(value, dict) and k not in value]
        return [doc.problem(path, f"missing required key {k!r}") for k in missing]

    # A property name that fails (propertyNames) reports the key, not the mapping.
    under_names = "propertyNames" in error.relative_schema_path or "propertyNames" in error.schema_path
    if under_names and isinstance(value, str):
        key_path = path + (value,)
        if kind == "enum":
            return [doc.problem(key_path, f"{value!r} {custom or 'is not a valid name'}{suggest(value, error.validator_value)}", key=True)]
        return [doc.problem(key_path, f"{value!r} {custom or 'is not a valid name'}", key=True)]

    if kind == "enum":
        choices = [str(c) for c in error.validator_value]
        tail = suggest(value, choices)
        if custom:
            return [doc.problem(path, f"{shown} {custom}{tail}")]
        if not tail and len(choices) <= 8:
            tail = f" (one of: {', '.join(choices)})"
        return [doc.problem(path, f"{shown} is not a valid choice{tail}")]
    if kind == "type":
        expected = error.validator_value
        words = " or ".join(_TYPE_WORDS.get(t, t) for t in ([expected] if isinstance(expected, str) else expected))
        return [doc.problem(path, f"must be {words}, not {describe_type(value)}")]
    if kind in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "const", "pattern"):
        if custom:
            return [doc.problem(path, f"{shown} {custom}" if kind != "const" else custom)]
        if kind == "pattern":
            return [doc.problem(path, f"{shown} does not have the expected form")]
        if kind == "const":
            return [doc.problem(path, f"must be {error.validator_value!r}")]
        bound = error.validator_value
        return [doc.problem(path, f"{shown} is {'below the minimum' if 'inimum' in kind else 'above the maximum'} {bound}")]
    if kind == "minItems":
        n = error.validator_value
        return [doc.problem(path, "must not be empty" if n == 1 else f"needs at least {n} entries")]
    if kind == "maxItems":
        return [doc.problem(path, f"has more than {error.validator_value} entries")]
    if kind == "minLength":
        return [doc.problem(path, "must not be empty")]
    if kind == "maxLength":
        return [doc.problem(path, f"is longer than {error.validator_value} characters")]
    if kind == "uniqueItems":
        return [doc.problem(path, "lists the same entry twice")]
    if kind in ("minProperties", "maxProperties"):
        return [doc.problem(path, custom or f"has the wrong number of keys ({kind} {error.validator_value})")]
    return [doc.problem(path, custom or error.message)]


def _show(value: object) -> str:
    if isinstance(value, (dict, list)):
        return describe_type(value)
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
