"""Every command through click's runner, plus the installed `cmfw` in a subprocess."""

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Callable

import pytest
from click.testing import CliRunner

from builder import __version__
from builder.catalog import load_catalog
from builder.cli import cli

from .conftest import EXAMPLE, MINIMAL, snapshot


def run(runner: CliRunner, *args: str):
    return runner.invoke(cli, [str(a) for a in args], catch_exceptions=False)


def test_version(runner: CliRunner) -> None:
    result = run(runner, "--version")
    assert result.exit_code == 0 and result.output == f"cmfw {__version__}\n"


@pytest.mark.parametrize("command", sorted(cli.commands))
def test_every_command_has_help(runner: CliRunner, command: str) -> None:
    result = run(runner, command, "--help")
    assert result.exit_code == 0
    assert cli.commands[command].help and len(cli.commands[command].help) > 20


def test_init_writes_a_matrix_that_builds(runner: CliRunner, tmp_path: Path) -> None:
    path = tmp_path / "firewall.yaml"
    assert run(runner, "init", path).exit_code == 0
    text = path.read_text()
    for feature in load_catalog().features:
        assert f"- {feature} " in text
    assert run(runner, "validate", path).exit_code == 0
    assert run(runner, "build", path, "-o", tmp_path / "out").exit_code == 0


def test_init_refuses_to_overwrite(runner: CliRunner, tmp_path: Path) -> None:
    path = tmp_path / "firewall.yaml"
    path.write_text("mine")
    result = run(runner, "init", path)
    assert result.exit_code == 2
    assert result.stderr == f"cmfw: error: {path}: already exists; use --force to overwrite it\n"
    assert path.read_text() == "mine"
    assert run(runner, "init", path, "--force").exit_code == 0
    assert path.read_text().startswith("# cmfw feature matrix")


def test_features_table_lists_every_feature(runner: CliRunner) -> None:
    result = run(runner, "features")
    assert result.exit_code == 0
    listed = {line.split()[0] for line in result.output.splitlines()[1:]}
    assert listed == set(load_catalog().features)


def test_features_json(runner: CliRunner) -> None:
    result = run(runner, "features", "--format", "json")
    assert result.exit_code == 0
    doc = json.loads(result.output)
    features = {f["id"]: f for f in doc["features"]}
    [rule] = features["remote-control"]["variants"][0]["rules"]
    assert (rule["direction"], rule["protocol"], rule["local_ports"]) == ("In", "TCP", ["2701"])
    assert rule["source"] == {"doc": "seed", "section": "Remote Control"}
    [rule] = features["client-notification"]["variants"][0]["rules"]
    assert (rule["direction"], rule["protocol"], rule["remote_ports"]) == ("Out", "TCP", ["10123"])
    wup = {(r["protocol"], tuple(r["local_ports"] or r["remote_ports"] or r["icmp_types"])) for r in features["wake-up-proxy"]["variants"][0]["rules"]}
    assert {("UDP", ("25536",)), ("UDP", ("9",)), ("ICMPv4", ("8:*",))} <= wup
    assert {s["id"] for s in doc["sources"]} >= {"seed", "ports", "windows"}


def test_feature_detail_and_unknown_feature(runner: CliRunner) -> None:
    result = run(runner, "features", "client-push")
    assert result.exit_code == 0
    assert "variant minimal (default)" in result.output and "FPS-SMB-In" in result.output
    result = run(runner, "features", "client-psuh")
    assert result.exit_code == 2
    assert result.stderr == "cmfw features: error: unknown feature 'client-psuh'; did you mean 'client-push'?\n"


def test_validate_ok(runner: CliRunner) -> None:
    result = run(runner, "validate", EXAMPLE)
    assert result.exit_code == 0
    assert result.stdout.splitlines()[0] == f"{EXAMPLE}: valid: 6 policies, 123 rules; lint: 1 note, 35 acknowledged"
    assert "note: CMFW117 predefined-rule-ids" in result.stderr
    doc = json.loads(run(runner, "validate", EXAMPLE, "--format", "json").output)
    assert doc["valid"] is True and len(doc["policies"]) == 6


