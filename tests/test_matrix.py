"""The matrix loader: every bad input gets one precise line; good input a typed Matrix."""

from pathlib import Path
from typing import Callable

import pytest

from builder.errors import InputError
from builder.matrix import derive_key, load_matrix, parse_matrix

from .conftest import EXAMPLE, MINIMAL


def errors(text: str) -> list[str]:
    with pytest.raises(InputError) as info:
        parse_matrix(text, "fw.yaml")
    return info.value.lines()


def with_policy(features: str = "[client-requests]", extra: str = "", top: str = "") -> str:
    return (
        "version: 1\ndomain: corp.contoso.com\n"
        "addresses:\n  site_servers: [10.0.0.10]\n  consoles: [10.20.0.0/24]\n"
        f"{top}"
        "policies:\n  - name: Workstations\n"
        f"    features: {features}\n{extra}"
    )


def test_the_example_loads() -> None:
    matrix = load_matrix(EXAMPLE)
    assert matrix.domain == "corp.contoso.com"
    assert [p.key for p in matrix.policies] == ["Workstations", "Laptops", "Consoles", "Servers", "Kiosks", "PxeDPs"]
    assert matrix.addresses["management_points"] == ("10.0.0.20-10.0.0.21",)
    assert len(matrix.sha256) == 64


def test_the_issue_example_loads() -> None:
    matrix = parse_matrix(
        """\
version: 1
domain: corp.contoso.com
ports: {http: 80, https: 443, client_notification: 10123, wake_up_proxy: 25536, wake_on_lan: 9,
        software_update_points: [{http: 8530}]}
addresses: {site_servers: [10.0.0.10], consoles: [10.20.0.0/24]}
policies:
  - name: ConfigMgr Clients - Workstations
    profiles: [Domain]
    features: [client-requests, client-notification, {remote-control: {from: consoles}},
               {client-push: {from: site_servers}}, wake-up-proxy]
"""
    )
    [policy] = matrix.policies
    assert [f.feature for f in policy.features] == [
        "client-requests", "client-notification", "remote-control", "client-push", "wake-up-proxy"
    ]
    assert policy.software_update_points[0].https == 8531


# -- the cases the foundation issue names -----------------------------------------------


def test_unknown_feature_suggests_the_nearest() -> None:
    assert errors(with_policy("[client-requests, remote-contorl]")) == [
        "fw.yaml:8:33: error: policies[0].features[1]: 'remote-contorl' is not a known feature "
        "(see `cmfw features`); did you mean 'remote-control'?"
    ]


def test_unknown_feature_as_a_mapping_key() -> None:
    [line] = errors(with_policy("[{remote-contorl: {from: consoles}}]"))
    assert line.startswith("fw.yaml:8:17: error: policies[0].features[0].remote-contorl: 'remote-contorl' is not a known feature")
    assert line.endswith("did you mean 'remote-control'?")


def test_misspelt_key_suggests_the_right_one() -> None:
    assert errors(with_policy(top="prots: {http: 80}\n")) == [
        "fw.yaml:6:1: error: prots: unknown key 'prots'; did you mean 'ports'?"
    ]
    assert errors(with_policy(extra="    profile: [Domain]\n")) == [
        "fw.yaml:9:5: error: policies[0].profile: unknown key 'profile'; did you mean 'profiles'?"
    ]


@pytest.mark.parametrize("port", [0, 70000])
def test_port_out_of_range(port: int) -> None:
    assert errors(with_policy(top=f"ports:\n  http: {port}\n")) == [
        f"fw.yaml:7:9: error: ports.http: {port} is not a port (1-65535)"
    ]


def test_address_set_not_defined() -> None:
    assert errors(with_policy("[{remote-control: {from: console}}]")) == [
        "fw.yaml:8:40: error: policies[0].features[0].remote-control.from: address set 'console' is not "
        "defined under `addresses`; did you mean 'consoles'?"
    ]


