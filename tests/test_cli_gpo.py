"""`cmfw check`, `cmfw inspect` and `build --timestamp` through the command line."""

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from builder.cli import cli

from .conftest import EXAMPLE


def run(runner: CliRunner, *args: object):
    return runner.invoke(cli, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture
def out(runner: CliRunner, tmp_path: Path) -> Path:
    target = tmp_path / "out"
    assert run(runner, "build", EXAMPLE, "-o", target).exit_code == 0
    return target


def test_check_ok_and_broken(runner: CliRunner, out: Path) -> None:
    result = run(runner, "check", out)
    assert result.exit_code == 0 and result.output == f"{out}: build, 81 files checked: ok\n"
    pol = next(out.rglob("registry.pol"))
    pol.write_bytes(b"XReg" + pol.read_bytes()[4:])
    result = run(runner, "check", out)
    assert result.exit_code == 1
    errors = result.stderr.splitlines()
    assert any(line.endswith("registry.pol: error: byte offset 0 (0x0): signature is b'XReg', not b'PReg'") for line in errors)
    assert result.stdout.endswith("2 problems\n")
    doc = json.loads(run(runner, "check", out, "--format", "json").stdout)
    assert doc["ok"] is False and doc["kind"] == "build" and len(doc["problems"]) == 2


def test_check_of_something_that_is_no_gpo(runner: CliRunner, tmp_path: Path) -> None:
    result = run(runner, "check", tmp_path / "missing")
    assert result.exit_code == 2 and result.stderr.count("\n") == 1 and "not found" in result.stderr


def test_inspect_text_and_json(runner: CliRunner, out: Path) -> None:
    result = run(runner, "inspect", out)
    assert result.exit_code == 0
    assert "CMFW-Workstations-RemoteControl-TCP-In" in result.output and "ConfigMgr Clients - Workstations" in result.output
    doc = json.loads(run(runner, "inspect", out, "--format", "json").stdout)
    assert doc["format"] == "cmfw-inspect/1"
    assert sum(len(g["rules"]) for g in doc["gpos"]) == 123
    [rc] = [r for g in doc["gpos"] for r in g["rules"] if r["id"] == "CMFW-Workstations-RemoteControl-TCP-In"]
    assert (rc["local_ports"], rc["version"], rc["remote_addresses"]) == (["2701"], "2.10", ["10.20.0.0/24", "2001:db8:20::/64"])


def test_inspect_a_broken_policy_file(runner: CliRunner, tmp_path: Path) -> None:
    bad = tmp_path / "registry.pol"
    bad.write_bytes(b"PReg\x01\x00\x00\x00[\x00")
    result = run(runner, "inspect", bad)
    assert result.exit_code == 2
    assert result.stderr == f"{bad}: error: byte offset 10 (0xA): key has no UTF-16 NUL terminator\n"


def test_inspect_reports_unreadable_rules_after_the_rest(runner: CliRunner, tmp_path: Path) -> None:
    from builder.registry.registrypol import Entry, encode

    key = r"SOFTWARE\Policies\Microsoft\WindowsFirewall\FirewallRules"
    pol = tmp_path / "registry.pol"
    pol.write_bytes(encode([Entry.sz(key, "Good", "v2.10|Action=Allow|Active=TRUE|Dir=In|Name=ok|"), Entry.sz(key, "Bad", "v2.10|Dir=Up|")]))
    result = run(runner, "inspect", pol)
    assert result.exit_code == 2
    assert "Good" in result.stdout
    assert result.stderr == f"{pol}: error: rule Bad: Dir=Up: expected one of In, Out\n"


def test_build_timestamp(runner: CliRunner, tmp_path: Path) -> None:
    result = run(runner, "build", EXAMPLE, "-o", tmp_path / "t", "--timestamp", "2026-11-26T09:30:00Z")
    assert result.exit_code == 0
    assert b"<![CDATA[2026-11-26T09:30:00]]>" in (tmp_path / "t" / "gpo" / "manifest.xml").read_bytes()
    result = run(runner, "build", EXAMPLE, "-o", tmp_path / "u", "--timestamp", "soon")
    assert result.exit_code == 2 and "--timestamp: error: 'soon' is not a timestamp" in result.stderr
    assert not (tmp_path / "u").exists()
