"""``cmfw query``: the same answer from every source kind, clear errors, scenarios."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from builder.build import build
from builder.cli import cli

from .conftest import EXAMPLE

REMOTE_CONTROL = ["--in", "tcp/2701", "--from", "10.20.0.5"]


@pytest.fixture(scope="module")
def out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("query") / "out"
    build(EXAMPLE, target)
    return target


def sources(out: Path) -> dict[str, tuple[Path, list[str]]]:
    """Every kind of source holding the Workstations policy, with what selects it."""
    backup = next(p for p in (out / "gpo").iterdir() if p.is_dir() and "ConfigMgr Clients - Workstations" in (p / "Backup.xml").read_text())
    pol = backup / "DomainSysvol" / "GPO" / "Machine" / "registry.pol"
    return {
        "matrix": (EXAMPLE, ["--policy", "Workstations"]),
        "build": (out, ["--policy", "workstations"]),
        "backup-root": (out / "gpo", ["--policy", "ConfigMgr Clients - Workstations"]),
        "backup": (backup, []),
        "registry.pol": (pol, []),
        "lgpo-text": (out / "lgpo" / "Workstations.txt", []),
        "mof": (out / "dsc" / "Workstations" / "localhost.mof", []),
    }


def run(runner: CliRunner, *args: object) -> object:
    return runner.invoke(cli, [str(a) for a in args])


@pytest.mark.parametrize("kind", ["matrix", "build", "backup-root", "backup", "registry.pol", "lgpo-text", "mof"])
def test_every_source_kind_gives_the_same_answer(kind: str, out: Path, runner: CliRunner) -> None:
    path, select = sources(out)[kind]
    allowed = run(runner, "query", path, *select, *REMOTE_CONTROL, "--format", "json")
    assert allowed.exit_code == 0, allowed.output
    doc = json.loads(allowed.stdout)
    assert doc["format"] == "cmfw-query/1" and doc["verdict"] == "allowed"
    assert [r["id"] for r in doc["rules"]] == ["CMFW-Workstations-RemoteControl-TCP-In"]
    refused = run(runner, "query", path, *select, "--in", "tcp/2701", "--from", "10.99.0.5")
    assert refused.exit_code == 1
    assert refused.stdout.splitlines()[1] == "  no rule matches; the Domain profile's default inbound action is Block"
    assert "near: CMFW-Workstations-RemoteControl-TCP-In: remote address 10.99.0.5 is not in" in refused.stdout


def test_a_matrix_and_its_build_name_the_feature_and_the_section(out: Path, runner: CliRunner) -> None:
    for source in (EXAMPLE, out):
        result = run(runner, "query", source, "--policy", "Workstations", *REMOTE_CONTROL)
        assert result.stdout.splitlines() == [
            "allowed: In TCP 2701 from 10.20.0.5 on Domain",
            "  by CMFW-Workstations-RemoteControl-TCP-In (remote-control, seed: Remote Control)",
        ]


def test_the_three_cases_of_the_review(runner: CliRunner) -> None:
    svchost = r"C:\Windows\System32\svchost.exe"
    event_viewer = run(runner, "query", EXAMPLE, "--policy", "Workstations", "--in", "tcp/RPC", "--from", "10.20.0.5",
                       "--program", svchost, "--service", "eventlog")
    assert event_viewer.exit_code == 0 and "RemoteDiagnostics-EventLog-RPC-In" in event_viewer.stdout
    do_udp = run(runner, "query", EXAMPLE, "--policy", "Workstations", "--in", "udp/7680", "--from", "192.168.1.9",
                 "--local-subnet", "192.168.1.0/24", "--program", svchost, "--service", "DoSvc")
    assert do_udp.exit_code == 0 and "DeliveryOptimization-Peer-UDP-In" in do_udp.stdout
    pxe = run(runner, "query", EXAMPLE, "--policy", "PxeDPs", "--out", "udp/68", "--local-port", "67", "--to", "255.255.255.255")
    assert pxe.exit_code == 0 and "PxeDistributionPoint-PXE-UDP-Out" in pxe.stdout
    # From outside every scope, none of them gets through.
    outsider = run(runner, "query", EXAMPLE, "--policy", "Workstations", "--in", "tcp/RPC", "--from", "203.0.113.7",
                   "--program", svchost, "--service", "eventlog")
    assert outsider.exit_code == 1


def test_windows_defaults_show_why_scoping_delivery_optimization_restricts_nothing(runner: CliRunner) -> None:
    args = ["query", EXAMPLE, "--policy", "Workstations", "--in", "tcp/7680", "--from", "203.0.113.7", "--local-subnet",
            "192.168.1.0/24", "--program", r"C:\Windows\System32\svchost.exe", "--service", "DoSvc"]
    assert run(runner, *args).exit_code == 1
    merged = run(runner, *args, "--windows-defaults")
    assert merged.exit_code == 0 and "by DeliveryOptimization-TCP-In (local store)" in merged.stdout


def test_an_answer_that_depends_on_a_missing_fact_says_which(runner: CliRunner) -> None:
    result = run(runner, "query", EXAMPLE, "--policy", "Workstations", "--in", "tcp/7680", "--from", "192.168.1.9",
                 "--program", r"C:\Windows\System32\svchost.exe", "--service", "DoSvc")
    assert result.exit_code == 2
    assert "to decide, give: --local-subnet CIDR" in result.stdout
    assert result.stderr == "cmfw: error: the answer depends on what was not given (see 'unknown' above)\n"


@pytest.mark.parametrize(
    "args, message",
    [
        (["--in", "tcp/2701", "--from", "console01.corp"], "'console01.corp': not an IP address (Windows rules match addresses, not names)"),
        (["--in", "tcp/70000", "--from", "10.0.0.1"], "'tcp/70000': '70000' is not a port (1-65535) or a port keyword"),
        (["--in", "sctp/1", "--from", "10.0.0.1"], "is not a protocol"),
        (["--in", "icmpv4/x", "--from", "10.0.0.1"], "an ICMP type is written icmpv4/TYPE"),
        (["--in", "tcp/1", "--from", "10.0.0.1", "--profile", "Home"], "'Home': not a profile (Domain, Private, Public)"),
        (["--in", "tcp/1", "--from", "10.0.0.1", "--local-subnet", "10.0.0.0/33"], "'10.0.0.0/33': not a subnet"),
    ],
)
def test_bad_values_get_one_line_and_exit_2(args: list[str], message: str, runner: CliRunner) -> None:
    result = run(runner, "query", EXAMPLE, "--policy", "Workstations", *args)
    assert result.exit_code == 2 and message in result.stderr
    assert len(result.stderr.splitlines()) == 1 and result.stdout == ""


@pytest.mark.parametrize(
    "args, message",
    [
        (["--policy", "Workstatoins", *REMOTE_CONTROL], "has no policy 'Workstatoins'; did you mean 'Workstations'?"),
        ([*REMOTE_CONTROL], "holds 6 policies; choose with --policy (Consoles, Kiosks, Laptops, PxeDPs, Servers, Workstations)"),
        (["--policy", "Workstations", "--in", "tcp/1", "--out", "tcp/1", "--from", "10.0.0.1"], "give one connection"),
        (["--policy", "Workstations", "--in", "tcp/1", "--to", "10.0.0.1"], "--from goes with --in"),
        (["--policy", "Workstations", "--in", "tcp/1"], "--from ADDRESS is required"),
    ],
)
def test_bad_policies_and_directions(args: list[str], message: str, runner: CliRunner) -> None:
    result = run(runner, "query", EXAMPLE, *args)
    assert result.exit_code == 2 and message in result.stderr


def test_scenarios_of_a_matrix_and_its_build(out: Path, runner: CliRunner) -> None:
    texts = []
    for source in (EXAMPLE, out):
        result = run(runner, "query", source, "--scenarios", "--policy", "Consoles")
        assert result.exit_code == 0, result.output
        texts.append(result.stdout)
    assert texts[0] == texts[1]
    assert "  ok   remote-control (default): A console computer starts a remote control session" in texts[0]
    doc = json.loads(run(runner, "query", EXAMPLE, "--scenarios", "--format", "json").stdout)
    assert doc["format"] == "cmfw-scenarios/1" and len(doc["policies"]) == 6
    assert all(s["ok"] for p in doc["policies"] for s in p["scenarios"])


def test_scenarios_need_the_matrix(out: Path, runner: CliRunner) -> None:
    result = run(runner, "query", out / "gpo", "--scenarios")
    assert result.exit_code == 2 and "scenarios need the matrix" in result.stderr


def test_scenarios_of_a_build_whose_matrix_changed_are_refused(tmp_path: Path, runner: CliRunner) -> None:
    matrix = tmp_path / "m.yaml"
    matrix.write_text(EXAMPLE.read_text(encoding="utf-8"), encoding="utf-8")
    build(matrix, tmp_path / "out")
    matrix.write_text(matrix.read_text(encoding="utf-8") + "# edited\n", encoding="utf-8")
    result = run(runner, "query", tmp_path / "out", "--scenarios")
    assert result.exit_code == 2 and "has changed since the build" in result.stderr