def test_validate_json_errors(runner: CliRunner, write: Callable[..., Path]) -> None:
    path = write(MINIMAL.replace("client-requests", "client-requets"))
    result = run(runner, "validate", path, "--format", "json")
    assert result.exit_code == 2
    doc = json.loads(result.stdout)
    assert doc["valid"] is False
    [problem] = doc["problems"]
    assert (problem["line"], problem["column"], problem["path"]) == (8, 16, "policies[0].features[0]")
    assert "did you mean 'client-requests'?" in problem["message"]


BAD_INPUTS = {
    "unknown feature": (MINIMAL.replace("remote-control", "remote-contorl"), "did you mean 'remote-control'?"),
    "misspelt key": (MINIMAL.replace("addresses:", "adresses:"), "unknown key 'adresses'; did you mean 'addresses'?"),
    "port 0": (MINIMAL + "ports: {http: 0}\n", "0 is not a port (1-65535)"),
    "port 70000": (MINIMAL + "ports: {https: 70000}\n", "70000 is not a port (1-65535)"),
    "undefined address set": (MINIMAL.replace("remote-control]", "{remote-control: {from: admins}}]"), "address set 'admins' is not defined"),
    "bad CIDR": (MINIMAL.replace("10.20.0.0/24", "10.20.0.0/33"), "an IPv4 prefix is at most /32"),
    "YAML syntax error": (MINIMAL.replace("name: Workstations", "name: \"Workstations"), "YAML syntax error"),
    "empty file": ("", "the file is empty"),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
@pytest.mark.parametrize("command", ["validate", "build"])
def test_bad_input_one_line_exit_2_nothing_written(runner: CliRunner, write: Callable[..., Path], tmp_path: Path, case: str, command: str) -> None:
    text, fragment = BAD_INPUTS[case]
    path = write(text)
    out = tmp_path / "out"
    args = ["build", path, "-o", out] if command == "build" else ["validate", path]
    result = run(runner, *args)
    assert result.exit_code == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"{path}:") and ": error: " in lines[0]
    assert fragment in lines[0]
    assert "Traceback" not in result.stderr
    assert not out.exists()


def test_missing_file(runner: CliRunner, tmp_path: Path) -> None:
    result = run(runner, "build", tmp_path / "nope.yaml", "-o", tmp_path / "out")
    assert result.exit_code == 2
    assert result.stderr == f"{tmp_path / 'nope.yaml'}: error: file not found\n"
    assert not (tmp_path / "out").exists()


def test_build_writes_and_refuses_foreign_directories(runner: CliRunner, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = run(runner, "build", EXAMPLE, "-o", out)
    assert result.exit_code == 0
    assert result.stdout == f"built {out}: 6 policies, 123 rules, 81 files; lint: 1 note, 35 acknowledged\n"
    written = sorted(snapshot(out))
    assert written[:5] == ["Deploy-CmfwIntune.ps1", "Import-CmfwGpo.ps1", "SHA256SUMS", "Test-CmfwFirewall.ps1", "build.json"] and "gpo/manifest.xml" in written
    assert written[-1] == "rules.json"
    assert sum(p.endswith(".mof") for p in written) == 7
    assert sum(p.endswith("/registry.pol") for p in written) == 6
    foreign = tmp_path / "src"
    foreign.mkdir()
    (foreign / "main.py").write_text("x")
    result = run(runner, "build", EXAMPLE, "-o", foreign)
    assert result.exit_code == 2
    assert "holds files cmfw did not write (main.py)" in result.stderr
    assert snapshot(foreign) == {"main.py": b"x"}


def test_installed_command_in_a_subprocess(tmp_path: Path) -> None:
    exe = shutil.which("cmfw")
    if exe is None:
        pytest.skip("cmfw is not installed in this environment (pip install -e .)")
    out = tmp_path / "out"
    done = subprocess.run([exe, "build", str(EXAMPLE), "-o", str(out)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    again = subprocess.run([sys.executable, "-m", "builder", "build", str(EXAMPLE), "-o", str(tmp_path / "again")],
                           capture_output=True, text=True, timeout=60)
    assert again.returncode == 0, again.stderr
    assert snapshot(out) == snapshot(tmp_path / "again")
    bad = subprocess.run([exe, "validate", str(tmp_path / "missing.yaml")], capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "Traceback" not in bad.stderr
