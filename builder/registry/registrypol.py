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

import struct
from dataclasses import dataclass
from typing import Iterable

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
_U32 = struct.Struct("<I")


class RegistryPolError(InputError):
    """A registry.pol that is not well formed; names the file and the byte offset."""

    def __init__(self, file: str, offset: int, message: str) -> None:
        self.offset = offset
        super().__init__([Problem(file, message=f"byte offset {offset} (0x{offset:X}): {message}")])


@dataclass(frozen=True)
class Entry:
    """One instruction: a registry value (or a key-only record, type 0)."""

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


def encode(entries: Iterable[Entry]) -> bytes:
    """The bytes of a registry.pol holding ``entries`` in order."""
    parts = [SIGNATURE, _U32.pack(VERSION)]
    for e in entries:
        if len(e.data) > MAX_DATA:
            raise ValueError(f"{e.key}\\{e.value}: data of {len(e.data)} bytes does not fit a registry.pol size")
        if not e.key or "\x00" in e.key or "\x00" in e.value:
            raise ValueError(f"{e.key!r}\\{e.value!r}: keys must be non-empty and names free of NUL")
        parts += [
            _OPEN, e.key.encode("utf-16-le"), _NUL, _SEMI, e.value.encode("utf-16-le"), _NUL, _SEMI,
            _U32.pack(e.type), _SEMI, _U32.pack(len(e.data)), _SEMI, e.data, _CLOSE,
        ]
    return b"".join(parts)


def decode(data: bytes, file: str = "registry.pol") -> list[Entry]:
    """Parse ``data`` strictly; :class:`RegistryPolError` on anything malformed."""
    if len(data) < 8:
        raise RegistryPolError(file, 0, f"too short for a registry.pol header ({len(data)} bytes; needs 8)")
    if data[:4] != SIGNATURE:
        raise RegistryPolError(file, 0, f"signature is {data[:4]!r}, not b'PReg'")
    (version,) = _U32.unpack_from(data, 4)
    if version != VERSION:
        raise RegistryPolError(file, 4, f"version is {version}, not 1")
    entries: list[Entry] = []
    pos, end = 8, len(data)
    while pos < end:
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
        entries.append(Entry(key, value, type_, payload))
    return entries


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
