"""LDAP distinguished names (RFC 4514), as far as GPO link targets need them.

A link target is the domain (``DC=corp,DC=contoso,DC=com``) or an OU inside it.
Names are parsed into (type, value) pairs so that escaping is checked once here and
every later use (PowerShell, shell, LDAP) gets a canonical spelling.
"""

from __future__ import annotations

from .freetext import text_problem

_MUST_ESCAPE = '"+,;<>\\'
_ESCAPABLE = _MUST_ESCAPE + " #="
_HEX = "0123456789abcdefABCDEF"

RDN = tuple[str, str]


class DnError(ValueError):
    """A distinguished name that cannot be parsed; the message says where."""


def parse_dn(text: str) -> tuple[RDN, ...]:
    """``'OU=A\\,B,DC=x'`` → ``(('OU', 'A,B'), ('DC', 'x'))``; raises :class:`DnError`."""
    out: list[RDN] = []
    i, n = 0, len(text)
    while True:
        eq = text.find("=", i)
        if eq < 0:
            raise DnError(f"component {len(out) + 1} has no '=' (expected TYPE=value)")
        kind = text[i:eq].strip()
        if not kind.isascii() or not kind.isalpha():
            raise DnError(f"component {len(out) + 1}: {kind!r} is not an attribute type such as OU or DC")
        value, i = _value(text, eq + 1, len(out) + 1)
        out.append((kind.upper(), value))
        if i >= n:
            return tuple(out)
        if text[i] == "+":
            raise DnError(f"component {len(out)}: multi-valued names ('+') are not supported")
        i += 1  # the comma


def _value(text: str, i: int, index: int) -> tuple[str, int]:
    chars: list[str] = []
    raw_bytes = bytearray()
    n = len(text)
    trailing = 0  # unescaped trailing spaces, dropped at the end
    while i < n and text[i] == " " and not chars:
        i += 1  # spaces after '=' are not part of the value
    while i < n:
        c = text[i]
        if c in ",+":
            break
        if c == "\\":
            if i + 1 >= n:
                raise DnError(f"component {index}: ends with a lone backslash")
            nxt = text[i + 1]
            if nxt in _HEX and i + 2 < n and text[i + 2] in _HEX:
                raw_bytes.append(int(text[i + 1 : i + 3], 16))
                i += 3
                continue
            if nxt not in _ESCAPABLE:
                raise DnError(f"component {index}: '\\{nxt}' is not an escape (use \\, \\+ \\\" \\\\ \\< \\> \\; \\= or two hex digits)")
            _flush(raw_bytes, chars, index)
            chars.append(nxt)
            trailing = 0
            i += 2
            continue
        if c in '"<>;' or c == "\x00":
            raise DnError(f"component {index}: {c!r} must be escaped with a backslash")
        _flush(raw_bytes, chars, index)
        chars.append(c)
        trailing = trailing + 1 if c == " " else 0
        i += 1
    _flush(raw_bytes, chars, index)
    value = "".join(chars[: len(chars) - trailing] if trailing else chars)
    if not value:
        raise DnError(f"component {index} has an empty value")
    # Checked after decoding: "\0A" is a line break and "\E2\80\AE" a bidi override
    # once decoded, and both would reach the scripts and the report as such.
    problem = text_problem(value.strip(" "))
    if problem:
        raise DnError(f"component {index}: the value {problem}")
    return value, i


def _flush(raw: bytearray, chars: list[str], index: int) -> None:
    if raw:
        try:
            chars.append(raw.decode("utf-8"))
        except UnicodeDecodeError:
            raise DnError(f"component {index}: hex escapes are not UTF-8") from None
        raw.clear()


def escape_value(value: str) -> str:
    """Escape an attribute value for a DN string (RFC 4514 section 2.4)."""
    out = []
    for i, c in enumerate(value):
        if c in _MUST_ESCAPE or (c == "#" and i == 0) or (c == " " and i in (0, len(value) - 1)):
            out.append("\\" + c)
        elif c == "\x00":
            out.append("\\00")
        else:
            out.append(c)
    return "".join(out)


def format_dn(rdns: tuple[RDN, ...]) -> str:
    return ",".join(f"{kind}={escape_value(value)}" for kind, value in rdns)


def domain_dn(domain: str) -> tuple[RDN, ...]:
    """``corp.contoso.com`` → ``DC=corp,DC=contoso,DC=com``."""
    return tuple(("DC", label) for label in domain.split("."))
