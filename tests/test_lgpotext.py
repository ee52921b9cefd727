"""LGPO-style text: the diffable twin of registry.pol, and LGPO's own format on input."""

from pathlib import Path

import pytest

from builder.registry import lgpotext
from builder.registry.lgpotext import LgpoTextError
from builder.registry.registrypol import REG_EXPAND_SZ, REG_NONE, Entry

KEY = r"SOFTWARE\Policies\Microsoft\WindowsFirewall"


def test_twin_round_trip_and_layout() -> None:
    entries = [Entry.dword(KEY, "PolicyVersion", 522), Entry.sz(KEY + r"\FirewallRules", "R", "v2.10|Dir=In|App=C:\\x.exe|")]
    data = lgpotext.encode(entries)
    assert data.startswith(b"; ") and b"\r\n\r\nComputer\r\n" + KEY.encode() + b"\r\nPolicyVersion\r\nDWORD:522\r\n" in data
    assert b"SZ:v2.10|Dir=In|App=C:\\\\x.exe|\r\n" in data  # as LGPO.exe writes string data: backslashes doubled
    assert [e for _, e in lgpotext.decode(data)] == entries


def test_lgpo_actions() -> None:
    text = "\r\n".join([
        "; comment", "", "Computer", r"Software\A", "V", "DWORD:0x10", "",
        "Computer", r"Software\A", "E", "EXSZ:%windir%\\x", "", "User", r"Software\B", "Old", "DELETE", "",
        "Computer", r"Software\C", "*", "DELETEALLVALUES", "", "Computer", r"Software\D", "*", "CREATEKEY", "",
    ]).encode("utf-16-le")
    pairs = lgpotext.decode(b"\xff\xfe" + text)
    assert [(s, e.value, e.type) for s, e in pairs] == [
        ("Computer", "V", 4), ("Computer", "E", REG_EXPAND_SZ), ("User", "**del.Old", 1),
        ("Computer", "**delvals.", 1), ("Computer", "", REG_NONE),
    ]
    assert pairs[0][1].number == 16


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("Computer\nK\nV\n", "a setting is 4 lines"),
        ("Machine\nK\nV\nDWORD:1\n", "section 'Machine' is neither Computer nor User"),
        ("Computer\nK\nV\nDWORD:x\n", "DWORD value 'x' is not a number"),
        ("Computer\nK\nV\nDWORD:4294967296\n", "does not fit 32 bits"),
        ("Computer\nK\nV\nQWORD:1\n", "unsupported action 'QWORD:1'"),
    ],
)
def test_errors_name_the_line(text: str, fragment: str) -> None:
    with pytest.raises(LgpoTextError) as info:
        lgpotext.decode(text.encode(), "f.txt")
    [line] = info.value.lines()
    assert line.startswith("f.txt:") and fragment in line


def test_lgpo_sample_matches_its_registry_pol(shared: Path) -> None:
    from builder.registry.registrypol import decode

    folder = shared / "samples" / "gpo" / "troennes-private-secure-windows"
    text = lgpotext.decode((folder / "BasicPrivacy-Win10-21H2-Enterprise-machine.lgpo.txt").read_bytes())
    pol = decode((folder / "BasicPrivacy-Win10-21H2-Enterprise-Machine-registry.pol").read_bytes())
    assert len(text) == len(pol) == 71
    assert [(e.key.lower(), e.value, e.type) for _, e in text] == [(e.key.lower(), e.value, e.type) for e in pol]
    # The data too, once LGPO.exe's doubled backslashes are read as one (two SZ values have paths).
    assert [e.data for _, e in text] == [e.data for e in pol]
    # And cmfw writes those entries as LGPO.exe did.
    lines = (folder / "BasicPrivacy-Win10-21H2-Enterprise-machine.lgpo.txt").read_bytes().decode("utf-16").splitlines()
    ours = lgpotext.encode([e for _, e in text]).decode("utf-8").splitlines()
    assert [line for line in ours if line.startswith("SZ:")] == [line for line in lines if line.startswith("SZ:")]


def test_a_single_backslash_of_an_older_twin_is_read_as_it_is() -> None:
    text = "\r\n".join(["Computer", r"SOFTWARE\K", "R", r"SZ:App=C:\x.exe|Path=C:\\y|", ""])
    [(_, entry)] = lgpotext.decode(text.encode())
    assert entry.text == r"App=C:\x.exe|Path=C:\y|"
