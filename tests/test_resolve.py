"""Matrix × catalog → rules: ports, scopes, profiles, implied features, IDs, GUIDs."""

import pytest

from builder.errors import InputError
from builder.matrix import parse_matrix
from builder.model import Rule
from builder.catalog import load_catalog
from builder.identifiers import gpo_guid
from builder.resolve import resolve

from .conftest import EXAMPLE

HEAD = """\
version: 1
domain: corp.contoso.com
addresses:
  site_servers: [10.0.0.10, 10.0.0.11]
  consoles: [10.20.0.0/24]
  helpdesk: [10.21.0.0/24]
  management_points: [10.0.0.20]
"""


def rules(body: str, head: str = HEAD) -> dict[str, Rule]:
    policyset = resolve(parse_matrix(head + body, "fw.yaml"))
    [policy] = policyset.policies
    return {r.id: r for r in policy.rules}


def policy(features: str, extra: str = "", ports: str = "") -> str:
    return (f"ports:\n{ports}" if ports else "") + f"policies:\n  - name: Workstations\n    features: {features}\n{extra}"


def test_remote_control_is_inbound_tcp_2701_from_the_consoles() -> None:
    [rule] = rules(policy("[remote-control]")).values()
    assert rule.id == "CMFW-Workstations-RemoteControl-TCP-In"
    assert (rule.direction, rule.protocol_name, rule.local_ports) == ("In", "TCP", ("2701",))
    assert rule.remote_addresses == ("10.20.0.0/24",)  # the `consoles` role, found by name
    assert rule.profiles == ("Domain",)
    assert rule.source == "seed: Remote Control"
    assert rule.feature == "remote-control"
    assert rule.enabled and rule.action == "Allow"


def test_from_overrides_the_role_and_any_removes_the_scope() -> None:
    [rule] = rules(policy("[{remote-control: {from: [helpdesk, consoles]}}]")).values()
    assert rule.remote_addresses == ("10.20.0.0/24", "10.21.0.0/24")
    [rule] = rules(policy("[{remote-control: {from: any}}]")).values()
    assert rule.remote_addresses == ()


def test_inbound_role_that_is_not_defined_is_an_error_at_the_feature() -> None:
    head = HEAD.replace("  consoles: [10.20.0.0/24]\n", "")
    with pytest.raises(InputError) as info:
        rules(policy("[client-requests, remote-control]"), head)
    assert info.value.lines() == [
        "fw.yaml:9:33: error: policies[0].features[1]: remote-control: rule TCP-In needs to know who may "
        "connect: define `addresses.consoles` (Computers that run the ConfigMgr console (remote control, "
        "assistance, diagnostics)) or set `from:` on the feature"
    ]


def test_outbound_roles_are_optional() -> None:
    got = rules(policy("[client-requests, software-updates]"))
    assert got["CMFW-Workstations-ClientRequests-HTTP-Out"].remote_addresses == ("10.0.0.20",)
    assert got["CMFW-Workstations-SoftwareUpdates-HTTP-Out"].remote_addresses == ()  # no software_update_points set


def test_software_update_point_ports() -> None:
    got = rules(policy("[software-updates]", ports="  software_update_points: [{http: 8530}, {http: 80}]\n"))
    assert got["CMFW-Workstations-SoftwareUpdates-HTTP-Out"].remote_ports == ("80", "8530")
    assert got["CMFW-Workstations-SoftwareUpdates-HTTPS-Out"].remote_ports == ("443", "8531")
    default = rules(policy("[software-updates]"))
    assert default["CMFW-Workstations-SoftwareUpdates-HTTPS-Out"].remote_ports == ("8531",)


def test_alternate_ports_are_added_and_unset_ones_dropped() -> None:
    got = rules(policy("[client-requests]", ports="  http_alternate: 8080\n"))
    assert got["CMFW-Workstations-ClientRequests-HTTP-Out"].remote_ports == ("80", "8080")
    assert got["CMFW-Workstations-ClientRequests-HTTPS-Out"].remote_ports == ("443",)


def test_derived_defaults_follow_the_port_they_derive_from() -> None:
    got = rules(policy("[fallback-status-point]", ports="  http: 8081\n"))
    assert got["CMFW-Workstations-FallbackStatusPoint-HTTP-Out"].remote_ports == ("8081",)


