"""PowerShell text, escaped by construction, and a syntax check of what was written.

Every value cmfw writes into a ``.ps1`` or ``.psd1`` is a single-quoted string: in
PowerShell nothing inside ``'...'`` is interpreted, so ``$(...)``, backticks, double
quotes and ``; Remove-Item`` stay text. The only character that ends such a string
is a single quote, and PowerShell counts four of them (``'``, U+2018, U+2019,
U+201A, U+201B); each is doubled. Templates cannot insert raw text: the Jinja2
environment below turns every ``{{ value }}`` into a literal (see :func:`literal`),
and only :class:`Raw` values, which come from code constants, pass through as they are.
"""

from __future__ import annotations

import functools
import re
from typing import Any, Iterable

from ..errors import ArtifactError, Problem

SINGLE_QUOTES = "'\u2018\u2019\u201a\u201b"


class Raw(str):
    """Text the template may insert as it is (keywords, property names from code)."""


#: What makes a value need more than its two quotes: a quote to double, or a NUL to refuse.
_SPECIAL = re.compile("['\u2018\u2019\u201a\u201b\x00]")


def quote(value: str) -> str:
    """A single-quoted PowerShell string literal holding exactly ``value``."""
    if _SPECIAL.search(value) is None:  # most values: no translate (a build quotes millions)
        return "'" + value + "'"
    if "\x00" in value:
        raise ValueError("a NUL character cannot be written in PowerShell source")
    for mark in SINGLE_QUOTES:  # str.replace per mark: far faster than translate on long scripts
        if mark in value:
            value = value.replace(mark, mark + mark)
    return "'" + value + "'"


def literal(value: Any) -> str:
    """The PowerShell literal for a value: strings, booleans, integers, lists, Raw."""
    if value.__class__ is str:  # by far the most common: first, without the isinstance chain
        return quote(value)
    if isinstance(value, Raw):
        return str(value)
    if isinstance(value, bool):
        return "$true" if value else "$false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return quote(value)
    if isinstance(value, (list, tuple)):
        return "@(" + ", ".join(literal(v) for v in value) + ")"
    raise TypeError(f"no PowerShell literal for {type(value).__name__}")


def script_bytes(text: str) -> bytes:
    """A script as Windows PowerShell 5.1 reads it right: UTF-8 with a BOM, CRLF line ends.

    Without the BOM, 5.1 decodes a script in the ANSI code page, and any non-ASCII
    value (a rule name in another language) would arrive garbled.
    """
    return ("\ufeff" + text.replace("\r\n", "\n").replace("\n", "\r\n")).encode("utf-8")


def render(template: str, folder: str = "dsc", **context: Any) -> str:
    """Render ``templates/<folder>/<template>`` with every value a PowerShell literal."""
    from .templating import render as render_template

    return render_template(folder, literal, template, **context)


# -- checking generated PowerShell ------------------------------------------------------------

#: Node types that would evaluate something: none may appear in cmfw's PowerShell
#: except where the template puts them on purpose ($AllNodes.NodeName).
_CODE_NODES = ("expandable_string_literal", "sub_expression", "expandable_here_string_literal")


@functools.cache
def _language() -> Any:
    import tree_sitter_powershell
    from tree_sitter import Language

    return Language(tree_sitter_powershell.language())


@functools.cache
def _parser() -> Any:
    from tree_sitter import Parser

    return Parser(_language())


@functools.cache
def _query() -> Any:
    from tree_sitter import Query

    code = " ".join(f"({kind}) @code" for kind in _CODE_NODES)
    return Query(_language(), f"{code} (variable) @variable")


def syntax_problems(
    source: str, allowed_variables: Iterable[str] = (), reparser: Reparser | None = None
) -> list[tuple[int, str]]:
    """(line, message) for every syntax error, and for anything that is code rather than text.

    Beyond tree-sitter-powershell's ERROR/MISSING nodes, this refuses double-quoted
    strings and subexpressions, and variables other than ``allowed_variables``, so a
    value that escaped its quotes would show up here even if it parsed. ``reparser``:
    parse from the tree of the script it parsed before (see :class:`Reparser`).
    """
    raw = source.encode("utf-8")
    tree = reparser.parse(raw) if reparser is not None else _parser().parse(raw)
    return _tree_problems(tree, {v.lower() for v in allowed_variables})


