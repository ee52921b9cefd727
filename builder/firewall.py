"""What Windows Firewall does with a connection: allowed or blocked, and by which rules.

A model of the decision Windows Defender Firewall makes, over the same
:class:`~builder.model.Rule` objects every format reads and writes, so that what a
policy *allows* can be computed and tested, not only its form. Sources:

* MS-GPFAS 2.2.2.19 (rule fields: a condition a rule does not state matches anything;
  port keywords ``LPORT-KEYWORD-VAL``/``RPORT-KEYWORD-VAL``; address keywords
  ``ADDRESS-KEYWORD-VAL``; ``Edge``/``Defer``) and 2.2.3 (profile settings:
  ``EnableFirewall``, ``DefaultInboundAction``, ``DefaultOutboundAction``,
  ``AllowLocalPolicyMerge``);
* Microsoft's "Windows Firewall rules" page (rule precedence: an explicit block rule
  beats any allow rule; an allow rule beats the profile's default action);
* the ``Set-NetFirewallProfile`` help (``AllowLocalFirewallRules`` False: rules of the
  local store are ignored, only policy rules apply; the defaults when nothing is
  configured: firewall on, inbound blocked, outbound allowed, local rules merged).

The order applied here: loopback traffic is not filtered; a profile whose firewall is
off allows everything; a matching enabled block rule blocks; a matching enabled allow
rule allows; otherwise the profile's default action decides. Rules come from the
policy store (GPOs) and, unless ``AllowLocalPolicyMerge`` is 0 for the profile, from
the local store (:attr:`Environment.local_rules`).

What it does not model, said where it matters: authenticated bypass (``ByPass``
rules, IPsec, ``Security=``), interface types, and rule-string tokens cmfw keeps in
``Rule.extra`` (a rule that has any is "undecided" rather than guessed). Conditions
that depend on the machine (``LocalSubnet``, ``DNS``, ``Intranet``…, the number
behind a port keyword, a program that was not named) make the answer *undecided*,
with the missing fact named, unless :class:`Environment` supplies it.
"""

from __future__ import annotations

import functools
import ipaddress
from dataclasses import dataclass, field
from typing import Iterable, Mapping, Sequence, Union

from .keywords import ADDRESS, PORT
from .model import ProfileSetting, Rule, protocol_name
from .syntax.numbers import digits

Network = Union[ipaddress.IPv4Network, ipaddress.IPv6Network]
Port = Union[int, str]

#: Windows' default dynamic port range, where RPC servers get their endpoints.
DYNAMIC_PORTS = (49152, 65535)
RPC_ENDPOINT_MAPPER = 135

ALLOWED = "allowed"
BLOCKED = "blocked"
UNDECIDED = "undecided"


@dataclass(frozen=True)
class Connection:
    """One connection as the firewall of *this* machine sees it.

    ``direction`` ``In``: something connects to this machine. Ports are numbers or a
    port keyword (``RPC``: a dynamic endpoint an RPC server of ``service`` registered;
    ``RPC-EPMap``: the endpoint mapper, TCP 135; ``Teredo``…). ``icmp`` is
    ``(type, code)``. ``program``/``service``: what handles it on this machine (the
    kernel is ``System``). ``edge``: it arrived through an edge-traversal interface
    (Teredo, IP-HTTPS).
    """

    direction: str
    protocol: int
    remote_address: str
    local_port: Port | None = None
    remote_port: Port | None = None
    local_address: str | None = None
    icmp: tuple[int, int] | None = None
    program: str | None = None
    service: str | None = None
    profile: str = "Domain"
    edge: bool = False

    def describe(self) -> str:
        """``In TCP 2701 from 10.20.0.5`` (with program and service when given)."""
        parts = [self.direction, protocol_name(self.protocol)]
        if self.icmp is not None:
            parts.append(f"type {self.icmp[0]} code {self.icmp[1]}")
        port, other = (self.local_port, self.remote_port) if self.direction == "In" else (self.remote_port, self.local_port)
        if port is not None:
            parts.append(str(port))
        if other is not None:
            parts.append(f"({'remote' if self.direction == 'In' else 'local'} port {other})")
        parts.append(("from " if self.direction == "In" else "to ") + self.remote_address)
        if self.program:
            parts.append(f"program {self.program}")
        if self.service:
            parts.append(f"service {self.service}")
        parts.append(f"on {self.profile}")
        if self.edge:
            parts.append("over edge traversal")
        return " ".join(parts)


