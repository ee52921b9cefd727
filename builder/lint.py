"""``cmfw lint``: hardening and consistency findings over a matrix and its rules.

Each finding has a stable code (``CMFW1xx``, never reused), a short name, the
policy and rule it concerns, a one-line message, a fix hint and the place in the
matrix to change. Most are warnings: ``build`` shows them and ``--strict`` makes
them fatal. A few are errors, because the policy would not work as written
(CMFW106); a build refuses them. Either kind can be *acknowledged* in the matrix,
per policy or for all policies, with a reason::

    acknowledge:
      CMFW103: Servers are installed by push until the SUP rollout in Q3.

Acknowledged findings stay visible (JSON, report) but no longer count. The codes
and what they mean are listed in docs/lint.md.
"""

from __future__ import annotations

import bisect
import functools
import heapq
import ipaddress
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Iterable, NamedTuple

from .catalog import Catalog
from .catalog.types import wsus_https
from .errors import CmfwError, Problem
from .lintcodes import CHECKS, Check
from .matrix import FeatureUse, Matrix, PolicySpec, SoftwareUpdatePoint
from .model import Policy, PolicySet, Rule
from .syntax.numbers import digits
from .yamlsource import KeyPath

FORMAT = "cmfw-lint/1"


@dataclass(frozen=True)
class Finding:
    """One finding. ``policy`` is empty for matrix-wide ones (top-level ports)."""

    code: str
    policy: str
    rule: str
    message: str
    hint: str
    file: str
    line: int
    column: int
    path: str
    acknowledged: str | None = None

    @property
    def check(self) -> Check:
        return CHECKS[self.code]

    @property
    def severity(self) -> str:
        return self.check.severity

    @property
    def counts(self) -> bool:
        """Whether it still needs attention (not acknowledged)."""
        return self.acknowledged is None

    def format(self) -> str:
        """One line: ``file:line:col: warning: CODE name: [policy, rule: ]message; hint: ...``."""
        where = f"{self.file}:{self.line}:{self.column}" if self.line else self.file
        subject = self.policy + (f", rule {self.rule}" if self.rule else "")
        head = f"{where}: {self.severity}: {self.code} {self.check.name}: "
        return head + (f"{subject}: " if subject else "") + f"{self.message}; hint: {self.hint}"

    def problem(self) -> Problem:
        subject = self.policy + (f", rule {self.rule}" if self.rule else "")
        text = f"{self.code} {self.check.name}: " + (f"{subject}: " if subject else "") + f"{self.message}; {self.hint}"
        return Problem(self.file, self.line, self.column, self.path, text)


class LintFailure(CmfwError):
    """Open warnings where ``--strict`` asked for none: exit 1, nothing written."""

    exit_code = 1

    def __init__(self, findings: Iterable[Finding]) -> None:
        self.findings = tuple(findings)
        super().__init__(f"{len(self.findings)} lint warnings and --strict")

    def lines(self) -> list[str]:
        count = len(self.findings)
        return [f.format() for f in self.findings] + [
            f"cmfw: {count} open lint warning{'s' if count != 1 else ''} and --strict: nothing written "
            "(fix them, or acknowledge each in the matrix with a reason)"
        ]


@dataclass(frozen=True)
class LintReport:
    findings: tuple[Finding, ...]

    @property
    def open(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.counts)

    @property
    def errors(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.open if f.severity == "error")

    @property
    def warnings(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.open if f.severity == "warning")

    @property
    def notes(self) -> tuple[Finding, ...]:
        """Worth knowing, never fatal (not even with ``--strict``)."""
        return tuple(f for f in self.open if f.severity == "note")

    @property
    def acknowledged(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if not f.counts)


def lint(matrix: Matrix, policyset: PolicySet, catalog: Catalog) -> LintReport:
    """Every finding for a checked matrix and the rules it resolved to, in file order."""
    return _Linter(matrix, policyset, catalog).run()


def lint_file(path: str | Path, catalog: Catalog | None = None) -> LintReport:
    """Load, check and resolve a matrix, then lint it (what ``cmfw lint`` runs)."""
    from .catalog import load_catalog
    from .matrix import load_matrix
    from .resolve import resolve

    catalog = catalog or load_catalog()
    matrix = load_matrix(path, catalog)
    return lint(matrix, resolve(matrix, catalog), catalog)


