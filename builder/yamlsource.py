"""Load a YAML file into plain data while remembering where every value came from.

Admins write the matrix by hand, so every message has to point at a line. PyYAML's
``safe_load`` throws the positions away; here the node tree is composed and walked
by hand, which also lets us

* refuse duplicate keys (YAML silently keeps the last one),
* use YAML 1.2 core scalars: only ``true``/``false`` are booleans and ``010`` is not
  octal, so ``no``, ``on`` or a Norwegian country code stay text,
* bound the work an alias "bomb" or a deeply nested file can cause.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

import yaml

from .errors import InputError, Problem

PathPart = Union[str, int]
KeyPath = tuple[PathPart, ...]

MAX_BYTES = 10 * 1024 * 1024
MAX_NODES = 500_000
MAX_DEPTH = 64
#: What aliases may add: every use of an anchored value counts its whole size again,
#: so a 9 MiB string used a thousand times is 9 GiB of text however small the file.
MAX_EXPANDED_BYTES = 2 * MAX_BYTES
MAX_ALIAS_NODES = 100_000

_BaseLoader: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _StrictLoader(_BaseLoader):
    """SafeLoader with the YAML 1.2 core schema's implicit types."""


_StrictLoader.yaml_implicit_resolvers = {}
_StrictLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)\Z"), list("tTfF")
)
_StrictLoader.add_implicit_resolver(
    "tag:yaml.org,2002:int", re.compile(r"^[-+]?[0-9]+\Z"), list("-+0123456789")
)
_StrictLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:\.[0-9]+|[0-9]+\.[0-9]*|[0-9]+(?=[eE]))(?:[eE][-+]?[0-9]+)?\Z|^[-+]?\.(?:inf|Inf|INF)\Z|^\.(?:nan|NaN|NAN)\Z"),
    list("-+0123456789."),
)
_StrictLoader.add_implicit_resolver(
    "tag:yaml.org,2002:null", re.compile(r"^(?:~|null|Null|NULL|)\Z"), ["~", "n", "N", ""]
)


def _construct_decimal_int(loader: Any, node: yaml.ScalarNode) -> int:
    # SafeConstructor reads "010" as octal 8; the core schema says decimal 10.
    text = loader.construct_scalar(node).replace("_", "")
    try:
        return int(text, 10)
    except ValueError:
        raise yaml.constructor.ConstructorError(None, None, f"{text!r} is not a decimal integer", node.start_mark) from None


_StrictLoader.add_constructor("tag:yaml.org,2002:int", _construct_decimal_int)


_CORE_TAGS = frozenset(
    "tag:yaml.org,2002:" + t for t in ("map", "seq", "str", "int", "float", "bool", "null")
)


