"""LGPO-style text: the line-based form of registry.pol that ``LGPO.exe /parse`` prints
and ``LGPO.exe /t`` applies.

Each setting is four lines, separated by a blank line::

    Computer
    SOFTWARE\\Policies\\Microsoft\\WindowsFirewall\\FirewallRules
    CMFW-Workstations-RemoteControl-TCP-In
    SZ:v2.10|Action=Allow|...|

cmfw writes one per policy (``lgpo/<policy id>.txt``) so that git can diff a policy
change line by line. It is UTF-8 without a BOM (git treats UTF-16 as binary; for ASCII
content, which cmfw's rules are, the bytes are the same in any ANSI code page) with
CRLF line ends. The reader also takes LGPO's own UTF-16 output.

String data is escaped as LGPO.exe escapes it: a backslash is written twice
(``App=%windir%\\system32\\...``), checked against a real LGPO.exe file and its
registry.pol in the test suite; keys and value names are written as they are. No other
escape of LGPO.exe is known, so cmfw calls the format "LGPO-style".
"""

from __future__ import annotations

from ..errors import InputError, Problem
from .registrypol import REG_DWORD, REG_EXPAND_SZ, REG_NONE, REG_SZ, Entry

SECTIONS = ("Computer", "User")
HEADER = "; LGPO-style text of registry.pol, written by cmfw for review; registry.pol is what Windows applies."


class LgpoTextError(InputError):
    def __init__(self, file: str, line: int, message: str) -> None:
        super().__init__([Problem(file, line, 0, "", message)])


def encode(entries: list[Entry], section: str = "Computer", header: str = HEADER) -> bytes:
    """The entries as LGPO-style text; ``header`` is its first line (a ``;`` comment)."""
    if not header.startswith(";") or "\n" in header or "\r" in header:
        raise ValueError("the header is one comment line")
    lines = [header]
    for entry in entries:
        lines += ["", section, entry.key]
        if entry.type == REG_NONE and not entry.value:
            lines += ["*", "CREATEKEY"]
            continue
        lines.append(entry.value)
        if entry.type == REG_DWORD:
            lines.append(f"DWORD:{entry.number}")
        elif entry.type in (REG_SZ, REG_EXPAND_SZ):
            value = entry.text
            if "\r" in value or "\n" in value:
                raise ValueError(f"{entry.key}\\{entry.value}: LGPO text cannot carry a line break")
            lines.append(("SZ:" if entry.type == REG_SZ else "EXSZ:") + value.replace("\\", "\\\\"))
        else:
            raise ValueError(f"{entry.key}\\{entry.value}: LGPO text twin does not write type {entry.type}")
    return ("\r\n".join(lines) + "\r\n").encode("utf-8")


def decode(data: bytes, file: str = "LGPO text") -> list[tuple[str, Entry]]:
    """(section, entry) pairs; ``DELETE``/``DELETEALLVALUES`` become ``**del.``/``**delvals.`` markers."""
    text = _text(data, file)
    out: list[tuple[str, Entry]] = []
    block: list[tuple[int, str]] = []
    for number, raw in enumerate(text.splitlines() + [""], start=1):
        line = raw.rstrip("\r")
        if line.startswith(";"):
            continue
        if line.strip():
            block.append((number, line))
            continue
        if block:
            out.append(_entry(block, file))
            block = []
    return out


def _text(data: bytes, file: str) -> str:
    try:
        if data.startswith(b"\xff\xfe"):
            return data[2:].decode("utf-16-le")
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise LgpoTextError(file, 0, f"not UTF-8 or UTF-16 text (byte offset {exc.start})") from None


def _entry(block: list[tuple[int, str]], file: str) -> tuple[str, Entry]:
    first = block[0][0]
    if len(block) != 4:
        raise LgpoTextError(file, first, f"a setting is 4 lines (section, key, value name, action), found {len(block)}")
    (_, section), (_, key), (_, value), (line, action) = block
    if section not in SECTIONS:
        raise LgpoTextError(file, first, f"section {section!r} is neither Computer nor User")
    kind, _, data = action.partition(":")
    if kind == "DWORD":
        try:
            number = int(data, 0) if data.lower().startswith("0x") else int(data)
        except ValueError:
            raise LgpoTextError(file, line, f"DWORD value {data!r} is not a number") from None
        if not 0 <= number <= 0xFFFFFFFF:
            raise LgpoTextError(file, line, f"DWORD value {number} does not fit 32 bits")
        return section, Entry.dword(key, value, number)
    if kind == "SZ":
        return section, Entry.sz(key, value, _unescape(data))
    if kind == "EXSZ":
        return section, Entry(key, value, REG_EXPAND_SZ, (_unescape(data) + "\x00").encode("utf-16-le"))
    if action == "DELETE":
        return section, Entry(key, "**del." + value, REG_SZ, " \x00".encode("utf-16-le"))
    if action == "DELETEALLVALUES":
        return section, Entry(key, "**delvals.", REG_SZ, " \x00".encode("utf-16-le"))
    if action == "CREATEKEY":
        return section, Entry(key, "", REG_NONE, b"")
    raise LgpoTextError(file, line, f"unsupported action {action!r} (DWORD:, SZ:, EXSZ:, DELETE, DELETEALLVALUES, CREATEKEY)")


def _unescape(data: str) -> str:
    # LGPO.exe writes a backslash of string data twice; a single one (older cmfw twins,
    # hand-written files) is read as it is.
    return data.replace("\\\\", "\\")