class _Linter:
    def __init__(self, matrix: Matrix, policyset: PolicySet, catalog: Catalog) -> None:
        self.matrix = matrix
        self.catalog = catalog
        self.policies = {p.key: p for p in policyset.policies}
        self.found: list[Finding] = []

    def run(self) -> LintReport:
        self._sup_ports(self.matrix.ports, None)
        self._wake_on_lan(None)
        self._netbios_domain()
        for spec in self.matrix.policies:
            policy = self.policies[spec.key]
            if spec.own_ports:
                self._sup_ports(spec.own_ports, spec)
                self._wake_on_lan(spec)
            self._inbound_any(spec, policy)
            self._wide_scope(spec, policy)
            self._links(spec)
            self._predefined_ids(spec)
            self._deprecated(spec)
            self._management(spec, policy)
            self._features(spec)
            self._sup_http_closed(spec)
            self._overlaps(spec, policy)
            self._local_rules(spec, policy)
            self._outbound(spec, policy)
            self._dsc_local_store(spec, policy)
            self._intune_left_out(spec, policy)
        findings = self._acknowledge(self.found)
        return LintReport(tuple(sorted(findings, key=lambda f: (f.line, f.column, f.code, f.policy, f.rule))))

    # -- recording ---------------------------------------------------------------------------------

    def add(self, code: str, spec: PolicySpec | None, path: KeyPath, message: str, hint: str, rule: str = "") -> None:
        problem = self.matrix.problem(path, "")
        self.found.append(
            Finding(code, spec.name if spec else "", rule, message, hint, problem.file, problem.line, problem.column, problem.path)
        )

    def _acknowledge(self, findings: list[Finding]) -> list[Finding]:
        top: dict[str, str] = self.matrix.acknowledge
        used: set[tuple[str, str]] = set()  # (policy key or "", code)
        out = []
        names = {s.name: s for s in self.matrix.policies}
        for finding in findings:
            spec = names.get(finding.policy)
            if spec is not None and finding.code in spec.acknowledge:
                out.append(replace(finding, acknowledged=spec.acknowledge[finding.code]))
                used.add((spec.key, finding.code))
            elif finding.code in top:
                out.append(replace(finding, acknowledged=top[finding.code]))
                used.add(("", finding.code))
            else:
                out.append(finding)
        for code in top:
            if ("", code) not in used:
                self._unused(out, None, ("acknowledge", code), code)
        for spec in self.matrix.policies:
            for code in spec.acknowledge:
                if (spec.key, code) not in used:
                    self._unused(out, spec, spec.path + ("acknowledge", code), code)
        return out

    def _unused(self, out: list[Finding], spec: PolicySpec | None, path: KeyPath, code: str) -> None:
        problem = self.matrix.problem(path, "")
        scope = "this policy" if spec else "any policy"
        out.append(
            Finding(
                "CMFW100", spec.name if spec else "", "", f"{code} is acknowledged but no {code} finding concerns {scope}",
                "remove the acknowledgement, so that a future finding is not hidden by it",
                problem.file, problem.line, problem.column, problem.path,
            )
        )

    # -- where a rule came from -----------------------------------------------------------------

    def rule_path(self, spec: PolicySpec, rule: Rule) -> KeyPath:
        """The features or custom_rules entry that made ``rule`` (from the resolver)."""
        return tuple(self.policies[spec.key].origins.get(rule.id, spec.path))

    def use_of(self, spec: PolicySpec, feature: str, choices: dict[str, str | None]) -> FeatureUse | None:
        """The features entry that brought ``feature`` in (directly or through ``requires``)."""
        seen = set()
        while feature and feature not in seen:
            seen.add(feature)
            for use in spec.features:
                if use.feature == feature:
                    return use
            feature = choices.get(feature) or ""
        return None

    def choices(self, policy: Policy) -> dict[str, str | None]:
        return {c.id: c.implied_by for c in policy.features}

    # -- the checks ---------------------------------------------------------------------------------

    def _inbound_any(self, spec: PolicySpec, policy: Policy) -> None:
        for rule in policy.rules:
            if rule.direction != "In" or rule.action != "Allow":
                continue
            why = open_to_everyone(rule.remote_addresses)
            if why:
                self.add(
                    "CMFW101", spec, self.rule_path(spec, rule),
                    f"inbound {rule.protocol_name} {','.join(rule.local_ports) or 'any port'} is open to {why}",
                    "scope it with `from:` an address set (LocalSubnet for peers), or acknowledge why it must be open",
                    rule.id,
                )

    def _wide_scope(self, spec: PolicySpec, policy: Policy) -> None:
        for rule in policy.rules:
            if rule.direction != "In" or rule.action != "Allow" or open_to_everyone(rule.remote_addresses):
                continue
            why = too_wide(rule.remote_addresses)
            if why:
                self.add(
                    "CMFW114", spec, self.rule_path(spec, rule),
                    f"inbound {rule.protocol_name} {','.join(rule.local_ports) or 'any port'} is open to {why}",
                    "scope it to the machines that connect (an address set of their subnets), or acknowledge why it must be that wide",
                    rule.id,
                )

    def _netbios_domain(self) -> None:
        domain = self.matrix.domain
        if "." not in domain:
            self.add(
                "CMFW115", None, ("domain",),
                f"'{domain}' has no dot: it looks like the NetBIOS name; GPO backups, links and Import-GPO need the DNS name",
                "write the domain's DNS name (corp.contoso.com), as `Get-ADDomain` shows in DNSRoot",
            )

    def _links(self, spec: PolicySpec) -> None:
        root = ",".join(f"DC={label}" for label in self.matrix.domain.split(".")).casefold()
        for i, link in enumerate(spec.links):
            target = link.target.casefold()
            if target == root:
                what = "the domain root: every computer gets these rules, servers and domain controllers included"
            elif target.startswith("ou=domain controllers,"):
                what = "the Domain Controllers OU: ConfigMgr client rules do not belong on domain controllers"
            else:
                continue
            self.add(
                "CMFW116", spec, spec.path + ("links", i),
                f"linked to {what}",
                "link to the OUs of the machines the policy is for, or acknowledge why the whole domain needs it",
            )

    def _predefined_ids(self, spec: PolicySpec) -> None:
        if spec.rule_ids == "predefined":
            self.add(
                "CMFW117", spec, spec.path + ("rule_ids",),
                "rules that reproduce Windows' own rules keep Windows' rule IDs: another GPO that sets the same ID "
                "replaces this one's by GPO precedence (link order, enforcement), value by value",
                "keep `rule_ids: predefined` only where that is the intent; otherwise the default `cmfw` IDs cannot collide",
            )

    def _deprecated(self, spec: PolicySpec) -> None:
        for use in spec.features:
            feature = self.catalog.features[use.feature]
            if feature.deprecated:
                self.add(
                    "CMFW118", spec, use.path,
                    f"'{use.feature}': {_lower_first(feature.deprecated)}",
                    "remove the feature once the role is gone, or acknowledge while it is still in use",
                )

    def _management(self, spec: PolicySpec, policy: Policy) -> None:
        reported: set[tuple[str, tuple[str, ...]]] = set()
        for rule in policy.rules:
            feature = self.catalog.features.get(rule.feature)
            if rule.direction != "In" or feature is None or "management" not in feature.traits:
                continue
            beyond = tuple(p for p in rule.profiles if p != "Domain")
            if beyond and (rule.feature, beyond) not in reported:
                reported.add((rule.feature, beyond))
                self.add(
                    "CMFW102", spec, self.rule_path(spec, rule),
                    f"{feature.title.lower()} accepts inbound connections on the {' and '.join(beyond)} profile"
                    f"{'s' if len(beyond) > 1 else ''}",
                    "keep remote administration to the Domain profile (`profiles: [Domain]` on the policy or feature)",
                    rule.id,
                )

    def _features(self, spec: PolicySpec) -> None:
        for use in spec.features:
            feature = self.catalog.features[use.feature]
            variant = feature.variant(use.variant)
            if use.feature == "client-push":
                self.add(
                    "CMFW103", spec, use.path,
                    "client push needs SMB, RPC and WMI inbound from the site servers on every client",
                    "install clients by software update point, Group Policy or manually (features client-install-*); "
                    "they need no inbound SMB or RPC",
                )
            if use.feature == "remote-assistance" and variant.name == "legacy":
                self.add(
                    "CMFW104", spec, use.path,
                    "the legacy recipe opens Helpsvc.exe (Windows XP's Help and Support) and TCP 135; current Windows uses msra.exe",
                    "use the default variant `modern` (or `full-group`)",
                )
            if variant.narrower:
                narrower = feature.variant(variant.narrower)
                self.add(
                    "CMFW105", spec, use.path,
                    f"'{use.feature}' ({variant.name}) opens {_lower_first(variant.summary)}",
                    f"the '{narrower.name}' variant opens {_lower_first(narrower.summary)}: "
                    f"`{use.feature}: {{variant: {narrower.name}}}`",
                )

    def _sup_ports(self, ports: dict[str, Any], spec: PolicySpec | None) -> None:
        sups: tuple[SoftwareUpdatePoint, ...] = ports.get("software_update_points", ())
        for sup in sups:
            http, https = sup.http, sup.https
            expected = wsus_https(http)
            if https != expected:
                rule = "HTTP 80 pairs with HTTPS 443" if http == 80 else "HTTPS = HTTP + 1"
                self.add(
                    "CMFW106", spec, sup.path + ("https",),
                    f"HTTPS port {https} does not match HTTP port {http}: WSUS uses {rule}, so {expected}",
                    f"write https: {expected} (or leave it out); acknowledge CMFW106 only if a proxy really listens on {https}",
                )

    def _wake_on_lan(self, spec: PolicySpec | None) -> None:
        own = self.matrix.ports if spec is None else spec.own_ports
        if "wake_on_lan" not in own and "site_wake_on_lan" not in own:
            return
        values = dict(self.matrix.ports)
        if spec is not None:
            values.update(own)
        client = self.catalog.parameter_value("wake_on_lan", values)
        site = self.catalog.parameter_value("site_wake_on_lan", values)
        if client != site:
            base = ("ports",) if spec is None else spec.path + ("ports",)
            key = "site_wake_on_lan" if "site_wake_on_lan" in own else "wake_on_lan"
            self.add(
                "CMFW108", spec, base + (key,),
                f"Wake On LAN uses UDP {site} in the site's settings and UDP {client} in the client settings",
                "set the same port in the site's Ports tab and the client setting, and here (wake_on_lan, site_wake_on_lan)",
            )

    def _sup_http_closed(self, spec: PolicySpec) -> None:
        for use in spec.features:
            if use.feature == "software-updates" and "HTTP-Out" in use.exclude and "HTTPS-Out" not in use.exclude:
                self.add(
                    "CMFW107", spec, use.path,
                    "software updates over HTTPS only: clients still fetch EULAs and other data over HTTP",
                    "keep the HTTP rule (remove HTTP from `exclude`)",
                )

    def _overlaps(self, spec: PolicySpec, policy: Policy) -> None:
        """Rules another rule of the policy already covers entirely (duplicates included).

        Two *features* that need the same traffic (a management point and a distribution
        point on one server, two client installation methods and their SMB rule) are each
        justified on their own: that overlap is by design and not reported. A custom rule,
        or a feature repeating itself, is.
        """
        for found in overlapping_rules(policy.rules):
            if found.rule.feature != found.cover.feature and "custom" not in (found.rule.feature, found.cover.feature):
                continue
            self.add(
                "CMFW109", spec, self.rule_path(spec, found.rule),
                f"{'duplicates' if found.duplicate else 'is covered by'} {found.cover.id} ({_traffic(found.rule)})",
                "keep one rule for this traffic (remove the custom rule, or narrow it), or acknowledge CMFW109 if both must stay",
                found.rule.id,
            )

    def _local_rules(self, spec: PolicySpec, policy: Policy) -> None:
        off = [s.profile for s in policy.profile_settings if s.name == "AllowLocalPolicyMerge" and s.value == 0]
        if not off:
            return
        choices = self.choices(policy)
        for choice in policy.features:
            feature = self.catalog.features[choice.id]
            if "local-rules" not in feature.traits:
                continue
            covered = {p for r in policy.rules if r.feature == choice.id for p in r.profiles}
            missing = [p for p in off if p not in covered]
            if missing:
                use = self.use_of(spec, choice.id, choices)
                self.add(
                    "CMFW110", spec, use.path if use else spec.path,
                    f"the {' and '.join(missing)} profile ignores local rules (allow_local_rules: false), and this GPO's "
                    f"{feature.title.lower()} rules do not cover it: the feature will not work there",
                    f"add {' and '.join(missing)} to the feature's `profiles`, or acknowledge that it is not needed there",
                )

    def _outbound(self, spec: PolicySpec, policy: Policy) -> None:
        allowed = {s.profile for s in policy.profile_settings if s.name == "DefaultOutboundAction" and s.value == 0}
        if not allowed or not spec.outbound_rules:
            return
        outbound = [r for r in policy.rules if r.direction == "Out" and r.action == "Allow"]
        if outbound and all(set(r.profiles) <= allowed for r in outbound):
            problem_path = spec.path + ("profile_settings",)
            self.add(
                "CMFW111", spec, problem_path,
                f"{len(outbound)} outbound rules, but this policy allows outbound traffic on "
                f"{' and '.join(sorted(allowed))} (default_outbound: allow)",
                "set `outbound_rules: false` on the policy, or block outbound by default",
            )


    def _intune_left_out(self, spec: PolicySpec, policy: Policy) -> None:
        from .intune.translate import omitted

        for rule, reason in omitted(policy):
            self.add(
                "CMFW113", spec, self.rule_path(spec, rule),
                f"left out of the Intune documents: {reason}",
                "keep the rule in the GPO and DSC planes only, or use `intune: {unsupported: refuse}` to stop the build "
                "instead; acknowledge CMFW113 when the devices Intune manages do not need it",
                rule.id,
            )

    def _dsc_local_store(self, spec: PolicySpec, policy: Policy) -> None:
        from .profilesettings import BY_VALUE, LOCAL_MERGE

        # Only where DSC is targeted (nodes named): otherwise the DSC output is not
        # applied anywhere, and a GPO-only design must not need an acknowledgement.
        if policy.dsc.resource != "firewall" or not policy.dsc.targeted:
            return
        for setting in policy.profile_settings:
            if setting.name in LOCAL_MERGE and setting.value == 0:
                key = BY_VALUE[setting.name].key
                self.add(
                    "CMFW112", spec, spec.path + ("profile_settings", setting.profile, key),
                    f"{key}: false cannot go into the DSC output in `firewall` mode: there it would make Windows ignore "
                    f"local-store rules ({LOCAL_MERGE[setting.name]}), the very rules the configuration writes; "
                    "the DSC output leaves it out",
                    "use `dsc: {resource: registry-policy}` for this policy (policy rules, applied like the GPO), or "
                    "acknowledge CMFW112 if only the GPO applies this policy",
                )


