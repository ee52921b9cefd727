"""Matrix × catalog → PolicySet: every rule made concrete.

Ports are substituted from the matrix (or the catalog defaults), address sets are
expanded, profiles applied, features that others depend on added, and every rule
gets its deterministic ID ``CMFW-<policy>-<Feature>-<rule>-<In|Out>``.
"""

from __future__ import annotations

import ipaddress
from dataclasses import replace
from typing import Mapping, Sequence

from . import profilesettings
from .catalog import Catalog, Feature, RuleTemplate, load_catalog
from .errors import ArtifactError, InputError, Problem
from .identifiers import custom_rule_id, feature_rule_id, gpo_guid
from .matrix import ANY, CustomRule, FeatureUse, Matrix, PolicySpec, SoftwareUpdatePoint
from .model import FeatureChoice, Policy, PolicySet, Rule, parse_protocol, protocol_name
from .freetext import text_problem
from .yamlsource import KeyPath, format_path

def resolve(matrix: Matrix, catalog: Catalog | None = None) -> PolicySet:
    """Resolve every policy; raises :class:`InputError` listing every unresolvable scope."""
    resolver = _Resolver(matrix, catalog or load_catalog())
    policies = [resolver.policy(spec) for spec in matrix.policies]
    if resolver.problems:
        raise InputError(resolver.problems)
    return PolicySet(
        domain=matrix.domain, policies=tuple(policies), catalog_version=resolver.catalog.version, owner=matrix.owner
    )


