"""registry.pol (MS-GPREG 2.2.1): a writer and a strict reader.

Layout: ``PReg`` + version 1 (uint32 LE), then instructions
``[key;value;type;size;data]`` where the brackets and semicolons are UTF-16LE
characters, key and value are UTF-16LE NUL-terminated strings, type and size are
uint32 LE and data is exactly ``size`` bytes.

The reader checks everything a broken or hostile file can get wrong (signature,
version, delimiters, sizes, NUL terminators, DWORD/QWORD lengths) and reports the
byte offset. It accepts what Windows writes that the ABNF omits: key-only records
(empty value name, type 0, size 0) and ``**del.``-style markers. Its memory is
bounded by the input: every size is checked against the bytes that remain.
"""

from __future__ import annotations

import re
import struct
from typing import Iterable, NamedTuple

from ..cycles import cycles_unchecked
from ..errors import InputError, Problem

SIGNATURE = b"PReg"
VERSION = 1

REG_NONE, REG_SZ, REG_EXPAND_SZ, REG_BINARY, REG_DWORD, REG_DWORD_BIG_ENDIAN, REG_MULTI_SZ, REG_QWORD = 0, 1, 2, 3, 4, 5, 7, 11
TYPE_NAMES = {
    REG_NONE: "REG_NONE", REG_SZ: "REG_SZ", REG_EXPAND_SZ: "REG_EXPAND_SZ", REG_BINARY: "REG_BINARY",
    REG_DWORD: "REG_DWORD", REG_DWORD_BIG_ENDIAN: "REG_DWORD_BIG_ENDIAN", REG_MULTI_SZ: "REG_MULTI_SZ",
    REG_QWORD: "REG_QWORD",
}
MAX_DATA = 0xFFFFFFFF

_OPEN, _SEMI, _CLOSE, _NUL = "[".encode("utf-16-le"), ";".encode("utf-16-le"), "]".encode("utf-16-le"), b"\x00\x00"
_NUL_SEMI = _NUL + _SEMI
_U32 = struct.Struct("<I")
#: An entry's head in the file decoded as UTF-16: '[' key NUL ';' value NUL ';' type ';' size ';'
#: (type and size as two UTF-16 units each).
_TEXT_ENTRY = re.compile("\\[([^\x00]+)\x00;([^\x00]*)\x00;(..);(..);", re.DOTALL)


class RegistryPolError(InputError):
    """A registry.pol that is not well formed; names the file and the byte offset."""

    def __init__(self, file: str, offset: int, message: str) -> None:
        self.offset = offset
        super().__init__([Problem(file, message=f"byte offset {offset} (0x{offset:X}): {message}")])


class Entry(NamedTuple):
    """One instruction: a registry value (or a key-only record, type 0).

    A named tuple rather than a dataclass: a big file holds 100,000 of them, and a tuple
    of strings and bytes is made fast and is left alone by the cycle collector.
    """

    key: str
    value: str
    type: int
    data: bytes

    @staticmethod
    def sz(key: str, value: str, text: str) -> Entry:
        return Entry(key, value, REG_SZ, (text + "\x00").encode("utf-16-le"))

    @staticmethod
    def dword(key: str, value: str, number: int) -> Entry:
        return Entry(key, value, REG_DWORD, _U32.pack(number))

    @property
    def text(self) -> str:
        """The string of a REG_SZ / REG_EXPAND_SZ value, without its NUL."""
        return self.data[:-2].decode("utf-16-le")

    @property
    def number(self) -> int:
        """The number of a REG_DWORD / REG_DWORD_BIG_ENDIAN / REG_QWORD value."""
        if self.type == REG_DWORD_BIG_ENDIAN:
            return int.from_bytes(self.data, "big")
        return int.from_bytes(self.data, "little")


_HEADER = SIGNATURE + _U32.pack(VERSION)
_TYPE_FIELDS = {t: _U32.pack(t) + _SEMI for t in TYPE_NAMES}