# -- helpers ----------------------------------------------------------------------------------------

#: CMFW114's thresholds: more IPv4 addresses than a /8 holds, or any public address.
WIDE_IPV4 = 2**24
_FAMILY_SIZE = {4: 2**32, 6: 2**128}


def _spans(addresses: Iterable[str]) -> dict[int, list[tuple[int, int]]]:
    """Each address entry as (first, last) integers per IP version; keywords left out."""
    out: dict[int, list[tuple[int, int]]] = {4: [], 6: []}
    for entry in addresses:
        span = _span(entry)
        if span is not None:
            version, first, last = span
            out[version].append((first, last))
    return out


# Policies share their address sets: each entry is parsed once per run, not once per rule.
@functools.lru_cache(maxsize=16384)
def _span(entry: str) -> tuple[int, int, int] | None:
    """(IP version, first, last) of an address, network or range; ``None`` for a keyword."""
    try:
        if "-" in entry:
            first, last = (ipaddress.ip_address(x) for x in entry.split("-", 1))
            return first.version, int(first), int(last)
        net = ipaddress.ip_network(entry, strict=False)
        return net.version, int(net.network_address), int(net.broadcast_address)
    except ValueError:
        return None


def _covers_all(spans: list[tuple[int, int]], size: int) -> bool:
    reach = 0
    for first, last in sorted(spans):
        if first > reach:
            return False
        reach = max(reach, last + 1)
        if reach >= size:
            return True
    return reach >= size