def format_path(path: KeyPath) -> str:
    """``('policies', 0, 'name')`` → ``policies[0].name``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


@dataclass
class Document:
    """Plain data (dicts, lists, scalars) plus the position of every value and key."""

    file: str
    data: Any
    sha256: str = ""
    marks: dict[KeyPath, tuple[int, int]] = field(default_factory=dict)
    key_marks: dict[KeyPath, tuple[int, int]] = field(default_factory=dict)

    def where(self, path: KeyPath, *, key: bool = False) -> tuple[int, int]:
        """1-based (line, column) of the value at ``path`` (or of its key).

        Falls back to the nearest ancestor, so a problem about a missing key points
        at the mapping that lacks it.
        """
        probe = tuple(path)
        if key and probe in self.key_marks:
            return self.key_marks[probe]
        while probe:
            if probe in self.marks:
                return self.marks[probe]
            probe = probe[:-1]
        return self.marks.get((), (1, 1))

    def problem(self, path: KeyPath, message: str, *, key: bool = False) -> Problem:
        line, column = self.where(path, key=key)
        return Problem(self.file, line, column, format_path(path), message)


#: The path that means standard input, and the name problems give it.
STDIN, STDIN_NAME = "-", "<stdin>"
_stdin: tuple[object, bytes] | None = None


def stdin_bytes() -> bytes:
    """Standard input, read once (a build reads its matrix more than once); read again
    only if ``sys.stdin`` is another stream (a test harness swaps it per command)."""
    global _stdin
    import sys

    if _stdin is None or _stdin[0] is not sys.stdin:
        _stdin = (sys.stdin, sys.stdin.buffer.read(MAX_BYTES + 1))
    return _stdin[1]


def load_file(path: str | Path, display: str | None = None) -> Document:
    """Read and parse ``path`` (``-``: standard input); any failure is an
    :class:`InputError` naming the file."""
    if str(path) == STDIN:
        name = display if display is not None else STDIN_NAME
        raw = stdin_bytes()
        if len(raw) > MAX_BYTES:
            raise InputError([Problem(name, message=f"larger than {MAX_BYTES // (1024 * 1024)} MiB; not a matrix")])
        return load_bytes(raw, name)
    name = display if display is not None else str(path)
    p = Path(path)
    try:
        if p.is_dir():
            raise InputError([Problem(name, message="is a directory, not a YAML file")])
        with p.open("rb") as fh:
            raw = fh.read(MAX_BYTES + 1)
    except FileNotFoundError:
        raise InputError([Problem(name, message="file not found")]) from None
    except PermissionError:
        raise InputError([Problem(name, message="permission denied")]) from None
    except OSError as exc:
        raise InputError([Problem(name, message=f"cannot read: {exc.strerror or exc}")]) from None
    if len(raw) > MAX_BYTES:
        raise InputError([Problem(name, message=f"larger than {MAX_BYTES // (1024 * 1024)} MiB; not a matrix")])
    return load_bytes(raw, name)


def load_bytes(raw: bytes, name: str) -> Document:
    """Parse YAML bytes: UTF-8 (optional BOM), or UTF-16 with its BOM, which is what
    Windows PowerShell 5.1's ``Out-File`` and ``>`` write."""
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            text = raw.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise InputError(
                [Problem(name, message=f"starts like UTF-16 but is not (byte offset {exc.start}); save it as UTF-8")]
            ) from None
        return _parse(text, raw, name)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise InputError(
            [Problem(name, line, 0, "", f"not UTF-8 text (invalid byte 0x{raw[exc.start]:02X} at offset {exc.start})")]
        ) from None
    return _parse(text, raw, name)


def _parse(text: str, raw: bytes, name: str) -> Document:
    if "\x00" in text:
        line = text[: text.index("\x00")].count("\n") + 1
        hint = "; it looks like UTF-16 without a byte order mark: save it as UTF-8" if raw[1:2] == b"\x00" or raw[:1] == b"\x00" else ""
        raise InputError([Problem(name, line, 0, "", "contains a NUL character; not a text file" + hint)])
    doc = load_text(text, name)
    doc.sha256 = hashlib.sha256(raw).hexdigest()
    return doc


def load_text(text: str, name: str) -> Document:
    loader = _StrictLoader(text)
    try:
        try:
            node = loader.get_single_node()
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            line, column = (mark.line + 1, mark.column + 1) if mark else (0, 0)
            what = exc.problem or exc.context or "invalid YAML"
            if mark and _tab_at(text, mark.line, mark.column):
                what = "a tab character; YAML indents with spaces only (replace the tab with spaces)"
            raise InputError([Problem(name, line, column, "", f"YAML syntax error: {what}")]) from None
        except yaml.YAMLError as exc:
            raise InputError([Problem(name, message=f"YAML error: {exc}")]) from None
        if node is None:
            raise InputError([Problem(name, 1, 1, "", "the file is empty")])
        doc = Document(name, None)
        walker = _Walker(loader, doc)
        doc.data = walker.build(node, ())
        if walker.problems:
            raise InputError(walker.problems)
        return doc
    finally:
        loader.dispose()


