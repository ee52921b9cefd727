"""Matrix × catalog → PolicySet: every rule made concrete.

Ports are substituted from the matrix (or the catalog defaults), address sets are
expanded, profiles applied, features that others depend on added, and every rule
gets its deterministic ID ``CMFW-<policy>-<Feature>-<rule>-<In|Out>``.
"""

from __future__ import annotations

from dataclasses import replace

from . import profilesettings
from .catalog import Catalog, Feature, RuleTemplate, load_catalog
from .errors import ArtifactError, InputError, Problem
from .identifiers import custom_rule_id, feature_rule_id, gpo_guid
from .matrix import ANY, CustomRule, FeatureUse, Matrix, PolicySpec
from .model import FeatureChoice, Policy, PolicySet, Rule, parse_protocol
from .freetext import text_problem
from .yamlsource import KeyPath, format_path

def resolve(matrix: Matrix, catalog: Catalog | None = None) -> PolicySet:
    """Resolve every policy; raises :class:`InputError` listing every unresolvable scope."""
    resolver = _Resolver(matrix, catalog or load_catalog())
    policies = [resolver.policy(spec) for spec in matrix.policies]
    if resolver.problems:
        raise InputError(resolver.problems)
    return PolicySet(domain=matrix.domain, policies=tuple(policies), catalog_version=resolver.catalog.version)


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
            gpo_guid=gpo_guid(self.matrix.domain, spec.name),
            description=spec.description,
            features=choices,
            rules=tuple(rules),
            profile_settings=profilesettings.from_matrix(spec.profile_settings),
            dsc=spec.dsc,
            links=spec.links,
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
            local = self._ports(spec, template.local_ports)
            remote_ports = self._ports(spec, template.remote_ports)
            if local is None or remote_ports is None:
                continue  # every port of the rule is an optional setting left unset
            remote = self._remote(spec, use, feature, template, implied)
            if remote is None:
                continue
            program = template.program
            if program and program.startswith("$"):
                program = self._program(spec, program[1:])
            rule = Rule(
                    id=feature_rule_id(spec.key, feature.id_part, template.selector),
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

    def _ports(self, spec: PolicySpec, values: tuple[str, ...]) -> tuple[str, ...] | None:
        sups = [(sup.http, sup.https) for sup in spec.software_update_points]
        return self.catalog.ports(values, spec.ports, sups)

    def _program(self, spec: PolicySpec, name: str) -> str:
        return self.catalog.parameter_value(name, spec.programs) or ""

    def _remote(
        self, spec: PolicySpec, use: FeatureUse, feature: Feature, template: RuleTemplate, implied: bool
    ) -> tuple[str, ...] | None:
        override = None if implied else (use.from_sets if template.direction == "In" else use.to_sets)
        if override is not None:
            return self._expand(override)
        remote = template.remote
        if remote.role:
            if remote.role in self.matrix.addresses:
                return self.matrix.addresses[remote.role]
            if template.direction == "In":
                role = self.catalog.roles[remote.role]
                self.problems.append(
                    self.matrix.problem(
                        use.path,
                        f"{feature.id}: rule {template.selector} needs to know who may connect: "
                        f"define `addresses.{remote.role}` ({role.title}) or set `from:` on the feature",
                    )
                )
                return None
            return ()
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
        return Rule(
            id=custom_rule_id(spec.key, custom.id, custom.direction),
            name=custom.name,
            direction=custom.direction,
            action=custom.action,
            protocol=parse_protocol(custom.protocol),
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