def open_to_everyone(addresses: tuple[str, ...]) -> str:
    """Why a remote scope lets every address in ('' when it does not): no scope, the
    Internet keyword, or entries that add up to all of IPv4 or of IPv6."""
    if not addresses:
        return "any remote address"
    if any(a.casefold() == "internet" for a in addresses):
        return "the Internet keyword (every address outside the intranet)"
    for version, spans in _spans(addresses).items():
        if spans and _covers_all(spans, _FAMILY_SIZE[version]):
            return f"every IPv{version} address ({', '.join(a for a in addresses if ':' in a) if version == 6 else ', '.join(a for a in addresses if '.' in a and ':' not in a)})"
    return ""


def too_wide(addresses: tuple[str, ...]) -> str:
    """Why a remote scope is wider than a management rule should be ('' when it is not)."""
    public = [a for a in addresses if _public(a)]
    if public:
        return f"public addresses ({', '.join(public[:3])}{', ...' if len(public) > 3 else ''})"
    merged = 0
    reach = -1
    for first, last in sorted(_spans(addresses)[4]):
        first = max(first, reach + 1)
        if last >= first:
            merged += last - first + 1
            reach = max(reach, last)
    if merged > WIDE_IPV4:
        return f"{merged:,} IPv4 addresses, more than a /8"
    return ""


