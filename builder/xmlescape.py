"""Escaping for XML text, attributes and CDATA sections.

Every value an emitter places in XML goes through one of these. They refuse what
XML 1.0 cannot carry at all (most control characters, surrogates, U+FFFE/U+FFFF)
instead of writing a document no parser accepts.
"""

from __future__ import annotations

import re

_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _check(value: str) -> str:
    match = _NOT_XML.search(value)
    if match:
        raise ValueError(f"U+{ord(match.group()):04X} at position {match.start() + 1} cannot be written in XML")
    return value


def text(value: str) -> str:
    """Element content."""
    return _check(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def attr(value: str) -> str:
    """A double-quoted attribute value (line breaks kept as character references)."""
    return (
        text(value).replace('"', "&quot;").replace("\r", "&#13;").replace("\n", "&#10;").replace("\t", "&#9;")
    )


def cdata(value: str) -> str:
    """A CDATA section; ``]]>`` inside the value is split across two sections."""
    return "<![CDATA[" + _check(value).replace("]]>", "]]]]><![CDATA[>") + "]]>"
