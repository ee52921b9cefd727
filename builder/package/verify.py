"""Client verification: ``Test-CmfwFirewall.ps1`` and the data it compares, ``client-rules.json``.

A GPO import is checked on the domain controller (``Import-CmfwGpo.ps1``); this is the
other end. On a Windows client, the script reads the rules Group Policy applied
(``Get-NetFirewallRule -PolicyStore RSOP`` and the filter cmdlets) and compares them,
rule ID by rule ID and field by field, with what this build says the policies that
apply to the machine contain. See docs/verify.md.

The comparison is decided here, in Python, where it can be tested: every rule becomes
its *client view*, the text each NetSecurity property should report for it
(:func:`client_view`). The script holds no policy data and no mapping of its own: it
reads ``client-rules.json`` (after checking it and ``build.json`` against
``SHA256SUMS``), reads each listed property by name from the object the data names,
brings both sides into one spelling (lists split, sorted and joined, keywords in one
case, IPv4 masks) and compares strings. A field whose reported form cmfw cannot
predict is listed as *unchecked*, with the reason, rather than guessed.
"""

from __future__ import annotations

import functools
import ipaddress
import json
from dataclasses import dataclass
from typing import Any, Mapping

from .. import __version__, keywords
from ..errors import Problem
from ..formats import Artifacts, Context, Emitted, Emitter, Validator
from ..identifiers import ID_PREFIX, policy_prefix
from ..model import PROFILES, PolicySet, Rule, protocol_name
from ..syntax.jsonlayout import dumps
from .manifest import BUILD_FORMAT, MANIFEST, SUMS
from ..syntax.numbers import digits

VERIFY_SCRIPT = "Test-CmfwFirewall.ps1"
CLIENT_RULES = "client-rules.json"
CLIENT_FORMAT = "cmfw-client-rules/1"
#: What the script reads from the build besides its own data (the manifest writes them).
BUILD_FILE = MANIFEST
SUMS_FILE = SUMS
#: Where Windows lists the computer GPOs of the last Group Policy refresh, one subkey
#: per GPO with its ``DisplayName`` (Group Policy's own state, read by gpresult).
GPO_LIST_KEY = "HKLM:\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Group Policy\\State\\Machine\\GPO-List"

#: Every command the script may call (its own functions aside): a typo, an unexpected
#: cmdlet or a call through ``&`` fails the build (:func:`builder.syntax.powershell.command_problems`).
ALLOWED_COMMANDS = (
    "Add-Type", "ConvertFrom-Json", "Get-ChildItem", "Get-FileHash",
    "Get-NetFirewallAddressFilter", "Get-NetFirewallApplicationFilter", "Get-NetFirewallInterfaceFilter",
    "Get-NetFirewallInterfaceTypeFilter", "Get-NetFirewallPortFilter", "Get-NetFirewallRule",
    "Get-NetFirewallSecurityFilter", "Get-NetFirewallServiceFilter",
    "Join-Path", "New-Object", "Set-StrictMode", "Test-Path", "Write-Error", "Write-Output", "Write-Verbose",
)

#: Where the script reads each kind of field: the rule itself, or one of its filters
#: ("The filter-to-rule relationship is always one-to-one", NetSecurity docs).
SOURCES = {
    "rule": "Get-NetFirewallRule -PolicyStore RSOP",
    "port": "Get-NetFirewallPortFilter",
    "address": "Get-NetFirewallAddressFilter",
    "application": "Get-NetFirewallApplicationFilter",
    "service": "Get-NetFirewallServiceFilter",
    "interfacetype": "Get-NetFirewallInterfaceTypeFilter",
    "interface": "Get-NetFirewallInterfaceFilter",
    "security": "Get-NetFirewallSecurityFilter",
}

#: How the script brings a value into one spelling before it compares (both sides):
COMPARES = {
    "exact": "text as reported, compared case-sensitively",
    "text": "text as reported, compared ignoring case",
    "list": "items split at commas, trimmed, sorted (ordinal, ignoring case), joined with ', '; none is 'Any'",
    "address": "as list, and each IPv4 subnet with a dotted mask, each IPv6 address in .NET's spelling",
    "profile": "Domain, Private, Public in that order; all three (or none) is 'Any'",
    "protocol": "1, 6, 17, 58 as ICMPv4, TCP, UDP, ICMPv6; names in that case",
}


