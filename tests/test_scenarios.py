"""The traffic every feature needs, as Microsoft's pages describe it, is what its rules allow.

For every feature and variant, a policy with just that feature is built (with the
catalog's ports and with other ports, IPv4 and IPv6 address sets, cmfw and Windows rule
IDs) under block-by-default profiles, read back from the GPO backup the build wrote,
and every scenario is decided by the firewall model: the needed traffic is allowed,
the same traffic from an address outside every scope is refused by the feature's
rules, and every rule of a default variant lets some scenario through.
"""

from __future__ import annotations

import dataclasses
import functools
import shutil
from pathlib import Path

import pytest

from builder.build import render
from builder.catalog import load_catalog, load_catalog_from
from builder.catalog.loader import CATALOG_DIR, FILES
from builder.errors import InputError
from builder.firewall import Connection, decide
from builder.matrix import load_matrix
from builder.model import ProfileSetting
from builder.read import read_backups
from builder.resolve import resolve
from builder.scenarios import ENVIRONMENT, Check, policy_checks, summary

CATALOG = load_catalog()
CASES = [(fid, v) for fid, f in CATALOG.features.items() for v in f.variants]
OTHER_PORTS = {
    "http": 8081, "https": 8444, "http_alternate": 8082, "https_alternate": 8445, "client_notification": 10125,
    "wake_up_proxy": 25539, "wake_on_lan": 7, "site_wake_on_lan": 7, "remote_desktop": 3390,
    "peer_cache_broadcast": 8014, "peer_cache_download": 8015, "express_updates": 8016, "multicast": "62000-62100",
}


def isolation_matrix(feature: str, variant: str, *, family: int = 4, ports: bool = False, predefined: bool = False) -> str:
    """A matrix with one policy holding one feature, every role defined, blocking by default."""
    roles = sorted(CATALOG.roles)
    sets = [
        f"  {role}: [{f'10.{i + 1}.0.0/24' if family == 4 else f'2001:db8:{i + 1:x}::/64'}]" for i, role in enumerate(roles)
    ]
    lines = ["version: 1", "domain: corp.example.com", "addresses:", *sets]
    if ports:
        lines.append("ports:")
        lines += [f"  {name}: {value}" for name, value in OTHER_PORTS.items()]
        lines += ["  software_update_points:", "    - {http: 8530}", "    - {http: 80, servers: software_update_points}"]
    blocking = "{enabled: true, default_inbound: block, default_outbound: block}"
    lines += [
        "policies:",
        "  - name: Isolated",
        "    id: Isolated",
        "    profiles: [Domain, Private]",
        "    profile_settings:",
        *(f"      {p}: {blocking}" for p in ("Domain", "Private", "Public")),
        "    acknowledge: {CMFW101: test, CMFW102: test, CMFW103: test, CMFW104: test, CMFW105: test}",
        f"    rule_ids: {'predefined' if predefined else 'cmfw'}",
        f"    features: [{{{feature}: {{variant: {variant}}}}}]" if variant != "default" else f"    features: [{feature}]",
    ]
    return "\n".join(lines) + "\n"


@functools.cache
def built(text: str, tmp: str) -> tuple[object, object, tuple[object, ...]]:
    path = Path(tmp) / f"m{abs(hash(text))}.yaml"
    path.write_text(text, encoding="utf-8")
    result = render(path)
    gpo = {rel[4:]: data for rel, data in result.files.items() if rel.startswith("gpo/")}
    [content] = read_backups(gpo, "gpo")
    return result.matrix, result.policyset, tuple(content.rules)


def checks_of(text: str, tmp: Path) -> list[Check]:
    matrix, policyset, rules = built(text, str(tmp))
    [spec] = matrix.policies  # type: ignore[attr-defined]
    [policy] = policyset.policies  # type: ignore[attr-defined]
    # Decided against what the GPO backup says, not the resolver's rules: the build is what ships.
    return policy_checks(matrix, CATALOG, spec, policy, rules=rules, outside=True)  # type: ignore[arg-type]


def explain(check: Check) -> str:
    near = "; ".join(f"{m.rule.id}: {m.why}" for m in check.decision.near[:4]) or "no rule comes close"
    expected = "allowed" if check.expect_allowed else "not allowed" + (f" ({check.limit})" if check.limit else "")
    return (
        f"{check.feature} ({check.variant}): scenario {check.scenario.name!r} [{check.scenario.source}] "
        f"{'from outside every scope ' if check.outside else ''}{check.connection.describe()}: expected {expected}, "
        f"got {summary(check)}; nearest rules: {near}"
    )


@pytest.fixture(scope="module")
def tmp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("scenarios")


