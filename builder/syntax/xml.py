"""XML: escaping, an element builder, and a parser for untrusted files.

Writing. Every value an emitter places in XML goes through this module. Documents
are built from :class:`Element` trees (:func:`el`): a ``str`` child is escaped as
text, an attribute value as an attribute, and only :func:`cdata`, :func:`comment`
and nested elements produce markup, so no f-string ever carries a value into a
document. Tag and attribute names come from code and are checked to be names.
What XML 1.0 cannot carry at all (most control characters, surrogates,
U+FFFE/U+FFFF) is refused instead of written into a document no parser accepts.

Reading. GPO backups come from anywhere: lxml is told not to resolve entities, load
DTDs or touch the network, and a document that declares a DOCTYPE at all is refused
(none of the formats cmfw reads has one). Any failure is an
:class:`~builder.errors.InputError` naming the file and line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Union

from ..errors import InputError, Problem

_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*(?::[A-Za-z_][A-Za-z0-9_.\-]*)?")

MAX_XML_BYTES = 64 * 1024 * 1024
#: Names already found to be XML names (code uses a few dozen, over and over).
_NAMES_SEEN: set[str] = set()


# -- escaping ------------------------------------------------------------------------------------


def _check(value: str) -> str:
    match = _NOT_XML.search(value)
    if match:
        raise ValueError(f"U+{ord(match.group()):04X} at position {match.start() + 1} cannot be written in XML")
    return value


#: What makes text or an attribute value more than itself: markup to escape, or a refusal.
_PLAIN_TEXT = re.compile("[^&<>\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]*")
_PLAIN_ATTR = re.compile("[^&<>\"\x00-\x1f\ud800-\udfff\ufffe\uffff]*")


def text(value: str) -> str:
    """Element content."""
    if _PLAIN_TEXT.fullmatch(value):  # most values: nothing to escape (a build writes millions)
        return value
    return _check(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def attr(value: str) -> str:
    """A double-quoted attribute value (line breaks kept as character references)."""
    if _PLAIN_ATTR.fullmatch(value):
        return value
    return (
        text(value).replace('"', "&quot;").replace("\r", "&#13;").replace("\n", "&#10;").replace("\t", "&#9;")
    )


# -- building ------------------------------------------------------------------------------------


class Markup(str):
    """Serialised XML that a builder inserts as it is (only this module makes it)."""


def cdata(value: str) -> Markup:
    """A CDATA section; ``]]>`` inside the value is split across two sections."""
    return Markup("<![CDATA[" + _check(value).replace("]]>", "]]]]><![CDATA[>") + "]]>")


def comment(value: str) -> Markup:
    if "--" in value or value.endswith("-"):
        raise ValueError("an XML comment cannot contain '--' or end with '-'")
    return Markup(f"<!--{_check(value)}-->")


DECLARATION_UTF8 = Markup('<?xml version="1.0" encoding="utf-8"?>')
DECLARATION_UTF16 = Markup('<?xml version="1.0" encoding="utf-16"?>')

Child = Union["Element", "Indented", Markup, str]


@dataclass(frozen=True)
class Element:
    """An element: its tag, attributes in order, and children (elements, text or markup).

    ``space_before_slash`` writes an empty element as ``<a />`` (what .NET's writer,
    and so GPMC's reports, do) rather than ``<a/>``.
    """

    tag: str
    attributes: tuple[tuple[str, str], ...] = ()
    children: tuple[Child, ...] = ()
    space_before_slash: bool = False

    def __post_init__(self) -> None:
        for name in (self.tag, *(k for k, _ in self.attributes)):
            if name not in _NAMES_SEEN:
                if not _NAME.fullmatch(name):
                    raise ValueError(f"{name!r} is not an XML name")
                _NAMES_SEEN.add(name)

    def start(self) -> str:
        return "<" + self.tag + "".join(f' {k}="{attr(v)}"' for k, v in self.attributes)

    def __str__(self) -> str:
        return str(serialize(self))


@dataclass(frozen=True)
class Indented:
    """An element as :func:`indented` wrote it at ``depth`` with ``indent``: its lines, put
    back as they are where the same element goes at the same depth, with the same indent
    (a report repeats its rules)."""

    lines: tuple[str, ...]
    depth: int
    indent: str


def indented_lines(element: Element, *, indent: str = "  ", depth: int = 0) -> Indented:
    """``element`` written by :func:`indented` at ``depth``, to be placed later."""
    lines: list[str] = []
    _indent(element, indent, depth, lines)
    return Indented(tuple(lines), depth, indent)


def el(tag: str, *children: Child, attrs: Mapping[str, str] | None = None, space_before_slash: bool = False) -> Element:
    """``el("ID", cdata(guid))``, ``el("FSObjectFile", attrs={"bkp:Path": path})``."""
    return Element(tag, tuple((attrs or {}).items()), children, space_before_slash)


def _child(child: Child) -> str:
    if isinstance(child, Element):
        return serialize(child)
    if isinstance(child, Markup):
        return str(child)
    if isinstance(child, Indented):
        raise ValueError("indented lines can only be placed by indented()")
    return text(child)


def serialize(element: Element) -> Markup:
    """The element as written: no whitespace added (children bring their own)."""
    out: list[str] = []
    _write(element, out)
    return Markup("".join(out))


def _write(element: Element, out: list[str]) -> None:
    # Pieces into one list, joined once: a document is tens of thousands of elements.
    if not element.children:
        out.append(element.start() + (" />" if element.space_before_slash else "/>"))
        return
    out.append(element.start() + ">")
    for child in element.children:
        if isinstance(child, Element):
            _write(child, out)
        elif isinstance(child, Indented):
            raise ValueError(f"<{element.tag}> holds indented lines; only indented() can write it")
        else:
            out.append(str(child) if isinstance(child, Markup) else text(child))
    out.append(f"</{element.tag}>")


def indented(element: Element, *, indent: str = "  ", newline: str = "\r\n", depth: int = 0) -> Markup:
    """One element per line, children indented: an element with only text stays on its line."""
    lines: list[str] = []
    _indent(element, indent, depth, lines)
    return Markup(newline.join(lines))


def _indent(element: Element, indent: str, depth: int, lines: list[str]) -> None:
    pad = indent * depth
    children = element.children
    nested = [child for child in children if isinstance(child, (Element, Indented))]
    if not nested:  # a leaf: one line, written straight into it (a report has ~450 per policy)
        line = [pad]
        _write(element, line)
        lines.append("".join(line))
        return
    if len(nested) != len(children):
        raise ValueError(f"<{element.tag}> mixes elements and text; it cannot be indented")
    lines.append(pad + element.start() + ">")
    for child in nested:
        if isinstance(child, Element):
            _indent(child, indent, depth + 1, lines)
        elif child.depth == depth + 1 and child.indent == indent:
            lines.extend(child.lines)
        else:
            raise ValueError(
                f"lines indented by {child.indent!r} for depth {child.depth} placed at depth {depth + 1}"
                f" in <{element.tag}>, indented by {indent!r}"
            )
    lines.append(pad + "</" + element.tag + ">")


def document(parts: Iterable[Child], newline: str = "") -> str:
    """Declaration, comments and the root element, joined by ``newline``."""
    return newline.join(_child(p) for p in parts)


# -- reading -------------------------------------------------------------------------------------


def parser() -> Any:
    from lxml import etree

    return etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False, huge_tree=False, remove_pis=False
    )


def parse_xml(data: bytes, file: str) -> Any:
    """The parsed tree (lxml ``_ElementTree``) of untrusted ``data``."""
    from lxml import etree

    if len(data) > MAX_XML_BYTES:
        raise InputError([Problem(file, message=f"larger than {MAX_XML_BYTES // (1024 * 1024)} MiB; not a GPO file")])
    try:
        tree = etree.ElementTree(etree.fromstring(data, parser()))
    except etree.XMLSyntaxError as exc:
        line = exc.position[0] if exc.position else 0
        raise InputError([Problem(file, line, 0, "", f"not well-formed XML: {exc.msg}")]) from None
    if tree.docinfo.doctype:
        raise InputError([Problem(file, 1, 0, "", "has a DOCTYPE declaration; GPO files have none (refused for safety)")])
    return tree