@dataclass(frozen=True)
class Field:
    """One property the script compares: its NetSecurity name, the object that reports it,
    how both sides are normalised, what a rule that says nothing of it reads (``None``:
    every rule gives its value), and where cmfw's expected spelling comes from."""

    name: str
    source: str
    compare: str
    default: str | None
    fact: str


FIELDS = (
    Field("DisplayName", "rule", "exact", None, "the rule string's Name= (MS-GPFAS); a @resource string is resolved "
          "and localised by Windows, so it is not compared (windows-behaviour-review D1)"),
    Field("Description", "rule", "exact", "", "Desc=; not compared for @resource strings, as DisplayName"),
    Field("Group", "rule", "exact", "", "EmbedCtxt=, reported raw, @resource strings included (windows-behaviour-review D1)"),
    Field("Enabled", "rule", "text", "True", "Active=TRUE/FALSE as the Enabled enum: True/False"),
    Field("Direction", "rule", "text", None, "Dir=In/Out as the Direction enum: Inbound/Outbound"),
    Field("Action", "rule", "text", "Allow", "Action=; the Action enum has only Allow and Block (and NotConfigured), so "
          "ByPass is Allow with OverrideBlockRules (New-NetFirewallRule docs; MS-FASP FW_RULE_ACTION_ALLOW_BYPASS)"),
    Field("Profile", "rule", "profile", None, "Profile= tokens as the Profile flags enum, 'Domain, Private'; no token "
          "(every profile) is Any (dsc-formats.md 1.1, NetworkingDsc #65)"),
    Field("EdgeTraversalPolicy", "rule", "text", "Block", "Edge=/Defer=: Block (none), Allow, DeferToApp, DeferToUser"),
    Field("LooseSourceMapping", "rule", "text", "False", "LSM=; False when absent"),
    Field("LocalOnlyMapping", "rule", "text", "False", "LOM=; False when absent"),
    Field("Owner", "rule", "text", "", "LUOwn=; empty when absent"),
    Field("Platform", "rule", "list", "Any", "Platform=; none is any platform"),
    Field("Protocol", "port", "protocol", None, "Protocol= number; NetSecurity names TCP, UDP, ICMPv4, ICMPv6, else "
          "the number; none is Any (New-NetFirewallRule docs)"),
    Field("LocalPort", "port", "list", "Any", "LPort*=; ranges first-last; keywords in NetSecurity spelling "
          "(builder/keywords.py): RPC, RPCEPMap, Teredo, IPHTTPSIn, PlayToDiscovery"),
    Field("RemotePort", "port", "list", "Any", "RPort*=; ranges first-last; IPHTTPSOut"),
    Field("IcmpType", "port", "list", "Any", "ICMP4=/ICMP6= type:code; any code (type:*) is the type alone "
          "(windows-behaviour-review, verified item 7)"),
    Field("DynamicTarget", "port", "text", "Any", "TTK*=; Any when absent"),
    Field("LocalAddress", "address", "address", "Any", "LA4=/LA6=; IPv4 subnets are reported with a dotted mask "
          "(NetworkingDsc #404)"),
    Field("RemoteAddress", "address", "address", "Any", "RA4=/RA6=/RA42=/RA62=; keywords in NetSecurity spelling, "
          "with 4 or 6 appended when only one family carries them, as for an ICMP rule: LocalSubnet4 "
          "(Set-NetFirewallRule docs)"),
    Field("Program", "application", "text", "Any", "App=, as written (environment variables unexpanded); Any when absent"),
    Field("Service", "service", "text", "Any", "Svc=; Any when absent"),
    Field("InterfaceType", "interfacetype", "text", "Any", "IFType=; Any when absent"),
    Field("InterfaceAlias", "interface", "list", "Any", "IF=; Any when absent"),
    Field("Authentication", "security", "text", "NotRequired", "Security*=; NotRequired when absent"),
    Field("Encryption", "security", "text", "NotRequired", "Security*=; NotRequired when absent"),
    Field("OverrideBlockRules", "security", "text", "False", "Action=ByPass; False otherwise"),
    Field("LocalUser", "security", "text", "Any", "LUAuth*=; Any when absent"),
    Field("RemoteUser", "security", "text", "Any", "RUAuth=; Any when absent"),
    Field("RemoteMachine", "security", "text", "Any", "RMauth=; Any when absent"),
)

