"""``gpreport.xml``: the settings report GPMC keeps in every backup.

GPMC's "Manage Backups → View Settings" reads it; it is not an input of the
client-side extension. It is written the way GPMC writes it: UTF-16LE with a BOM,
CRLF, two-space indentation, the firewall extension as ``q1:WindowsFirewallSettings``
with one ``InboundFirewallRules``/``OutboundFirewallRules`` element per rule, and
no newline after ``</GPO>``. GPMC's report has no place for rule IDs, and it merges
``LPort2_10`` ranges into ``LPort`` (likewise for RPort); so does this one.
"""

from __future__ import annotations

from datetime import datetime

from .. import keywords
from ..model import PROFILES, Policy, ProfileSetting, Rule, rule_body
from ..profilesettings import LOGGING_VALUES
from ..syntax.xml import DECLARATION_UTF16, Element, Indented, document, el, indented, indented_lines
from ..registry.policyfile import EncodedPolicy
from ..syntax.numbers import digits

NS_SETTINGS = "http://www.microsoft.com/GroupPolicy/Settings"
NS_TYPES = "http://www.microsoft.com/GroupPolicy/Types"
NS_FIREWALL = "http://www.microsoft.com/GroupPolicy/Settings/WindowsFirewall"
NS_REGISTRY = "http://www.microsoft.com/GroupPolicy/Settings/Registry"

#: Profile elements in GPMC's order, and the settings that are not true/false flags.
_REPORT_PROFILES = ("Domain", "Public", "Private")
_NUMBERS = ("LogFileSize",)
_TEXTS = ("LogFilePath",)


def gpreport(policy: Policy, domain: str, encoded: EncodedPolicy, moment: datetime) -> bytes:
    stamp = moment.strftime("%Y-%m-%dT%H:%M:%S")
    firewall = el(
        "Extension",
        el("q1:GlobalSettings", el("q1:PolicyVersion", el("q1:Value", str(encoded.policy_version)))),
        *_profiles(policy.profile_settings),
        # GPMC lists every inbound rule before the outbound ones.
        *(_rule_lines(r, encoded.rule_versions[r.id]) for direction in ("In", "Out") for r in policy.rules if r.direction == direction),
        attrs={"xmlns:q1": NS_FIREWALL, "xsi:type": "q1:WindowsFirewallSettings"},
    )
    registry = el("Extension", attrs={"xmlns:q2": NS_REGISTRY, "xsi:type": "q2:RegistrySettings"}, space_before_slash=True)
    report = el(
        "GPO",
        el("Identifier", el("Identifier", policy.gpo_guid, attrs={"xmlns": NS_TYPES}), el("Domain", domain, attrs={"xmlns": NS_TYPES})),
        el("Name", policy.name),
        el("IncludeComments", "true"),
        el("CreatedTime", stamp),
        el("ModifiedTime", stamp),
        el("ReadTime", f"{stamp}.0000000Z"),
        el("FilterDataAvailable", "true"),
        el(
            "Computer",
            *_versions(enabled=True),
            el("ExtensionData", firewall, el("Name", "Windows Firewall")),
            el("ExtensionData", registry, el("Name", "Registry")),
        ),
        el("User", *_versions(enabled=False)),
        attrs={"xmlns:xsd": "http://www.w3.org/2001/XMLSchema", "xmlns:xsi": "http://www.w3.org/2001/XMLSchema-instance", "xmlns": NS_SETTINGS},
    )
    text = document([DECLARATION_UTF16, indented(report)], newline="\r\n")
    return "\ufeff".encode("utf-16-le") + text.encode("utf-16-le")


def _versions(*, enabled: bool) -> list[Element]:
    return [el("VersionDirectory", "1"), el("VersionSysvol", "1"), el("Enabled", "true" if enabled else "false")]


def _profiles(settings: tuple[ProfileSetting, ...]) -> list[Element]:
    out = []
    for profile in _REPORT_PROFILES:
        mine = [s for s in settings if s.profile == profile]
        if not mine:
            continue
        plain = sorted((s for s in mine if s.name not in LOGGING_VALUES), key=lambda s: s.name)
        logging = sorted((s for s in mine if s.name in LOGGING_VALUES), key=lambda s: LOGGING_VALUES.index(s.name))
        out.append(el(f"q1:{profile}Profile", *(el(f"q1:{s.name}", el("q1:Value", _setting_value(s))) for s in plain + logging)))
    return out


def _setting_value(setting: ProfileSetting) -> str:
    if setting.name in _TEXTS or isinstance(setting.value, str):
        return str(setting.value)
    if setting.name in _NUMBERS:
        return str(setting.value)
    return "true" if setting.value else "false"


#: Where a rule's element sits: GPO > Computer > ExtensionData > Extension > rule.
_RULE_DEPTH = 4


#: A rule's lines in the report by what the rule says and its version. They hold no rule
#: ID, so every policy with the same rule shares them: written once. Bounded.
_LINES: dict[tuple[object, ...], Indented] = {}
_MAX_LINES = 8192


def _rule_lines(rule: Rule, version: tuple[int, int]) -> Indented:
    key = (rule_body(rule), version)
    found = _LINES.get(key)
    if found is None:
        if len(_LINES) >= _MAX_LINES:
            _LINES.clear()
        found = _LINES[key] = indented_lines(_rule(rule, version), depth=_RULE_DEPTH)
    return found


def _rule(rule: Rule, version: tuple[int, int]) -> Element:
    major, minor = version
    items: list[tuple[str, str]] = [("Version", f"{major}.{minor}"), ("Action", rule.action), ("Name", rule.name),
                                    ("Dir", rule.direction)]
    if rule.program is not None:
        items.append(("App", rule.program))
    if rule.service is not None:
        items.append(("Svc", rule.service))
    if set(rule.profiles) != set(PROFILES):
        items += [("Profile", p) for p in rule.profiles]
    items += [("LA4" if ":" not in a else "LA6", a) for a in rule.local_addresses]
    ra4: list[str] = []
    ra6: list[str] = []
    for address in rule.remote_addresses:
        if ":" in address:
            ra6.append(address)
        elif digits(address[:1]):
            ra4.append(address)
        elif address in keywords.ADDRESS and keywords.ADDRESS[address].dual:
            # As in the rule string: the keyword for each family the rule can match.
            if rule.protocol != 58:
                ra4.append(address)
            if rule.protocol != 1:
                ra6.append(address)
        # The 2.20 keywords (RA42/RA62) have no element in GPMC's report.
    items += [("RA4", a) for a in ra4] + [("RA6", a) for a in ra6]
    items += [("LPort", p) for p in rule.local_ports]
    items += [("RPort", p) for p in rule.remote_ports]
    if rule.protocol is not None:
        items.append(("Protocol", str(rule.protocol)))
    items += [("ICMP4" if rule.protocol == 1 else "ICMP6", t) for t in rule.icmp_types]
    if rule.description:
        items.append(("Desc", rule.description))
    items.append(("Active", "true" if rule.enabled else "false"))
    if rule.edge_traversal is not None:
        items.append(("Edge", "true"))
    if rule.group:
        items.append(("EmbedCtxt", rule.group))
    element = "InboundFirewallRules" if rule.direction == "In" else "OutboundFirewallRules"
    return el(f"q1:{element}", *(el(f"q1:{name}", value) for name, value in items))
