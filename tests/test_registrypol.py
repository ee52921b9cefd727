"""registry.pol (MS-GPREG): byte-exact writing, strict reading, and no crash on any input."""

import struct
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from builder.registry.registrypol import (
    REG_BINARY, REG_DWORD, REG_MULTI_SZ, REG_NONE, REG_QWORD, REG_SZ, Entry, RegistryPolError, decode, encode,
)

RULES = r"SOFTWARE\Policies\Microsoft\WindowsFirewall\FirewallRules"


def test_the_documented_entry_bytes() -> None:
    # gpo-formats.md 3: an 88-character rule string has Size 178 and a 392-byte entry.
    rule = "v2.10|Action=Allow|Active=TRUE|Dir=In|Protocol=6|Profile=Domain|LPort=2701|Name=Example|"
    assert len(rule) == 88
    data = encode([Entry.sz(RULES, "CMFW-X", rule)])
    assert data[:8] == b"PReg\x01\x00\x00\x00"
    entry = data[8:]
    size_at = entry.index(struct.pack("<I", 178))
    assert entry[size_at - 6: size_at - 2] == struct.pack("<I", REG_SZ)
    assert entry.endswith("|".encode("utf-16-le") + b"\x00\x00" + b"]\x00")
    assert len(entry) == 2 + 2 * (len(RULES) + 1) + 2 + 2 * (len("CMFW-X") + 1) + 2 + 4 + 2 + 4 + 2 + 178 + 2


def test_round_trip_of_every_value_type() -> None:
    entries = [
        Entry.dword(r"SOFTWARE\Policies\Microsoft\WindowsFirewall", "PolicyVersion", 522),
        Entry.sz(RULES, "R1", "v2.10|Dir=In|Name=Zürich ☃|"),
        Entry(r"Software\X", "", REG_NONE, b""),
        Entry(r"Software\X", "**delvals.", REG_SZ, " \x00".encode("utf-16-le")),
        Entry(r"Software\X", "Q", REG_QWORD, struct.pack("<Q", 2**40)),
        Entry(r"Software\X", "B", REG_BINARY, b"\x00\x01\xff"),
        Entry(r"Software\X", "M", REG_MULTI_SZ, "a\x00b\x00\x00".encode("utf-16-le")),
    ]
    assert decode(encode(entries)) == entries
    assert decode(encode(entries))[1].text == "v2.10|Dir=In|Name=Zürich ☃|"


def valid() -> bytes:
    return encode([Entry.dword(r"A\B", "V", 1), Entry.sz(RULES, "R", "v2.10|Dir=In|")])


@pytest.mark.parametrize(
    "mutate, fragment",
    [
        (lambda d: b"XReg" + d[4:], "signature is b'XReg'"),
        (lambda d: d[:4] + b"\x02\x00\x00\x00" + d[8:], "version is 2"),
        (lambda d: d[:5], "too short"),
        (lambda d: d[:-2], "expected ']' to close the entry"),
        (lambda d: d.replace(";".encode("utf-16-le"), ":".encode("utf-16-le"), 1), "expected ';' after the key"),
        (lambda d: d[:8] + b"(\x00" + d[10:], "expected '[' to open an entry"),
        (lambda d: d[:-40], "is cut off by the end of the file"),
        (lambda d: d + b"[\x00", "no UTF-16 NUL terminator"),
    ],
)
def test_malformed_files_are_refused_with_the_offset(mutate, fragment: str) -> None:
    with pytest.raises(RegistryPolError) as info:
        decode(mutate(valid()), "x.pol")
    [line] = info.value.lines()
    assert line.startswith("x.pol: error: byte offset ") and fragment in line


def entry_bytes(key: str, value: str, type_: int, data: bytes, size: int | None = None) -> bytes:
    u = lambda s: s.encode("utf-16-le")  # noqa: E731
    return (u("[") + u(key) + b"\x00\x00" + u(";") + u(value) + b"\x00\x00" + u(";") + struct.pack("<I", type_)
            + u(";") + struct.pack("<I", len(data) if size is None else size) + u(";") + data + u("]"))