def encode(entries: Iterable[Entry]) -> bytes:
    """The bytes of a registry.pol holding ``entries`` in order."""
    # Appended to one growing buffer as each entry is made: each piece is freed at once,
    # where a list of every piece joined at the end slows down with the file (100k entries:
    # 11 ms per 10k against 6.5 at 10k; this way 8 and 6.5).
    out = bytearray(_HEADER)
    keys: dict[str, bytes] = {}  # a file repeats a few keys: each is encoded once
    pack = _U32.pack
    for key, value, type_, data in entries:
        size = len(data)
        if size > MAX_DATA:
            raise ValueError(f"{key}\\{value}: data of {size} bytes does not fit a registry.pol size")
        head = keys.get(key)
        if head is None:
            if not key or "\x00" in key:
                raise ValueError(f"{key!r}\\{value!r}: keys must be non-empty and names free of NUL")
            head = keys[key] = _OPEN + key.encode("utf-16-le") + _NUL + _SEMI
        if "\x00" in value:
            raise ValueError(f"{key!r}\\{value!r}: keys must be non-empty and names free of NUL")
        out += head
        out += value.encode("utf-16-le")
        out += _NUL_SEMI
        out += _TYPE_FIELDS.get(type_) or pack(type_) + _SEMI
        out += pack(size)
        out += _SEMI
        out += data
        out += _CLOSE
    return bytes(out)


def decode(data: bytes, file: str = "registry.pol") -> list[Entry]:
    """Parse ``data`` strictly; :class:`RegistryPolError` on anything malformed.

    Strings (keys, names, REG_SZ data) and DWORDs are read by one pattern on the file
    decoded at once; anything else, and anything malformed, by :func:`_entry`, which
    checks byte by byte and names what is wrong, at the same offsets.
    """
    if len(data) < 8:
        raise RegistryPolError(file, 0, f"too short for a registry.pol header ({len(data)} bytes; needs 8)")
    if data[:4] != SIGNATURE:
        raise RegistryPolError(file, 0, f"signature is {data[:4]!r}, not b'PReg'")
    (version,) = _U32.unpack_from(data, 4)
    if version != VERSION:
        raise RegistryPolError(file, 4, f"version is {version}, not 1")
    with cycles_unchecked():
        return _decode(data, file)


def _decode(data: bytes, file: str) -> list[Entry]:
    entries: list[Entry] = []
    append, new = entries.append, tuple.__new__
    pos, end = 8, len(data)
    try:
        # The whole file as UTF-16 at once: where it is well formed (nearly always), an
        # entry is one match of a pattern on this text, and only its data is sliced from
        # the bytes. Binary data that is not UTF-16, characters beyond U+FFFF (no longer
        # one per two bytes) or an odd size leave every entry to the careful reader.
        text = data[8:].decode("utf-16-le")
    except UnicodeDecodeError:
        text = ""
    match = _TEXT_ENTRY.match if 2 * len(text) == end - 8 else None
    while pos < end:
        if match is not None and not pos & 1:
            at = (pos - 8) >> 1
            while found := match(text, at):
                key, value, type_, size = found.group(1, 2, 3, 4)
                type_ = ord(type_[0]) | ord(type_[1]) << 16
                size = ord(size[0]) | ord(size[1]) << 16
                start = found.end()
                stop = start + (size >> 1)
                if not (
                    (type_ == REG_SZ and size and not size & 1 and text[stop - 1 : stop + 1] == "\x00]")
                    or (type_ == REG_DWORD and size == 4 and text[stop : stop + 1] == "]")
                ):
                    break
                append(new(Entry, (key, value, type_, data[8 + 2 * start : 8 + 2 * stop])))
                at = stop + 1
            pos = 8 + 2 * at
            if pos >= end:
                break
        entry, pos = _entry(data, pos, file)
        append(entry)
    return entries


