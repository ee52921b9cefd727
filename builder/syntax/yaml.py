"""YAML, written for readers that differ: every string quoted, keys that stay keys.

cmfw writes YAML only for DSC v3 documents. A quoted scalar is read as text by YAML
1.1 and 1.2 readers alike, so ``'True'``, ``'80'`` and ``'no'`` never turn into a
boolean or a number. One-line text is single-quoted (only ``'`` needs escaping:
doubled); text with line breaks or tabs (a script) is double-quoted, with the
escapes both YAML versions share (``\n``, ``\r``, ``\t``, ``\\``, ``\"``).
Keys are identifiers, quoted when a YAML 1.1 reader would take them for a boolean or
null.
"""

from __future__ import annotations

import functools
import re
from typing import Any

_PLAIN_KEY = re.compile(r"\$?[A-Za-z][A-Za-z0-9_]*")
#: Words a YAML 1.1 reader (PyYAML, and so many tools) takes as booleans or null.
_YAML11_WORDS = {"y", "yes", "n", "no", "true", "false", "on", "off", "null"}
#: Characters a YAML scalar cannot hold, even escaped (outside YAML's printable set).
_NOT_YAML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x84\x86-\x9f\ud800-\udfff\ufffe\uffff]")
_DOUBLE = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def dumps(doc: dict[str, Any], header: str = "") -> bytes:
    """Block-style YAML with every string single-quoted, after an optional comment line.

    A document here is only mappings with identifier keys, lists, strings and
    integers, so it is written directly (PyYAML's representer cost more than
    everything else a DSC build does); the tests read it back with PyYAML.
    """
    if "\n" in header or "\r" in header:
        raise ValueError("a YAML comment is one line")
    lines = [f"# {header}"] if header else []
    _mapping(doc, "", lines)
    return ("\n".join(lines) + "\n").encode("utf-8")


#: Text that single-quotes as it is: printable, no quote, no line break or tab (most values).
_PLAIN_TEXT = re.compile("[\x20-\x26\x28-\x7e\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]*")


def _scalar(value: Any) -> str:
    if value.__class__ is str and _PLAIN_TEXT.fullmatch(value):
        return "'" + value + "'"
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise TypeError(f"no YAML scalar for {value!r} here")
    if isinstance(value, int):
        return str(value)
    bad = _NOT_YAML.search(value)
    if bad:
        raise ValueError(f"U+{ord(bad.group()):04X} cannot be written in a YAML scalar")
    if any(c in value for c in "\n\r\t"):
        for char, escaped in _DOUBLE.items():  # the backslash first; replace beats translate
            if char in value:
                value = value.replace(char, escaped)
        return '"' + value + '"'
    return "'" + value.replace("'", "''") + "'"


@functools.lru_cache(maxsize=4096)
def _key(raw_key: str) -> str:
    """A mapping key as written (documents repeat a few dozen keys thousands of times)."""
    if not _PLAIN_KEY.fullmatch(raw_key):
        raise ValueError(f"{raw_key!r} is not a plain YAML key")
    return _scalar(raw_key) if raw_key.lower() in _YAML11_WORDS else raw_key


def _mapping(mapping: dict[str, Any], pad: str, lines: list[str], first: str | None = None) -> None:
    for index, (raw_key, value) in enumerate(mapping.items()):
        key = _key(raw_key)
        lead = first if index == 0 and first is not None else pad
        if isinstance(value, dict):
            lines.append(f"{lead}{key}:")
            _mapping(value, pad + "  ", lines)
        elif isinstance(value, list):
            if not value:
                lines.append(f"{lead}{key}: []")
                continue
            lines.append(f"{lead}{key}:")
            for item in value:
                if isinstance(item, dict):
                    _mapping(item, pad + "  ", lines, first=pad + "- ")
                else:
                    lines.append(f"{pad}- {_scalar(item)}")
        else:
            lines.append(f"{lead}{key}: {_scalar(value)}")