@dataclass(frozen=True)
class Environment:
    """Facts about the machine that some rules depend on.

    ``local_subnets``: the subnets of its interfaces (``LocalSubnet``); ``None`` when
    unknown. ``keyword_addresses``: what ``DNS``, ``DHCP``, ``Intranet``… stand for.
    ``local_rules``: the local store (Windows' own enabled rules, rules the ConfigMgr
    client made), merged unless policy turns local rules off.
    """

    local_subnets: tuple[Network, ...] | None = None
    keyword_addresses: Mapping[str, tuple[Network, ...]] = field(default_factory=dict)
    local_rules: tuple[Rule, ...] = ()


@dataclass(frozen=True)
class Match:
    """How one rule relates to a connection: ``matches`` True, False or None (undecided).

    ``why`` names the first condition that fails, or what is unknown.
    """

    rule: Rule
    matches: bool | None
    why: str = ""
    local: bool = False
    #: The condition that failed when exactly one did (``remote address``, ``local port``...).
    condition: str = ""
    #: Some other condition could not be decided (a program that was not given, say).
    uncertain: bool = False


@dataclass(frozen=True)
class Decision:
    """The verdict (:data:`ALLOWED`, :data:`BLOCKED`, :data:`UNDECIDED`), the rules that
    decide it, and in words why. ``near`` are rules that miss by one condition."""

    verdict: str
    reason: str
    rules: tuple[Match, ...] = ()
    unknown: tuple[str, ...] = ()
    near: tuple[Match, ...] = ()

    @property
    def allowed(self) -> bool:
        return self.verdict == ALLOWED


# -- the decision ---------------------------------------------------------------------------------


def decide(
    connection: Connection,
    rules: Iterable[Rule],
    settings: Sequence[ProfileSetting] = (),
    environment: Environment = Environment(),
) -> Decision:
    """What the firewall does with ``connection``, given the policy's ``rules`` and
    profile ``settings`` (registry form, as a GPO carries them)."""
    try:
        remote = _ip(connection.remote_address)
    except ValueError:
        raise ValueError(f"{connection.remote_address!r} is not an IP address") from None
    if remote.is_loopback:
        return Decision(ALLOWED, "loopback traffic is not filtered by Windows Firewall")
    profile = connection.profile
    setting = _profile_settings(settings, profile)
    if setting.get("EnableFirewall", 1) == 0:
        return Decision(ALLOWED, f"the firewall is off on the {profile} profile (EnableFirewall = 0)")
    # A rule for the other direction or another protocol can neither decide nor be a near
    # miss: only the others are looked at.
    matches = [_match(rule, connection, environment) for rule in _same_traffic(rules, connection)]
    if setting.get("AllowLocalPolicyMerge", 1) != 0:
        local = _same_traffic(environment.local_rules, connection)
        matches += [_match(rule, connection, environment, local=True) for rule in local]
    applicable = [m for m in matches if m.rule.enabled]

    blocks = [m for m in applicable if m.rule.action == "Block"]
    if any(m.matches for m in blocks):
        return Decision(BLOCKED, "blocked by a block rule (block rules win over allow rules)", _true(blocks))
    allows = [m for m in applicable if m.rule.action == "Allow"]
    unknown = _unknown(blocks) + _unknown(allows)
    if _unknown(blocks):
        return Decision(UNDECIDED, "a block rule may match", _maybe(blocks), unknown, _near(matches))
    if any(m.matches for m in allows):
        return Decision(ALLOWED, "allowed by a rule", _true(allows))
    default = _default_action(setting, connection.direction)
    if _unknown(allows) and default == "Block":
        return Decision(UNDECIDED, "an allow rule may match", _maybe(allows), unknown, _near(matches))
    words = "inbound" if connection.direction == "In" else "outbound"
    verdict = ALLOWED if default == "Allow" else BLOCKED
    merge = "" if setting.get("AllowLocalPolicyMerge", 1) != 0 else "; local rules are ignored (AllowLocalPolicyMerge = 0)"
    return Decision(verdict, f"no rule matches; the {profile} profile's default {words} action is {default}{merge}",
                    near=_near(matches))