#: Rule-string tokens cmfw keeps without modelling them (``Rule.extra``), and the
#: properties they change: those are then left out of the comparison, not guessed.
_TOKEN_FIELDS = {
    "Security": ("Authentication", "Encryption"),
    "Security2": ("Authentication", "Encryption"),
    "Security2_9": ("Authentication", "Encryption"),
    "AuthByPassOut": ("OverrideBlockRules",),
    "LUAuth": ("LocalUser",),
    "LUAuth2_24": ("LocalUser",),
    "RUAuth": ("RemoteUser",),
    "RMauth": ("RemoteMachine",),
    "LUOwn": ("Owner",),
    "IF": ("InterfaceAlias",),
    "IFType": ("InterfaceType",),
    "LSM": ("LooseSourceMapping",),
    "LOM": ("LocalOnlyMapping",),
    "Platform": ("Platform",),
    "Platform2": ("Platform",),
    "TTK": ("DynamicTarget",),
    "TTK2_22": ("DynamicTarget",),
    "TTK2_27": ("DynamicTarget",),
    "TTK2_28": ("DynamicTarget",),
}

_EDGE = {None: "Block", "Allow": "Allow", "DeferToApp": "DeferToApp", "DeferToUser": "DeferToUser"}
_NETSECURITY_PORTS = {k.name: k.netsecurity for k in keywords.PORT_KEYWORDS}


@dataclass(frozen=True)
class ClientView:
    """A rule as NetSecurity should report it: property → text; and the properties left out,
    each with the reason."""

    expected: dict[str, str]
    unchecked: dict[str, str]


def _sorted_list(items: list[str]) -> str:
    """The script's list spelling: sorted as .NET's OrdinalIgnoreCase sorts ASCII, joined."""
    if not items:
        return "Any"
    return ", ".join(sorted(set(items), key=lambda s: (s.upper(), s)))


def _ports(ports: tuple[str, ...]) -> tuple[str | None, str]:
    """(text, keyword NetSecurity cannot spell) for a port list."""
    out = []
    for port in ports:
        if digits(port[:1]):
            out.append(port)
            continue
        spelled = _NETSECURITY_PORTS.get(port)
        if spelled is None:
            return None, port
        out.append(spelled)
    return _sorted_list(out), ""


@functools.lru_cache(maxsize=8192)
def _address(address: str, protocol: int | None) -> str | None:
    """One address entry as Get-NetFirewallAddressFilter reports it; ``None`` when cmfw
    cannot say (a keyword NetSecurity has no name for)."""
    keyword = keywords.ADDRESS.get(address)
    if keyword is not None:
        if not keyword.netsecurity:
            return None
        # An ICMP rule carries the keyword for its one family only (rulestring._address_tokens),
        # which NetSecurity reports with the family appended.
        return keyword.name + ("4" if protocol == 1 else "6" if protocol == 58 else "")
    if "-" in address:
        first, _, last = address.partition("-")
        return f"{ipaddress.ip_address(first)}-{ipaddress.ip_address(last)}"
    if "/" in address:
        net = ipaddress.ip_network(address, strict=False)
        if net.num_addresses == 1:
            return str(net.network_address)
        if net.version == 4:
            return f"{net.network_address}/{net.netmask}"
        return net.with_prefixlen
    return str(ipaddress.ip_address(address))


def _addresses(addresses: tuple[str, ...], protocol: int | None) -> tuple[str | None, str]:
    out = []
    for address in addresses:
        text = _address(address, protocol)
        if text is None:
            return None, address
        out.append(text)
    return _sorted_list(out), ""


