"""Intune firewall-rule policies (JSON) back into :class:`~builder.model.Rule` objects.

Reads what cmfw writes and what Graph returns: a ``GET configurationPolicies/{id}``
with ``$expand=settings`` (the IntuneManagement export, with its OData annotations),
a POST body, or a list response (``{"value": [...]}``). A rule's ID, group and
predefined resource strings come from the ``[cmfw]`` lines of its description when
cmfw wrote it; a foreign rule is named by its display name. Whatever has no field in
``Rule`` is kept in ``Rule.extra`` and noted, never dropped.

The CSP defaults changed between versions of Microsoft's page (``Enabled``: on, then
off), so a rule without ``Enabled`` or ``Direction`` is read with the current default
and the gap is reported.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from ..identifiers import INTUNE_MARKER_PATTERN
from ..model import PROFILES, Rule
from ..syntax.numbers import digits
from . import settings as s
from .translate import MARK, TRAILER_KEYS, display_description, display_name

#: The firewall-rule templates a policy may be built on (the ConfigMgr one is read, not written).
TEMPLATES = (s.TEMPLATE_ID, s.CONFIGMGR_TEMPLATE_ID)
LEGACY = "deviceConfiguration--windows10EndpointProtectionConfiguration_firewallRules"
PLAN_FORMAT = "cmfw-intune-plan/1"


@dataclass(frozen=True)
class Marker:
    domain: str
    owner: str
    key: str
    part: int
    parts: int


@dataclass
class IntunePolicy:
    """One Intune firewall-rule policy (or, merged, every document of one cmfw policy)."""

    source: str
    name: str
    description: str = ""
    template: str = ""
    marker: Marker | None = None
    rules: list[Rule] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def marker_of(description: str) -> Marker | None:
    """The cmfw marker on the first line of a policy description, or ``None``."""
    found = re.match(INTUNE_MARKER_PATTERN, description.lstrip("\ufeff").split("\n", 1)[0])
    if found is None:
        return None
    domain, owner, key, part, parts = found.groups()
    return Marker(domain.lower(), owner or "", key, int(part), int(parts))


def looks_like_policy(doc: object) -> bool:
    """Whether a parsed JSON value is meant as an Intune policy (or a list of them)."""
    if isinstance(doc, dict) and isinstance(doc.get("value"), list):
        return True
    return isinstance(doc, dict) and ("templateReference" in doc or "settings" in doc or "settingsDelta" in doc)


def parse(data: bytes, source: str) -> list[IntunePolicy]:
    """Every firewall-rule policy in one JSON file; ``ValueError`` says why a file is none."""
    try:
        doc = json.loads(data.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise ValueError(f"not UTF-8 (byte offset {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"not JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}") from None
    if isinstance(doc, dict) and isinstance(doc.get("value"), list):
        items = [d for d in doc["value"] if isinstance(d, dict)]
        found = [policy_of(d, f"{source}#{i}") for i, d in enumerate(items) if _template(d) in TEMPLATES]
        if not found:
            raise ValueError("a Graph list without a Windows Firewall Rules policy")
        return found
    if not isinstance(doc, dict):
        raise ValueError("not an Intune policy (a JSON object with templateReference and settings)")
    return [policy_of(doc, source)]


def _template(doc: dict[str, Any]) -> str:
    ref = doc.get("templateReference")
    return str(ref.get("templateId", "")) if isinstance(ref, dict) else ""


def policy_of(doc: dict[str, Any], source: str) -> IntunePolicy:
    """One policy object; ``ValueError`` when it is not a firewall-rule policy."""
    if "settingsDelta" in doc and any(
        isinstance(d, dict) and d.get("definitionId") == LEGACY for d in doc.get("settingsDelta") or []
    ):
        raise ValueError("a legacy endpoint-security intent (before April 2022); cmfw reads settings-catalog policies only")
    template = _template(doc)
    if template not in TEMPLATES:
        raise ValueError(f"not a Windows Firewall Rules policy (template {template or 'none'!r})")
    if not isinstance(doc.get("settings"), list):
        raise ValueError("has no settings (export the policy with $expand=settings)")
    raw = doc.get("description")
    text = raw if isinstance(raw, str) else ""
    policy = IntunePolicy(source, str(doc.get("name") or ""), text, template, marker_of(text))
    groups = []
    for i, setting in enumerate(doc["settings"]):
        instance = setting.get("settingInstance") if isinstance(setting, dict) else None
        if not isinstance(instance, dict) or instance.get("settingDefinitionId") != s.PREFIX:
            sid = instance.get("settingDefinitionId") if isinstance(instance, dict) else None
            policy.problems.append(f"settings[{i}] ({sid or 'no settingDefinitionId'}) is not the firewall rule collection; not read")
            continue
        values = instance.get("groupSettingCollectionValue")
        if not isinstance(values, list):
            raise ValueError(f"settings[{i}]: groupSettingCollectionValue is not a list")
        groups.extend(values)
    taken: set[str] = set()
    for n, group in enumerate(groups, start=1):
        rule = _rule(group, n, policy.problems)
        rule_id, k = rule.id, 1
        while rule_id.casefold() in taken:
            k += 1
            rule_id = f"{rule.id} #{k}"
        taken.add(rule_id.casefold())
        policy.rules.append(rule if rule_id == rule.id else rule.with_id(rule_id))
    return policy


def _values(group: object, n: int) -> dict[str, Any]:
    """Child suffix → its value(s), as written (choice options without the child's prefix)."""
    if not isinstance(group, dict) or not isinstance(group.get("children"), list):
        raise ValueError(f"rule {n}: not a group setting value with children")
    out: dict[str, Any] = {}
    for child in group["children"]:
        if not isinstance(child, dict):
            raise ValueError(f"rule {n}: a child is not an object")
        sid = str(child.get("settingDefinitionId", ""))
        suffix = sid[len(s.PREFIX) + 1:] if sid.startswith(s.PREFIX + "_") else sid
        if suffix in out:
            raise ValueError(f"rule {n}: {sid} appears twice")
        out[suffix] = _value(child, sid, n)
    return out


def _value(child: dict[str, Any], sid: str, n: int) -> Any:
    def option(item: object) -> str:
        value = item.get("value") if isinstance(item, dict) else None
        if not isinstance(value, str) or not value.startswith(sid + "_"):
            raise ValueError(f"rule {n}: {value!r} is not an option of {sid}")
        return value[len(sid) + 1:]

    if isinstance(child.get("simpleSettingValue"), dict):
        return child["simpleSettingValue"].get("value")
    if isinstance(child.get("choiceSettingValue"), dict):
        return option(child["choiceSettingValue"])
    if isinstance(child.get("simpleSettingCollectionValue"), list):
        return [v.get("value") if isinstance(v, dict) else v for v in child["simpleSettingCollectionValue"]]
    if isinstance(child.get("choiceSettingCollectionValue"), list):
        return [option(v) for v in child["choiceSettingCollectionValue"]]
    raise ValueError(f"rule {n}: {sid} has no value")


def _texts(value: Any, what: str, n: int) -> list[str]:
    items = value if isinstance(value, list) else [value]
    if not all(isinstance(v, str) for v in items):
        raise ValueError(f"rule {n}: {what} holds a value that is not text")
    return [part.strip() for v in items for part in v.split(",") if part.strip()]


def _trailer(text: str) -> tuple[str, dict[str, str]]:
    """(visible description, ``[cmfw]`` fields) of a rule description.

    The fields are the lines from the last ``[cmfw] rule:`` line on, each key once and
    in the order cmfw writes them; anything else leaves the description as it is.
    """
    lines = text.split("\n")
    start = next((i for i in range(len(lines) - 1, -1, -1) if lines[i].startswith(f"{MARK}rule: ")), None)
    if start is None:
        return text, {}
    fields: dict[str, str] = {}
    rank = -1
    for line in lines[start:]:
        key, sep, value = line[len(MARK):].partition(": ") if line.startswith(MARK) else ("", "", "")
        if not sep or key not in TRAILER_KEYS or TRAILER_KEYS.index(key) <= rank:
            return text, {}
        rank = TRAILER_KEYS.index(key)
        fields[key] = value
    return "\n".join(lines[:start]), fields


def _rule(group: object, n: int, problems: list[str]) -> Rule:
    values = _values(group, n)
    label = f"rule {n}"
    name = values.pop("name", None)
    if not isinstance(name, str) or not name:
        raise ValueError(f"{label}: no name")
    label = f"rule {n} ({name})"
    text = values.pop("description", "") or ""
    if not isinstance(text, str):
        raise ValueError(f"{label}: the description is not text")
    visible, trailer = _trailer(text)
    extra: list[tuple[str, str]] = []
    kwargs: dict[str, Any] = {}

    enabled = values.pop("enabled", None)
    if enabled is None:
        problems.append(f"{label}: no Enabled setting; read as disabled, the Firewall CSP's current default")
    kwargs["enabled"] = enabled == "1"
    direction = values.pop("direction", None)
    if direction is None:
        problems.append(f"{label}: no Direction setting; read as outbound, the Firewall CSP's default")
    elif str(direction).lower() not in ("in", "out"):
        raise ValueError(f"{label}: direction {direction!r}")
    kwargs["direction"] = "In" if str(direction).lower() == "in" else "Out"
    action = values.pop("action_type", "1")
    if action not in ("0", "1"):
        raise ValueError(f"{label}: action {action!r}")
    kwargs["action"] = "Allow" if action == "1" else "Block"
    protocol = values.pop("protocol", None)
    if protocol is not None:
        if isinstance(protocol, bool) or not digits(str(protocol)) or int(protocol) > 255:
            raise ValueError(f"{label}: protocol {protocol!r} is not 0-255")
        kwargs["protocol"] = int(protocol)
    for suffix, attr in (
        ("localportranges", "local_ports"), ("remoteportranges", "remote_ports"),
        ("localaddressranges", "local_addresses"), ("remoteaddressranges", "remote_addresses"),
        ("icmptypesandcodes", "icmp_types"),
    ):
        if suffix in values:
            items = [v for v in _texts(values.pop(suffix), suffix, n) if v != "*"]
            kwargs[attr] = tuple(items)
    for suffix, attr in (("app_filepath", "program"), ("app_servicename", "service")):
        if suffix in values:
            value = values.pop(suffix)
            if not isinstance(value, str):
                raise ValueError(f"{label}: {suffix} is not text")
            kwargs[attr] = value or None
    profiles = values.pop("profiles", [s.ALL_PROFILES])
    options = {v: k for k, v in s.PROFILE_OPTIONS.items()}
    if s.ALL_PROFILES in profiles:
        kwargs["profiles"] = PROFILES
    else:
        unknown = [p for p in profiles if p not in options]
        if unknown:
            raise ValueError(f"{label}: profile option {unknown[0]!r}")
        kwargs["profiles"] = tuple(options[p] for p in profiles)
    for option in values.pop("interfacetypes", []):
        if option == "all":
            continue
        if option not in s.INTERFACE_TOKENS:
            raise ValueError(f"{label}: interface type option {option!r}")
        extra.append(("IFType", s.INTERFACE_TOKENS[option]))
    edge = values.pop("edgetraversal", None)
    if edge not in (None, "0", "1"):
        raise ValueError(f"{label}: edge traversal option {edge!r}")
    kwargs["edge_traversal"] = "Allow" if edge == "1" else None
    if "localuserauthorizedlist" in values:
        extra += [("LUAuth", v) for v in _texts(values.pop("localuserauthorizedlist"), "localuserauthorizedlist", n)]
    for suffix in sorted(values):
        # Intune-only conditions (package family name, dynamic keywords, App Control tag...):
        # kept, so that a comparison shows them, and said to have no GPO equivalent.
        value = values[suffix]
        for item in value if isinstance(value, list) else [value]:
            extra.append((f"Intune:{suffix}", str(item)))
        known = s.CHILDREN.get(suffix)
        what = f"{known.node} has no GPO rule-string equivalent" if known else "is not a setting cmfw knows"
        problems.append(f"{label}: {suffix} {what}; kept in extra")

    rule_name = name
    if "name" in trailer:
        shown = display_name(trailer["name"])
        if name == shown or re.fullmatch(re.escape(shown) + r" \([0-9]+\)", name):
            rule_name = trailer["name"]
        else:
            problems.append(f"{label}: renamed in Intune (cmfw wrote {shown!r}); read under its Intune name")
    rule_id = trailer.get("rule") or name
    description = visible
    if "description" in trailer:
        probe = Rule(id=rule_id, name=trailer.get("name", rule_name), direction="In", description=trailer["description"])
        if visible == display_description(probe):
            description = trailer["description"]
        else:
            problems.append(f"{label}: description changed in Intune; read as Intune has it")
    return Rule(
        id=rule_id, name=rule_name, description=description, group=trailer.get("group", ""),
        extra=tuple(extra), **kwargs,
    )


def merge(policies: list[IntunePolicy]) -> list[IntunePolicy]:
    """The documents of one cmfw policy (same marker domain, owner and key) as one policy.

    A part missing, or a part twice, is reported on the merged policy.
    """
    out: list[IntunePolicy] = []
    split: dict[tuple[str, str, str], list[IntunePolicy]] = {}
    for policy in policies:
        m = policy.marker
        if m is None or m.parts == 1:
            out.append(policy)
        else:
            split.setdefault((m.domain, m.owner, m.key.casefold()), []).append(policy)
    for parts in split.values():
        parts.sort(key=lambda p: (p.marker.part if p.marker else 0, p.source))
        first = parts[0]
        assert first.marker is not None
        want = first.marker.parts
        merged = IntunePolicy(
            source=", ".join(p.source for p in parts),
            name=re.sub(r" \([0-9]+ of [0-9]+\)\Z", "", first.name),
            description=first.description,
            template=first.template,
            marker=Marker(first.marker.domain, first.marker.owner, first.marker.key, 1, 1),
        )
        seen = [p.marker.part for p in parts if p.marker]
        missing = sorted(set(range(1, want + 1)) - set(seen))
        if missing:
            merged.problems.append(f"document(s) {', '.join(map(str, missing))} of {want} missing")
        if len(seen) != len(set(seen)) or any(p.marker and p.marker.parts != want for p in parts):
            merged.problems.append("the documents' markers disagree (a part twice, or a different count of parts)")
        for p in parts:
            merged.rules.extend(p.rules)
            merged.problems.extend(p.problems)
        out.append(merged)
    return sorted(out, key=lambda p: (p.name.casefold(), p.source))