class Reparser:
    """Parses a run of similar scripts (each policy's after the one before) with
    tree-sitter's incremental parsing: the tree of the last script, told which of its
    lines changed, gives the tree of the next, as a parse from scratch would (the
    unchanged parts are reused, not read again). A tree with an error node is made again
    from scratch, so that problems are always reported from a fresh parse's tree."""

    def __init__(self) -> None:
        self._raw = b""
        self._tree: Any = None

    def parse(self, raw: bytes) -> Any:
        parser = _parser()
        edited = self._tree is not None
        if edited:
            self._edit(raw)
        tree = parser.parse(raw, self._tree) if edited else parser.parse(raw)
        if edited and tree.root_node.has_error:
            tree = parser.parse(raw)
        self._raw, self._tree = raw, tree
        return tree

    def _edit(self, raw: bytes) -> None:
        """Tell the last tree how ``raw`` differs from its script: each changed line, when
        the line count is the same, else the one span between the common head and tail."""
        from tree_sitter import Point

        old, tree = self._raw, self._tree
        before, after = old.split(b"\n"), raw.split(b"\n")
        if len(before) == len(after):
            starts, offset = [], 0
            for line in before:
                starts.append(offset)
                offset += len(line) + 1
            changed = [row for row, (a, b) in enumerate(zip(before, after)) if a != b]
            for row in reversed(changed):  # from the end: the offsets before an edit stay as they were
                start, a, b = starts[row], len(before[row]), len(after[row])
                tree.edit(start, start + a, start + b, Point(row, 0), Point(row, a), Point(row, b))
            return
        head = _common_length(old, raw)
        tail = _common_length(old[head:][::-1], raw[head:][::-1])
        tree.edit(head, len(old) - tail, len(raw) - tail, _point(old, head), _point(old, len(old) - tail), _point(raw, len(raw) - tail))


def _common_length(a: bytes, b: bytes) -> int:
    """How many leading bytes ``a`` and ``b`` share (by halving: each step one C compare)."""
    low, high = 0, min(len(a), len(b))
    while low < high:
        middle = (low + high + 1) // 2
        if a[:middle] == b[:middle]:
            low = middle
        else:
            high = middle - 1
    return low


def _point(data: bytes, offset: int) -> Any:
    from tree_sitter import Point

    return Point(data.count(b"\n", 0, offset), offset - (data.rfind(b"\n", 0, offset) + 1))


def _tree_problems(tree: Any, allowed: set[str]) -> list[tuple[int, str]]:
    from tree_sitter import QueryCursor

    out = _errors(tree)
    captures = QueryCursor(_query()).captures(tree.root_node)
    for node in captures.get("code", []):
        out.append((node.start_point[0] + 1, f"{node.type.replace('_', ' ')} found: values must be single-quoted literals"))
    for node in captures.get("variable", []):
        name = (node.text or b"").decode("utf-8", "replace").lower()
        if name not in allowed:
            out.append((node.start_point[0] + 1, f"variable {name} found: values must be single-quoted literals"))
    return sorted(set(out))


#: A comment or a single-quoted string, as tree-sitter-powershell reads them (only ``'``
#: delimits; a doubled one stays inside). Splitting on it leaves the code between values.
_VERBATIM = re.compile(rb"(#[^\r\n]*|'[^']*(?:''[^']*)*')")
#: Shapes seen by :func:`syntax_problems_by_shape`: True when a clean representative proved them.
_SHAPES: dict[tuple[object, ...], bool] = {}
_MAX_SHAPES = 4096
_BAREWORD = re.compile(r"[A-Za-z][A-Za-z0-9]{0,63}")


def syntax_problems_by_shape(
    source: str, allowed_variables: Iterable[str] = (), names: Iterable[str] = ()
) -> list[tuple[int, str]]:
    """:func:`syntax_problems` for cmfw's own fresh scripts, parsed once per *shape*.

    A script's shape is its text without the content of its single-quoted strings
    and comments, and with each of ``names`` (a bareword the writer puts in code, such
    as a configuration's name) spelt ``QQ…``: scripts of one shape differ only where
    tree-sitter reads text, not code, or in one plain word for another, so one clean
    representative speaks for all. A shape is trusted only after its representative
    parsed with its strings and comments exactly where the split found them (a quote
    inside a here-string would break that), and only if clean: a script of a shape with
    problems is parsed on its own and reports its own lines. ``cmfw check`` and the
    tests parse every script (:func:`syntax_problems`).
    """
    allowed = {v.lower() for v in allowed_variables}
    raw = source.encode("utf-8")
    if b"\x00" in raw:
        return syntax_problems(source, allowed)
    coded = raw
    for name in names:
        if _BAREWORD.fullmatch(name) and name.lower() not in _keywords():
            coded = _respell(coded, name.encode("ascii"))
    parts = _VERBATIM.split(coded)
    key = (tuple(sorted(allowed)), *parts[0::2], *[b"#" if p[:1] == b"#" else None for p in parts[1::2]])
    known = _SHAPES.get(key)
    if known:
        return []
    tree = _parser().parse(raw)
    problems = _tree_problems(tree, allowed)
    if known is None:
        if len(_SHAPES) >= _MAX_SHAPES:
            _SHAPES.clear()
        _SHAPES[key] = not problems and _split_spans(parts) == _verbatim_spans(tree)
    return problems


