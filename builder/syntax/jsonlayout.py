"""The one JSON layout cmfw writes: readable, diffable, and fast to produce.

Containers are spread one entry per line; a *record* (a mapping whose values are
scalars or lists of scalars, such as a rule) stays on one line. A changed rule is one
changed line in a diff, and records go through the C encoder in one call each:
``json.dumps(indent=...)`` would use the pure-Python encoder for everything.
"""

from __future__ import annotations

import json
from typing import Any

#: One value on one line, as :func:`dumps` writes a record (the C encoder).
compact = json.JSONEncoder(ensure_ascii=False, separators=(", ", ": ")).encode


def _is_record(value: Any) -> bool:
    # Plain loops: this runs once per rule of a build, and generators cost twice as much.
    if isinstance(value, dict):
        for item in value.values():
            if isinstance(item, dict):
                return False
            if isinstance(item, list):
                for inner in item:
                    if isinstance(inner, (dict, list)):
                        return False
        return True
    if isinstance(value, list):
        for item in value:
            if isinstance(item, (dict, list)):
                return False
    return True


def dumps(value: Any) -> bytes:
    """UTF-8, two-space indentation, LF line ends, final newline; key order as given."""
    out: list[str] = []
    _write(value, 0, out)
    out.append("\n")
    return "".join(out).encode("utf-8")


def _write(value: Any, depth: int, out: list[str]) -> None:
    if _is_record(value) and (depth > 0 or not isinstance(value, dict)) or not value:
        out.append(compact(value))
        return
    pad = "  " * (depth + 1)
    items = value.items() if isinstance(value, dict) else enumerate(value)
    open_, close = ("{", "}") if isinstance(value, dict) else ("[", "]")
    out.append(open_)
    first = True
    for key, item in items:
        out.append("\n" + pad if first else ",\n" + pad)
        first = False
        if isinstance(value, dict):
            out.append(compact(key) + ": ")
        _write(item, depth + 1, out)
    out.append("\n" + "  " * depth + close)