@pytest.mark.parametrize("family", [4, 6], ids=["ipv4", "ipv6"])
@pytest.mark.parametrize("ports", [False, True], ids=["default-ports", "other-ports"])
@pytest.mark.parametrize("feature, variant", CASES, ids=[f"{f}-{v}" for f, v in CASES])
def test_every_scenario_holds(feature: str, variant: str, ports: bool, family: int, tmp: Path) -> None:
    checks = checks_of(isolation_matrix(feature, variant, family=family, ports=ports), tmp)
    mine = [c for c in checks if c.feature == feature]
    assert mine or family == 6, "no scenario of the feature was checked"
    failed = [explain(c) for c in checks if not c.ok]
    assert not failed, "\n".join(failed)


@pytest.mark.parametrize("feature, variant", [c for c in CASES if any(
    t.predefined for t in CATALOG.features[c[0]].variant(c[1]).rules)], ids=lambda x: str(x))
def test_scenarios_hold_with_windows_rule_ids(feature: str, variant: str, tmp: Path) -> None:
    checks = checks_of(isolation_matrix(feature, variant, predefined=True), tmp)
    assert not [explain(c) for c in checks if not c.ok]


@pytest.mark.parametrize("feature", list(CATALOG.features))
def test_every_rule_of_a_default_variant_is_needed_by_a_scenario(feature: str, tmp: Path) -> None:
    """Nothing else: a default rule no documented traffic needs would be an unexplained hole."""
    text = isolation_matrix(feature, CATALOG.features[feature].default_variant)
    checks = checks_of(text, tmp)
    _, _, rules = built(text, str(tmp))
    used = {m.rule.id for c in checks if not c.outside for m in c.decision.rules}
    assert [r.id for r in rules if r.id not in used] == []  # type: ignore[attr-defined]


def test_features_are_checked_in_every_variant() -> None:
    # The loader refuses a variant no scenario concerns; here: every case has a scenario.
    for fid, variant in CASES:
        assert CATALOG.features[fid].scenarios_of(variant), (fid, variant)


def test_a_feature_without_scenarios_is_refused(tmp_path: Path) -> None:
    for name in FILES:
        shutil.copy(CATALOG_DIR / name, tmp_path / name)
    path = tmp_path / "features.yaml"
    text = path.read_text(encoding="utf-8")
    start = text.index("  remote-control:")
    block_start = text.index("    scenarios:", start)
    block_end = text.index("\n  remote-assistance:", block_start)
    path.write_text(text[:block_start] + text[block_end + 1:], encoding="utf-8")
    with pytest.raises(InputError, match="feature 'remote-control' has no scenarios"):
        load_catalog_from(tmp_path)


# -- the fixes the scenarios exposed ------------------------------------------------------------


def _example() -> tuple[object, ...]:
    from .conftest import EXAMPLE

    catalog = CATALOG
    matrix = load_matrix(EXAMPLE, catalog)
    return matrix, resolve(matrix, catalog)


def test_event_viewer_reaches_the_event_log_service_and_outsiders_do_not() -> None:
    matrix, policyset = _example()
    policy = next(p for p in policyset.policies if p.key == "Workstations")  # type: ignore[attr-defined]
    event_log = Connection("In", 6, "10.20.0.5", local_port="RPC", program=r"C:\Windows\System32\svchost.exe", service="eventlog")
    decision = decide(event_log, policy.rules, policy.profile_settings, ENVIRONMENT)
    assert decision.allowed and [m.rule.id for m in decision.rules] == ["CMFW-Workstations-RemoteDiagnostics-EventLog-RPC-In"]
    outsider = decide(dataclasses.replace(event_log, remote_address="203.0.113.5"), policy.rules, policy.profile_settings, ENVIRONMENT)
    assert not outsider.allowed and "default inbound action is Block" in outsider.reason
    # The Servers policy keeps the seed's recipe: the literal File and Printer Sharing does not do it.
    servers = next(p for p in policyset.policies if p.key == "Servers")  # type: ignore[attr-defined]
    assert not decide(event_log, servers.rules, servers.profile_settings, ENVIRONMENT).allowed


def test_delivery_optimization_peers_on_tcp_and_udp_7680() -> None:
    _, policyset = _example()
    laptops = next(p for p in policyset.policies if p.key == "Workstations")  # type: ignore[attr-defined]
    for protocol in (6, 17):
        peer = Connection("In", protocol, "198.18.0.7", local_port=7680, program=r"%windir%\system32\svchost.exe", service="DoSvc")
        assert decide(peer, laptops.rules, laptops.profile_settings, ENVIRONMENT).allowed
        assert not decide(dataclasses.replace(peer, service="wuauserv"), laptops.rules, laptops.profile_settings, ENVIRONMENT).allowed


