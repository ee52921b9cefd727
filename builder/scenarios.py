"""A policy's scenarios: the traffic its features need, made concrete and decided.

Each catalog feature states, from Microsoft's pages, the connections it needs
(:class:`~builder.catalog.types.Scenario`). For one policy of a matrix they become
:class:`~builder.firewall.Connection` s with real ports (the policy's settings) and
real peers (an address of the set that plays the role), and the decision model says
whether the policy's rules let each through. ``cmfw query --scenarios``, report.html
and the scenario tests all use this.

Peers: an address set's first entry (the first host of a subnet, the first address of
a range); a peer on the local subnet is :data:`LOCAL_PEER` in :data:`LOCAL_SUBNETS`;
"anyone" is :data:`ANY_PEER`; a Teredo peer is :data:`TEREDO_PEER`. A port parameter
that is a range stands for its first port. A scenario whose port is an optional
setting the policy leaves unset, or an outbound one in a policy without outbound
rules, does not apply.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, replace
from typing import Iterator, Mapping

from .catalog import Catalog
from .catalog.types import Feature, Scenario
from .firewall import ALLOWED, Connection, Decision, Environment, decide
from .matrix import ANY, FeatureUse, Matrix, PolicySpec
from .model import Policy, Rule
from .resolve import role_addresses
from .syntax.numbers import digits

#: The machine's own subnets when a scenario needs them (benchmark ranges, RFC 2544 and
#: a unique-local prefix: in no one's address plan).
LOCAL_SUBNETS = (ipaddress.ip_network("198.18.0.0/24"), ipaddress.ip_network("fd00:cf::/64"))
LOCAL_PEER = "198.18.0.20"
ANY_PEER = "198.51.100.20"
TEREDO_PEER = "2001:0:4136:e378:8000:63bf:3fff:fdd2"
#: Addresses outside every scope, for the "from anywhere else" check (RFC 5737, 3849).
OUTSIDE = {4: "203.0.113.99", 6: "2001:db8:ffff::99"}

ENVIRONMENT = Environment(local_subnets=LOCAL_SUBNETS)


@dataclass(frozen=True)
class Check:
    """One scenario on one profile, as a connection, with what was expected and decided.

    ``expect_allowed`` is False for a variant's documented limit (``limit`` says why)
    and for the ``outside`` twin of a scenario: the same traffic from an address no
    scope includes.
    """

    feature: str
    variant: str
    scenario: Scenario
    connection: Connection
    expect_allowed: bool
    decision: Decision
    limit: str = ""
    outside: bool = False

    @property
    def ok(self) -> bool:
        if self.outside:
            # Refused by every rule of the feature; what the profile's default action or
            # another feature does with that address is not this scenario's business.
            return not any(self.feature in m.rule.feature.split(",") for m in self.decision.rules)
        return self.decision.allowed == self.expect_allowed

    def deciding_rules(self) -> tuple[Rule, ...]:
        return tuple(m.rule for m in self.decision.rules)


def policy_checks(
    matrix: Matrix,
    catalog: Catalog,
    spec: PolicySpec,
    policy: Policy,
    *,
    rules: tuple[Rule, ...] | None = None,
    environment: Environment = ENVIRONMENT,
    outside: bool = False,
) -> list[Check]:
    """Every scenario of the policy's features, decided against ``rules`` (default: the
    policy's own) and its profile settings. ``outside`` adds the from-anywhere-else twins."""
    uses = {use.feature: use for use in spec.features}
    checked = policy.rules if rules is None else rules
    out: list[Check] = []
    for choice in policy.features:
        feature = catalog.features[choice.id]
        use = uses.get(choice.id) if choice.implied_by is None else None
        for scenario in feature.scenarios_of(choice.variant):
            for connection, scoped in _connections(matrix, catalog, spec, use, feature, scenario):
                limit = scenario.limits.get(choice.variant, "")
                decision = decide(connection, checked, policy.profile_settings, environment)
                out.append(Check(feature.id, choice.variant, scenario, connection, not limit, decision, limit))
                if outside and scoped and not limit:
                    stranger = replace(connection, remote_address=OUTSIDE[ipaddress.ip_address(connection.remote_address).version])
                    decision = decide(stranger, checked, policy.profile_settings, environment)
                    out.append(Check(feature.id, choice.variant, scenario, stranger, False, decision, outside=True))
    return out


