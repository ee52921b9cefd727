"""A Policy as DSC resource instances: one mapping, rendered as .ps1, MOF and DSC v3.

Two resource modes (``Policy.dsc.resource``):

* ``firewall``: one NetworkingDsc ``Firewall`` (class ``DSC_Firewall``) per rule. The
  rule lands in the local store, as if made with New-NetFirewallRule.
* ``registry-policy``: one GPRegistryPolicyDsc ``RegistryPolicyFile`` per value of the
  GPO's registry.pol (the very rule strings, PolicyVersion and profile settings),
  then ``RefreshRegistryPolicy``. The rules land in local Group Policy, so they still
  apply where ``AllowLocalPolicyMerge = 0`` makes Windows ignore local-store rules.

Values are typed: ``str``, ``bool``, ``int`` or a tuple of ``str`` (a MOF array).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from .. import keywords
from ..errors import ArtifactError
from ..formats import Unexpressible
from . import purge
from ..registry.policyfile import RULES_KEY, encode_policy
from ..registry.registrypol import REG_DWORD, REG_SZ
from ..model import PROFILES, Policy, Rule, protocol_name
from ..profilesettings import LOCAL_MERGE, ROOT_KEY
from ..syntax.numbers import digits

Value = str | bool | int | tuple[str, ...]

PURGE_NAME = "RemoveStaleRules"

#: cmfw's port keywords → the spelling NetSecurity (and so NetworkingDsc) accepts.
NETSECURITY_PORTS = {k.name: k.netsecurity for k in keywords.PORT_KEYWORDS if k.netsecurity}
NETSECURITY_ADDRESSES = tuple(k.name for k in keywords.ADDRESS_KEYWORDS if k.netsecurity)


@dataclass(frozen=True)
class Instance:
    resource: str  # the friendly name in a configuration: Firewall, RegistryPolicyFile, ...
    mof_class: str
    module: str
    version: str
    name: str
    properties: tuple[tuple[str, Value], ...]
    depends_on: tuple[str, ...] = ()

    @property
    def resource_id(self) -> str:
        return f"[{self.resource}]{self.name}"


def _flag(value: int | str) -> str:
    return "True" if value == 1 else "False"


def _not_flag(value: int | str) -> str:
    return "False" if value == 1 else "True"


def _action(value: int | str) -> str:
    return "Block" if value == 1 else "Allow"


#: Registry value (MS-GPFAS) → NetworkingDsc FirewallProfile property, and the value it takes.
PROFILE_PROPERTIES: dict[str, tuple[str, Callable[[int | str], Value]]] = {
    "EnableFirewall": ("Enabled", _flag),
    "DefaultInboundAction": ("DefaultInboundAction", _action),
    "DefaultOutboundAction": ("DefaultOutboundAction", _action),
    "AllowLocalPolicyMerge": ("AllowLocalFirewallRules", _flag),
    "AllowLocalIPsecPolicyMerge": ("AllowLocalIPsecRules", _flag),
    "DisableNotifications": ("NotifyOnListen", _not_flag),
    "DisableUnicastResponsesToMulticastBroadcast": ("AllowUnicastResponseToMulticast", _not_flag),
    "LogFilePath": ("LogFileName", str),
    "LogFileSize": ("LogMaxSizeKilobytes", int),
    "LogDroppedPackets": ("LogBlocked", _flag),
    "LogSuccessfulConnections": ("LogAllowed", _flag),
}


def instances(policy: Policy) -> list[Instance]:
    """The policy's DSC resource instances, in a stable order (profiles first, then rules,
    then the step that removes what the policy no longer has)."""
    if policy.dsc.resource == "registry-policy":
        return _registry_instances(policy)
    return _profile_instances(policy) + [_firewall(policy, rule) for rule in policy.rules] + [purge_instance(policy)]


def purge_instance(policy: Policy) -> Instance:
    """The built-in ``Script`` resource that removes rules this policy no longer has (:mod:`.purge`)."""
    return Instance("Script", "MSFT_ScriptResource", "PSDesiredStateConfiguration", "1.0", PURGE_NAME, purge.scripts(policy))


def _profile_instances(policy: Policy) -> list[Instance]:
    out = []
    for profile in PROFILES:
        props: list[tuple[str, Value]] = [("Name", profile)]
        for setting in policy.profile_settings:
            if setting.profile != profile:
                continue
            if setting.name not in PROFILE_PROPERTIES:
                raise ArtifactError(f"policy {policy.name!r}: profile setting {setting.name} reached the DSC emitter unchecked")
            if setting.name in LOCAL_MERGE and setting.value == 0:
                continue  # would switch off the local store this configuration writes to (lint CMFW112)
            name, convert = PROFILE_PROPERTIES[setting.name]
            props.append((name, convert(setting.value)))
        if len(props) > 1:
            out.append(Instance("FirewallProfile", "DSC_FirewallProfile", "NetworkingDsc", policy.dsc.networkingdsc_version, profile, tuple(props)))
    return out


def unexpressible(policy: Policy) -> list[Unexpressible]:
    """What the policy's DSC mode cannot carry (``firewall`` mode: NetworkingDsc's limits)."""
    if policy.dsc.resource == "registry-policy":
        return []  # the very values of the GPO's registry.pol: anything a GPO can say
    out = []
    hint = "use `dsc: {resource: registry-policy}` for this policy"
    for setting in policy.profile_settings:
        if setting.name not in PROFILE_PROPERTIES:
            out.append(Unexpressible(
                f"profile setting {setting.profile} {setting.name} cannot be expressed with NetworkingDsc FirewallProfile; {hint}"
            ))
    for rule in policy.rules:
        what = firewall_limit(rule)
        if what:
            out.append(Unexpressible(f"rule {rule.id}: {what} cannot be expressed with NetworkingDsc Firewall; {hint}", rule.id))
    return out


def firewall_limit(rule: Rule) -> str | None:
    """What in ``rule`` a NetworkingDsc ``Firewall`` resource cannot say, or ``None``."""
    if rule.extra:
        return f"the rule-string tokens {', '.join(k for k, _ in rule.extra)}"
    if rule.action not in ("Allow", "Block"):
        return f"action {rule.action}"
    for port in rule.local_ports + rule.remote_ports:
        if not digits(port[:1]) and port not in NETSECURITY_PORTS:
            return f"the port keyword {port}"
    for address in rule.local_addresses + rule.remote_addresses:
        if not (digits(address[:1]) or ":" in address or address in NETSECURITY_ADDRESSES):
            return f"the address keyword {address}"
    return None


def modules(policy: Policy) -> list[tuple[str, str]]:
    """(module, version) pairs the configuration imports."""
    if policy.dsc.resource == "registry-policy":
        return [("GPRegistryPolicyDsc", policy.dsc.gpregistrypolicydsc_version)]
    return [("NetworkingDsc", policy.dsc.networkingdsc_version)]


def _firewall(policy: Policy, rule: Rule) -> Instance:
    limit = firewall_limit(rule)
    if limit:
        raise ArtifactError(f"rule {rule.id}: {limit} reached the DSC emitter unchecked")
    # Under a Windows predefined ID the name and description are resource strings
    # (@FirewallAPI.dll,-28511) that Get-NetFirewallRule returns localised: NetworkingDsc
    # would see a difference on every run, so they are left to Windows.
    predefined = rule.name.startswith("@")
    props: list[tuple[str, Value]] = [("Name", rule.id)]
    if not predefined:
        props.append(("DisplayName", rule.name))
    if rule.group:
        props.append(("Group", rule.group))
    props += [
        ("Ensure", "Present"),
        ("Enabled", "True" if rule.enabled else "False"),
        ("Action", rule.action),
        ("Direction", "Inbound" if rule.direction == "In" else "Outbound"),
        # Windows reports all three profiles as "Any"; naming them one by one would make
        # NetworkingDsc see a difference on every run.
        ("Profile", ("Any",) if set(rule.profiles) == set(PROFILES) else tuple(rule.profiles)),
    ]
    if rule.protocol is not None:
        props.append(("Protocol", protocol_name(rule.protocol)))
    for field, ports in (("LocalPort", rule.local_ports), ("RemotePort", rule.remote_ports)):
        if ports:
            props.append((field, tuple(p if digits(p[:1]) else NETSECURITY_PORTS[p] for p in ports)))
    for field, addresses in (("LocalAddress", rule.local_addresses), ("RemoteAddress", rule.remote_addresses)):
        if addresses:
            props.append((field, tuple(addresses)))
    if rule.icmp_types:
        # NetSecurity spells "any code" by leaving the code out.
        props.append(("IcmpType", tuple(t[:-2] if t.endswith(":*") else t for t in rule.icmp_types)))
    if rule.program is not None:
        props.append(("Program", rule.program))
    if rule.service is not None:
        props.append(("Service", rule.service))
    if rule.edge_traversal is not None:
        props.append(("EdgeTraversalPolicy", rule.edge_traversal))
    if rule.description and not predefined:
        props.append(("Description", rule.description))
    return Instance("Firewall", "DSC_Firewall", "NetworkingDsc", policy.dsc.networkingdsc_version, rule.id, tuple(props))


def _registry_instances(policy: Policy) -> list[Instance]:
    version = policy.dsc.gpregistrypolicydsc_version
    out = []
    for entry in encode_policy(policy).entries:
        if entry.key == RULES_KEY:
            name = entry.value
        else:
            relative = entry.key[len(ROOT_KEY):].strip("\\").replace("\\", " ")
            name = f"{relative} {entry.value}".strip()
        if entry.type == REG_SZ:
            value_type, data = "String", entry.text
        elif entry.type == REG_DWORD:
            value_type, data = "Dword", str(entry.number)
        else:  # pragma: no cover - cmfw writes no other types
            raise ValueError(f"unexpected registry type {entry.type}")
        props: tuple[tuple[str, Value], ...] = (
            ("Key", entry.key),
            ("ValueName", entry.value),
            ("TargetType", "ComputerConfiguration"),
            ("ValueData", (data,)),
            ("ValueType", value_type),
            ("Ensure", "Present"),
        )
        out.append(Instance("RegistryPolicyFile", "MSFT_RegistryPolicyFile", "GPRegistryPolicyDsc", version, name, props))
    out.append(purge_instance(policy))
    refresh = Instance(
        "RefreshRegistryPolicy", "MSFT_RefreshRegistryPolicy", "GPRegistryPolicyDsc", version,
        "ActivateClientSideExtension", (("IsSingleInstance", "Yes"),),
        depends_on=tuple(i.resource_id for i in out),
    )
    return out + [refresh]