class _Resolver:
    def __init__(self, matrix: Matrix, catalog: Catalog) -> None:
        self.matrix = matrix
        self.catalog = catalog
        self.problems: list[Problem] = []

    def policy(self, spec: PolicySpec) -> Policy:
        uses = _with_required(spec.features, self.catalog)
        rules: list[Rule] = []
        origins: dict[str, KeyPath] = {}
        for use, implied_by in uses:
            for rule in self._feature_rules(spec, use, implied_by is not None):
                rules.append(rule)
                # An implied feature's rules point at the entry that brought it in.
                origins.setdefault(rule.id, use.path)
        for custom in spec.custom_rules:
            if spec.outbound_rules or custom.direction == "In":
                rule = self._custom_rule(spec, custom)
                rules.append(rule)
                origins.setdefault(rule.id, custom.path)
        if spec.rule_ids == "predefined":
            rules = self._merge_predefined(spec, rules)
        _check_rules(spec, rules)
        choices = tuple(
            FeatureChoice(use.feature, self.catalog.features[use.feature].variant(use.variant).name, implied_by)
            for use, implied_by in uses
        )
        return Policy(
            name=spec.name,
            key=spec.key,
            gpo_guid=gpo_guid(self.matrix.domain, spec.key),
            description=spec.description,
            features=choices,
            rules=tuple(rules),
            profile_settings=profilesettings.from_matrix(spec.profile_settings),
            dsc=spec.dsc,
            links=spec.links,
            intune=spec.intune,
            origins=origins,
        )

    # -- features ------------------------------------------------------------------------

    def _feature_rules(self, spec: PolicySpec, use: FeatureUse, implied: bool) -> list[Rule]:
        feature = self.catalog.features[use.feature]
        out = []
        for template in feature.variant(use.variant).rules:
            if template.selector in use.exclude:
                continue
            if template.direction == "Out" and not spec.outbound_rules:
                continue
            program = template.program
            if program and program.startswith("$"):
                program = self._program(spec, program[1:])
            for selector, local, remote_ports, remote in self._instances(spec, use, feature, template, implied):
                if not _family_fits(template.protocol, remote):
                    continue  # an ICMPv6 rule scoped to IPv4 addresses only (or the reverse) never matches
                rule = Rule(
                    id=feature_rule_id(spec.key, feature.id_part, selector),
                    name=template.name,
                    direction=template.direction,
                    protocol=template.protocol,
                    local_ports=local,
                    remote_ports=remote_ports,
                    remote_addresses=remote,
                    icmp_types=template.icmp_types,
                    program=program,
                    service=template.service,
                    profiles=use.profiles or template.profiles or spec.profiles,
                    edge_traversal=template.edge_traversal,
                    description=template.description,
                    group=f"ConfigMgr {feature.title}",
                    feature=feature.id,
                    source=str(template.source),
                )
                if spec.rule_ids == "predefined" and template.predefined is not None:
                    out.extend(_as_predefined(rule, template))
                else:
                    out.append(rule)
        return out

    def _instances(
        self, spec: PolicySpec, use: FeatureUse, feature: Feature, template: RuleTemplate, implied: bool
    ) -> list[tuple[str, tuple[str, ...], tuple[str, ...], tuple[str, ...]]]:
        """(selector, local ports, remote ports, remote addresses) of each rule a template makes.

        One rule, except for software update points that name their `servers`: each of
        those gets a rule of its own (``<key>-SUP<n>-<dir>``) with its ports and addresses.
        """
        sups = spec.software_update_points
        per_server = any(s.servers for s in sups) and any(
            p.startswith("$software_update_points.") for p in template.local_ports + template.remote_ports
        )
        override = None if implied else (use.from_sets if template.direction == "In" else use.to_sets)
        if per_server and override is None:
            out = []
            shared = [s for s in sups if not s.servers]
            if shared:
                made = self._instance(spec, use, feature, template, implied, shared)
                if made is not None:
                    out.append((template.selector, *made))
            for n, sup in enumerate(sups, start=1):
                if sup.servers:
                    local = self._ports(spec, template.local_ports, [sup])
                    remote_ports = self._ports(spec, template.remote_ports, [sup])
                    if local is not None and remote_ports is not None:
                        out.append((f"{template.key}-SUP{n}-{template.direction}", local, remote_ports, self._expand(sup.servers)))
            return out
        made = self._instance(spec, use, feature, template, implied, sups)
        return [] if made is None else [(template.selector, *made)]

    def _instance(
        self,
        spec: PolicySpec,
        use: FeatureUse,
        feature: Feature,
        template: RuleTemplate,
        implied: bool,
        sups: Sequence[SoftwareUpdatePoint],
    ) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]] | None:
        local = self._ports(spec, template.local_ports, sups)
        remote_ports = self._ports(spec, template.remote_ports, sups)
        if local is None or remote_ports is None:
            return None  # every port of the rule is an optional setting left unset
        remote = self._remote(spec, use, feature, template, implied)
        if remote is None:
            return None
        return local, remote_ports, remote

    def _merge_predefined(self, spec: PolicySpec, rules: list[Rule]) -> list[Rule]:
        """Two features may need the same Windows rule: one rule, if they agree on it."""
        by_id: dict[str, Rule] = {}
        for rule in rules:
            first = by_id.get(rule.id)
            if first is None:
                by_id[rule.id] = rule
                continue
            if replace(first, feature="", source="") != replace(rule, feature="", source=""):
                self.problems.append(
                    self.matrix.problem(
                        spec.path + ("rule_ids",),
                        f"with predefined rule IDs, {rule.id} is needed by {first.feature} and {rule.feature} with "
                        "different scopes or profiles; Windows has one rule of that ID, so use `rule_ids: cmfw` "
                        "or give both features the same `from:`",
                    )
                )
                continue
            by_id[rule.id] = replace(first, feature=f"{first.feature},{rule.feature}")
        return list(by_id.values())

    def _ports(
        self, spec: PolicySpec, values: tuple[str, ...], sups: Sequence[SoftwareUpdatePoint]
    ) -> tuple[str, ...] | None:
        return self.catalog.ports(values, spec.ports, [(sup.http, sup.https) for sup in sups])

    def _program(self, spec: PolicySpec, name: str) -> str:
        return self.catalog.parameter_value(name, spec.programs) or ""

    def _remote(
        self, spec: PolicySpec, use: FeatureUse, feature: Feature, template: RuleTemplate, implied: bool
    ) -> tuple[str, ...] | None:
        override = None if implied else (use.from_sets if template.direction == "In" else use.to_sets)
        if override is not None:
            return self._expand(override)
        remote = template.remote
        if remote.roles:
            found = [role_addresses(self.matrix.addresses, self.catalog, role) for role in remote.roles]
            defined = [a for a in found if a is not None]
            if defined:
                return tuple(a for addresses in defined for a in addresses)
            if template.direction == "In":
                role = self.catalog.roles[remote.roles[0]]
                self.problems.append(
                    self.matrix.problem(
                        use.path,
                        f"{feature.id}: rule {template.selector} needs to know who may connect: "
                        f"define `addresses.{role.name}` ({role.title}) or set `from:` on the feature",
                    )
                )
                return None
            return ()  # an outbound rule to a role the matrix does not define goes anywhere
        return remote.addresses



    def _expand(self, names: tuple[str, ...]) -> tuple[str, ...]:
        if names == (ANY,):
            return ()
        out: list[str] = []
        for name in names:
            out.extend(self.matrix.addresses[name])
        return tuple(out)

    # -- custom rules --------------------------------------------------------------------

    def _custom_rule(self, spec: PolicySpec, custom: CustomRule) -> Rule:
        remote = self._expand(custom.remote_sets) if custom.remote_sets is not None else ()
        protocol = parse_protocol(custom.protocol)
        if not _family_fits(protocol, remote):
            key = "from" if custom.direction == "In" else "to"
            family = "IPv6" if protocol == 58 else "IPv4"
            self.problems.append(self.matrix.problem(
                custom.path + (key,),
                f"an {protocol_name(protocol)} rule can only match {family} addresses, and these sets hold none; "
                f"add {family} addresses or change the protocol",
            ))
        return Rule(
            id=custom_rule_id(spec.key, custom.id, custom.direction),
            name=custom.name,
            direction=custom.direction,
            action=custom.action,
            protocol=protocol,
            local_ports=custom.local_ports,
            remote_ports=custom.remote_ports,
            remote_addresses=remote,
            icmp_types=custom.icmp_types,
            program=custom.program,
            service=custom.service,
            profiles=custom.profiles or spec.profiles,
            enabled=custom.enabled,
            description=custom.description,
            group="ConfigMgr custom rules",
            feature="custom",
            source="matrix: " + format_path(custom.path),
        )


