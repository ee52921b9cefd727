"""A policy's rules as Intune firewall-rule settings, and what Intune cannot carry.

The Firewall CSP behind Intune's "Windows Firewall Rules" template is narrower than a
GPO rule string: no port keywords, a short list of remote address keywords, no
local address keywords, no rule groups or resource strings, on/off edge traversal,
ICMP types only on Windows 11. :func:`limit` names, for one rule, the first thing
that cannot be carried; such a rule is refused (the build stops at its matrix
entry) or, with ``unsupported: omit``, left out and reported. Nothing is rewritten
into something wider or different: RPC is not turned into 49152-65535.

What Intune has no field for but cmfw needs to read a policy back, the rule's ID
and group (and, for Windows' predefined rules, the resource strings of its name and
description), travels in ``[cmfw]`` lines at the end of the rule's description:
the client shows which cmfw rule an MDM rule is, and :mod:`.read` restores the very
:class:`~builder.model.Rule` the GPO carries.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Any

from ..identifiers import intune_marker
from ..keywords import PORT
from ..model import PROFILES, Policy, Rule
from . import settings as s

#: Start of a line of the description trailer; the reader keys on it.
MARK = "[cmfw] "
TRAILER_KEYS = ("rule", "group", "name", "description")
#: Where the documents go in a build.
ROOT = "intune"
#: What the deploy script reads: the build's Intune policies (not a policy id: those have no '-').
PLAN = f"{ROOT}/cmfw-intune-plan.json"

_PORT = re.compile(r"([0-9]{1,5})(?:-([0-9]{1,5}))?\Z")
_ADDRESS = re.compile(r"[0-9A-Fa-f:.]+(?:/[0-9.]{1,15})?\Z|[0-9A-Fa-f:.]+-[0-9A-Fa-f:.]+\Z")
_RESOURCE = re.compile(r"@.+,-?[0-9]+\Z")
_LINE_BREAK = re.compile(r"[\r\n\x0b\x0c\x85\u2028\u2029]")


@dataclass(frozen=True)
class Document:
    """One Intune policy of a cmfw policy: its path in the build, name, rules and JSON body."""

    path: str
    name: str
    part: int
    parts: int
    rules: tuple[Rule, ...]
    body: dict[str, Any]


@dataclass(frozen=True)
class Plane:
    """A policy as Intune sees it: the documents, the rules left out (and why), and the
    rules carried with a visible change (a predefined rule's text, a de-duplicated name)."""

    policy: Policy
    documents: tuple[Document, ...]
    left_out: tuple[tuple[Rule, str], ...]
    translated: tuple[tuple[Rule, str], ...]

    @property
    def rules(self) -> int:
        return sum(len(d.rules) for d in self.documents)


# -- what Intune cannot carry ------------------------------------------------------------------


def limit(rule: Rule) -> str | None:
    """Why the Firewall CSP cannot carry ``rule`` exactly, or ``None`` when it can."""
    for label, value in (("ID", rule.id), ("name", rule.name), ("group", rule.group)):
        if _LINE_BREAK.search(value):
            return f"its {label} contains a line break"
    if rule.id.strip() != rule.id or " " in rule.id or not rule.id:
        return "its ID is empty or contains white space"
    tokens = [key for key, _ in rule.extra if key != "IFType"]
    if tokens:
        return f"the rule-string tokens {', '.join(tokens)} have no Firewall CSP node"
    for key, value in rule.extra:
        if key == "IFType" and value.casefold() not in s.INTERFACE_OPTIONS:
            return f"the interface type {value} has no Firewall CSP value"
    if rule.action not in ("Allow", "Block"):
        return f"action {rule.action}: the Firewall CSP knows only Allow and Block"
    for port in rule.local_ports + rule.remote_ports:
        if port in PORT:
            return _port_keyword(port)
        match = _PORT.match(port)
        if not match or int(match.group(1)) > 65535 or int(match.group(2) or match.group(1)) > 65535:
            return f"the port {port} is not a number or range of 0-65535"
        if match.group(2) and int(match.group(2)) < int(match.group(1)):
            return f"the port range {port} is descending"
    if (rule.local_ports or rule.remote_ports) and rule.protocol not in (6, 17):
        return "ports need protocol TCP or UDP in the Firewall CSP"
    for address in rule.local_addresses:
        if not _ADDRESS.match(address):
            return f"the local address keyword {address}: the Firewall CSP takes no keyword for local addresses"
    for address in rule.remote_addresses:
        if not _ADDRESS.match(address) and address not in s.REMOTE_KEYWORDS:
            return (
                f"the remote address keyword {address}: the Firewall CSP documents only "
                f"{', '.join(s.REMOTE_KEYWORDS)} in every version (Intranet, Internet and the Play To "
                "keywords changed spelling between versions; CaptivePortal and the per-family LocalSubnet are absent)"
            )
    if rule.icmp_types:
        return (
            f"the ICMP types {','.join(rule.icmp_types)}: IcmpTypesAndCodes is Windows 11 only (10.0.20348), "
            "fails the policy's whole Atomic block on Windows 10, and its setting ID is unconfirmed"
        )
    if rule.edge_traversal not in (None, "Allow"):
        return f"edge traversal {rule.edge_traversal}: the Firewall CSP's EdgeTraversal is only on or off"
    if rule.edge_traversal == "Allow" and rule.direction != "In":
        return "edge traversal on an outbound rule: Intune allows it on inbound rules only"
    if rule.service == "*":
        return "the service * (any service): whether the Firewall CSP's ServiceName takes it is unverified"
    unknown = [p for p in rule.profiles if p not in PROFILES]
    if unknown:
        return f"the profile {unknown[0]} has no Firewall CSP value"
    if rule.direction not in ("In", "Out"):
        return f"direction {rule.direction}"
    if _RESOURCE.match(rule.name) and rule.name not in _resources()[0]:
        return f"its name is the resource string {rule.name}, which only Windows resolves and cmfw has no text for"
    return None


def _port_keyword(port: str) -> str:
    meaning = PORT[port].meaning
    text = f"the port keyword {port} ({meaning}): the Firewall CSP takes port numbers and ranges only"
    if port == "RPC":
        return text + "; the dynamic range 49152-65535 would open every RPC server, not the rule's one, so cmfw does not rewrite it"
    if port == "RPC-EPMap":
        return text + "; TCP 135 alone would not be limited to the endpoint mapper, so cmfw does not rewrite it"
    return text + ", and no fixed port means the same"


def limits(policy: Policy) -> list[tuple[Rule, str]]:
    """Every rule of ``policy`` Intune cannot carry, with the reason (whatever the matrix says)."""
    out = []
    for rule in policy.rules:
        reason = limit(rule)
        if reason is not None:
            out.append((rule, reason))
    return out


def omitted(policy: Policy) -> list[tuple[Rule, str]]:
    """The rules the build leaves out of the policy's Intune documents, with the reason.

    Not empty only when the policy writes Intune documents with ``unsupported: omit``
    (with ``refuse`` such a rule stops the build). The lint check "left out of Intune"
    reports these.
    """
    if not policy.intune.enabled or policy.intune.unsupported != "omit":
        return []
    return limits(policy)


# -- resource strings of Windows' predefined rules -----------------------------------------------


@functools.cache
def _resources() -> tuple[dict[str, str], dict[str, str]]:
    """(name resource → English display name, group resource → group title), from the catalog."""
    from ..catalog import load_catalog

    names: dict[str, str] = {}
    groups: dict[str, str] = {}
    for feature in load_catalog().features.values():
        for variant in feature.variants.values():
            for template in variant.rules:
                pre = template.predefined
                if pre is not None:
                    names[pre.name_resource] = pre.display_name
                    groups[pre.embed_context] = pre.group_title
    return names, groups


def display_name(name: str) -> str:
    """The text a rule's name shows in Intune: a predefined rule's resource string becomes
    Windows' English name for it (Intune rules are custom rules, they cannot refer to one)."""
    return _resources()[0].get(name, name) if _RESOURCE.match(name) else name


def display_description(rule: Rule) -> str:
    """The visible part of the rule's Intune description (before the ``[cmfw]`` lines)."""
    if not _RESOURCE.match(rule.description):
        return rule.description
    shown = display_name(rule.name)
    return f"Windows' predefined rule '{shown}', as a custom rule." if shown != rule.name else ""


def description(rule: Rule, shown_name: str) -> str:
    """The rule's Intune description: the visible text, then the ``[cmfw]`` lines."""
    visible = display_description(rule)
    lines = [visible] if visible else []
    lines.append(f"{MARK}rule: {rule.id}")
    if rule.group:
        lines.append(f"{MARK}group: {rule.group}")
    if shown_name != rule.name:
        lines.append(f"{MARK}name: {rule.name}")
    if visible != rule.description:
        lines.append(f"{MARK}description: {rule.description}")
    return "\n".join(lines)


def shown_names(rules: tuple[Rule, ...] | list[Rule]) -> dict[str, str]:
    """Rule ID → the name the rule has in Intune: its display name, made unique within the
    policy (Intune refuses two rules of one name) by `` (2)``, `` (3)``... in rule ID order."""
    taken: set[str] = set()
    out = {}
    for rule in rules:
        base = display_name(rule.name)
        shown, n = base, 1
        while shown.casefold() in taken:
            n += 1
            shown = f"{base} ({n})"
        taken.add(shown.casefold())
        out[rule.id] = shown
    return out


# -- the documents ---------------------------------------------------------------------------------


def document_paths(key: str, parts: int) -> list[str]:
    """``intune/<key>.json``, or ``intune/<key>-1.json``... zero-padded so that they sort."""
    if parts == 1:
        return [f"{ROOT}/{key}.json"]
    width = len(str(parts))
    return [f"{ROOT}/{key}-{n:0{width}d}.json" for n in range(1, parts + 1)]


def document_name(base: str, part: int, parts: int) -> str:
    return base if parts == 1 else f"{base} ({part} of {parts})"


def plane(policy: Policy, domain: str, owner: str) -> Plane:
    """The policy's Intune documents (at most :data:`settings.MAX_RULES` rules each)."""
    left = limits(policy)
    refused = {rule.id for rule, _ in left}
    carried = [r for r in policy.rules if r.id not in refused]
    names = shown_names(carried)
    translated = []
    for rule in carried:
        notes = []
        if _RESOURCE.match(rule.name) or _RESOURCE.match(rule.description) or _RESOURCE.match(rule.group):
            notes.append("Windows' predefined rule, written as a custom rule with the same conditions")
        if names[rule.id] != display_name(rule.name):
            notes.append(f"named {names[rule.id]!r}: Intune refuses two rules of one name in a policy")
        if notes:
            translated.append((rule, "; ".join(notes)))
    chunks = [carried[i:i + s.MAX_RULES] for i in range(0, len(carried), s.MAX_RULES)]
    paths = document_paths(policy.key, len(chunks))
    base = policy.intune.name or policy.name
    documents = []
    for n, (path, chunk) in enumerate(zip(paths, chunks), start=1):
        name = document_name(base, n, len(chunks))
        text = intune_marker(domain, owner, policy.key, n, len(chunks))
        if policy.description:
            text += "\n" + policy.description
        documents.append(Document(path, name, n, len(chunks), tuple(chunk), body(name, text, chunk, names)))
    return Plane(policy, tuple(documents), tuple(left), tuple(translated))


def body(name: str, text: str, rules: list[Rule], names: dict[str, str]) -> dict[str, Any]:
    """A Graph ``POST deviceManagement/configurationPolicies`` body: one group collection, one
    element per rule. The group and the first rule's settings carry their template
    references (the pattern of the accepted real payload); later rules carry ``null``."""
    return {
        "name": name,
        "description": text,
        "platforms": s.PLATFORMS,
        "technologies": s.TECHNOLOGIES,
        "roleScopeTagIds": list(s.ROLE_SCOPE_TAGS),
        "templateReference": {"templateId": s.TEMPLATE_ID},
        "settings": [
            {
                "@odata.type": s.SETTING,
                "settingInstance": {
                    "@odata.type": s.GROUP_COLLECTION,
                    "settingDefinitionId": s.PREFIX,
                    "settingInstanceTemplateReference": {"settingInstanceTemplateId": s.GROUP_TEMPLATE_ID},
                    "groupSettingCollectionValue": [
                        {
                            "@odata.type": s.GROUP_VALUE,
                            "settingValueTemplateReference": None,
                            "children": children(rule, names[rule.id], first=i == 0),
                        }
                        for i, rule in enumerate(rules)
                    ],
                },
            }
        ],
    }


def values(rule: Rule, shown_name: str) -> dict[str, Any]:
    """Child suffix → value (text, number, list of texts, or choice option(s)), in write order."""
    out: dict[str, Any] = {
        "name": shown_name,
        "description": description(rule, shown_name),
        "enabled": "1" if rule.enabled else "0",
        "direction": rule.direction.lower(),
        "action_type": "1" if rule.action == "Allow" else "0",
    }
    if rule.protocol is not None:
        out["protocol"] = rule.protocol
    for suffix, items in (
        ("localportranges", rule.local_ports), ("remoteportranges", rule.remote_ports),
        ("localaddressranges", rule.local_addresses), ("remoteaddressranges", rule.remote_addresses),
    ):
        if items:
            out[suffix] = list(items)
    if rule.program:
        out["app_filepath"] = rule.program
    if rule.service:
        out["app_servicename"] = rule.service
    interfaces = list(dict.fromkeys(s.INTERFACE_OPTIONS[v.casefold()] for k, v in rule.extra if k == "IFType"))
    if interfaces:
        out["interfacetypes"] = interfaces
    profiles = set(rule.profiles)
    out["profiles"] = [s.ALL_PROFILES] if profiles >= set(PROFILES) else [s.PROFILE_OPTIONS[p] for p in PROFILES if p in profiles]
    if rule.edge_traversal == "Allow":
        out["edgetraversal"] = "1"
    return out


def children(rule: Rule, shown_name: str, *, first: bool) -> list[dict[str, Any]]:
    return [instance(s.CHILDREN[suffix], value, first=first) for suffix, value in values(rule, shown_name).items()]


def instance(child: s.Child, value: Any, *, first: bool) -> dict[str, Any]:
    """One setting instance of the kind ``child`` is, with its value(s)."""
    odata, key = s.KINDS[child.kind]
    ref = {"@odata.type": s.INSTANCE_REFERENCE, "settingInstanceTemplateId": child.instance_template}
    value_ref = (
        {"@odata.type": s.VALUE_REFERENCE, "settingValueTemplateId": child.value_template, "useTemplateDefault": False}
        if first and child.value_template else None
    )
    if child.kind in ("string", "integer"):
        content: Any = {
            "@odata.type": s.STRING_VALUE if child.kind == "string" else s.INTEGER_VALUE,
            "settingValueTemplateReference": value_ref,
            "value": value,
        }
    elif child.kind == "strings":
        content = [{"@odata.type": s.STRING_VALUE, "settingValueTemplateReference": None, "value": v} for v in value]
    elif child.kind == "choice":
        content = {"@odata.type": s.CHOICE_VALUE, "settingValueTemplateReference": value_ref, "value": child.choice(value), "children": []}
    else:
        content = [
            {"@odata.type": s.CHOICE_VALUE, "settingValueTemplateReference": None, "value": child.choice(v), "children": []}
            for v in value
        ]
    return {
        "@odata.type": odata,
        "settingDefinitionId": child.id,
        "settingInstanceTemplateReference": ref if first and child.instance_template else None,
        key: content,
    }
