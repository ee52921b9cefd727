"""Rule, Policy, PolicySet: the one vocabulary every stage shares.

The resolver produces these from a matrix; every emitter consumes them; every
reader (``inspect``, ``diff``) produces them again from artifacts. A ``Rule`` is
normalised when it is built (lists deduplicated and put in canonical order), so
two rules that mean the same thing compare equal whichever way they were made.
"""

from __future__ import annotations

import copy
import functools
import ipaddress
import operator
from dataclasses import dataclass, field, fields
from typing import Any, Iterable, Mapping
from .syntax.numbers import digits

DIRECTIONS = ("In", "Out")
ACTIONS = ("Allow", "Block", "ByPass")
EDGE_TRAVERSAL = ("Allow", "DeferToApp", "DeferToUser")
PROFILES = ("Domain", "Private", "Public")
#: Where profile settings live, in the order cmfw shows them: the WindowsFirewall key
#: itself (""), the three profiles, and the pre-Vista Standard profile of foreign GPOs.
SETTING_PROFILES = ("",) + PROFILES + ("Standard",)
_PROFILE_RANK = {p: i for i, p in enumerate(SETTING_PROFILES)}


def profile_rank(profile: str) -> int:
    """Sort key of a settings profile: :data:`SETTING_PROFILES` order, unknown ones last."""
    return _PROFILE_RANK.get(profile, len(SETTING_PROFILES))

#: IANA protocol numbers with the names Windows tools show for them.
PROTOCOL_NAMES = {1: "ICMPv4", 6: "TCP", 17: "UDP", 58: "ICMPv6"}
PROTOCOL_NUMBERS = {name.upper(): number for number, name in PROTOCOL_NAMES.items()}



def protocol_name(protocol: int | None) -> str:
    """``6`` → ``TCP``; ``None`` → ``Any``; other numbers as decimal text."""
    if protocol is None:
        return "Any"
    return PROTOCOL_NAMES.get(protocol, str(protocol))


def parse_protocol(text: str | int | None) -> int | None:
    """Inverse of :func:`protocol_name`; raises ``ValueError`` for anything else."""
    if text is None:
        return None
    if isinstance(text, bool):
        raise ValueError(f"{text!r} is not a protocol")
    if isinstance(text, int):
        number = text
    else:
        upper = text.strip().upper()
        if upper == "ANY":
            return None
        if upper in PROTOCOL_NUMBERS:
            return PROTOCOL_NUMBERS[upper]
        if not digits(upper):
            raise ValueError(f"{text!r} is not a protocol (TCP, UDP, ICMPv4, ICMPv6, Any or 0-255)")
        number = int(upper)
    if not 0 <= number <= 255:
        raise ValueError(f"protocol {number} is out of range 0-255")
    return number


@functools.lru_cache(maxsize=65536)
def _port_key(port: str) -> tuple[int, int, int, str]:
    head, _, tail = port.partition("-")
    if digits(head) and (not tail or digits(tail)):
        return (0, int(head), int(tail or head), port)
    return (1, 0, 0, port)


@functools.lru_cache(maxsize=65536)
def _address_key(address: str) -> tuple[int, int, int, str]:
    first = address.split("-")[0].split("/")[0]
    try:
        ip = ipaddress.ip_address(first)
    except ValueError:
        return (2, 0, 0, address)
    return (0 if ip.version == 4 else 1, int(ip), len(address), address)


@functools.lru_cache(maxsize=1024)
def _icmp_key(item: str) -> tuple[int, int, str]:
    kind, _, code = item.partition(":")
    return (int(kind) if digits(kind) else 256, int(code) if digits(code) else 256, item)


def _canonical(items: Iterable[str], key: Any) -> tuple[str, ...]:
    if not items:
        return ()
    return tuple(sorted(set(items), key=key))


