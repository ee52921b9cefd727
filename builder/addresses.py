"""Address entries of the matrix: parse, check and write them in one canonical form.

Windows normalises what it is given (a /32 comes back as a bare address, a mask as
a prefix), which makes naive tools report a change on every run. cmfw writes the
canonical form from the start: bare addresses for single hosts, prefix lengths
for subnets, ``first-last`` for ranges, and the NetSecurity spelling of keywords.
"""

from __future__ import annotations

import ipaddress

from .keywords import ADDRESS_NAMES
from .syntax.numbers import digits

_KEYWORDS = {k.casefold(): k for k in ADDRESS_NAMES}


def canonical_address(text: str) -> str:
    """Return the canonical spelling of one address entry or raise ``ValueError``.

    Accepts an IPv4/IPv6 address, a subnet (``10.0.0.0/8`` or ``10.0.0.0/255.0.0.0``),
    a range (``10.0.0.1-10.0.0.9``) or a keyword such as ``LocalSubnet``.
    """
    if not isinstance(text, str):
        raise ValueError(f"{text!r} is not an address")
    entry = text.strip()
    if entry.casefold() in _KEYWORDS:
        return _KEYWORDS[entry.casefold()]
    if "%" in entry:
        raise ValueError(f"{text!r} has a zone index ('%'); Windows firewall rules take addresses without one")
    if _looks_like_a_name(entry):
        raise ValueError(
            f"{text!r} looks like a host name; Windows firewall rules take addresses, not names: "
            "give its IP address (or a subnet or range)"
        )
    if "-" in entry:
        return _range(entry)
    if "/" in entry:
        return _subnet(entry)
    try:
        return str(ipaddress.ip_address(entry))
    except ValueError:
        raise ValueError(
            f"{text!r} is not an IPv4/IPv6 address, subnet, range or keyword ({', '.join(ADDRESS_NAMES)})"
        ) from None


def _looks_like_a_name(entry: str) -> bool:
    """Letters beyond hex digits, no ':' or '/': ``sccm01.corp.contoso.com``, ``sccm-01``."""
    if ":" in entry or "/" in entry or not entry:
        return False
    labels = entry.replace("-", ".").split(".")
    return all(label.replace("_", "").isalnum() and label.isascii() for label in labels if label) and any(
        ch.isalpha() and ch.lower() not in "abcdef" for ch in entry
    )


def _subnet(entry: str) -> str:
    address, _, prefix = entry.partition("/")
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        raise ValueError(f"{entry!r} is not a valid subnet: {address.strip()!r} is not an IP address") from None
    longest = ip.max_prefixlen
    if digits(prefix.strip()) and int(prefix) > longest:
        raise ValueError(f"{entry!r} is not a valid subnet: an IPv{ip.version} prefix is at most /{longest}")
    try:
        net = ipaddress.ip_network(entry, strict=False)
    except ValueError:
        raise ValueError(f"{entry!r} is not a valid subnet: {prefix!r} is neither a prefix length nor a netmask") from None
    host = ipaddress.ip_interface(entry).ip
    if host != net.network_address:
        raise ValueError(f"{entry!r} has host bits set; the subnet is {net.with_prefixlen}")
    if net.num_addresses == 1:
        return str(net.network_address)
    return net.with_prefixlen


def _range(entry: str) -> str:
    first_text, _, last_text = entry.partition("-")
    try:
        first = ipaddress.ip_address(first_text.strip())
        last = ipaddress.ip_address(last_text.strip())
    except ValueError:
        raise ValueError(f"{entry!r} is not a valid address range (first-last)") from None
    if first.version != last.version:
        raise ValueError(f"{entry!r} mixes IPv4 and IPv6")
    if int(first) > int(last):
        raise ValueError(f"{entry!r} is backwards: {first} comes after {last}")
    if first == last:
        return str(first)
    return f"{first}-{last}"