@functools.lru_cache(maxsize=16384)
def _public(entry: str) -> bool:
    """Whether an entry holds globally routable addresses (first or last of it)."""
    try:
        if "-" in entry:
            ends = [ipaddress.ip_address(x) for x in entry.split("-", 1)]
        else:
            net = ipaddress.ip_network(entry, strict=False)
            ends = [net.network_address, net.broadcast_address]
    except ValueError:
        return False
    return any(ip.is_global for ip in ends)


def _lower_first(text: str) -> str:
    """A summary as the middle of a sentence: no full stop, lower-case start (acronyms kept)."""
    text = text.rstrip(".")
    if len(text) > 1 and text[1].isupper():
        return text  # "SMB-In and ..."
    return text[:1].lower() + text[1:]


# -- CMFW109: rules that another rule covers ----------------------------------------------------------
#
# Rule a covers rule b when every packet b matches, a matches too: the same direction, action,
# protocol, program and service, and on every other condition b asks for a subset of what a allows
# (no ports, addresses or ICMP types meaning any). Comparing every pair is quadratic: half a minute
# for one policy of 3,200 custom rules, over ten seconds for two rules scoped to an address set of
# 8,000 hosts (issue 20). So each rule's conditions are parsed once into a _Shape (equal shapes are duplicates);
# each distinct shape asks an index for the shapes that can hold it along its most selective
# condition, and tests only those, in group order, with a binary search per interval. The work is
# n log n plus the candidates tested, which stay few unless many rules of one group overlap along
# every condition at once (nested port ranges, say).


@dataclass(frozen=True)
class Overlap:
    """A rule every packet of which ``cover``, another rule of the same policy, matches too."""

    rule: Rule
    cover: Rule
    #: whether the two match the very same packets (then ``cover`` has the ID that sorts first)
    duplicate: bool


def overlapping_rules(rules: Iterable[Rule]) -> list[Overlap]:
    """What CMFW109 reports for one policy's rules, in their order.

    Enabled rules only. Each rule is reported with the first rule before or after it that covers
    it; of two duplicates, the one whose ID sorts last is reported.
    """
    groups: dict[tuple[Any, ...], list[Rule]] = {}
    for rule in rules:
        if rule.enabled:
            key = (rule.direction, rule.action, rule.protocol, (rule.program or "").casefold(), (rule.service or "").casefold())
            groups.setdefault(key, []).append(rule)
    parser = _ShapeParser()
    found: list[Overlap] = []
    for group in groups.values():
        covers = _first_covers(group, parser)
        found.extend(Overlap(rule, *covers[id(rule)]) for rule in group if id(rule) in covers)
    return found