@dataclass(frozen=True)
class Rule:
    """One firewall rule, fully concrete.

    Empty port, address and ICMP tuples mean "any". ``protocol`` is the IANA number
    (``None`` = any). ``profiles`` is never empty: all three means every profile.
    ``edge_traversal`` is ``None`` (blocked, the default) or one of
    :data:`EDGE_TRAVERSAL`. ``extra`` keeps, in order, the rule-string tokens no
    other field models (``Security=``, ``Platform=``...), so that reading a foreign
    GPO never drops a condition silently.
    """

    id: str
    name: str
    direction: str
    action: str = "Allow"
    protocol: int | None = None
    local_ports: tuple[str, ...] = ()
    remote_ports: tuple[str, ...] = ()
    local_addresses: tuple[str, ...] = ()
    remote_addresses: tuple[str, ...] = ()
    icmp_types: tuple[str, ...] = ()
    program: str | None = None
    service: str | None = None
    profiles: tuple[str, ...] = PROFILES
    enabled: bool = True
    edge_traversal: str | None = None
    extra: tuple[tuple[str, str], ...] = ()
    description: str = ""
    group: str = ""
    feature: str = ""
    source: str = ""

    def __post_init__(self) -> None:
        canon = object.__setattr__
        canon(self, "local_ports", _canonical(self.local_ports, _port_key))
        canon(self, "remote_ports", _canonical(self.remote_ports, _port_key))
        canon(self, "local_addresses", _canonical(self.local_addresses, _address_key))
        canon(self, "remote_addresses", _canonical(self.remote_addresses, _address_key))
        canon(self, "icmp_types", _canonical(self.icmp_types, _icmp_key))
        profiles = set(self.profiles) or set(PROFILES)
        canon(self, "profiles", tuple(p for p in PROFILES if p in profiles) + tuple(sorted(profiles - set(PROFILES))))

    @property
    def protocol_name(self) -> str:
        return protocol_name(self.protocol)

    def with_id(self, rule_id: str) -> Rule:
        """The same rule under another ID (fields are already canonical: no re-normalising)."""
        twin = copy.copy(self)
        object.__setattr__(twin, "id", rule_id)
        return twin


@dataclass(frozen=True)
class ProfileSetting:
    """One firewall profile setting, in registry terms (MS-GPFAS 2.2.3).

    ``profile`` is ``Domain``, ``Private``, ``Public`` (or ``Standard``, or empty for a
    value of the WindowsFirewall key itself); ``name`` is the registry value name
    (``DefaultInboundAction``); ``value`` a DWORD or, for ``LogFilePath``, text.
    """

    profile: str
    name: str
    value: int | str


@dataclass(frozen=True)
class DscOptions:
    """How a policy becomes PowerShell DSC: for which nodes, with which resource and module."""

    nodes: tuple[str, ...] = ("localhost",)
    #: ``firewall``: NetworkingDsc Firewall resources (the local store);
    #: ``registry-policy``: GPRegistryPolicyDsc RegistryPolicyFile resources writing the
    #: very FirewallRules values the GPO carries (the policy store).
    resource: str = "firewall"
    networkingdsc_version: str = "9.1.0"
    gpregistrypolicydsc_version: str = "1.3.1"
    #: Whether the matrix names the nodes (rather than the default ``localhost``): DSC is
    #: then meant to apply this policy somewhere, which some lint checks care about.
    targeted: bool = field(default=False, compare=False)


@dataclass(frozen=True)
class IntuneOptions:
    """Whether and how a policy becomes Intune firewall rule policies (docs/intune.md).

    ``unsupported``: ``refuse`` a rule Intune cannot carry, or ``omit`` it (lint reports
    it); ``technologies``: ``mdm`` (Intune-managed devices) or ``configManager``
    (tenant-attached ConfigMgr devices); ``groups``: Entra ID groups to assign to.
    """

    enabled: bool = False
    name: str = ""
    groups: tuple[str, ...] = ()
    unsupported: str = "refuse"
    technologies: str = "mdm"