def client_view(rule: Rule) -> ClientView:
    """What each NetSecurity property of ``rule`` should read on a client that applied it."""
    expected: dict[str, str] = {}
    unchecked: dict[str, str] = {}
    # Windows' predefined rules (and cmfw's under their IDs) name themselves by resource string.
    if rule.name.startswith("@"):
        unchecked["DisplayName"] = f"{rule.name} is a resource string, which Windows reports resolved and localised"
    else:
        expected["DisplayName"] = rule.name
    if rule.description.startswith("@"):
        unchecked["Description"] = f"{rule.description} is a resource string, which Windows reports resolved and localised"
    else:
        expected["Description"] = rule.description
    expected["Group"] = rule.group
    expected["Enabled"] = "True" if rule.enabled else "False"
    expected["Direction"] = "Inbound" if rule.direction == "In" else "Outbound"
    expected["Action"] = "Block" if rule.action == "Block" else "Allow"
    strange = [p for p in rule.profiles if p not in PROFILES]
    if strange:
        unchecked["Profile"] = f"profile {strange[0]} has no NetSecurity name"
    elif set(rule.profiles) == set(PROFILES):
        expected["Profile"] = "Any"
    else:
        expected["Profile"] = ", ".join(rule.profiles)
    expected["EdgeTraversalPolicy"] = _EDGE.get(rule.edge_traversal, "Block")
    expected["LooseSourceMapping"] = "False"
    expected["LocalOnlyMapping"] = "False"
    expected["Owner"] = ""
    expected["Platform"] = "Any"
    expected["Protocol"] = protocol_name(rule.protocol)
    for name, ports in (("LocalPort", rule.local_ports), ("RemotePort", rule.remote_ports)):
        text, keyword = _ports(ports)
        if text is None:
            unchecked[name] = f"the port keyword {keyword} has no NetSecurity spelling cmfw knows (builder/keywords.py)"
        else:
            expected[name] = text
    expected["IcmpType"] = _sorted_list([t[:-2] if t.endswith(":*") else t for t in rule.icmp_types])
    expected["DynamicTarget"] = "Any"
    for name, addresses in (("LocalAddress", rule.local_addresses), ("RemoteAddress", rule.remote_addresses)):
        text, keyword = _addresses(addresses, rule.protocol)
        if text is None:
            unchecked[name] = f"the address keyword {keyword} has no NetSecurity spelling (builder/keywords.py)"
        else:
            expected[name] = text
    expected["Program"] = rule.program if rule.program is not None else "Any"
    expected["Service"] = rule.service if rule.service is not None else "Any"
    expected["InterfaceType"] = "Any"
    expected["InterfaceAlias"] = "Any"
    expected["Authentication"] = "NotRequired"
    expected["Encryption"] = "NotRequired"
    expected["OverrideBlockRules"] = "True" if rule.action == "ByPass" else "False"
    expected["LocalUser"] = "Any"
    expected["RemoteUser"] = "Any"
    expected["RemoteMachine"] = "Any"
    for token, value in rule.extra:
        touched = _TOKEN_FIELDS.get(token, ())
        for name in touched:
            expected.pop(name, None)
            unchecked.setdefault(name, f"set by the rule-string token {token}={value}, which cmfw does not model")
        if not touched:
            unchecked.setdefault(f"token {token}", f"{token}={value} sets a condition the script does not compare")
    return ClientView(expected, unchecked)


def client_rules(policyset: PolicySet) -> bytes:
    """``client-rules.json``: per policy, per rule ID, the client view less the values equal
    to a field's default (the script puts them back); sorted keys, so the same policies give
    the same bytes."""
    defaults = {f.name: f.default for f in FIELDS}
    policies = []
    for policy in policyset.policies:
        rules = {}
        for rule in policy.rules:
            view = client_view(rule)
            given = {k: v for k, v in view.expected.items() if v != defaults[k]}
            rules[rule.id] = {"expected": _sorted(given), "unchecked": _sorted(view.unchecked)}
        policies.append({
            "gpo": policy.name,
            "key": policy.key,
            "name": policy.name,
            "prefix": policy_prefix(policy.key),
            "rules": _sorted(rules),
        })
    return dumps({
        "fields": [{"compare": f.compare, "default": f.default, "name": f.name, "source": f.source} for f in FIELDS],
        "format": CLIENT_FORMAT,
        "id_prefix": f"{ID_PREFIX}-",
        "policies": policies,
    })


def expected_values(entry: Mapping[str, Any], fields: list[dict[str, Any]]) -> dict[str, str]:
    """What the script compares for one rule of client-rules.json: its values, and the
    field defaults for what it does not give or leave out (the inverse of :func:`client_rules`)."""
    out = {}
    for field in fields:
        name = field["name"]
        if name in entry["expected"]:
            out[name] = entry["expected"][name]
        elif name not in entry["unchecked"] and field["default"] is not None:
            out[name] = field["default"]
    return out