def _first_covers(group: list[Rule], parser: _ShapeParser) -> dict[int, tuple[Rule, bool]]:
    """For each covered rule of one group (by ``id()``): the first rule covering it, and whether they are duplicates.

    The first rule that covers ``b`` is the earlier of two: the first rule of a shape strictly wider
    than b's, and the first other rule of b's own shape whose ID does not sort after b's.
    """
    rules = list({id(rule): rule for rule in group}.values())  # a rule object listed twice is one rule
    kinds: dict[_Shape, int] = {}
    kind_of = [kinds.setdefault(parser.shape(rule), len(kinds)) for rule in rules]
    shapes = list(kinds)
    members: list[list[int]] = [[] for _ in shapes]
    for position, kind in enumerate(kind_of):
        members[kind].append(position)
    wider = _Index(shapes).first_wider()
    out: dict[int, tuple[Rule, bool]] = {}
    for kind, positions in enumerate(members):
        strict = members[wider[kind]][0] if kind in wider else None
        twins = _first_twins(positions, rules) if len(positions) > 1 else {}
        for position in positions:
            first = min((p for p in (strict, twins.get(position)) if p is not None), default=None)
            if first is not None:
                out[id(rules[position])] = (rules[first], kind_of[first] == kind)
    return out


def _first_twins(positions: list[int], rules: list[Rule]) -> dict[int, int]:
    """Among rules of one shape, for each: the first other one whose ID does not sort after its own."""
    by_id = sorted(positions, key=lambda p: rules[p].id)
    out: dict[int, int] = {}
    smallest: list[int] = []  # the two first positions among the IDs seen so far
    start = 0
    while start < len(by_id):
        end = start
        while end < len(by_id) and rules[by_id[end]].id == rules[by_id[start]].id:
            end += 1
        smallest = heapq.nsmallest(2, smallest + by_id[start:end])
        for position in by_id[start:end]:
            other = next((p for p in smallest if p != position), None)
            if other is not None:
                out[position] = other
        start = end
    return out


@dataclass(frozen=True)
class _Scope:
    """A rule's ports or addresses as containment sees them.

    ``spans`` holds, per space (0: ports; 4 and 6: IP versions), the starts and the ends of its
    intervals. An entry of b is within a's list when one entry of a holds it whole, so an interval
    inside another of the same list changes nothing and is dropped: sorted by start, the ones left
    have rising ends too, and the last one starting at or before ``lo`` is the only one that can
    hold ``[lo, hi]``. (Two adjacent entries of a do not together hold an entry of b: CMFW109 has
    always compared entry to entry.) ``words`` are the keywords, casefolded.
    """

    spans: tuple[tuple[int, tuple[int, ...], tuple[int, ...]], ...]
    words: frozenset[str]

    def within(self, outer: _Scope) -> bool:
        if self is outer:
            return True  # one list (an address set) parsed once
        if not self.words <= outer.words:
            return False
        theirs = {space: (starts, ends) for space, starts, ends in outer.spans}
        for space, starts, ends in self.spans:
            if space not in theirs:
                return False
            outer_starts, outer_ends = theirs[space]
            for lo, hi in zip(starts, ends):
                k = bisect.bisect_right(outer_starts, lo) - 1
                if k < 0 or outer_ends[k] < hi:
                    return False
        return True


def _scope(spans: Iterable[tuple[int, int, int]], words: set[str]) -> _Scope:
    by_space: dict[int, list[tuple[int, int]]] = {}
    for space, lo, hi in spans:
        by_space.setdefault(space, []).append((lo, hi))
    kept = []
    for space in sorted(by_space):
        starts: list[int] = []
        ends: list[int] = []
        for lo, hi in sorted(by_space[space], key=lambda span: (span[0], -span[1])):
            if not ends or hi > ends[-1]:  # else the last interval kept holds it
                starts.append(lo)
                ends.append(hi)
        kept.append((space, tuple(starts), tuple(ends)))
    return _Scope(tuple(kept), frozenset(words))


@dataclass(frozen=True)
class _Shape:
    """Everything CMFW109 compares of a rule within its group; ``None`` means any."""

    profiles: frozenset[str]
    #: local ports, remote ports, remote addresses, local addresses
    scopes: tuple[_Scope | None, _Scope | None, _Scope | None, _Scope | None]
    icmp_types: frozenset[str] | None

    def holds(self, inner: _Shape) -> bool:
        """Whether every packet ``inner`` matches, this shape matches too."""
        if not inner.profiles <= self.profiles:
            return False
        for mine, theirs in zip(self.scopes, inner.scopes):
            if mine is not None and (theirs is None or not theirs.within(mine)):
                return False
        return self.icmp_types is None or (inner.icmp_types is not None and inner.icmp_types <= self.icmp_types)