def test_client_notification_brings_client_requests_once() -> None:
    policyset = resolve(parse_matrix(HEAD + policy("[client-notification]"), "fw.yaml"))
    [p] = policyset.policies
    assert [(f.id, f.implied_by) for f in p.features] == [
        ("client-notification", None), ("client-requests", "client-notification")
    ]
    assert {r.feature for r in p.rules} == {"client-notification", "client-requests"}
    assert [r.id for r in p.rules if r.remote_ports == ("10123",)] == ["CMFW-Workstations-ClientNotification-TCP-Out"]
    both = resolve(parse_matrix(HEAD + policy("[client-requests, client-notification]"), "fw.yaml"))
    assert [(f.id, f.implied_by) for f in both.policies[0].features] == [
        ("client-requests", None), ("client-notification", None)
    ]


def test_outbound_rules_switch() -> None:
    got = rules(policy("[wake-up-proxy]", extra="    outbound_rules: false\n"))
    assert {r.direction for r in got.values()} == {"In"}
    assert set(got) == {"CMFW-Workstations-WakeUpProxy-Proxy-UDP-In", "CMFW-Workstations-WakeUpProxy-Echo-ICMPv4-In"}


def test_profiles_precedence() -> None:
    got = rules(policy("[cloud-management-gateway, {remote-control: {profiles: [Domain, Private]}}]",
                       extra="    profiles: [Domain, Public]\n"))
    assert got["CMFW-Workstations-CloudManagementGateway-HTTPS-Out"].profiles == ("Domain", "Private", "Public")
    assert got["CMFW-Workstations-RemoteControl-TCP-In"].profiles == ("Domain", "Private")


def test_variants_and_exclude() -> None:
    got = rules(policy("[{client-push: {variant: seed, exclude: [FPS-SpoolSvc-In, FPS-LLMNR-Out]}}]"))
    assert "CMFW-Workstations-ClientPush-FPS-SMB-Out" in got
    assert "CMFW-Workstations-ClientPush-FPS-SpoolSvc-In" not in got
    assert "CMFW-Workstations-ClientPush-FPS-LLMNR-Out" not in got
    udp = got["CMFW-Workstations-ClientPush-RPC-EPMap-UDP-In"]
    assert (udp.protocol_name, udp.local_ports, udp.remote_addresses) == ("UDP", ("135",), ("10.0.0.10", "10.0.0.11"))


def test_per_policy_ports_override_the_top_level() -> None:
    text = (
        "ports:\n  wake_up_proxy: 25540\npolicies:\n"
        "  - name: A\n    features: [wake-up-proxy]\n"
        "  - name: B\n    ports: {wake_up_proxy: 25541}\n    features: [wake-up-proxy]\n"
    )
    policyset = resolve(parse_matrix(HEAD + text, "fw.yaml"))
    ports = {p.key: {r.local_ports for r in p.rules if r.id.endswith("Proxy-UDP-In")} for p in policyset.policies}
    assert ports == {"A": {("25540",)}, "B": {("25541",)}}


def test_custom_rules() -> None:
    extra = (
        "    custom_rules:\n"
        "      - {id: Agent, name: Agent (TCP-In), direction: In, protocol: TCP, local_ports: [8080, '9000-9010'], from: consoles}\n"
        "      - {id: Ping, name: Ping out, direction: Out, protocol: ICMPv4, icmp_types: [8], action: Block, enabled: false}\n"
    )
    got = rules(policy("[]", extra=extra))
    agent = got["CMFW-Workstations-Custom-Agent-In"]
    assert agent.local_ports == ("8080", "9000-9010") and agent.remote_addresses == ("10.20.0.0/24",)
    assert agent.source == "matrix: policies[0].custom_rules[0]"
    ping = got["CMFW-Workstations-Custom-Ping-Out"]
    assert (ping.icmp_types, ping.action, ping.enabled) == (("8:*",), "Block", False)


def test_rule_ids_are_unique_and_stable_across_the_example() -> None:
    from builder.matrix import load_matrix

    first = resolve(load_matrix(EXAMPLE))
    second = resolve(load_matrix(EXAMPLE))
    assert first == second
    for p in first.policies:
        ids = [r.id.casefold() for r in p.rules]
        assert len(ids) == len(set(ids))
        if p.key == "Kiosks":  # rule_ids: predefined
            windows = {w.id for f in load_catalog().features.values() for v in f.variants.values()
                       for t in v.rules if t.predefined for w in t.predefined.windows_rules}
            assert all(r.id.startswith("CMFW-Kiosks-") or r.id in windows for r in p.rules)
            assert any(r.id in windows for r in p.rules)
        else:
            assert all(r.id.startswith(f"CMFW-{p.key}-") for r in p.rules)
        assert [r.id for r in p.rules] == sorted((r.id for r in p.rules), key=str.casefold)