def test_teredo_peers_need_edge_traversal() -> None:
    _, policyset = _example()
    laptops = next(p for p in policyset.policies if p.key == "Laptops")  # type: ignore[attr-defined]
    peer = Connection("In", 6, "2001:0:4136:e378:8000:63bf:3fff:fdd2", local_port=7680,
                      program=r"%SystemRoot%\system32\svchost.exe", service="DoSvc", edge=True)
    decision = decide(peer, laptops.rules, laptops.profile_settings, ENVIRONMENT)
    assert [m.rule.id for m in decision.rules] == ["CMFW-Laptops-DeliveryOptimization-Teredo-Peer-TCP-In"]
    teredo = Connection("In", 17, "198.51.100.7", local_port="Teredo", program=r"%SystemRoot%\system32\svchost.exe", service="iphlpsvc")
    assert decide(teredo, laptops.rules, laptops.profile_settings, ENVIRONMENT).allowed
    server_port = dataclasses.replace(teredo, local_port=3544)
    assert decide(server_port, laptops.rules, laptops.profile_settings, ENVIRONMENT).verdict == "undecided"  # only if 3544 is the mapped port


def test_pxe_distribution_points_may_send() -> None:
    _, policyset = _example()
    pxe = next(p for p in policyset.policies if p.key == "PxeDPs")  # type: ignore[attr-defined]
    offer = Connection("Out", 17, "255.255.255.255", local_port=67, remote_port=68)
    # With outbound blocked by default, the DP's DHCP offer needs the send rule.
    decision = decide(offer, pxe.rules, (ProfileSetting("Domain", "DefaultOutboundAction", 1),), ENVIRONMENT)
    assert [m.rule.id for m in decision.rules] == ["CMFW-PxeDPs-PxeDistributionPoint-PXE-UDP-Out"]


def test_local_rules_make_a_scoped_gpo_rule_restrict_nothing_unless_merge_is_off() -> None:
    """Windows' own Delivery Optimization rules allow 7680 from anywhere: a GPO cannot narrow them."""
    from builder.firewall import Environment
    from builder.model import Rule

    local = tuple(
        Rule(r.id, r.name, r.direction, protocol=r.protocol, local_ports=r.local_ports, program=r.program, service=r.service)
        for r in CATALOG.local_rules
    )
    _, policyset = _example()
    workstations = next(p for p in policyset.policies if p.key == "Workstations")  # type: ignore[attr-defined]
    stranger = Connection("In", 6, "203.0.113.9", local_port=7680, program=r"%SystemRoot%\system32\svchost.exe", service="DoSvc")
    env = Environment(local_subnets=ENVIRONMENT.local_subnets, local_rules=local)
    merged = decide(stranger, workstations.rules, (), env)
    assert merged.allowed and [m.rule.id for m in merged.rules] == ["DeliveryOptimization-TCP-In"]
    merge_off = (ProfileSetting("Domain", "AllowLocalPolicyMerge", 0),)
    assert not decide(stranger, workstations.rules, merge_off, env).allowed


def test_no_icmpv6_rule_is_scoped_to_ipv4_addresses_only() -> None:
    _, policyset = _example()
    for policy in policyset.policies:  # type: ignore[attr-defined]
        for rule in policy.rules:
            if rule.protocol == 58 and rule.remote_addresses:
                assert any(":" in a or not a[:1].isdigit() for a in rule.remote_addresses), rule.id


def test_express_updates_open_nothing() -> None:
    _, policyset = _example()
    assert not [r.id for p in policyset.policies for r in p.rules if r.feature == "express-updates"]  # type: ignore[attr-defined]


# -- a planted fault fails a scenario, naming it -----------------------------------------------


def _planted(tmp: Path, feature: str, change: object) -> list[str]:
    text = isolation_matrix(feature, CATALOG.features[feature].default_variant)
    matrix, policyset, rules = built(text, str(tmp))
    [spec] = matrix.policies  # type: ignore[attr-defined]
    [policy] = policyset.policies  # type: ignore[attr-defined]
    broken = tuple(change(r) for r in rules)  # type: ignore[operator]
    broken = tuple(r for r in broken if r is not None)
    return [explain(c) for c in policy_checks(matrix, CATALOG, spec, policy, rules=broken) if not c.ok]  # type: ignore[arg-type]


def test_a_deleted_rule_fails_its_scenario(tmp: Path) -> None:
    # Rules read back from the backup carry no feature: they are found by ID.
    failed = _planted(tmp, "remote-control", lambda r: None if "-RemoteControl-" in r.id else r)
    assert failed and "scenario 'A console computer starts a remote control session'" in failed[0]
    assert "[ports: Configuration Manager console --> Client]" in failed[0]


def test_a_wrong_port_fails_its_scenario(tmp: Path) -> None:
    failed = _planted(tmp, "remote-control", lambda r: dataclasses.replace(r, local_ports=("2702",)) if "-RemoteControl-" in r.id else r)
    assert failed and "local port 2701 is not 2702" in failed[0]


def test_a_wrong_service_fails_its_scenario(tmp: Path) -> None:
    failed = _planted(tmp, "client-push", lambda r: dataclasses.replace(r, service="Schedule") if r.service == "winmgmt" else r)
    assert any("WMI on its dynamic RPC port" in f and "the service winmgmt is not Schedule" in f for f in failed), failed