class _ShapeParser:
    """Parses each distinct port or address list once, however many rules name it (an address set)."""

    def __init__(self) -> None:
        self.ports: dict[tuple[str, ...], _Scope] = {}
        self.addresses: dict[tuple[str, ...], _Scope] = {}

    def shape(self, rule: Rule) -> _Shape:
        return _Shape(
            frozenset(rule.profiles),
            (self._ports(rule.local_ports), self._ports(rule.remote_ports),
             self._addresses(rule.remote_addresses), self._addresses(rule.local_addresses)),
            frozenset(rule.icmp_types) if rule.icmp_types else None,
        )

    def _ports(self, ports: tuple[str, ...]) -> _Scope | None:
        if not ports:
            return None
        if ports not in self.ports:
            numeric, words = _ranges(ports)
            self.ports[ports] = _scope(((0, lo, hi) for lo, hi in numeric), words)
        return self.ports[ports]

    def _addresses(self, addresses: tuple[str, ...]) -> _Scope | None:
        if not addresses:
            return None
        if addresses not in self.addresses:
            self.addresses[addresses] = _scope(*_networks(addresses))
        return self.addresses[addresses]


def _ranges(ports: Iterable[str]) -> tuple[list[tuple[int, int]], set[str]]:
    numeric, words = [], set()
    for port in ports:
        low, _, high = port.partition("-")
        if digits(low) and (not high or digits(high)):
            numeric.append((int(low), int(high or low)))
        else:
            words.add(port.casefold())
    return numeric, words


def _networks(addresses: Iterable[str]) -> tuple[list[tuple[int, int, int]], set[str]]:
    spans: list[tuple[int, int, int]] = []
    words: set[str] = set()
    for address in addresses:
        try:
            if "-" in address:
                first, last = (ipaddress.ip_address(x) for x in address.split("-", 1))
                spans.append((first.version, int(first), int(last)))
            else:
                net = ipaddress.ip_network(address, strict=False)
                spans.append((net.version, int(net.network_address), int(net.broadcast_address)))
        except ValueError:
            words.add(address.casefold())
    return spans, words


_PROFILES, _ICMP = -1, 4  # the index's dimensions besides the four scopes (0-3)
_NOTHING: list[int] = []


class _Probe(NamedTuple):
    """One way to find the shapes that may hold a shape: how many it yields, and where they are."""

    cost: int
    lists: tuple[list[int], ...]
    #: (dimension, space, point): the shapes with an interval there that holds ``point``
    span: tuple[int, int, int] | None = None


def _open(shape: _Shape) -> int:
    """The dimensions along which ``shape`` allows anything, a bit each (scopes 0-3, ICMP types 4)."""
    bits = sum(1 << d for d, scope in enumerate(shape.scopes) if scope is None)
    return bits | ((1 << _ICMP) if shape.icmp_types is None else 0)


class _Index:
    """Where to look for the shapes of a group that may hold a given one.

    A shape open along a dimension holds anything there, so it would be a candidate for every
    shape: the index is split by the dimensions a shape leaves open (a few parts in practice).
    In a part open along at least the dimensions the held shape is open along, a holder lists the
    keyword, ICMP type and profile the held shape lists (``words``) and has an interval around each
    of its intervals (``spans``), along every dimension the part is not open along. Any one of those
    conditions narrows the search; each part is searched by its most selective one, and the
    candidates are tested in group order: the first that holds wins.
    """

    def __init__(self, shapes: list[_Shape]) -> None:
        self.shapes = shapes
        self.parts: dict[int, _Part] = {}
        for kind, shape in enumerate(shapes):
            self.parts.setdefault(_open(shape), _Part()).add(kind, shape)
        for part in self.parts.values():
            part.sort()

    def first_wider(self) -> dict[int, int]:
        """For each shape another one holds, the first such shape (shapes are distinct, so it is wider)."""
        candidates: list[list[int]] = []
        queries: dict[tuple[int, int, int], list[tuple[int, int]]] = {}  # (part, dimension, space) -> [(point, kind)]
        for kind, shape in enumerate(self.shapes):
            found: list[int] = []
            wild = _open(shape)
            for opened, part in self.parts.items():
                if opened & wild != wild:
                    continue  # its shapes ask for something where this one allows anything
                probe = part.probe(shape, opened)
                for listed in probe.lists:
                    found.extend(listed)
                if probe.span is not None:
                    dimension, space, point = probe.span
                    queries.setdefault((opened, dimension, space), []).append((point, kind))
            candidates.append(found)
        for (opened, dimension, space), points in queries.items():
            for kind, found in self.parts[opened].spans[(dimension, space)].holding(points).items():
                candidates[kind].extend(found)
        out = {}
        for kind, found in enumerate(candidates):
            inner = self.shapes[kind]
            for other in sorted(set(found)):
                if other != kind and self.shapes[other].holds(inner):
                    out[kind] = other
                    break
        return out