def _same_traffic(rules: Iterable[Rule], c: Connection) -> list[Rule]:
    return [r for r in rules if r.direction == c.direction and (r.protocol is None or r.protocol == c.protocol)]


def _profile_settings(settings: Sequence[ProfileSetting], profile: str) -> dict[str, int | str]:
    return {s.name: s.value for s in settings if s.profile == profile}


def _default_action(setting: Mapping[str, int | str], direction: str) -> str:
    if direction == "In":
        return "Block" if setting.get("DefaultInboundAction", 1) != 0 else "Allow"
    return "Block" if setting.get("DefaultOutboundAction", 0) == 1 else "Allow"


def _true(matches: list[Match]) -> tuple[Match, ...]:
    return tuple(m for m in matches if m.matches)


def _maybe(matches: list[Match]) -> tuple[Match, ...]:
    return tuple(m for m in matches if m.matches is None)


def _unknown(matches: list[Match]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(f"{m.rule.id}: {m.why}" for m in matches if m.matches is None))


def _near(matches: list[Match]) -> tuple[Match, ...]:
    """Rules that fail on a single condition, the ones worth naming in an explanation:
    first those for the same traffic (only the peer, program or profile differs)."""
    near = [m for m in matches if m.matches is False and m.condition]
    return tuple(sorted(near, key=lambda m: (m.condition in _OTHER_TRAFFIC, m.uncertain, m.rule.id)))


#: A rule failing on these is about other traffic, not a near miss of this connection.
_OTHER_TRAFFIC = ("local port", "remote port", "ICMP")


# -- one rule ------------------------------------------------------------------------------------


def match(rule: Rule, connection: Connection, environment: Environment = Environment()) -> Match:
    """Whether ``rule`` matches ``connection`` (enabled or not: that is :func:`decide`'s business)."""
    return _match(rule, connection, environment)


#: Verdicts of :func:`_judge` by what a rule says (not its name or ID), the connection and the
#: environment: a build decides the same scenarios against the same rules of many policies.
_JUDGED: dict[tuple[object, ...], tuple[bool | None, str, str, bool]] = {}
_ENVIRONMENTS: dict[int, Environment] = {}  # keeps each id() in a key pointing at its object
_MAX_JUDGED = 1 << 16


def _match(rule: Rule, c: Connection, env: Environment, *, local: bool = False) -> Match:
    key = (
        rule.direction, rule.action, rule.protocol, rule.local_ports, rule.remote_ports, rule.local_addresses,
        rule.remote_addresses, rule.icmp_types, rule.program, rule.service, rule.profiles, rule.edge_traversal,
        rule.extra, c, id(env),
    )
    found = _JUDGED.get(key)
    if found is None:
        if len(_JUDGED) >= _MAX_JUDGED:
            _JUDGED.clear()
            _ENVIRONMENTS.clear()
        _ENVIRONMENTS[id(env)] = env
        found = _JUDGED[key] = _judge(rule, c, env)
    return Match(rule, found[0], found[1], local, found[2], found[3])


