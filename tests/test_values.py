"""Address, port and text values: canonical forms and refusals."""

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from builder.addresses import canonical_address
from builder.ports import canonical_port
from builder.freetext import text_problem


@pytest.mark.parametrize(
    "given_text, canonical",
    [
        ("10.0.0.1", "10.0.0.1"),
        (" 10.0.0.1 ", "10.0.0.1"),
        ("10.0.0.0/24", "10.0.0.0/24"),
        ("10.0.0.0/255.255.255.0", "10.0.0.0/24"),
        ("10.0.0.7/32", "10.0.0.7"),
        ("10.0.0.1-10.0.0.9", "10.0.0.1-10.0.0.9"),
        ("10.0.0.5-10.0.0.5", "10.0.0.5"),
        ("FE80::/64", "fe80::/64"),
        ("2001:DB8::1", "2001:db8::1"),
        ("localsubnet", "LocalSubnet"),
        ("defaultgateway", "DefaultGateway"),
    ],
)
def test_canonical_address(given_text: str, canonical: str) -> None:
    assert canonical_address(given_text) == canonical


@pytest.mark.parametrize(
    "bad, message",
    [
        ("10.20.0.0/33", "'10.20.0.0/33' is not a valid subnet: an IPv4 prefix is at most /32"),
        ("10.0.0.5/24", "'10.0.0.5/24' has host bits set; the subnet is 10.0.0.0/24"),
        ("10.0.0/8", "'10.0.0/8' is not a valid subnet: '10.0.0' is not an IP address"),
        ("10.0.0.9-10.0.0.1", "'10.0.0.9-10.0.0.1' is backwards: 10.0.0.9 comes after 10.0.0.1"),
        ("10.0.0.1-::1", "'10.0.0.1-::1' mixes IPv4 and IPv6"),
        ("300.1.1.1", "'300.1.1.1' is not an IPv4/IPv6 address, subnet, range or keyword"),
        # Zone indexes: Windows rules take none, and '|' after one crashed the build.
        ("fe80::1%eth0", "'fe80::1%eth0' has a zone index ('%'); Windows firewall rules take addresses without one"),
        ("fe80::1%a|b", "'fe80::1%a|b' has a zone index ('%')"),
        ("fe80::/64%12", "'fe80::/64%12' has a zone index ('%')"),
        # Host names: the dash made them look like a broken range.
        ("sccm-01", "'sccm-01' looks like a host name; Windows firewall rules take addresses, not names"),
        ("sccm01.corp.contoso.com", "'sccm01.corp.contoso.com' looks like a host name"),
        ("mp01", "'mp01' looks like a host name"),
    ],
)
def test_bad_addresses(bad: str, message: str) -> None:
    with pytest.raises(ValueError) as info:
        canonical_address(bad)
    assert str(info.value).startswith(message)


@given(st.ip_addresses(), st.integers(min_value=0, max_value=128))
def test_canonical_subnet_is_a_fixed_point(address: ipaddress._BaseAddress, prefix: int) -> None:
    prefix = min(prefix, address.max_prefixlen)
    network = ipaddress.ip_network(f"{address}/{prefix}", strict=False)
    once = canonical_address(str(network))
    assert canonical_address(once) == once
    assert ipaddress.ip_network(once) == network


@pytest.mark.parametrize(
    "value, canonical",
    [(80, "80"), ("8530", "8530"), ("63000-64000", "63000-64000"), ("7-7", "7"), (65535, "65535")],
)
def test_canonical_port(value: object, canonical: str) -> None:
    assert canonical_port(value) == canonical  # type: ignore[arg-type]


def test_port_keywords_only_where_allowed() -> None:
    assert canonical_port("rpc-epmap", allow_keyword=True) == "RPC-EPMap"
    with pytest.raises(ValueError, match="is not a port"):
        canonical_port("RPC")


@pytest.mark.parametrize(
    "value, message",
    [
        (0, "port 0 is out of range 1-65535"),
        (70000, "port 70000 is out of range 1-65535"),
        ("5-1", "port range '5-1' is backwards"),
        (True, "True is not a port"),
        ("http", "'http' is not a port (1-65535) or a range"),
    ],
)
def test_bad_ports(value: object, message: str) -> None:
    with pytest.raises(ValueError) as info:
        canonical_port(value)  # type: ignore[arg-type]
    assert str(info.value).startswith(message)


def test_ranges_refused_where_a_single_port_is_needed() -> None:
    with pytest.raises(ValueError, match="a single port is required"):
        canonical_port("80-81", allow_range=False)


@pytest.mark.parametrize(
    "value, fragment",
    [
        ("a|b", "contains '|' at position 2"),
        ("a\nb", "line break at position 2"),
        ("a\u2028b", "line break"),
        ("x\x00", "NUL character at position 2"),
        ("tab\there", "control character U+0009"),
        ("evil\u202etxt", "bidirectional control U+202E"),
        ("\ud800", "unpaired surrogate"),
        (" padded", "white space"),
    ],
)
def test_text_refusals(value: str, fragment: str) -> None:
    assert fragment in (text_problem(value, in_rule_string=True) or "")


def test_text_accepts_quotes_and_non_ascii() -> None:
    for value in ["O'Brien's “quoted” $(name) `tick` ; Remove-Item", "Zürich Ωmega 東京"]:
        assert text_problem(value, in_rule_string=True) is None
    assert text_problem("a|b") is None  # '|' is only a problem inside rule strings


def test_forbidden_characters_are_exactly_the_unsafe_categories() -> None:
    import unicodedata

    bidi = set("\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
    for cp in range(0x10000):
        ch = chr(cp)
        unsafe = unicodedata.category(ch) in ("Cc", "Cs", "Zl", "Zp") or ch in bidi or ch in "\ufffe\uffff"
        assert (text_problem(f"a{ch}b") is not None) == unsafe, hex(cp)