def _sorted(mapping: Mapping[str, Any]) -> dict[str, Any]:
    return {key: mapping[key] for key in sorted(mapping)}


@functools.cache
def render_script() -> bytes:
    """The script: the same bytes for every build of this cmfw version (it holds no policy data)."""
    from ..syntax.powershell import render, script_bytes

    text = render(
        VERIFY_SCRIPT + ".j2",
        folder="package",
        version=__version__,
        build_format=BUILD_FORMAT,
        client_format=CLIENT_FORMAT,
        build_file=BUILD_FILE,
        client_file=CLIENT_RULES,
        sums_file=SUMS_FILE,
        id_prefix=f"{ID_PREFIX}-",
        gpo_list_key=GPO_LIST_KEY,
        sources=list(SOURCES),
        compares=list(COMPARES),
    )
    return script_bytes(text)


def _emit(ctx: Context) -> Emitted:
    return Emitted({VERIFY_SCRIPT: render_script(), CLIENT_RULES: client_rules(ctx.policyset)})


# -- validators ---------------------------------------------------------------------------------


def _script_text(artifacts: Artifacts) -> tuple[str | None, list[Problem]]:
    data = artifacts.files.get(VERIFY_SCRIPT)
    if data is None:
        return None, []
    try:
        return data.decode("utf-8-sig"), []
    except UnicodeDecodeError as exc:
        return None, [Problem(VERIFY_SCRIPT, message=f"not UTF-8 (byte offset {exc.start})")]


@functools.lru_cache(maxsize=4)
def _parse_problems(text: str) -> tuple[tuple[int, str], ...]:
    from ..syntax.powershell import parse_errors

    return tuple(parse_errors(text))


@functools.lru_cache(maxsize=4)
def _command_problems(text: str) -> tuple[tuple[int, str], ...]:
    from ..syntax.powershell import command_problems

    return tuple(command_problems(text, ALLOWED_COMMANDS))


def _check_syntax(artifacts: Artifacts) -> list[Problem]:
    """The script parses as PowerShell (tree-sitter-powershell), with no error node."""
    text, problems = _script_text(artifacts)
    if text is None:
        return problems
    return [Problem(VERIFY_SCRIPT, line, 0, "", message) for line, message in _parse_problems(text)]


def _check_commands(artifacts: Artifacts) -> list[Problem]:
    """The script calls only :data:`ALLOWED_COMMANDS` and its own functions, by name."""
    text, problems = _script_text(artifacts)
    if text is None:
        return problems
    return [Problem(VERIFY_SCRIPT, line, 0, "", message) for line, message in _command_problems(text)]


def check_client_rules(files: Mapping[str, bytes]) -> list[Problem]:
    """client-rules.json has its documented shape, and names the policies and rule IDs of
    build.json (when present): the script refuses a package where they disagree, so a
    build must never produce one."""
    doc = _document(files)
    if isinstance(doc, list):
        return doc
    return _shape_problems(doc) or _listing_problems(doc, files)


def _document(files: Mapping[str, bytes]) -> Any:
    """client-rules.json parsed (``[]`` if there is none; a problem if it is not JSON)."""
    data = files.get(CLIENT_RULES)
    if data is None:
        return []
    try:
        return json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        return [Problem(CLIENT_RULES, message=f"not JSON: {exc}")]


def _listing_problems(doc: Any, files: Mapping[str, bytes]) -> list[Problem]:
    """The policies and rule IDs of a well-shaped client-rules.json against build.json's."""
    if BUILD_FILE not in files:
        return []
    try:
        build = json.loads(files[BUILD_FILE].decode("utf-8"))
        listed = {p["key"]: p["rule_ids"] for p in build["policies"]}
        ours = {p["key"]: sorted(p["rules"]) for p in doc["policies"]}
    except (UnicodeDecodeError, ValueError, KeyError, TypeError):
        return []  # build.json's own validator, or the shape check, reports it
    problems = []
    for key in sorted(set(listed) | set(ours)):
        if key not in ours:
            problems.append(Problem(CLIENT_RULES, message=f"has no policy {key!r}, which build.json lists"))
        elif key not in listed:
            problems.append(Problem(CLIENT_RULES, message=f"has a policy {key!r}, which build.json does not list"))
        elif ours[key] != sorted(listed[key]):
            problems.append(Problem(CLIENT_RULES, message=f"policy {key!r}: its rule IDs are not those of build.json"))
    return problems