def _respell(raw: bytes, name: bytes) -> bytes:
    """``name`` as a whole word (not part of a longer name, variable or member) spelt ``QQ…``."""
    def swap(match: re.Match[bytes]) -> bytes:
        before = raw[match.start() - 1 : match.start()]
        return match.group() if before and (before.isalnum() or before in b"_$.-") else b"Q" * len(name)

    return re.sub(re.escape(name) + rb"(?![\w\-])", swap, raw)


def _split_spans(parts: list[bytes]) -> list[tuple[int, int]]:
    spans, pos = [], 0
    for i, part in enumerate(parts):
        if i % 2:
            spans.append((pos, pos + len(part)))
        pos += len(part)
    return spans


def _verbatim_spans(tree: Any) -> list[tuple[int, int]] | None:
    """Byte spans of the single-quoted strings and comments tree-sitter found, in order
    (``None`` if the script has a here-string, which the split does not know)."""
    spans = []
    stack = [tree.root_node]
    while stack:
        node = stack.pop()
        if node.type in ("verbatim_string_characters", "comment"):
            spans.append((node.start_byte, node.end_byte))
        elif node.type == "verbatim_here_string_characters":
            return None
        else:
            stack.extend(node.children)
    return sorted(spans)


@functools.cache
def _keywords() -> frozenset[str]:
    """PowerShell's reserved words: the grammar's own keyword tokens, and the language's
    words it reads as commands (a name that is one of them is never respelt)."""
    lang = _language()
    found = set()
    for kind_id in range(lang.node_kind_count):
        kind = lang.node_kind_for_id(kind_id)
        if kind and kind.isalpha() and not lang.node_kind_is_named(kind_id):
            found.add(kind.lower())
    return frozenset(found | {
        "class", "configuration", "define", "enum", "from", "hidden", "node", "static", "using", "var",
    })


def command_problems(source: str, allowed: Iterable[str]) -> list[tuple[int, str]]:
    """(line, message) for every command a script calls that is neither in ``allowed`` nor a
    function the script defines, and for every call through ``&`` or ``.`` (a name computed
    at run time could be anything). Names compare case-insensitively, as PowerShell does."""
    tree = _parser().parse(source.encode("utf-8"))
    known = {name.lower() for name in allowed}
    calls: list[tuple[int, str]] = []
    stack = [tree.root_node]
    while stack:
        node = stack.pop()
        stack.extend(node.children)
        if node.type == "function_statement":
            name = next((c for c in node.children if c.type == "function_name"), None)
            if name is not None:
                known.add((name.text or b"").decode("utf-8", "replace").lower())
        elif node.type == "command":
            line = node.start_point[0] + 1
            if any(c.type == "command_invokation_operator" for c in node.children):
                calls.append((line, "\x00call through & or ."))
                continue
            name = next((c for c in node.children if c.type == "command_name"), None)
            text = (name.text or b"").decode("utf-8", "replace") if name is not None else ""
            if not _RANGE.fullmatch(text):  # tree-sitter reads `1..2` in a foreach as a command
                calls.append((line, text))
    out = []
    for line, name in calls:
        if name == "\x00call through & or .":
            out.append((line, "command called through & or .: only named commands may run"))
        elif name.lower() not in known:
            out.append((line, f"command {name!r} is not one this script may call"))
    return sorted(set(out))


_RANGE = re.compile(r"[0-9$][^\s]*\.\.[^\s]+")


def parse_errors(source: str) -> list[tuple[int, str]]:
    """(line, message) for every syntax error tree-sitter-powershell finds in a script."""
    return sorted(set(_errors(_parser().parse(source.encode("utf-8")))))


def _errors(tree: Any) -> list[tuple[int, str]]:
    out: list[tuple[int, str]] = []
    if tree.root_node.has_error:
        # Rare (a bug): walk the tree to say where.
        stack = [tree.root_node]
        while stack:
            node = stack.pop()
            if node.type == "ERROR":
                out.append((node.start_point[0] + 1, "PowerShell syntax error"))
            elif node.is_missing:
                out.append((node.start_point[0] + 1, f"PowerShell syntax error: missing {node.type}"))
            stack.extend(node.children)
    return out


def check_script(path: str, source: str, allowed_variables: Iterable[str] = ()) -> None:
    """Raise :class:`ArtifactError` if generated PowerShell does not parse cleanly."""
    problems = syntax_problems(source, allowed_variables)
    if problems:
        line, message = problems[0]
        raise ArtifactError(f"{path}:{line}: {message}")


def shipped_script_problems(path: str, data: bytes, commands: Iterable[str]) -> list[Problem]:
    """A script the package ships (deploy and import scripts): UTF-8, parsed by
    tree-sitter-powershell with no error node, calling only ``commands`` and its own
    functions (never through ``&`` or ``.``)."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return [Problem(path, message=f"not UTF-8 (byte offset {exc.start})")]
    found = parse_errors(text) + command_problems(text, commands)
    return [Problem(path, line, 0, "", message) for line, message in sorted(set(found))]