def _judge(rule: Rule, c: Connection, env: Environment) -> tuple[bool | None, str, str, bool]:
    """Whether the rule matches, why not (or what is unknown), the one condition that fails
    when only one does, and whether another one was undecided."""
    # Cheap structural conditions first; "(...)" marks a mismatch not worth naming as "near".
    if rule.direction != c.direction:
        return False, "(direction)", "", False
    if rule.protocol is not None and rule.protocol != c.protocol:
        return False, f"(protocol {rule.protocol_name})", "", False
    checks = (
        ("profile", _profile(rule, c)),
        ("local port", _ports(rule.local_ports, c.local_port, "local port", rule)),
        ("remote port", _ports(rule.remote_ports, c.remote_port, "remote port", rule)),
        ("remote address", _addresses(rule.remote_addresses, c.remote_address, "remote address", env)),
        ("local address", _addresses(rule.local_addresses, c.local_address, "local address", env)),
        ("ICMP", _icmp(rule, c)),
        ("program", _program(rule, c)),
        ("service", _service(rule, c)),
        ("edge traversal", _edge(rule, c)),
        ("conditions", _extra(rule)),
    )
    failed = [(name, why) for name, (ok, why) in checks if ok is False]
    if len(failed) == 1:
        uncertain = any(ok is None for _, (ok, _) in checks)
        return False, failed[0][1], failed[0][0], uncertain
    if failed:
        return False, "(" + "; ".join(why for _, why in failed) + ")", "", False
    unknown = [why for _, (ok, why) in checks if ok is None]
    if unknown:
        return None, "; ".join(unknown), "", False
    return True, "", "", False


Check = tuple[Union[bool, None], str]


def _profile(rule: Rule, c: Connection) -> Check:
    if c.profile in rule.profiles:
        return True, ""
    return False, f"it applies to the {', '.join(rule.profiles)} profile{'s' if len(rule.profiles) > 1 else ''}, not {c.profile}"


def _ports(ports: tuple[str, ...], port: Port | None, what: str, rule: Rule) -> Check:
    if not ports:
        return True, ""
    if port is None:
        return None, f"{what} not given (the rule needs {','.join(ports)})"
    results = [_port(entry, port, rule) for entry in ports]
    if any(ok is True for ok, _ in results):
        return True, ""
    maybe = [why for ok, why in results if ok is None]
    if maybe:
        return None, maybe[0]
    return False, f"{what} {port} is not {','.join(ports)}"


def _port(entry: str, port: Port, rule: Rule) -> Check:
    numeric = digits(entry[:1])
    if numeric:
        low, _, high = entry.partition("-")
        first, last = int(low), int(high or low)
        if isinstance(port, int):
            return (first <= port <= last), ""
        if port == "RPC":
            if first <= DYNAMIC_PORTS[0] and DYNAMIC_PORTS[1] <= last:
                return True, ""
            if last < DYNAMIC_PORTS[0] or first > DYNAMIC_PORTS[1]:
                return False, ""
            return None, f"{entry} covers only part of the dynamic RPC ports {DYNAMIC_PORTS[0]}-{DYNAMIC_PORTS[1]}"
        if port == "RPC-EPMap":
            return (first <= RPC_ENDPOINT_MAPPER <= last), ""
        return None, f"which port the keyword {port} stands for is not known here"
    if entry == "RPC-EPMap":
        if port == "RPC-EPMap" or port == RPC_ENDPOINT_MAPPER:
            return True, ""
        return False, ""
    if entry == "RPC":
        if port == "RPC":
            return True, ""
        if isinstance(port, int) and DYNAMIC_PORTS[0] <= port <= DYNAMIC_PORTS[1]:
            service = f" of {rule.service}" if rule.service else ""
            return None, f"RPC matches {port} only if it is a dynamic RPC endpoint{service} (ask for RPC)"
        return False, ""
    if port == entry:
        return True, ""
    if isinstance(port, int) and entry in PORT:
        return None, f"the keyword {entry} stands for a port not known here ({PORT[entry].meaning})"
    return False, ""