@pytest.mark.parametrize(
    "cidr, message",
    [
        ("10.20.0.0/33", "'10.20.0.0/33' is not a valid subnet: an IPv4 prefix is at most /32"),
        ("10.20.0.1/24", "'10.20.0.1/24' has host bits set; the subnet is 10.20.0.0/24"),
        ("10.20.0/24", "'10.20.0/24' is not a valid subnet: '10.20.0' is not an IP address"),
    ],
)
def test_bad_cidr(cidr: str, message: str) -> None:
    text = with_policy().replace("consoles: [10.20.0.0/24]", f"consoles: [10.20.1.0/24, {cidr}]")
    assert errors(text) == [f"fw.yaml:5:28: error: addresses.consoles[1]: {message}"]


def test_yaml_syntax_error() -> None:
    [line] = errors("version: 1\npolicies:\n  - name: [x\n")
    assert line.startswith("fw.yaml:4:1: error: YAML syntax error:")


def test_empty_file() -> None:
    assert errors("") == ["fw.yaml:1:1: error: the file is empty"]


def test_file_that_does_not_exist(tmp_path: Path) -> None:
    with pytest.raises(InputError) as info:
        load_matrix(tmp_path / "nope.yaml")
    assert info.value.lines() == [f"{tmp_path / 'nope.yaml'}: error: file not found"]


def test_a_directory_is_not_a_matrix(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="is a directory"):
        load_matrix(tmp_path)


# -- the software update point rule ------------------------------------------------------


def sups(entries: str) -> str:
    return with_policy("[software-updates]", top=f"ports:\n  software_update_points: {entries}\n")


def test_sup_https_is_derived() -> None:
    [policy] = parse_matrix(sups("[{http: 8530}, {http: 80}, {http: 8080, https: 8081}]")).policies
    assert [(s.http, s.https) for s in policy.software_update_points] == [(8530, 8531), (80, 443), (8080, 8081)]


def test_sup_https_that_breaks_the_rule_is_left_to_lint() -> None:
    # The matrix is well formed; the WSUS port rule is lint's CMFW106 (an error unless acknowledged).
    [policy] = parse_matrix(sups("[{http: 8530, https: 8533}]")).policies
    assert [(s.http, s.https) for s in policy.software_update_points] == [(8530, 8533)]


def test_sup_http_65535_leaves_no_https_port() -> None:
    [line] = errors(sups("[{http: 65535}]"))
    assert "HTTP port 65535 leaves no HTTPS port" in line


# -- more meaning checks ---------------------------------------------------------------


def test_every_problem_is_reported_at_once() -> None:
    lines = errors(with_policy("[remote-contorl, client-pushh]", top="ports: {http: 0, https: 70000}\n"))
    assert len(lines) == 4
    assert [line.split(": error: ")[0] for line in lines] == ["fw.yaml:6:15", "fw.yaml:6:25", "fw.yaml:9:16", "fw.yaml:9:32"]


def test_meaning_errors_are_all_listed_too() -> None:
    lines = errors(with_policy("[{remote-control: {from: nowhere}}, {client-push: {variant: minimall}}]",
                               top="ports: {http: 8080, http_alternate: 8080}\n"))
    assert len(lines) == 3
    assert "http_alternate 8080 is the same port as http" in lines[0]
    assert "address set 'nowhere' is not defined" in lines[1]
    assert "'client-push' has no variant 'minimall'; did you mean 'minimal'?" in lines[2]


def test_duplicate_feature_and_policy_names() -> None:
    text = with_policy("[client-requests, client-requests]") + "  - name: WORKSTATIONS\n    features: [client-requests]\n"
    lines = errors(text)
    assert any("feature 'client-requests' is listed twice (first as features[0])" in line for line in lines)
    assert any("policy name 'WORKSTATIONS' is already used by policies[0] (GPO names are case-insensitive)" in line for line in lines)


def test_derived_ids_that_collide_ask_for_an_id() -> None:
    text = with_policy() + "  - name: Work-Stations!\n    features: [client-requests]\n"
    [line] = errors(text)
    assert "policy id 'WorkStations' is already used by policies[0]; give one of them another `id:`" in line


