"""Read the firewall rules back out of a compiled DSC configuration (a ``.mof``).

``DSC_Firewall`` instances become rules directly; ``MSFT_RegistryPolicyFile``
instances under ``...\\WindowsFirewall`` are read like registry.pol entries (rule
strings, PolicyVersion, profile settings). So ``inspect`` and ``diff`` treat a MOF
like any other artifact.
"""

from __future__ import annotations

from typing import Mapping

from ..addresses import canonical_address
from ..registry.policyfile import FirewallContent, read_entries
from ..registry.registrypol import Entry
from ..model import PROFILES, ProfileSetting, Rule, parse_protocol
from ..profilesettings import sort_settings
from .mof import MofDocument, MofInstance
from .resources import NETSECURITY_PORTS, PROFILE_PROPERTIES
from ..syntax.numbers import digits

_PORTS_BACK = {v.lower(): k for k, v in NETSECURITY_PORTS.items()}


def read_document(doc: MofDocument) -> FirewallContent:
    entries: list[Entry] = []
    rules: list[Rule] = []
    settings: list[ProfileSetting] = []
    problems: list[str] = []
    for inst in doc.instances:
        props = {k.lower(): v for k, v in inst.properties.items()}
        if inst.class_name.lower() == "dsc_firewallprofile":
            settings.extend(_profile_settings(props))
        elif inst.class_name.lower() == "dsc_firewall":
            try:
                rules.append(_rule(props))
            except (KeyError, TypeError, ValueError) as exc:
                problems.append(f"instance on line {inst.line}: cannot read the rule: {exc}")
        elif inst.class_name.lower() == "msft_registrypolicyfile":
            entry = _entry(inst, props, problems)
            if entry is not None:
                entries.append(entry)
    content = read_entries(entries)
    content.rules = rules + content.rules
    content.profile_settings = list(sort_settings(settings + content.profile_settings))
    content.problems = problems + content.problems
    return content


def _profile_settings(p: Mapping[str, object]) -> list[ProfileSetting]:
    """FirewallProfile properties back to registry-form settings (inverse of PROFILE_PROPERTIES)."""
    profile = str(p.get("name"))
    out = []
    for value_name, (dsc_name, _) in PROFILE_PROPERTIES.items():
        value = p.get(dsc_name.lower())
        if value is None or value == "NotConfigured":
            continue
        if value_name == "LogFilePath":
            registry: int | str = str(value)
        elif value_name == "LogFileSize":
            registry = int(value)  # type: ignore[call-overload]
        elif value_name in ("DefaultInboundAction", "DefaultOutboundAction"):
            registry = 1 if value == "Block" else 0
        elif value_name in ("DisableNotifications", "DisableUnicastResponsesToMulticastBroadcast"):
            registry = 0 if value == "True" else 1
        else:
            registry = 1 if value == "True" else 0
        out.append(ProfileSetting(profile, value_name, registry))
    return out


def _strings(value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, list):
        return tuple(str(v) for v in value)
    return (str(value),)


def _rule(p: Mapping[str, object]) -> Rule:
    profiles = _strings(p.get("profile"))
    if not profiles or any(x.lower() == "any" for x in profiles):
        profiles = PROFILES
    edge = p.get("edgetraversalpolicy")
    return Rule(
        id=str(p["name"]),
        name=str(p.get("displayname") or p["name"]),
        direction="In" if str(p.get("direction", "Inbound")).lower() == "inbound" else "Out",
        action=str(p.get("action") or "Allow"),
        protocol=parse_protocol(str(p["protocol"])) if p.get("protocol") is not None else None,
        local_ports=tuple(_PORTS_BACK.get(x.lower(), x) for x in _strings(p.get("localport"))),
        remote_ports=tuple(_PORTS_BACK.get(x.lower(), x) for x in _strings(p.get("remoteport"))),
        local_addresses=tuple(_address(a) for a in _strings(p.get("localaddress"))),
        remote_addresses=tuple(_address(a) for a in _strings(p.get("remoteaddress"))),
        icmp_types=tuple(t if ":" in t else f"{t}:*" for t in _strings(p.get("icmptype"))),
        program=str(p["program"]) if p.get("program") is not None else None,
        service=str(p["service"]) if p.get("service") is not None else None,
        profiles=profiles,
        enabled=str(p.get("enabled", "True")).lower() == "true",
        edge_traversal=None if edge in (None, "Block") else str(edge),
        description=str(p.get("description") or ""),
        group=str(p.get("group") or ""),
    )


def _address(text: str) -> str:
    try:
        return canonical_address(text)
    except ValueError:
        return text


def _entry(inst: MofInstance, p: Mapping[str, object], problems: list[str]) -> Entry | None:
    key, name, kind = p.get("key"), p.get("valuename"), p.get("valuetype")
    data = _strings(p.get("valuedata"))
    if not isinstance(key, str) or not isinstance(name, str) or str(p.get("ensure", "Present")) != "Present":
        return None
    if kind == "String" and len(data) == 1:
        return Entry.sz(key, name, data[0])
    if kind == "Dword" and len(data) == 1 and digits(data[0]):
        return Entry.dword(key, name, int(data[0]))
    problems.append(f"instance on line {inst.line}: {key}\\{name} has value type {kind} with {len(data)} values")
    return None
