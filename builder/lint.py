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

import ipaddress
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Iterable

from .catalog import Catalog
from .catalog.types import wsus_https
from .errors import CmfwError, Problem
from .lintcodes import CHECKS, CODES, Check
from .matrix import FeatureUse, Matrix, PolicySpec, SoftwareUpdatePoint
from .model import Policy, PolicySet, Rule
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
        for spec in self.matrix.policies:
            policy = self.policies[spec.key]
            if spec.own_ports:
                self._sup_ports(spec.own_ports, spec)
                self._wake_on_lan(spec)
            self._inbound_any(spec, policy)
            self._management(spec, policy)
            self._features(spec)
            self._sup_http_closed(spec)
            self._overlaps(spec, policy)
            self._local_rules(spec, policy)
            self._outbound(spec, policy)
            self._dsc_local_store(spec, policy)
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
            if rule.direction == "In" and rule.action == "Allow" and not rule.remote_addresses:
                self.add(
                    "CMFW101", spec, self.rule_path(spec, rule),
                    f"inbound {rule.protocol_name} {','.join(rule.local_ports) or 'any port'} is open to any remote address",
                    "scope it with `from:` an address set (LocalSubnet for peers), or acknowledge why it must be open",
                    rule.id,
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
        """Rules another rule of the policy already covers entirely (duplicates included)."""
        groups: dict[tuple[Any, ...], list[Rule]] = {}
        for rule in policy.rules:
            if rule.enabled:
                key = (rule.direction, rule.action, rule.protocol, (rule.program or "").casefold(), (rule.service or "").casefold())
                groups.setdefault(key, []).append(rule)
        for rules in groups.values():
            for b in rules:
                cover = next((a for a in rules if a is not b and _covers(a, b) and not (_covers(b, a) and a.id > b.id)), None)
                if cover is None:
                    continue
                same = _covers(b, cover)
                self.add(
                    "CMFW109", spec, self.rule_path(spec, b),
                    f"{'duplicates' if same else 'is covered by'} {cover.id} ({_traffic(b)})",
                    "keep one rule for this traffic: drop the feature or rule that repeats it, or narrow it with `exclude`",
                    b.id,
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


    def _dsc_local_store(self, spec: PolicySpec, policy: Policy) -> None:
        from .profilesettings import BY_VALUE, LOCAL_MERGE

        if policy.dsc.resource != "firewall":
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


def _lower_first(text: str) -> str:
    """A summary as the middle of a sentence: no full stop, lower-case start (acronyms kept)."""
    text = text.rstrip(".")
    if len(text) > 1 and text[1].isupper():
        return text  # "SMB-In and ..."
    return text[:1].lower() + text[1:]


def _covers(a: Rule, b: Rule) -> bool:
    """Whether every packet ``b`` matches, ``a`` matches too (same direction/protocol/program)."""
    return (
        set(b.profiles) <= set(a.profiles)
        and _ports_within(b.local_ports, a.local_ports)
        and _ports_within(b.remote_ports, a.remote_ports)
        and _addresses_within(b.remote_addresses, a.remote_addresses)
        and _addresses_within(b.local_addresses, a.local_addresses)
        and (not a.icmp_types or (bool(b.icmp_types) and set(b.icmp_types) <= set(a.icmp_types)))
    )


def _ranges(ports: Iterable[str]) -> tuple[list[tuple[int, int]], set[str]]:
    numeric, words = [], set()
    for port in ports:
        low, _, high = port.partition("-")
        if low.isdigit() and (not high or high.isdigit()):
            numeric.append((int(low), int(high or low)))
        else:
            words.add(port.casefold())
    return numeric, words


def _ports_within(inner: tuple[str, ...], outer: tuple[str, ...]) -> bool:
    if not outer:
        return True  # any port
    if not inner:
        return False
    ni, wi = _ranges(inner)
    no, wo = _ranges(outer)
    return wi <= wo and all(any(o0 <= i0 and i1 <= o1 for o0, o1 in no) for i0, i1 in ni)


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


def _addresses_within(inner: tuple[str, ...], outer: tuple[str, ...]) -> bool:
    if not outer:
        return True  # any address
    if not inner:
        return False
    si, wi = _networks(inner)
    so, wo = _networks(outer)
    return wi <= wo and all(any(v == w and o0 <= i0 and i1 <= o1 for w, o0, o1 in so) for v, i0, i1 in si)


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