def test_policy_without_anything() -> None:
    [line] = errors(with_policy("[]"))
    assert line.endswith("policies[0]: the policy has no features, custom rules or profile settings")


def test_exclude_and_options_that_cannot_apply() -> None:
    lines = errors(with_policy("[{client-push: {exclude: [FPS-SMB-Inn]}}, {client-requests: {from: consoles}}]"))
    assert "'client-push' (minimal) has no rule 'FPS-SMB-Inn'; did you mean 'FPS-SMB-In'?" in lines[0]
    assert "`from` has no effect: 'client-requests' has no inbound rules (use `to` for outbound)" in lines[1]


def test_address_set_entries_any_is_not_an_address() -> None:
    [line] = errors(with_policy().replace("consoles: [10.20.0.0/24]", "consoles: [any]"))
    assert "'any' cannot be part of a set; write `from: any` on the feature instead" in line


@pytest.mark.parametrize(
    "name, fragment",
    [
        ("'Bad\\nName'", "contains a line break at position 4"),
        ("'Nil\\0'", "contains a NUL character"),
        ("'  padded'", "starts or ends with white space"),
        ("'trojan\\u202Ename'", "bidirectional control U+202E"),
    ],
)
def test_hostile_policy_names_are_refused(name: str, fragment: str) -> None:
    text = with_policy().replace("- name: Workstations", f'- name: "{name[1:-1]}"')
    [line] = errors(text)
    assert fragment in line and "policies[0].name" in line


def test_quotes_and_non_ascii_names_are_fine() -> None:
    text = with_policy().replace("- name: Workstations", "- name: \"O'Brien’s $(x) `y`; Remove-Item – Zürich\"\n    id: Zurich")
    [policy] = parse_matrix(text).policies
    assert policy.name == "O'Brien’s $(x) `y`; Remove-Item – Zürich"


CUSTOM = """\
    custom_rules:
      - id: Agent
        name: {name}
        direction: In
        protocol: TCP
        local_ports: [8080]
        from: consoles
"""


@pytest.mark.parametrize(
    "name, fragment",
    [('"a|b"', "contains '|' at position 2; firewall rule strings cannot carry it"),
     ('"a\\nb"', "contains a line break"),
     ('"a\\0b"', "contains a NUL character")],
)
def test_custom_rule_names_that_rule_strings_cannot_carry(name: str, fragment: str) -> None:
    [line] = errors(with_policy(extra=CUSTOM.format(name=name)))
    assert "policies[0].custom_rules[0].name" in line and fragment in line


def test_custom_rule_protocol_checks() -> None:
    text = with_policy(extra=CUSTOM.format(name="Agent").replace("protocol: TCP", "protocol: ICMPv4"))
    assert any("ports need protocol TCP or UDP" in line for line in errors(text))
    text = with_policy(extra=CUSTOM.format(name="Agent").replace("from: consoles", "to: consoles"))
    assert any("an inbound rule takes `from`, not `to`" in line for line in errors(text))


def test_inbound_custom_rule_must_say_who_may_connect() -> None:
    text = with_policy(extra=CUSTOM.format(name="Agent").replace("        from: consoles\n", ""))
    [line] = errors(text)
    assert line.endswith("policies[0].custom_rules[0]: an inbound rule needs `from:` (address set names, or `any`)")
    text = with_policy(extra=CUSTOM.format(name="Agent").replace("from: consoles", "from: any"))
    assert parse_matrix(text).policies[0].custom_rules[0].remote_sets == ("any",)


def test_derive_key() -> None:
    assert derive_key("ConfigMgr Clients - Workstations") == "ConfigMgrClientsWorkstations"
    assert derive_key("Zürich laptops") == "ZurichLaptops"
    assert derive_key("2nd floor") == "NdFloor"
    assert derive_key("東京") == ""


def test_minimal_fixture_is_valid(write: Callable[..., Path]) -> None:
    assert load_matrix(write(MINIMAL)).policies[0].key == "Workstations"