def test_gpo_guids() -> None:
    guid = gpo_guid("corp.contoso.com", "Workstations")
    assert guid == "{B3606D8A-432C-581D-BB73-070A108F4806}"  # frozen: changing it changes every backup's GPO GUID
    assert gpo_guid("CORP.contoso.com", "WORKSTATIONS") == guid
    assert gpo_guid("corp.fabrikam.com", "Workstations") != guid


def test_software_update_points_with_servers_get_rules_of_their_own() -> None:
    head = HEAD + "  software_update_points: [10.0.0.30]\n  dmz_sup: [192.0.2.30]\n"
    ports = "  software_update_points:\n    - {http: 8530}\n    - {http: 80, servers: dmz_sup}\n"
    found = rules(policy("[software-updates]", ports=ports), head)
    assert sorted(found) == [
        "CMFW-Workstations-SoftwareUpdates-HTTP-Out", "CMFW-Workstations-SoftwareUpdates-HTTP-SUP2-Out",
        "CMFW-Workstations-SoftwareUpdates-HTTPS-Out", "CMFW-Workstations-SoftwareUpdates-HTTPS-SUP2-Out",
    ]
    shared, own = found["CMFW-Workstations-SoftwareUpdates-HTTP-Out"], found["CMFW-Workstations-SoftwareUpdates-HTTP-SUP2-Out"]
    assert (shared.remote_ports, shared.remote_addresses) == (("8530",), ("10.0.0.30",))
    assert (own.remote_ports, own.remote_addresses) == (("80",), ("192.0.2.30",))
    assert found["CMFW-Workstations-SoftwareUpdates-HTTPS-SUP2-Out"].remote_ports == ("443",)
    # Without `servers`, one rule pair carries every port to the role's set, as before.
    plain = rules(policy("[software-updates]", ports="  software_update_points: [{http: 8530}, {http: 80}]\n"), head)
    assert plain["CMFW-Workstations-SoftwareUpdates-HTTP-Out"].remote_ports == ("80", "8530")


def test_software_update_point_servers_must_be_address_sets() -> None:
    with pytest.raises(InputError) as info:
        rules(policy("[software-updates]", ports="  software_update_points: [{http: 80, servers: any}]\n"))
    assert "a software update point has addresses" in str(info.value)
    with pytest.raises(InputError, match="address set 'nowhere' is not defined"):
        rules(policy("[software-updates]", ports="  software_update_points: [{http: 80, servers: nowhere}]\n"))


def test_sms_providers_fall_back_to_the_site_servers() -> None:
    [statview] = rules(policy("[console-queries]")).values()
    assert statview.remote_addresses == ("10.0.0.10", "10.0.0.11")
    [own] = rules(policy("[console-queries]"), HEAD + "  sms_providers: [10.0.0.12]\n").values()
    assert own.remote_addresses == ("10.0.0.12",)


def test_manual_installation_reaches_file_servers_and_management_points() -> None:
    [smb] = [r for r in rules(policy("[client-install-manual]"), HEAD + "  file_servers: [10.0.2.0/24]\n").values() if "Source" in r.id]
    assert smb.remote_addresses == ("10.0.0.20", "10.0.2.0/24")
    [only_mp] = [r for r in rules(policy("[client-install-manual]")).values() if "Source" in r.id]
    assert only_mp.remote_addresses == ("10.0.0.20",)  # file_servers undefined: the defined role alone


def test_an_icmp_rule_whose_scope_has_no_address_of_its_family() -> None:
    # Catalog rules that could never match are left out...
    seed = rules(policy("[{client-push: {variant: seed}}]"))
    assert not [r for r in seed if "ICMP6" in r] and [r for r in seed if "ICMP4" in r]
    # ...a custom rule like that is refused at its position.
    custom = "    custom_rules:\n      - {id: Ping6, name: Ping6, direction: In, protocol: ICMPv6, icmp_types: [128], from: consoles}\n"
    with pytest.raises(InputError) as info:
        rules(policy("[remote-control]", custom))
    [line] = info.value.lines()
    assert "custom_rules[0].from: an ICMPv6 rule can only match IPv6 addresses, and these sets hold none" in line
