"""MOF (DSP0221) for DSC: write compiled configuration documents, parse MOF back.

The writer produces what Windows PowerShell 5.1 writes for a configuration
(``instance of DSC_Firewall as $DSC_Firewall1ref { ResourceID = ...; ... };`` then an
``OMI_ConfigurationDocument``), UTF-16LE with a BOM and CRLF, with a header that
records no host, user or wall-clock time. Strings are escaped for MOF: ``\\`` and
``"`` get a backslash, control characters become ``\\n``-style or ``\\x`` escapes.

The parser reads the subset DSC uses (comments, qualifiers, class declarations,
instances with aliases; strings, numbers, booleans, NULL, arrays, alias references),
strictly, with line numbers in its errors. It serves the build's own checks, the MOF
reader of ``inspect``, and the class declarations in ``schemas/dsc/``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Union

from ..errors import InputError, Problem

MofValue = Union[str, bool, int, float, None, "Alias", list]


@dataclass(frozen=True)
class Alias:
    name: str


@dataclass
class MofInstance:
    class_name: str
    alias: str | None
    properties: dict[str, MofValue]
    line: int
    property_lines: dict[str, int] = field(default_factory=dict)


@dataclass
class MofProperty:
    name: str
    type: str
    array: bool
    qualifiers: dict[str, object]
    line: int


@dataclass
class MofClass:
    name: str
    superclass: str | None
    qualifiers: dict[str, object]
    properties: dict[str, MofProperty]
    line: int


@dataclass
class MofDocument:
    instances: list[MofInstance] = field(default_factory=list)
    classes: list[MofClass] = field(default_factory=list)


class MofError(InputError):
    def __init__(self, file: str, line: int, message: str) -> None:
        super().__init__([Problem(file, line, 0, "", message)])


# -- writing ----------------------------------------------------------------------------------

#: Escapes with a name; other control characters become ``\\xNNNN``. The backslash comes first.
_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t", "\b": "\\b", "\f": "\\f"}
_MOF_CONTROL = re.compile("[\x00-\x1f\x7f]")
_MOF_SPECIAL = re.compile('[\\\\"\x00-\x1f\x7f]')


def mof_string(value: str) -> str:
    """A MOF string literal: backslash, quote and control characters escaped."""
    if _MOF_SPECIAL.search(value) is None:  # most values: nothing to escape
        return '"' + value + '"'
    # The backslash first, so that no escape written after it is escaped again; then
    # str.replace per character, far faster than translate on long scripts.
    for char, escaped in _ESCAPES.items():
        if char in value:
            value = value.replace(char, escaped)
    if _MOF_CONTROL.search(value) is not None:
        value = _MOF_CONTROL.sub(lambda m: f"\\x{ord(m.group()):04X}", value)
    return '"' + value + '"'


def mof_value(value: MofValue) -> str:
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return mof_string(value)
    if isinstance(value, (list, tuple)):
        return "{\n" + ",\n".join("    " + mof_value(v) for v in value) + "\n}"
    raise TypeError(f"no MOF literal for {type(value).__name__}")


@dataclass(frozen=True)
class MofResource:
    """One resource instance to write: class, friendly resource name, instance name, values."""

    mof_class: str
    resource_id: str
    properties: tuple[tuple[str, MofValue], ...]
    module: str
    version: str
    depends_on: tuple[str, ...] = ()


def write_document(node: str, configuration: str, resources: list[MofResource], moment: datetime) -> bytes:
    """A node's compiled configuration, as PowerShell 5.1 lays it out."""
    stamp = moment.strftime("%m/%d/%Y %H:%M:%S")
    lines = ["/*", f"@TargetNode='{node}'", "@GeneratedBy=cmfw", f"@GenerationDate={stamp}", "*/", ""]
    counters: dict[str, int] = {}
    for res in resources:
        counters[res.mof_class] = counters.get(res.mof_class, 0) + 1
        props = [("ResourceID", res.resource_id), *res.properties, ("ModuleName", res.module), ("ModuleVersion", res.version)]
        body = [f"{name} = {mof_value(value)};" for name, value in props]
        if res.depends_on:
            body.append("")
            body.append(f"DependsOn = {mof_value(list(res.depends_on))};")
        body.append(f"ConfigurationName = {mof_string(configuration)};")
        lines.append(f"instance of {res.mof_class} as ${res.mof_class}{counters[res.mof_class]}ref")
        lines.append("{")
        # PowerShell joins property lines with a space: the first is flush, the rest indented by one.
        lines.append("\n ".join(body))
        lines.append("};")
    lines += [
        "instance of OMI_ConfigurationDocument",
        "{",
        ' Version="2.0.0";',
        ' MinimumCompatibleVersion = "1.0.0";',
        ' CompatibleVersionAdditionalProperties= {"Omi_BaseResource:ConfigurationName"};',
        ' Author="cmfw";',
        f' GenerationDate="{stamp}";',
        f" Name={mof_string(configuration)};",
        "};",
        "",
    ]
    text = "\n".join(lines).replace("\n", "\r\n")
    return "\ufeff".encode("utf-16-le") + text.encode("utf-16-le")