def _addresses(entries: tuple[str, ...], address: str | None, what: str, env: Environment) -> Check:
    if not entries:
        return True, ""
    if address is None:
        return None, f"{what} not given (the rule needs {','.join(entries)})"
    ip = _ip(address)
    unknown = []
    for entry in entries:
        if entry in ADDRESS:
            networks = env.local_subnets if entry == "LocalSubnet" else env.keyword_addresses.get(entry)
            if networks is None:
                unknown.append(f"whether {address} is in {entry} ({ADDRESS[entry].meaning}) is not known here")
                continue
            if any(ip in net for net in networks if net.version == ip.version):
                return True, ""
            continue
        if _in_entry(ip, entry):
            return True, ""
    if unknown:
        return None, unknown[0]
    return False, f"{what} {address} is not in {','.join(entries)}"


def _in_entry(ip: ipaddress.IPv4Address | ipaddress.IPv6Address, entry: str) -> bool:
    version, first, last = _interval(entry)
    return version == ip.version and first <= int(ip) <= last


# A build decides thousands of scenarios against the same few address entries: each entry
# and each connection's address is parsed once.
@functools.lru_cache(maxsize=8192)
def _interval(entry: str) -> tuple[int, int, int]:
    """An address entry (address, network or range) as its IP version and first and last address."""
    if "-" in entry:
        first, last = (ipaddress.ip_address(x) for x in entry.split("-", 1))
        return first.version, int(first), int(last)
    net = ipaddress.ip_network(entry, strict=False)
    return net.version, int(net.network_address), int(net.broadcast_address)


@functools.lru_cache(maxsize=1024)
def _ip(address: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    return ipaddress.ip_address(address)


def _icmp(rule: Rule, c: Connection) -> Check:
    if not rule.icmp_types:
        return True, ""
    if c.icmp is None:
        return None, "ICMP type not given"
    kind, code = c.icmp
    for entry in rule.icmp_types:
        t, _, k = entry.partition(":")
        if int(t) == kind and (k in ("", "*") or int(k) == code):
            return True, ""
    return False, f"ICMP {kind}:{code} is not {','.join(rule.icmp_types)}"


def normalise_program(path: str) -> str:
    """A program path as Windows compares it: case-insensitive, environment variables expanded."""
    text = path.strip().replace("/", "\\").casefold()
    for variable, value in _EXPANSIONS:
        if text.startswith(variable):
            text = value + text[len(variable):]
            break
    return text


_EXPANSIONS = (
    ("%programfiles(x86)%", "c:\\program files (x86)"),
    ("%programfiles% (x86)", "c:\\program files (x86)"),
    ("%programfiles%", "c:\\program files"),
    ("%systemroot%", "c:\\windows"),
    ("%windir%", "c:\\windows"),
    ("%systemdrive%", "c:"),
)


def _program(rule: Rule, c: Connection) -> Check:
    if rule.program is None:
        return True, ""
    if c.program is None:
        return None, f"it applies to the program {rule.program} only, and no program was given"
    if normalise_program(rule.program) == normalise_program(c.program):
        return True, ""
    return False, f"the program {c.program} is not {rule.program}"


def _service(rule: Rule, c: Connection) -> Check:
    if rule.service is None:
        return True, ""
    if rule.service == "*":
        if c.service:
            return True, ""
        return (None if c.program is None else False), "it applies to services only"
    if c.service is None:
        return None, f"it applies to the service {rule.service} only, and no service was given"
    if rule.service.casefold() == c.service.casefold():
        return True, ""
    return False, f"the service {c.service} is not {rule.service}"


def _edge(rule: Rule, c: Connection) -> Check:
    if not c.edge or c.direction != "In" or rule.action == "Block":
        return True, ""
    if rule.edge_traversal == "Allow":
        return True, ""
    if rule.edge_traversal in ("DeferToApp", "DeferToUser"):
        who = "application" if rule.edge_traversal == "DeferToApp" else "user"
        return None, f"edge traversal is deferred to the {who}"
    return False, "it does not allow edge traversal"


def _extra(rule: Rule) -> Check:
    if not rule.extra:
        return True, ""
    return None, f"it has conditions cmfw does not model ({', '.join(k for k, _ in rule.extra)})"