def _as_predefined(rule: Rule, template: RuleTemplate) -> list[Rule]:
    """The rule under Windows' own IDs: one per predefined rule whose profiles it covers.

    Windows ships most group rules as a Domain rule and a Private+Public rule; a
    policy on Domain+Private therefore needs both IDs. Where no Windows rule covers a
    profile, that part keeps the cmfw ID.
    """
    pre = template.predefined
    assert pre is not None
    out = []
    left = set(rule.profiles)
    for windows in pre.windows_rules:
        profiles = tuple(p for p in rule.profiles if p in windows.profiles)
        if not profiles:
            continue
        left -= set(profiles)
        out.append(
            replace(
                rule,
                id=windows.id,
                name=pre.name_resource,
                description=pre.description_resource,
                group=pre.embed_context,
                profiles=profiles,
                edge_traversal=pre.edge_traversal,
            )
        )
    if left:
        out.append(replace(rule, profiles=tuple(p for p in rule.profiles if p in left)))
    return out


def role_addresses(addresses: Mapping[str, tuple[str, ...]], catalog: Catalog, name: str) -> tuple[str, ...] | None:
    """The matrix's set for a role, or for the role it defaults to; ``None`` if neither is defined."""
    seen = set()
    while name not in seen:
        seen.add(name)
        if name in addresses:
            return addresses[name]
        fallback = catalog.roles[name].default_from
        if fallback is None:
            return None
        name = fallback
    return None


def _family_fits(protocol: int | None, remote: tuple[str, ...]) -> bool:
    """Whether an ICMP rule's scope holds an address of its own family (or a keyword, or any)."""
    family = {1: 4, 58: 6}.get(protocol or 0)
    if family is None or not remote:
        return True
    for entry in remote:
        first = entry.split("-")[0].split("/")[0]
        try:
            if ipaddress.ip_address(first).version == family:
                return True
        except ValueError:
            return True  # a keyword: it covers both families
    return False


def _with_required(uses: tuple[FeatureUse, ...], catalog: Catalog) -> list[tuple[FeatureUse, str | None]]:
    """The policy's features plus those they require, each once (explicit ones first)."""
    out: list[tuple[FeatureUse, str | None]] = [(use, None) for use in uses]
    present = {use.feature for use in uses}
    queue = list(uses)
    while queue:
        use = queue.pop(0)
        for req in catalog.features[use.feature].requires:
            if req not in present:
                present.add(req)
                implied = FeatureUse(feature=req, path=use.path)
                out.append((implied, use.feature))
                queue.append(implied)
    return out


def _check_rules(spec: PolicySpec, rules: list[Rule]) -> None:
    """Last guard before any emitter: catalog data must produce carriable rules."""
    seen: set[str] = set()
    for rule in rules:
        folded = rule.id.casefold()
        if folded in seen:
            raise ArtifactError(f"policy {spec.name!r}: two rules share the ID {rule.id!r}")
        seen.add(folded)
        for field_name in ("name", "description", "group", "program", "service"):
            value = getattr(rule, field_name)
            why = value and text_problem(value, in_rule_string=True)
            if why:
                raise ArtifactError(f"rule {rule.id}: {field_name} {why}")

