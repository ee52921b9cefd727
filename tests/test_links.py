"""GPO links in the matrix, distinguished names, and names that become folders."""

from __future__ import annotations

from pathlib import Path
import pytest
import yaml
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from builder.cli import cli
from builder.dn import DnError, format_dn, parse_dn
from builder.errors import InputError, OutputError
from builder.freetext import text_problem
from builder.matrix import parse_matrix
from builder.model import GpoLink
from builder.writer import write_tree

from .conftest import MINIMAL, ROOT


def with_links(links: str) -> str:
    return MINIMAL.replace("features: [client-requests, remote-control]", f"features: [client-requests, remote-control]\n    links: {links}")


def errors(text: str) -> list[str]:
    with pytest.raises(InputError) as info:
        parse_matrix(text, "fw.yaml")
    return info.value.lines()


def test_links_are_parsed_and_made_canonical() -> None:
    [policy] = parse_matrix(
        with_links("['ou=Clients\\, Berlin , DC=Corp,dc=contoso,DC=com', {target: 'DC=corp,DC=contoso,DC=com', order: 2, enforced: true, enabled: false}]")
    ).policies
    assert policy.links == (
        GpoLink("OU=Clients\\, Berlin,DC=corp,DC=contoso,DC=com"),
        GpoLink("DC=corp,DC=contoso,DC=com", order=2, enforced=True, enabled=False),
    )


@pytest.mark.parametrize(
    "links, message",
    [
        ("['OU=Clients,DC=fabrikam,DC=com']", "'OU=Clients,DC=fabrikam,DC=com' is not in the domain DC=corp,DC=contoso,DC=com"),
        ("['CN=Computers,DC=corp,DC=contoso,DC=com']", "a GPO links to the domain or to OUs (OU=...), not to CN= containers"),
        ("['OU=a;b,DC=corp,DC=contoso,DC=com']", "not a distinguished name: component 1: ';' must be escaped with a backslash"),
        ("['OU=a+CN=b,DC=corp,DC=contoso,DC=com']", "multi-valued names ('+') are not supported"),
        ("['OU=A,DC=corp,DC=contoso,DC=com', 'ou=a,dc=CORP,dc=contoso,dc=com']", "links[0] already links OU=a,DC=corp,DC=contoso,DC=com"),
        ("[{target: 'OU=A,DC=corp,DC=contoso,DC=com', order: 0}]", "links[0].order"),
        ("['CN=Site1,CN=Sites,CN=Configuration,DC=corp,DC=contoso,DC=com']", "not to CN= containers"),
        ("[42]", "links[0]: must be text or a mapping, not a whole number"),
        ("[{target: 'OU=A,DC=corp,DC=contoso,DC=com', enforce: true}]", "links[0].enforce: unknown key 'enforce'; did you mean 'enforced'?"),
        ("['Workstations']", "not a distinguished name: component 1 has no '=' (expected TYPE=value)"),
        # Checked after decoding: hex escapes that are a line break or a bidi override.
        ("['OU=Evil\\0ALine,DC=corp,DC=contoso,DC=com']", "component 1: the value contains a line break at position 5; use one line"),
        ("['OU=Evil\\E2\\80\\AEtxt,DC=corp,DC=contoso,DC=com']", "component 1: the value contains the bidirectional control U+202E"),
        ("['OU=Evil\\00,DC=corp,DC=contoso,DC=com']", "component 1: the value contains a NUL character"),
        ("['OU=Tab\\09x,DC=corp,DC=contoso,DC=com']", "component 1: the value contains the control character U+0009"),
    ],
)
def test_bad_links(links: str, message: str) -> None:
    [line] = errors(with_links(links))
    assert message in line and line.startswith("fw.yaml:9:")


@pytest.mark.parametrize("key", ["Con", "nul", "COM1", "Lpt9", "Aux", "PRN"])
def test_policy_ids_that_windows_reserves_are_refused(key: str) -> None:
    [line] = errors(MINIMAL.replace("- name: Workstations", f"- name: Workstations\n    id: {key}"))
    assert f"policy id {key!r} is a reserved device name on Windows and cannot name a folder" in line


def test_a_derived_reserved_id_is_refused_at_the_name() -> None:
    [line] = errors(MINIMAL.replace("- name: Workstations", "- name: aux"))
    assert "policies[0].name: policy id 'Aux' is a reserved device name" in line


def test_paths_differing_only_in_case_are_refused(tmp_path: Path) -> None:
    with pytest.raises(OutputError, match="refusing to write both 'dsc/A/x' and 'dsc/a/x'"):
        write_tree(tmp_path / "out", {"dsc/A/x": b"1", "dsc/a/x": b"2"})
    assert not (tmp_path / "out").exists()


values = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), min_size=1, max_size=30).filter(
    lambda v: v.strip(" ") == v and text_problem(v) is None
)


@given(st.lists(st.tuples(st.sampled_from(["OU", "DC", "CN"]), values), min_size=1, max_size=5))
def test_dn_escape_and_parse_round_trip(rdns: list[tuple[str, str]]) -> None:
    assert parse_dn(format_dn(tuple(rdns))) == tuple(rdns)


@given(st.text(max_size=60))
def test_parse_dn_fails_only_with_its_own_error(text: str) -> None:
    try:
        parse_dn(text)
    except DnError:
        pass


def test_pre_commit_hooks_run_cmfw(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, runner: CliRunner) -> None:
    hooks = {h["id"]: h for h in yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())}
    assert set(hooks) == {"cmfw-build-check", "cmfw-validate"}
    check, validate = hooks["cmfw-build-check"], hooks["cmfw-validate"]
    assert check["language"] == "python" and check["pass_filenames"] is False
    # What pre-commit runs: entry + args, here without the leading `cmfw`.
    check_command = check["entry"].split()[1:] + check["args"]
    validate_command = validate["entry"].split()[1:] + validate["args"]
    (tmp_path / "firewall.yaml").write_text(MINIMAL)
    monkeypatch.chdir(tmp_path)
    assert runner.invoke(cli, check_command).exit_code == 1  # nothing built yet: stale
    assert runner.invoke(cli, ["build", "firewall.yaml", "-o", "output"]).exit_code == 0
    assert runner.invoke(cli, check_command).exit_code == 0
    assert runner.invoke(cli, validate_command).exit_code == 0
    (tmp_path / "firewall.yaml").write_text(MINIMAL.replace("10.0.0.10", "10.0.0.11"))
    assert runner.invoke(cli, check_command).exit_code == 1
    (tmp_path / "firewall.yaml").write_text("version: 1\n")
    assert runner.invoke(cli, validate_command).exit_code == 2