def _shape_problems(doc: Any) -> list[Problem]:
    def bad(message: str) -> list[Problem]:
        return [Problem(CLIENT_RULES, message=message)]

    if not isinstance(doc, dict) or doc.get("format") != CLIENT_FORMAT:
        return bad(f"is not a {CLIENT_FORMAT} document")
    fields = doc.get("fields")
    if not isinstance(fields, list) or not all(isinstance(f, dict) for f in fields):
        return bad("has no list of fields")
    names = []
    required = set()
    for f in fields:
        if f.get("source") not in SOURCES or f.get("compare") not in COMPARES or not str(f.get("name", "")).isalpha():
            return bad(f"field {f!r} has an unknown source, comparison or name")
        if not isinstance(f.get("default"), (str, type(None))):
            return bad(f"field {f['name']}: its default must be a string or null")
        names.append(f["name"])
        if f["default"] is None:
            required.add(f["name"])
    if not isinstance(doc.get("id_prefix"), str) or not isinstance(doc.get("policies"), list):
        return bad("has no id_prefix or no list of policies")
    problems = []
    for index, policy in enumerate(doc["policies"]):
        where = f"policies[{index}]"
        if not isinstance(policy, dict) or not all(isinstance(policy.get(k), str) for k in ("gpo", "key", "name", "prefix")):
            problems += bad(f"{where}: needs the strings gpo, key, name and prefix")
            continue
        rules = policy.get("rules")
        if not isinstance(rules, dict):
            problems += bad(f"{where}: has no rules")
            continue
        folded = {rule_id.casefold() for rule_id in rules}
        if len(folded) != len(rules):
            problems += bad(f"{where}: two rule IDs differ only in case (Windows would see one)")
        for rule_id, entry in rules.items():
            expected = entry.get("expected") if isinstance(entry, dict) else None
            unchecked = entry.get("unchecked") if isinstance(entry, dict) else None
            if not isinstance(expected, dict) or not isinstance(unchecked, dict):
                problems += bad(f"{where}: rule {rule_id}: needs expected and unchecked")
                continue
            if not all(isinstance(v, str) for v in list(expected.values()) + list(unchecked.values())):
                problems += bad(f"{where}: rule {rule_id}: every value must be a string")
            unknown = sorted(set(expected) - set(names))
            if unknown:
                problems += bad(f"{where}: rule {rule_id}: expects {', '.join(unknown)}, which no field names")
            left = sorted(required - set(expected) - set(unchecked))
            if left:
                problems += bad(f"{where}: rule {rule_id}: says nothing of {', '.join(left)}, which have no default")
    return problems


def _check_shape(artifacts: Artifacts) -> list[Problem]:
    doc = _document(artifacts.files)
    return doc if isinstance(doc, list) else _shape_problems(doc)


def _check_listing(artifacts: Artifacts) -> list[Problem]:
    """Run apart from the shape check: this one reads build.json, which is made last, so
    the build runs the shape check where client-rules.json is made."""
    doc = _document(artifacts.files)
    if isinstance(doc, list) or _looks_wrong(doc):
        return []  # the shape check reports it
    return _listing_problems(doc, artifacts.files)


def _looks_wrong(doc: Any) -> bool:
    return not isinstance(doc, dict) or doc.get("format") != CLIENT_FORMAT or not isinstance(doc.get("policies"), list)


EMITTER = Emitter(
    name="verify",
    owns=(VERIFY_SCRIPT, CLIENT_RULES),
    emit=_emit,
    validators=(
        Validator("Test-CmfwFirewall.ps1 parses with tree-sitter-powershell, with no error node", _check_syntax),
        Validator("Test-CmfwFirewall.ps1 calls only the commands of its allow-list, by name (no & or . calls)",
                  _check_commands),
        Validator("client-rules.json has its cmfw-client-rules/1 shape", _check_shape),
        Validator("client-rules.json names the policies and rule IDs of build.json", _check_listing),
    ),
)