@dataclass(frozen=True)
class GpoLink:
    """Where an import script links a GPO: a canonical DN, with GPMC's link options.

    ``order`` ``None`` means "after the links the target already has".
    """

    target: str
    order: int | None = None
    enforced: bool = False
    enabled: bool = True


@dataclass(frozen=True)
class FeatureChoice:
    """A feature a policy uses, the variant chosen, and which feature brought it in."""

    id: str
    variant: str
    implied_by: str | None = None


@dataclass(frozen=True)
class Policy:
    """One GPO's worth of rules.

    ``key`` is the policy's identity: the short, stable name that prefixes every rule
    ID; ``gpo_guid`` is derived from the domain and the key, so it survives a rename.
    """

    name: str
    key: str
    gpo_guid: str
    description: str = ""
    features: tuple[FeatureChoice, ...] = ()
    rules: tuple[Rule, ...] = ()
    profile_settings: tuple[ProfileSetting, ...] = ()
    dsc: DscOptions = field(default_factory=DscOptions)
    links: tuple[GpoLink, ...] = ()
    intune: IntuneOptions = field(default_factory=IntuneOptions)
    #: Where in the matrix each rule comes from (rule ID → key path), so that a problem
    #: any later stage finds with a rule is reported at the entry to change. Known only
    #: for policies resolved from a matrix; not part of a policy's value.
    origins: Mapping[str, tuple[str | int, ...]] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "rules", tuple(sorted(self.rules, key=lambda r: r.id.casefold())))


@dataclass(frozen=True)
class PolicySet:
    """Every policy a matrix resolves to, in a stable order (by policy key)."""

    domain: str
    policies: tuple[Policy, ...] = ()
    catalog_version: str = ""
    notes: tuple[str, ...] = field(default=())
    #: The matrix's ``owner``: which matrix the domain's cmfw GPOs belong to (their marker).
    owner: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "policies", tuple(sorted(self.policies, key=lambda p: p.key.casefold())))


# -- the JSON form of a rule (rules.json, `features`/`inspect --format json`) ---------------

_LIST_FIELDS = ("local_ports", "remote_ports", "local_addresses", "remote_addresses", "icmp_types", "profiles")


_FIELDS = tuple(f.name for f in fields(Rule))
_KNOWN = frozenset(_FIELDS)

#: What a rule says, without its ID, as a tuple: policies repeat the same rules under
#: their own IDs, and what is made from a rule without its ID can be made once.
rule_body = operator.attrgetter(*(name for name in _FIELDS if name != "id"))


def rule_to_dict(rule: Rule) -> dict[str, Any]:
    """The documented JSON shape of a rule (see docs/rules-json.md), keys in field order."""
    out = {name: getattr(rule, name) for name in _FIELDS}
    out["protocol"] = protocol_name(rule.protocol)
    for name in _LIST_FIELDS:
        out[name] = list(out[name])
    out["extra"] = [list(pair) for pair in rule.extra]
    return out


def rule_from_dict(data: dict[str, Any]) -> Rule:
    """Inverse of :func:`rule_to_dict`; raises ``ValueError``/``KeyError``/``TypeError`` on bad data."""
    unknown = data.keys() - _KNOWN
    if unknown:
        raise ValueError(f"unknown rule field(s): {', '.join(sorted(unknown))}")
    kwargs = dict(data)
    kwargs["protocol"] = parse_protocol(data.get("protocol"))
    for name in _LIST_FIELDS:
        if name in kwargs:
            kwargs[name] = tuple(kwargs[name])
    if "extra" in kwargs:
        kwargs["extra"] = tuple((str(k), str(v)) for k, v in kwargs["extra"])
    return Rule(**kwargs)


def link_to_dict(link: GpoLink) -> dict[str, Any]:
    """The JSON shape of a link (rules.json, build.json)."""
    return {"target": link.target, "order": link.order, "enforced": link.enforced, "enabled": link.enabled}
