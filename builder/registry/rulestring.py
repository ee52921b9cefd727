"""Windows Firewall rule strings (MS-GPFAS 2.2.2.19): encode a Rule, parse one back.

A rule string is ``v<major>.<minor>|`` followed by ``Token=value|`` fields, e.g.
``v2.10|Action=Allow|Active=TRUE|Dir=In|Protocol=6|Profile=Domain|LPort=2701|Name=...|``.

Encoding writes tokens in the order Windows itself serialises them, single ports
as ``LPort=``/``RPort=`` and ranges as ``LPort2_10=``/``RPort2_10=``, and the
lowest schema version that covers the tokens used (never below 2.10: no Windows
that ConfigMgr supports is older). There is no escape for ``|``, so a value
holding one is refused.

Parsing is strict about structure and values (it names the token at fault) but
keeps tokens it does not model in ``Rule.extra``, so nothing a foreign GPO says
is lost.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from ..keywords import ADDRESS, ADDRESS_KEYWORDS, PORT_KEYWORDS
from ..addresses import canonical_address
from ..model import PROFILES, Rule
from ..ports import canonical_port
from ..syntax.numbers import digits

Version = tuple[int, int]
FLOOR: Version = (2, 10)


class RuleStringError(ValueError):
    """A rule string that is malformed, or a rule that cannot be written as one."""


# -- tables -------------------------------------------------------------------------------

#: Where each token goes in a rule string (Windows' own order, from 7,600 rules it wrote).
ORDER = (
    "Action", "Active", "Dir", "Protocol", "Profile", "ICMP4", "ICMP6",
    "LPort", "LPort2_10", "LPort2_20", "RPort", "RPort2_10",
    "LA4", "LA6", "RA4", "RA6", "RA42", "RA62",
    "App", "Svc", "Name", "Desc", "AppPkgId", "PFN", "LUAuth", "LUOwn", "EmbedCtxt",
    "Edge", "Defer", "Platform", "Platform2", "TTK", "TTK2_22", "TTK2_27", "TTK2_28",
    # Not observed in Windows output; placed after everything that was.
    "Security", "Security2_9", "Security2", "IF", "IFType", "LSM", "LOM", "PCross",
    "RMauth", "RUAuth", "AuthByPassOut", "LUAuth2_24", "NNm", "SecurityRealmId", "SkipVer",
)
_POSITION = {token: i for i, token in enumerate(ORDER)}

#: Tokens that may appear more than once (their values form a list).
REPEATABLE = frozenset({
    "Profile", "LPort", "RPort", "LPort2_10", "RPort2_10", "LPort2_20", "LA4", "RA4", "LA6", "RA6",
    "ICMP4", "ICMP6", "Platform", "RA42", "RA62", "TTK", "TTK2_22", "TTK2_27", "TTK2_28",
})

#: The schema version that introduced a token (the suffix of its name, MS-GPFAS Appendix A).
TOKEN_VERSIONS: dict[str, Version] = {
    "Security2_9": (2, 9), "LPort2_10": (2, 10), "RPort2_10": (2, 10), "Security2": (2, 10), "Defer": (2, 10),
    "LPort2_20": (2, 20), "RA42": (2, 20), "RA62": (2, 20), "AppPkgId": (2, 20), "LUOwn": (2, 20),
    "LUAuth": (2, 20), "TTK": (2, 20), "Platform2": (2, 20), "TTK2_22": (2, 22), "LUAuth2_24": (2, 24),
    "NNm": (2, 24), "SecurityRealmId": (2, 24), "TTK2_27": (2, 27), "TTK2_28": (2, 28),
}
KEYWORD_VERSIONS: dict[str, Version] = {k.name: k.version for k in PORT_KEYWORDS if k.version > FLOOR}


def _port_keywords(token: str) -> frozenset[str]:
    return frozenset(k.name for k in PORT_KEYWORDS if k.token == token)


_LPORT_KEYWORDS = _port_keywords("LPort")
_LPORT2_10_KEYWORDS = _port_keywords("LPort2_10")
_LPORT2_20_KEYWORDS = _port_keywords("LPort2_20")
_RPORT2_10_KEYWORDS = _port_keywords("RPort2_10")

#: Address keywords of RA4/RA6 (schema 2.0) and of RA42/RA62 (2.20), token spelling → model spelling.
_RA_KEYWORDS = {k.token: k.name for k in ADDRESS_KEYWORDS if k.dual}
_RA2_KEYWORDS = {k.token: k.name for k in ADDRESS_KEYWORDS if not k.dual}
_RA2_TOKENS = {model: token for token, model in _RA2_KEYWORDS.items()}

_EDGE = {"Allow": (), "DeferToApp": (("Defer", "App"),), "DeferToUser": (("Defer", "User"),)}
_VERSION = re.compile(r"v([0-9]{1,3})\.([0-9]{1,3})\|")
_TOKEN_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
_ICMP = re.compile(r"([0-9]{1,3}):([0-9]{1,3}|\*)")


# -- encoding -----------------------------------------------------------------------------


def encode_rule(rule: Rule) -> str:
    """The rule string for ``rule`` (its ID is the registry value name, not part of it)."""
    tokens = _tokens(rule)
    version = max([FLOOR] + [_token_version(k, v) for k, v in tokens])
    return f"v{version[0]}.{version[1]}|" + "".join(f"{k}={v}|" for k, v in tokens)


def rule_version(rule: Rule) -> Version:
    """The lowest schema version that can carry ``rule``."""
    return max([FLOOR] + [_token_version(k, v) for k, v in _tokens(rule)])


def _token_version(token: str, value: str) -> Version:
    return max(TOKEN_VERSIONS.get(token, FLOOR), KEYWORD_VERSIONS.get(value, FLOOR))


def _tokens(rule: Rule) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = [("Action", rule.action), ("Active", "TRUE" if rule.enabled else "FALSE"), ("Dir", rule.direction)]
    if rule.protocol is not None:
        out.append(("Protocol", str(rule.protocol)))
    if set(rule.profiles) != set(PROFILES):
        out.extend(("Profile", p) for p in rule.profiles)
    if rule.icmp_types:
        if rule.protocol not in (1, 58):
            raise RuleStringError(f"rule {rule.id}: ICMP types need protocol ICMPv4 or ICMPv6")
        out.extend(("ICMP4" if rule.protocol == 1 else "ICMP6", t) for t in rule.icmp_types)
    if (rule.local_ports or rule.remote_ports) and rule.protocol not in (6, 17):
        raise RuleStringError(f"rule {rule.id}: ports need protocol TCP or UDP")
    out.extend(_port_tokens(rule, rule.local_ports, local=True))
    out.extend(_port_tokens(rule, rule.remote_ports, local=False))
    out.extend(_address_tokens(rule, rule.local_addresses, local=True))
    out.extend(_address_tokens(rule, rule.remote_addresses, local=False))
    for token, value in (("App", rule.program), ("Svc", rule.service), ("Name", rule.name)):
        if value is not None:
            out.append((token, value))
    if rule.description:
        out.append(("Desc", rule.description))
    if rule.group:
        out.append(("EmbedCtxt", rule.group))
    if rule.edge_traversal is not None:
        if rule.edge_traversal not in _EDGE:
            raise RuleStringError(f"rule {rule.id}: unknown edge traversal {rule.edge_traversal!r}")
        out.append(("Edge", "TRUE"))
        out.extend(_EDGE[rule.edge_traversal])
    out.extend(rule.extra)
    for token, value in out:
        if "|" in value:
            raise RuleStringError(f"rule {rule.id}: {token} value {value!r} contains '|', which a rule string cannot carry")
        if "\x00" in value:
            raise RuleStringError(f"rule {rule.id}: {token} value contains a NUL character")
    # Stable sort: repeated tokens keep their (canonical) order; unknown tokens go last.
    return sorted(out, key=lambda kv: _POSITION.get(kv[0], len(ORDER)))


def _port_tokens(rule: Rule, ports: tuple[str, ...], *, local: bool) -> list[tuple[str, str]]:
    side = "LPort" if local else "RPort"
    out: list[tuple[str, str]] = []
    for port in ports:
        if "-" in port and digits(port[0]):
            out.append((f"{side}2_10", port))
        elif digits(port):
            out.append((side, port))
        elif local and port in _LPORT_KEYWORDS:
            out.append(("LPort", port))
        elif local and port in _LPORT2_10_KEYWORDS:
            out.append(("LPort2_10", port))
        elif local and port in _LPORT2_20_KEYWORDS:
            out.append(("LPort2_20", port))
        elif not local and port in _RPORT2_10_KEYWORDS:
            out.append(("RPort2_10", port))
        else:
            raise RuleStringError(f"rule {rule.id}: {port!r} cannot be a {'local' if local else 'remote'} port")
    return out


def _address_tokens(rule: Rule, addresses: tuple[str, ...], *, local: bool) -> list[tuple[str, str]]:
    side = "LA" if local else "RA"
    # A keyword applies to each address family the rule can match.
    families = ("4",) if rule.protocol == 1 else ("6",) if rule.protocol == 58 else ("4", "6")
    out: list[tuple[str, str]] = []
    for address in addresses:
        if address in _RA_KEYWORDS and not local:
            out.extend((f"RA{f}", address) for f in families)
        elif address in _RA2_TOKENS and not local:
            out.extend((f"RA{f}2", _RA2_TOKENS[address]) for f in families)
        elif ":" in address:
            out.append((f"{side}6", address))
        elif digits(address[:1]):
            out.append((f"{side}4", address))
        else:
            raise RuleStringError(f"rule {rule.id}: {address!r} cannot be a {'local' if local else 'remote'} address")
    return out


# -- parsing ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ParsedRule:
    rule: Rule
    version: Version


def parse_rule(text: str, rule_id: str) -> ParsedRule:
    """Parse a rule string; raises :class:`RuleStringError` naming the token at fault."""
    parsed = _parse_cached(text)
    return ParsedRule(parsed.rule.with_id(rule_id), parsed.version)


@functools.lru_cache(maxsize=8192)
def _parse_cached(text: str) -> ParsedRule:
    # The ID is not part of the string, and policies repeat the same rules: parse each
    # distinct string once. (Errors are not cached; they are raised each time.)
    match = _VERSION.match(text)
    if not match:
        raise RuleStringError("must start with a schema version such as 'v2.10|'")
    version = (int(match[1]), int(match[2]))
    if version[0] != 2:
        raise RuleStringError(f"unsupported schema version v{version[0]}.{version[1]} (only 2.x exists)")
    if not text.endswith("|"):
        raise RuleStringError("must end with '|' (every field, the last one too, ends with '|')")
    body = text[match.end(): -1]
    if not body:
        raise RuleStringError("has no fields")
    fields: list[tuple[str, str]] = []
    for index, field in enumerate(body.split("|"), start=1):
        token, sep, value = field.partition("=")
        if not sep:
            raise RuleStringError(f"field {index} {field!r} is not 'Token=value'")
        if not _TOKEN_NAME.fullmatch(token):
            raise RuleStringError(f"field {index} has an invalid token name {token!r}")
        fields.append((token, value))
    return ParsedRule(_Fields(fields).rule(""), version)


class _Fields:
    def __init__(self, fields: list[tuple[str, str]]) -> None:
        self.fields = fields
        self.values: dict[str, list[str]] = {}
        for token, value in fields:
            self.values.setdefault(token, []).append(value)
        for token, values in self.values.items():
            if len(values) > 1 and token not in REPEATABLE and token in _POSITION:
                raise RuleStringError(f"{token}= appears {len(values)} times; it may appear once")

    def one(self, token: str) -> str | None:
        values = self.values.get(token)
        return values[0] if values else None

    def choice(self, token: str, allowed: tuple[str, ...], default: str | None = None) -> str | None:
        value = self.one(token)
        if value is None:
            return default
        if value not in allowed:
            raise RuleStringError(f"{token}={value}: expected one of {', '.join(allowed)}")
        return value

    def rule(self, rule_id: str) -> Rule:
        direction = self.choice("Dir", ("In", "Out"))
        if direction is None:
            raise RuleStringError("has no Dir= (In or Out)")
        protocol_text = self.one("Protocol")
        protocol = None
        if protocol_text is not None:
            if not digits(protocol_text) or int(protocol_text) > 255:
                raise RuleStringError(f"Protocol={protocol_text}: expected a protocol number 0-255")
            protocol = int(protocol_text)
        profiles = tuple(self.values.get("Profile", ())) or PROFILES
        for profile in profiles:
            if profile not in PROFILES:
                raise RuleStringError(f"Profile={profile}: expected Domain, Private or Public")
        local = self._ports("LPort", protocol, single=True, keywords=_LPORT_KEYWORDS)
        local += self._ports("LPort2_10", protocol, single=False, keywords=_LPORT2_10_KEYWORDS)
        local += self._ports("LPort2_20", protocol, single=None, keywords=_LPORT2_20_KEYWORDS)
        remote = self._ports("RPort", protocol, single=True, keywords=frozenset())
        remote += self._ports("RPort2_10", protocol, single=False, keywords=_RPORT2_10_KEYWORDS)
        icmp = self._icmp("ICMP4", protocol, 1) + self._icmp("ICMP6", protocol, 58)
        edge = self._edge()
        modelled = {
            "Action", "Active", "Dir", "Protocol", "Profile", "LPort", "LPort2_10", "LPort2_20", "RPort",
            "RPort2_10", "LA4", "LA6", "RA4", "RA6", "RA42", "RA62", "ICMP4", "ICMP6", "App", "Svc",
            "Name", "Desc", "EmbedCtxt", "Edge",
        }
        if edge is not None and edge != "Allow":
            modelled.add("Defer")
        return Rule(
            id=rule_id,
            name=self.one("Name") or "",
            direction=direction,
            action=self.choice("Action", ("Allow", "Block", "ByPass"), "Allow") or "Allow",
            protocol=protocol,
            local_ports=tuple(local),
            remote_ports=tuple(remote),
            local_addresses=self._addresses("LA4", 4) + self._addresses("LA6", 6),
            remote_addresses=self._remote_addresses(),
            icmp_types=tuple(icmp),
            program=self.one("App"),
            service=self.one("Svc"),
            profiles=profiles,
            # An absent Active= means the rule is disabled (MS-GPFAS).
            enabled=self.choice("Active", ("TRUE", "FALSE"), "FALSE") == "TRUE",
            edge_traversal=edge,
            # Canonical order (stable), as encode_rule writes them: parse∘encode is the identity.
            extra=tuple(sorted(((k, v) for k, v in self.fields if k not in modelled), key=lambda kv: _POSITION.get(kv[0], len(ORDER)))),
            description=self.one("Desc") or "",
            group=self.one("EmbedCtxt") or "",
        )

    def _ports(self, token: str, protocol: int | None, *, single: bool | None, keywords: frozenset[str]) -> list[str]:
        out = []
        for value in self.values.get(token, []):
            if protocol not in (6, 17):
                raise RuleStringError(f"{token}={value}: ports need Protocol=6 or 17")
            if value in keywords:
                out.append(value)
                continue
            if single is None:
                raise RuleStringError(f"{token}={value}: expected one of {', '.join(sorted(keywords))}")
            if single and not digits(value):
                raise RuleStringError(f"{token}={value}: expected a single port (ranges use {token}2_10=)")
            if single is False and "-" not in value:
                raise RuleStringError(f"{token}={value}: expected a port range first-last")
            try:
                out.append(canonical_port(value))
            except ValueError as exc:
                raise RuleStringError(f"{token}={value}: {exc}") from None
        return out

    def _icmp(self, token: str, protocol: int | None, needs: int) -> list[str]:
        out = []
        for value in self.values.get(token, []):
            match = _ICMP.fullmatch(value)
            if not match or int(match[1]) > 255 or (match[2] != "*" and int(match[2]) > 255):
                raise RuleStringError(f"{token}={value}: expected type:code (0-255, code may be *)")
            if protocol != needs:
                raise RuleStringError(f"{token}={value}: needs Protocol={needs}")
            out.append(value)
        return out

    def _addresses(self, token: str, family: int, keywords: dict[str, str] | None = None) -> tuple[str, ...]:
        out = []
        for value in self.values.get(token, []):
            if keywords is not None and value in keywords:
                out.append(keywords[value])
                continue
            try:
                canonical = canonical_address(value)
            except ValueError as exc:
                raise RuleStringError(f"{token}={value}: {exc}") from None
            if canonical in ADDRESS or (":" in canonical) != (family == 6):
                raise RuleStringError(f"{token}={value}: not an IPv{family} address, range or subnet")
            out.append(canonical)
        return tuple(out)

    def _remote_addresses(self) -> tuple[str, ...]:
        out = self._addresses("RA4", 4, _RA_KEYWORDS) + self._addresses("RA6", 6, _RA_KEYWORDS)
        for token in ("RA42", "RA62"):
            for value in self.values.get(token, []):
                if value not in _RA2_KEYWORDS:
                    raise RuleStringError(f"{token}={value}: expected one of {', '.join(_RA2_KEYWORDS)}")
                out += (_RA2_KEYWORDS[value],)
        return out

    def _edge(self) -> str | None:
        edge = self.choice("Edge", ("TRUE", "FALSE"))
        if edge != "TRUE":
            return None
        defer = self.one("Defer")
        if defer is None:
            return "Allow"
        if defer not in ("App", "User"):
            raise RuleStringError(f"Defer={defer}: expected App or User")
        return "DeferToApp" if defer == "App" else "DeferToUser"
