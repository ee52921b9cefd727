"""A Policy as registry.pol entries, and registry.pol entries as rules again.

A firewall GPO's registry.pol holds ``PolicyVersion``, the profile settings the
matrix asked for, and one REG_SZ per rule under ``...\\FirewallRules`` whose value
name is the rule ID and whose data is the rule string.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..model import Policy, ProfileSetting, Rule, rule_body
from ..profilesettings import LOGGING_VALUES, ROOT_KEY, registry_key, sort_settings
from .registrypol import REG_DWORD, REG_EXPAND_SZ, REG_NONE, REG_SZ, Entry
from .rulestring import FLOOR, RuleStringError, Version, encode_rule, parse_rule

RULES_KEY = ROOT_KEY + r"\FirewallRules"
#: The client-side extension that applies a registry.pol (Registry), and the snap-in
#: that edits firewall policy: a GPO lists the pair so that Windows and GPMC use it.
REGISTRY_CSE = "{35378EAC-683F-11D2-A89A-00C04FBBCFA2}"
FIREWALL_TOOL = "{B05566AC-FE9C-4368-BE01-7A4CBB6CBA11}"


@dataclass(frozen=True)
class EncodedPolicy:
    """A policy's registry.pol entries, with the versions its rule strings got."""

    entries: list[Entry]
    version: Version
    rule_versions: dict[str, Version]

    @property
    def policy_version(self) -> int:
        """``PolicyVersion`` as the DWORD Windows stores: (major << 8) | minor."""
        return (self.version[0] << 8) | self.version[1]


def encode_policy(policy: Policy) -> EncodedPolicy:
    """Every rule encoded once; ``PolicyVersion`` is at least every rule's version."""
    strings = {rule.id: _encoded(rule) for rule in policy.rules}
    versions = {rid: _version_of(text) for rid, text in strings.items()}
    version = max([FLOOR, *versions.values()])
    entries = [Entry.dword(ROOT_KEY, "PolicyVersion", (version[0] << 8) | version[1])]
    for setting in policy.profile_settings:
        key = registry_key(setting)
        if isinstance(setting.value, str):
            entries.append(Entry.sz(key, setting.name, setting.value))
        else:
            entries.append(Entry.dword(key, setting.name, setting.value))
    entries.extend(Entry.sz(RULES_KEY, rule.id, strings[rule.id]) for rule in policy.rules)
    return EncodedPolicy(entries, version, versions)


#: Rule strings by what the rule says without its ID (the value name, not part of the
#: string): a build encodes each distinct rule once. Bounded; a failure is never kept
#: (it names the rule ID, so each rule raises its own).
_ENCODED: dict[tuple[object, ...], str] = {}
_MAX_ENCODED = 8192


def _encoded(rule: Rule) -> str:
    key = rule_body(rule)
    found = _ENCODED.get(key)
    if found is None:
        found = encode_rule(rule)
        if len(_ENCODED) >= _MAX_ENCODED:
            _ENCODED.clear()
        _ENCODED[key] = found
    return found


def _version_of(rule_string: str) -> Version:
    major, _, minor = rule_string[1: rule_string.index("|")].partition(".")
    return int(major), int(minor)


@dataclass
class FirewallContent:
    """What a registry.pol says about the firewall, read back."""

    policy_version: int | None = None
    rules: list[Rule] = field(default_factory=list)
    rule_versions: dict[str, Version] = field(default_factory=dict)
    profile_settings: list[ProfileSetting] = field(default_factory=list)
    other_entries: int = 0
    problems: list[str] = field(default_factory=list)


def read_entries(entries: list[Entry]) -> FirewallContent:
    """Rules, profile settings and PolicyVersion from registry.pol entries.

    Keys are matched without regard to case (Windows writes both ``SOFTWARE`` and
    ``Software``). A rule string that does not parse is reported, not fatal, so
    one bad rule does not hide the others.
    """
    out = FirewallContent()
    root = ROOT_KEY.casefold()
    for entry in entries:
        key = entry.key.casefold()
        if entry.type == REG_NONE or entry.value.startswith("**"):
            continue
        if key == RULES_KEY.casefold() and entry.type in (REG_SZ, REG_EXPAND_SZ):
            try:
                parsed = parse_rule(entry.text, entry.value)
            except RuleStringError as exc:
                out.problems.append(f"rule {entry.value}: {exc}")
                continue
            out.rules.append(parsed.rule)
            out.rule_versions[entry.value] = parsed.version
        elif key == root and entry.value == "PolicyVersion" and entry.type == REG_DWORD:
            out.policy_version = entry.number
        elif key.startswith(root + "\\") and key.split("\\")[4].endswith("profile"):
            parts = entry.key.split("\\")
            profile = parts[4][: -len("Profile")]
            logging = len(parts) > 5 and parts[5].casefold() == "logging"
            if len(parts) > 6 or (len(parts) == 6 and not logging):
                out.other_entries += 1
                continue
            if logging != (entry.value in LOGGING_VALUES) and entry.value in LOGGING_VALUES + ("EnableFirewall",):
                out.problems.append(f"{entry.key}\\{entry.value}: in the wrong key")
            value: int | str = entry.text if entry.type in (REG_SZ, REG_EXPAND_SZ) else entry.number
            out.profile_settings.append(ProfileSetting(profile.capitalize(), entry.value, value))
        elif key.startswith(root):
            out.other_entries += 1
        else:
            out.other_entries += 1
    out.profile_settings = list(sort_settings(out.profile_settings))
    return out