class _Part:
    """The shapes of a group open along the same dimensions, indexed by what they list."""

    def __init__(self) -> None:
        self.kinds: list[int] = []
        self.words: dict[tuple[int, str], list[int]] = {}  # (dimension, keyword, ICMP type or profile) -> kinds
        self.spans: dict[tuple[int, int], _Spans] = {}  # (dimension, space) -> intervals

    def add(self, kind: int, shape: _Shape) -> None:
        self.kinds.append(kind)
        for profile in shape.profiles:
            self.words.setdefault((_PROFILES, profile), []).append(kind)
        for icmp in shape.icmp_types or ():
            self.words.setdefault((_ICMP, icmp), []).append(kind)
        for dimension, scope in enumerate(shape.scopes):
            if scope is not None:
                for word in scope.words:
                    self.words.setdefault((dimension, word), []).append(kind)
                for space, starts, ends in scope.spans:
                    self.spans.setdefault((dimension, space), _Spans()).add(kind, starts, ends)

    def sort(self) -> None:
        for spans in self.spans.values():
            spans.sort()

    def probe(self, shape: _Shape, opened: int) -> _Probe:
        """The condition of ``shape`` that the fewest shapes of this part meet (``opened``: its open dimensions)."""
        best = _Probe(len(self.kinds), (self.kinds,))
        words = [(_PROFILES, profile) for profile in shape.profiles]
        if not opened & (1 << _ICMP):
            words += [(_ICMP, icmp) for icmp in shape.icmp_types or ()]
        for dimension, scope in enumerate(shape.scopes):
            if not opened & (1 << dimension) and scope is not None:
                words += [(dimension, word) for word in scope.words]
        for word in words:
            listed = self.words.get(word, _NOTHING)
            if len(listed) < best.cost:
                best = _Probe(len(listed), (listed,))
        for dimension, scope in enumerate(shape.scopes):
            if opened & (1 << dimension) or scope is None:
                continue
            for space, starts, ends in scope.spans:
                spans = self.spans.get((dimension, space))
                if spans is None:
                    return _Probe(0, ())  # no shape of this part has an interval in this space
                for lo, hi in zip(starts, ends):
                    if lo > hi:
                        continue  # a backwards interval (never in a checked matrix) is not looked up
                    for point in (lo, hi):  # an interval holding [lo, hi] holds both ends
                        count = spans.count(point)
                        if count < best.cost:
                            best = _Probe(count, (), (dimension, space, point))
        return best


class _Spans:
    """The intervals of one dimension and space, to count and to list the shapes whose interval holds a point."""

    def __init__(self) -> None:
        self.items: list[tuple[int, int, int]] = []  # (lo, hi, kind)
        self.starts: list[int] = []
        self.ends: list[int] = []

    def add(self, kind: int, starts: tuple[int, ...], ends: tuple[int, ...]) -> None:
        # A backwards interval holds no well-formed one, and only those are looked up.
        self.items.extend((lo, hi, kind) for lo, hi in zip(starts, ends) if lo <= hi)

    def sort(self) -> None:
        self.items.sort()
        self.starts = [lo for lo, _, _ in self.items]
        self.ends = sorted(hi for _, hi, _ in self.items)

    def count(self, point: int) -> int:
        """How many intervals hold ``point``: those starting at or before it, less those ending before it."""
        return bisect.bisect_right(self.starts, point) - bisect.bisect_left(self.ends, point)

    def holding(self, queries: list[tuple[int, int]]) -> dict[int, list[int]]:
        """For each (point, kind) query: the kinds whose interval holds the point, in one sweep."""
        found: dict[int, list[int]] = {}
        active: dict[int, int] = {}  # item -> kind, for the intervals holding the current point
        ending: list[tuple[int, int]] = []  # (hi, item), the active intervals by end
        next_item = 0
        for point, kind in sorted(queries):
            while next_item < len(self.items) and self.items[next_item][0] <= point:
                active[next_item] = self.items[next_item][2]
                heapq.heappush(ending, (self.items[next_item][1], next_item))
                next_item += 1
            while ending and ending[0][0] < point:
                del active[heapq.heappop(ending)[1]]
            found[kind] = list(active.values())
        return found


def _traffic(rule: Rule) -> str:
    ports = ",".join(rule.local_ports or rule.remote_ports) or "any port"
    return f"{rule.direction} {rule.protocol_name} {ports}"


def lint_document(report: LintReport, file: str) -> dict[str, Any]:
    """The JSON form (``cmfw-lint/1``), for CI annotations."""
    return {
        "format": FORMAT,
        "file": file,
        "counts": {
            "errors": len(report.errors),
            "warnings": len(report.warnings),
            "acknowledged": len(report.acknowledged),
        },
        "findings": [
            {
                "code": f.code,
                "name": f.check.name,
                "severity": f.severity,
                "policy": f.policy,
                "rule": f.rule,
                "message": f.message,
                "hint": f.hint,
                "file": f.file,
                "line": f.line,
                "column": f.column,
                "path": f.path,
                "acknowledged": f.acknowledged,
            }
            for f in report.findings
        ],
    }