def _entry(data: bytes, pos: int, file: str) -> tuple[Entry, int]:
    """One entry at ``pos``, checked byte by byte; :class:`RegistryPolError` names the fault."""
    end = len(data)
    start = pos
    pos = _expect(data, pos, _OPEN, "'[' to open an entry", file)
    key, pos = _string(data, pos, "key", file)
    if not key:
        raise RegistryPolError(file, start + 2, "empty key path")
    pos = _expect(data, pos, _SEMI, "';' after the key", file)
    value, pos = _string(data, pos, "value name", file)
    pos = _expect(data, pos, _SEMI, "';' after the value name", file)
    type_, pos = _u32(data, pos, "type", file)
    pos = _expect(data, pos, _SEMI, "';' after the type", file)
    size, pos = _u32(data, pos, "size", file)
    pos = _expect(data, pos, _SEMI, "';' after the size", file)
    if size > end - pos:
        raise RegistryPolError(file, pos - 6, f"size {size} runs past the end of the file ({end - pos} bytes left)")
    payload = data[pos: pos + size]
    _check_data(file, pos, type_, payload, value)
    pos = _expect(data, pos + size, _CLOSE, "']' to close the entry", file)
    return Entry(key, value, type_, payload), pos


def _expect(data: bytes, pos: int, token: bytes, what: str, file: str) -> int:
    if data[pos: pos + 2] != token:
        found = data[pos: pos + 2].hex(" ") or "end of file"
        raise RegistryPolError(file, pos, f"expected {what} ({token.hex(' ')}), found {found}")
    return pos + 2


def _string(data: bytes, pos: int, what: str, file: str) -> tuple[str, int]:
    probe = pos
    while True:
        nul = data.find(_NUL, probe)
        if nul < 0:
            raise RegistryPolError(file, pos, f"{what} has no UTF-16 NUL terminator")
        if (nul - pos) % 2 == 0:
            break
        probe = nul + 1  # a NUL byte pair that straddles two characters
    try:
        text = data[pos:nul].decode("utf-16-le")
    except UnicodeDecodeError as exc:
        raise RegistryPolError(file, pos + exc.start, f"{what} is not valid UTF-16LE") from None
    return text, nul + 2


def _u32(data: bytes, pos: int, what: str, file: str) -> tuple[int, int]:
    if pos + 4 > len(data):
        raise RegistryPolError(file, pos, f"{what} is cut off by the end of the file")
    return _U32.unpack_from(data, pos)[0], pos + 4


def _check_data(file: str, pos: int, type_: int, payload: bytes, value: str) -> None:
    if type_ not in TYPE_NAMES:
        raise RegistryPolError(file, pos - 12, f"unknown value type {type_}")
    size = len(payload)
    if type_ == REG_NONE and (size or value) and not value.startswith("**"):
        raise RegistryPolError(file, pos, f"REG_NONE value {value!r} carries {size} bytes of data")
    if type_ in (REG_DWORD, REG_DWORD_BIG_ENDIAN) and size != 4:
        raise RegistryPolError(file, pos - 6, f"REG_DWORD {value!r} has size {size}, not 4")
    if type_ == REG_QWORD and size != 8:
        raise RegistryPolError(file, pos - 6, f"REG_QWORD {value!r} has size {size}, not 8")
    if type_ in (REG_SZ, REG_EXPAND_SZ, REG_MULTI_SZ):
        if size % 2:
            raise RegistryPolError(file, pos - 6, f"string value {value!r} has an odd size {size}")
        if size and payload[-2:] != _NUL:
            raise RegistryPolError(file, pos + size - 2, f"string value {value!r} is not NUL-terminated")
        try:
            payload.decode("utf-16-le")
        except UnicodeDecodeError as exc:
            raise RegistryPolError(file, pos + exc.start, f"string value {value!r} is not valid UTF-16LE") from None