# -- reading ----------------------------------------------------------------------------------

#: Pieces of the token patterns, shared by the tokeniser and the one-match property path.
#: A string literal is unrolled (no alternation per character: Python's re is slow at that).
_STRING_LITERAL = r'"[^"\\\n\r]*(?:\\.[^"\\\n\r]*)*"'
_NUMBER = r"[+-]?(?:0[xX][0-9A-Fa-f]+|[0-9]+\.[0-9]*(?:[eE][+-]?[0-9]+)?|\.[0-9]+|[0-9]+)"
_ALIAS = r"\$[A-Za-z_][A-Za-z0-9_]*"
_IDENT = r"[A-Za-z_][A-Za-z0-9_]*"
_SPACE, _COMMENT = r"[ \t\r\n\f]+", r"//[^\n]*|/\*.*?\*/"
#: The parser's tokens, but for space and comments.
_KINDS = (
    f"(?P<string>{_STRING_LITERAL}) | (?P<char>'(?:[^'\\\\\\n\\r]|\\\\.)') | (?P<number>{_NUMBER})"
    f" | (?P<alias>{_ALIAS}) | (?P<ident>{_IDENT}) | (?P<punct>[{{}}()\\[\\];,=:])"
)
#: Every token, space and comments included: what :func:`string_spans` walks.
_TOKEN = re.compile(f"(?P<space>{_SPACE}) | (?P<comment>{_COMMENT}) | {_KINDS}", re.VERBOSE | re.DOTALL)
#: Space and comments, skipped as tokenising does: as far as they go, and never given back
#: (an atomic group: a regex that could split a run of spaces in two ways would try all
#: of them before it fails, which for a long run of spaces is forever).
_GAP = f"(?>(?:{_SPACE}|{_COMMENT})*)"
_SKIP = re.compile(_GAP, re.DOTALL)
#: Space and comments, then one token: the parser reads one match per token.
_SIGNIFICANT = re.compile(f"{_GAP} (?:{_KINDS})", re.VERBOSE | re.DOTALL)
_STRING_ESCAPE = re.compile(r"\\(?:([bfnrt'\"\\])|[xX]([0-9A-Fa-f]{1,4}))|\\(.)", re.DOTALL)
_SIMPLE = {"b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "'": "'", '"': '"', "\\": "\\"}


def decode_text(data: bytes) -> str:
    """MOF bytes as text: UTF-16 with a BOM (what PowerShell writes) or UTF-8."""
    if data.startswith(b"\xff\xfe") or data.startswith(b"\xfe\xff"):
        return data.decode("utf-16")
    return data.decode("utf-8-sig")


def parse(text: str, file: str = "MOF") -> MofDocument:
    return _Parser(text, file).document()


def unescape(literal: str, file: str = "MOF", line: int = 0) -> str:
    """The value of a MOF string literal (with its quotes); :class:`MofError` on a bad escape."""
    if "\\" not in literal:
        return literal[1:-1]

    def replace(match: re.Match[str]) -> str:
        if match.group(1):
            return _SIMPLE[match.group(1)]
        if match.group(2):
            return chr(int(match.group(2), 16))
        raise MofError(file, line, f"invalid escape \\{match.group(3)} in a string (a path needs \\\\)")

    return _STRING_ESCAPE.sub(replace, literal[1:-1])


def string_spans(text: str) -> list[tuple[int, int]] | None:
    """Where the parser's string tokens are (start, end), in order; ``None`` when the text
    does not tokenise. Lets a faster reader prove that it finds the same strings."""
    spans = []
    pos = 0
    for match in _TOKEN.finditer(text):
        if match.start() != pos:
            return None
        if match.lastgroup == "string":
            spans.append(match.span())
        pos = match.end()
    return spans if pos == len(text) else None


#: The largest MOF cmfw reads (characters). cmfw's own documents are about 70 KB per
#: policy; PowerShell's rarely reach a few MB. Bounding the text bounds the document.
MAX_MOF_CHARS = 16 * 1024 * 1024


def _number(token: str) -> int | float:
    if "x" in token.lower():
        return int(token, 16)
    return float(token) if "." in token or "e" in token.lower() else int(token)


_STRING = re.compile(_STRING_LITERAL, re.DOTALL)
#: ``Name = value;`` with a simple value (adjacent strings only apart by space: a comment
#: between them could hold a quote). Anything else is read token by token. The words are
#: spelled letter by letter: under re.IGNORECASE "s" would also match "ſ", which the
#: tokeniser refuses.
_PROPERTY = re.compile(
    f"{_GAP}(?P<name>{_IDENT}){_GAP}={_GAP}"
    f"(?P<value>{_STRING_LITERAL}(?:[ \\t\\r\\n\\f]*{_STRING_LITERAL})*|{_NUMBER}|{_ALIAS}"
    r"|(?:[Tt][Rr][Uu][Ee]|[Ff][Aa][Ll][Ss][Ee]|[Nn][Uu][Ll][Ll])(?![A-Za-z0-9_]))"
    f"{_GAP};",
    re.DOTALL,
)


class _Parser:
    """Tokens are read as the parser asks for them, never all at once: a 60 MiB file of
    ``;`` stops at the first one, in constant memory."""

    def __init__(self, text: str, file: str) -> None:
        self.file, self.text = file, text
        if len(text) > MAX_MOF_CHARS:
            raise MofError(file, 0, f"is {len(text) / 1048576:.1f} MiB of text; cmfw reads MOF documents up to "
                           f"{MAX_MOF_CHARS // 1048576} MiB")
        self.pos, self.line = 0, 1  # where the next token is looked for, and its line there
        self.ahead: tuple[str, str, int] | None = None
        self.after = (0, 1)  # position and line just past the token ahead
        self.last_line = 1

    def _scan(self) -> tuple[str, str, int]:
        """The token at ``pos`` (after space and comments), or ``eof``."""
        text, pos = self.text, self.pos
        match = _SIGNIFICANT.match(text, pos)
        if match is None:
            rest = _SKIP.match(text, pos)
            assert rest is not None  # it matches the empty string
            if rest.end() != len(text):
                line = self.line + text.count("\n", pos, rest.end())
                raise MofError(self.file, line, f"unexpected character {text[rest.end()]!r}")
            return "eof", "", self.last_line
        kind = match.lastgroup or ""
        start, end = match.start(kind), match.end()
        line = self.line + text.count("\n", pos, start) if start != pos else self.line
        # A string may hold a line break after a backslash.
        self.after = (end, line + text.count("\n", start, end) if kind == "string" or kind == "char" else line)
        return kind, text[start:end], line

    def peek(self) -> tuple[str, str, int]:
        if self.ahead is None:
            self.ahead = self._scan()
            self.last_line = self.ahead[2]
        return self.ahead

    def next(self) -> tuple[str, str, int]:
        token = self.peek()
        if token[0] != "eof":
            self.ahead = None
            self.pos, self.line = self.after
        return token

    def simple_property(self, inst: MofInstance, seen: set[str]) -> bool:
        """Read ``Name = value;`` in one match when the value is a string (or adjacent
        strings), a number, an alias, true, false or null: most of a document. ``False``
        (nothing read) for anything else, which the token by token path reads, and words
        its errors, as ever."""
        if self.ahead is not None:
            return False
        text, pos = self.text, self.pos
        match = _PROPERTY.match(text, pos)
        if match is None:
            return False
        name, value = match.group("name"), match.group("value")
        start = match.start("name")
        pline = self.line + text.count("\n", pos, start)
        if name.lower() in seen:
            raise MofError(self.file, pline, f"property {name} is set twice")
        seen.add(name.lower())
        vline = pline + text.count("\n", start, match.start("value"))
        first = value[0]
        if first == '"':
            parsed: MofValue = "".join(self.unescape(literal, vline) for literal in _STRING.findall(value))
        elif first == "$":
            parsed = Alias(value)
        elif first.isalpha():
            parsed = None if value.lower() == "null" else value.lower() == "true"
        else:
            parsed = _number(value)
        inst.properties[name] = parsed
        inst.property_lines[name] = pline
        end = match.end()
        self.last_line = pline + text.count("\n", start, end - 1)  # the line of its ";"
        self.pos, self.line = end, self.last_line
        return True

    def expect(self, value: str) -> int:
        kind, got, line = self.next()
        if got != value or kind == "string":
            raise MofError(self.file, line, f"expected '{value}', found {got or 'end of file'!r}")
        return line

    def ident(self, what: str) -> tuple[str, int]:
        kind, value, line = self.next()
        if kind != "ident":
            raise MofError(self.file, line, f"expected {what}, found {value or 'end of file'!r}")
        return value, line

    def document(self) -> MofDocument:
        doc = MofDocument()
        while self.peek()[0] != "eof":
            qualifiers = self.qualifiers() if self.peek()[1] == "[" else {}
            keyword, line = self.ident("'instance of' or 'class'")
            if keyword.lower() == "instance":
                if qualifiers:
                    raise MofError(self.file, line, "qualifiers on an instance are not supported")
                doc.instances.append(self.instance(line))
            elif keyword.lower() == "class":
                doc.classes.append(self.klass(qualifiers, line))
            else:
                raise MofError(self.file, line, f"expected 'instance of' or 'class', found {keyword!r}")
        return doc

    def instance(self, line: int) -> MofInstance:
        of, _ = self.ident("'of'")
        if of.lower() != "of":
            raise MofError(self.file, line, f"expected 'of' after 'instance', found {of!r}")
        class_name, _ = self.ident("a class name")
        alias = None
        if self.peek()[1].lower() == "as":
            self.next()
            kind, alias, aline = self.next()
            if kind != "alias":
                raise MofError(self.file, aline, f"expected an alias such as $Name1ref, found {alias!r}")
        self.expect("{")
        inst = MofInstance(class_name, alias, {}, line)
        seen: set[str] = set()
        while True:
            if self.simple_property(inst, seen):
                continue
            if self.peek()[1] == "}":
                break
            name, pline = self.ident("a property name")
            if name.lower() in seen:
                raise MofError(self.file, pline, f"property {name} is set twice")
            seen.add(name.lower())
            self.expect("=")
            inst.properties[name] = self.value()
            inst.property_lines[name] = pline
            self.expect(";")
        self.expect("}")
        self.expect(";")
        return inst

    def value(self) -> MofValue:
        kind, value, line = self.peek()
        if value == "{":
            self.next()
            items: list[MofValue] = []
            while self.peek()[1] != "}":
                items.append(self.value())
                if self.peek()[1] == ",":
                    self.next()
                elif self.peek()[1] != "}":
                    raise MofError(self.file, self.peek()[2], f"expected ',' or '}}' in an array, found {self.peek()[1]!r}")
            self.next()
            return items
        self.next()
        if kind == "string":
            parts = [self.unescape(value, line)]
            while self.peek()[0] == "string":  # adjacent literals concatenate
                parts.append(self.unescape(self.next()[1], line))
            return "".join(parts)
        if kind == "number":
            return _number(value)
        if kind == "alias":
            return Alias(value)
        if kind == "ident" and value.lower() in ("true", "false"):
            return value.lower() == "true"
        if kind == "ident" and value.lower() == "null":
            return None
        raise MofError(self.file, line, f"expected a value, found {value or 'end of file'!r}")

    def unescape(self, literal: str, line: int) -> str:
        return unescape(literal, self.file, line)

    def qualifiers(self) -> dict[str, object]:
        self.expect("[")
        out: dict[str, object] = {}
        while True:
            name, _ = self.ident("a qualifier name")
            value: object = True
            if self.peek()[1] == "(":
                self.next()
                value = self.value()
                self.expect(")")
            elif self.peek()[1] == "{":
                value = self.value()
            out[name.lower()] = value
            if self.peek()[1] == ",":
                self.next()
                continue
            self.expect("]")
            return out

    def klass(self, qualifiers: dict[str, object], line: int) -> MofClass:
        name, _ = self.ident("a class name")
        superclass = None
        if self.peek()[1] == ":":
            self.next()
            superclass, _ = self.ident("a superclass name")
        self.expect("{")
        props: dict[str, MofProperty] = {}
        while self.peek()[1] != "}":
            pquals = self.qualifiers() if self.peek()[1] == "[" else {}
            type_name, pline = self.ident("a property type")
            pname, _ = self.ident("a property name")
            array = False
            if self.peek()[1] == "[":
                self.next()
                self.expect("]")
                array = True
            if self.peek()[1] == "=":
                self.next()
                self.value()
            self.expect(";")
            props[pname.lower()] = MofProperty(pname, type_name.lower(), array, pquals, pline)
        self.expect("}")
        self.expect(";")
        return MofClass(name, superclass, qualifiers, props, line)