@pytest.mark.parametrize(
    "raw, fragment",
    [
        (entry_bytes("K", "V", REG_DWORD, b"\x01" * 8), "REG_DWORD 'V' has size 8, not 4"),
        (entry_bytes("K", "V", REG_QWORD, b"\x01" * 4), "REG_QWORD 'V' has size 4, not 8"),
        (entry_bytes("K", "V", REG_SZ, b"a\x00b"), "odd size 3"),
        (entry_bytes("K", "V", REG_SZ, "ab".encode("utf-16-le")), "is not NUL-terminated"),
        (entry_bytes("K", "V", 9, b""), "unknown value type 9"),
        (entry_bytes("", "V", REG_DWORD, b"\x00" * 4), "empty key path"),
        (entry_bytes("K", "V", REG_SZ, b"\x00\xd8\x00\x00"), "not valid UTF-16LE"),
        (entry_bytes("K", "V", REG_BINARY, b"ab", size=1000), "size 1000 runs past the end of the file"),
    ],
)
def test_value_checks(raw: bytes, fragment: str) -> None:
    with pytest.raises(RegistryPolError, match=fragment):
        decode(b"PReg\x01\x00\x00\x00" + raw)


def test_what_windows_writes_beyond_the_abnf_is_accepted() -> None:
    key_only = entry_bytes(r"Software\Policies\Microsoft\WindowsFirewall\DomainProfile\Logging", "", REG_NONE, b"")
    marker = entry_bytes(RULES, "**del.OldRule", REG_SZ, " \x00".encode("utf-16-le"))
    entries = decode(b"PReg\x01\x00\x00\x00" + key_only + marker)
    assert [(e.value, e.type) for e in entries] == [("", REG_NONE), ("**del.OldRule", REG_SZ)]


def test_header_only_is_an_empty_policy() -> None:
    assert decode(b"PReg\x01\x00\x00\x00") == []


entries = st.lists(
    st.one_of(
        st.builds(Entry.dword, st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7e), min_size=1, max_size=30),
                  st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=20),
                  st.integers(0, 2**32 - 1)),
        st.builds(Entry.sz, st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), min_size=1, max_size=30),
                  st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=20),
                  st.text(st.characters(blacklist_categories=("Cs",)), max_size=60)),
    ),
    max_size=8,
)


@given(entries)
def test_decode_inverts_encode(items: list[Entry]) -> None:
    assert decode(encode(items)) == items


@given(st.binary(max_size=300))
def test_no_bytes_crash_the_reader(data: bytes) -> None:
    try:
        decode(data)
    except RegistryPolError:
        pass


@given(entries, st.integers(0, 10_000), st.binary(min_size=1, max_size=4), st.booleans())
def test_no_damage_to_a_valid_file_crashes_the_reader(items: list[Entry], where: int, junk: bytes, cut: bool) -> None:
    data = encode(items)
    at = where % (len(data) + 1)
    damaged = data[:at] if cut else data[:at] + junk + data[at + len(junk):]
    try:
        decode(damaged)
    except RegistryPolError:
        pass


def test_samples_decode_and_re_encode_byte_for_byte(shared: Path) -> None:
    counts = {}
    for path in sorted((shared / "samples" / "gpo").rglob("*.pol")):
        data = path.read_bytes()
        parsed = decode(data, str(path))
        assert encode(parsed) == data, path
        counts[path.parent.parent.parent.parent.name] = sum(1 for e in parsed if e.key.lower().endswith("firewallrules"))
    sn = [v for k, v in counts.items() if k.startswith("{") and v > 0 and "70CF3C23" not in k]
    assert sorted(sn) == [54, 70, 93] and sum(sn) == 217