def _tab_at(text: str, line: int, column: int) -> bool:
    """Whether the error position is (in) the leading white space of a line holding a tab."""
    lines = text.splitlines()
    if line >= len(lines):
        return False
    row = lines[line]
    lead = row[: len(row) - len(row.lstrip(" \t"))]
    return "\t" in lead or row[column : column + 1] == "\t"


class _Walker:
    def __init__(self, loader: Any, doc: Document) -> None:
        self.loader = loader
        self.doc = doc
        self.count = 0
        self.expanded = 0  # scalar characters, each alias use counted again
        self.alias_nodes = 0  # nodes reached through an alias
        self.seen: set[int] = set()
        self.problems: list[Problem] = []

    def _fail(self, node: yaml.Node, path: KeyPath, message: str) -> None:
        self.problems.append(
            Problem(self.doc.file, node.start_mark.line + 1, node.start_mark.column + 1, format_path(path), message)
        )

    def _too_much(self, node: yaml.Node, path: KeyPath, message: str) -> InputError:
        return InputError([Problem(self.doc.file, node.start_mark.line + 1, 0, format_path(path), message)])

    def build(self, node: yaml.Node, path: KeyPath, via_alias: bool = False) -> Any:
        self.count += 1
        if self.count > MAX_NODES:
            raise self._too_much(node, path, f"more than {MAX_NODES} values (do aliases expand too far?)")
        # A node met twice is an alias use: it and everything below it count again.
        via_alias = via_alias or id(node) in self.seen
        self.seen.add(id(node))
        if via_alias:
            self.alias_nodes += 1
            if self.alias_nodes > MAX_ALIAS_NODES:
                raise self._too_much(
                    node, path, f"aliases (*name) repeat more than {MAX_ALIAS_NODES} values; write them out or use fewer"
                )
        if isinstance(node, yaml.ScalarNode):
            self.expanded += len(node.value)
            if self.expanded > MAX_EXPANDED_BYTES:
                raise self._too_much(
                    node, path, f"aliases (*name) expand the matrix beyond {MAX_EXPANDED_BYTES // (1024 * 1024)} MiB of text"
                )
        if len(path) > MAX_DEPTH:
            raise InputError(
                [Problem(self.doc.file, node.start_mark.line + 1, 0, format_path(path[:4]) + "...",
                         f"nested deeper than {MAX_DEPTH} levels")]
            )
        self.doc.marks.setdefault(path, (node.start_mark.line + 1, node.start_mark.column + 1))
        if node.tag not in _CORE_TAGS:
            # !!binary, !!timestamp, !!set, !!python/...: nothing a matrix needs, so refuse
            # them rather than hand a surprising type (or none at all) to the checks.
            self._fail(node, path, f"the YAML tag {node.tag.replace('tag:yaml.org,2002:', '!!')!r} is not supported here")
            return None
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, path, via_alias)
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, path + (i,), via_alias) for i, item in enumerate(node.value)]
        try:
            return self.loader.construct_object(node, deep=True)
        except yaml.YAMLError as exc:
            problem = getattr(exc, "problem", None) or str(exc)
            self._fail(node, path, f"cannot read this value: {problem}")
            return None

    def _mapping(self, node: yaml.MappingNode, path: KeyPath, via_alias: bool = False) -> dict[str, Any]:
        result: dict[str, Any] = {}
        first_seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge" or (key_node.value == "<<" and not key_node.style):
                self._fail(key_node, path, "YAML merge keys ('<<') are not supported; write the keys out")
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                self._fail(key_node, path, "a key must be plain text, not a list or mapping")
                continue
            key = self.loader.construct_object(key_node)
            if not isinstance(key, str):
                self._fail(key_node, path, f"key {key_node.value!r} must be text; quote it")
                continue
            line = key_node.start_mark.line + 1
            if key in first_seen:
                self._fail(key_node, path + (key,), f"duplicate key {key!r} (first given on line {first_seen[key]})")
                continue
            first_seen[key] = line
            self.doc.key_marks[path + (key,)] = (line, key_node.start_mark.column + 1)
            result[key] = self.build(value_node, path + (key,), via_alias)
        return result