def _connections(
    matrix: Matrix, catalog: Catalog, spec: PolicySpec, use: FeatureUse | None, feature: Feature, scenario: Scenario
) -> Iterator[tuple[Connection, bool]]:
    """The scenario's connections in this policy, each with whether its peer is scoped
    (so that an outside address must be refused)."""
    if scenario.direction == "Out" and not spec.outbound_rules:
        return
    profiles = scenario.profiles or (use.profiles if use and use.profiles else None) or spec.profiles
    for local, remote, sup_servers in _ports(catalog, spec, scenario):
        found = _peer(matrix, catalog, use, scenario, sup_servers)
        if found is None:
            continue  # ICMPv4 to a set with IPv6 addresses only (or the reverse): not this policy's traffic
        peer, scoped = found
        program = scenario.program
        if program and program.startswith("$"):
            program = catalog.parameter_value(program[1:], spec.programs)
        for profile in profiles:
            yield Connection(
                direction=scenario.direction,
                protocol=scenario.protocol,
                remote_address=peer,
                local_port=local,
                remote_port=remote,
                icmp=scenario.icmp,
                program=program,
                service=scenario.service,
                profile=profile,
                edge=scenario.edge,
            ), scoped


Port = int | str | None


def _ports(catalog: Catalog, spec: PolicySpec, scenario: Scenario) -> Iterator[tuple[Port, Port, tuple[str, ...] | None]]:
    """(local port, remote port, the servers of the software update point it is about)."""
    refs = [p for p in (scenario.local_port, scenario.remote_port) if p and p.startswith("$software_update_points.")]
    if refs:
        for sup in spec.software_update_points:
            local = _port(catalog, spec, scenario.local_port, (sup.http, sup.https))
            remote = _port(catalog, spec, scenario.remote_port, (sup.http, sup.https))
            yield local, remote, sup.servers
        return
    local, remote = _port(catalog, spec, scenario.local_port), _port(catalog, spec, scenario.remote_port)
    if (scenario.local_port and local is None) or (scenario.remote_port and remote is None):
        return  # an optional port the policy leaves unset: the scenario does not apply
    yield local, remote, None


def _port(catalog: Catalog, spec: PolicySpec, value: str | None, sup: tuple[int, int] | None = None) -> Port:
    if value is None:
        return None
    if value.startswith("$software_update_points.") and sup is not None:
        return sup[0] if value.endswith(".http") else sup[1]
    if value.startswith("$"):
        resolved = catalog.parameter_value(value[1:], spec.ports)
        if resolved is None:
            return None
        return int(resolved.split("-")[0])
    return int(value) if digits(value) else value


def _peer(
    matrix: Matrix, catalog: Catalog, use: FeatureUse | None, scenario: Scenario, sup_servers: tuple[str, ...] | None
) -> tuple[str, bool] | None:
    peer = scenario.peer
    family = {1: 4, 58: 6}.get(scenario.protocol)
    if peer.kind == "local-subnet":
        return LOCAL_PEER, True
    if peer.kind == "any":
        return ANY_PEER, False
    if peer.kind == "teredo":
        return TEREDO_PEER, True
    if peer.kind == "address":
        return peer.name, False
    override = None
    if use is not None:
        override = use.from_sets if scenario.direction == "In" else use.to_sets
    if sup_servers:
        override = sup_servers
    if override is not None:
        if override == (ANY,):
            return ANY_PEER, False
        addresses: tuple[str, ...] | None = tuple(a for name in override for a in matrix.addresses[name])
    else:
        addresses = role_addresses(matrix.addresses, catalog, peer.name)
    if not addresses:
        return ANY_PEER, False  # an outbound rule to a set the matrix does not define goes anywhere
    hosts = [_first_host(entry) for entry in addresses]
    if family is not None:
        hosts = [h for h in hosts if ipaddress.ip_address(h).version == family]
    return (hosts[0], True) if hosts else None


def _first_host(entry: str) -> str:
    if entry == "LocalSubnet":
        return LOCAL_PEER
    if "-" in entry:
        return str(ipaddress.ip_address(entry.split("-")[0]))
    if "/" in entry:
        net = ipaddress.ip_network(entry)
        return str(net.network_address + 1) if net.num_addresses > 2 else str(net.network_address)
    try:
        return str(ipaddress.ip_address(entry))
    except ValueError:
        return ANY_PEER  # another keyword (Intranet, DNS...): no address stands for it here


def summary(check: Check) -> str:
    """``allowed by CMFW-…`` / ``not allowed: …`` in words, for reports and the terminal."""
    decision = check.decision
    if decision.verdict == ALLOWED and decision.rules:
        return "allowed by " + ", ".join(m.rule.id for m in decision.rules)
    if decision.verdict == ALLOWED:
        return "allowed: " + decision.reason
    return f"not allowed: {decision.reason}" if decision.verdict != "undecided" else f"undecided: {decision.reason}"


def by_policy(matrix: Matrix, catalog: Catalog, policies: Mapping[str, Policy], **kwargs: object) -> dict[str, list[Check]]:
    """:func:`policy_checks` for every policy of the matrix, by policy key."""
    return {
        spec.key: policy_checks(matrix, catalog, spec, policies[spec.key], **kwargs)  # type: ignore[arg-type]
        for spec in matrix.policies
        if spec.key in policies
    }
