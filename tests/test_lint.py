"""`cmfw lint`: every check fires on a matrix that needs it and stays quiet on one that does not."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import pytest
from click.testing import CliRunner

from builder.build import build, render
from builder.cli import cli
from builder.errors import InputError
from builder.lint import CHECKS, LintFailure, lint_file

from .conftest import EXAMPLE, snapshot


def matrix(features: str = "[client-requests]", extra: str = "", top: str = "") -> str:
    return (
        "version: 1\ndomain: corp.contoso.com\n"
        "addresses:\n  site_servers: [10.0.0.10]\n  consoles: [10.20.0.0/24]\n"
        f"{top}"
        "policies:\n  - name: Workstations\n"
        f"    features: {features}\n{extra}"
    )


def codes(write: Callable[..., Path], text: str) -> list[str]:
    return [f.code for f in lint_file(write(text)).open]


# (code, a matrix that triggers it, a matrix that does not)
CASES = [
    ("CMFW101", matrix("[{remote-control: {from: any}}]"), matrix("[remote-control]")),
    ("CMFW102", matrix("[remote-control]", "    profiles: [Domain, Public]\n"), matrix("[remote-control]", "    profiles: [Domain]\n")),
    ("CMFW103", matrix("[{client-push: {from: site_servers}}]"), matrix("[client-install-group-policy]")),
    ("CMFW104", matrix("[{remote-assistance: {variant: legacy}}]"), matrix("[{remote-assistance: {variant: modern}}]")),
    ("CMFW105", matrix("[{remote-diagnostics: {variant: seed}}]"), matrix("[remote-diagnostics]")),
    (
        "CMFW106",
        matrix("[software-updates]", top="ports:\n  software_update_points: [{http: 8530, https: 8533}]\n"),
        matrix("[software-updates]", top="ports:\n  software_update_points: [{http: 8530, https: 8531}, {http: 80, https: 443}]\n"),
    ),
    ("CMFW107", matrix("[{software-updates: {exclude: [HTTP-Out]}}]"), matrix("[{software-updates: {exclude: [HTTPS-Out]}}]")),
    ("CMFW108", matrix(top="ports: {wake_on_lan: 9, site_wake_on_lan: 12287}\n"), matrix(top="ports: {wake_on_lan: 12287, site_wake_on_lan: 12287}\n")),
    (
        "CMFW109",
        matrix("[remote-control]", "    custom_rules:\n      - {id: RC, name: Remote control again, direction: In, protocol: TCP, local_ports: [2701], from: consoles}\n"),
        matrix("[remote-control]", "    custom_rules:\n      - {id: RC, name: Another tool, direction: In, protocol: TCP, local_ports: [2702], from: consoles}\n"),
    ),
    (
        "CMFW110",
        matrix("[wake-up-proxy]", "    profile_settings: {Public: {allow_local_rules: false}}\n"),
        matrix("[wake-up-proxy]", "    profiles: [Domain, Public]\n    profile_settings: {Public: {allow_local_rules: false}}\n"),
    ),
    (
        "CMFW111",
        matrix("[client-requests]", "    profile_settings: {Domain: {default_outbound: allow}}\n"),
        matrix("[client-requests]", "    outbound_rules: false\n    profile_settings: {Domain: {default_outbound: allow}}\n"),
    ),
    ("CMFW100", matrix("[client-requests]", "    acknowledge: {CMFW103: no push here any more}\n"), matrix("[client-requests]")),
    (
        "CMFW112",
        matrix("[client-requests]", "    profile_settings: {Public: {allow_local_ipsec_rules: false}}\n"),
        matrix("[client-requests]", "    profile_settings: {Public: {allow_local_rules: false}}\n    dsc: {resource: registry-policy}\n"),
    ),
]


@pytest.mark.parametrize("code, triggers, quiet", CASES, ids=[c[0] for c in CASES])
def test_each_check_fires_only_when_it_should(write: Callable[..., Path], code: str, triggers: str, quiet: str) -> None:
    assert code in codes(write, triggers)
    assert code not in codes(write, quiet)


def test_every_check_has_a_case_and_documentation() -> None:
    tested = {c[0] for c in CASES}
    assert tested == set(CHECKS)
    doc = (Path(__file__).parent.parent / "docs" / "lint.md").read_text(encoding="utf-8")
    for check in CHECKS.values():
        assert f"`{check.code}`" in doc and f"`{check.name}`" in doc


def test_a_finding_names_place_policy_rule_and_fix(write: Callable[..., Path]) -> None:
    [finding] = lint_file(write(matrix("[client-requests, {remote-control: {from: any}}]"))).open
    assert finding.format() == (
        f"{finding.file}:8:50: warning: CMFW101 inbound-any: Workstations, rule CMFW-Workstations-RemoteControl-TCP-In: "
        "inbound TCP 2701 is open to any remote address; "
        "hint: scope it with `from:` an address set (LocalSubnet for peers), or acknowledge why it must be open"
    )
    assert "\n" not in finding.format()


def test_wsus_port_rule_is_an_error_unless_acknowledged(write: Callable[..., Path], tmp_path: Path) -> None:
    bad = matrix("[software-updates]", top="ports:\n  software_update_points: [{http: 8530, https: 8533}]\n")
    out = tmp_path / "out"
    with pytest.raises(InputError) as info:
        build(write(bad), out)
    [line] = info.value.lines()
    assert line.endswith(
        "error: ports.software_update_points[0].https: CMFW106 sup-https-port: HTTPS port 8533 does not match HTTP "
        "port 8530: WSUS uses HTTPS = HTTP + 1, so 8531; write https: 8531 (or leave it out); acknowledge CMFW106 "
        "only if a proxy really listens on 8533"
    )
    assert ":7:48: " in line and not out.exists()
    [line] = render_errors(write, bad.replace("8530, https: 8533", "80, https: 8443"))
    assert "WSUS uses HTTP 80 pairs with HTTPS 443, so 443" in line
    accepted = bad.replace("policies:", "acknowledge: {CMFW106: The SUP sits behind a TLS proxy on 8533.}\npolicies:")
    result = build(write(accepted), out)
    [finding] = result.lint.acknowledged
    assert finding.code == "CMFW106" and finding.acknowledged == "The SUP sits behind a TLS proxy on 8533."
    assert "8533" in result.files["rules.json"].decode()


def render_errors(write: Callable[..., Path], text: str) -> list[str]:
    with pytest.raises(InputError) as info:
        render(write(text))
    return info.value.lines()


def test_acknowledgements_per_policy_and_for_all(write: Callable[..., Path]) -> None:
    text = matrix("[{client-push: {from: site_servers}}, {remote-control: {from: any}}]", "    acknowledge: {CMFW101: Helpdesk tool.}\n",
                  top="acknowledge:\n  CMFW103: Push until Q3.\n")
    report = lint_file(write(text))
    assert report.open == ()
    assert {(f.code, f.acknowledged) for f in report.acknowledged} == {("CMFW101", "Helpdesk tool."), ("CMFW103", "Push until Q3.")}


def test_unknown_codes_and_empty_reasons_are_bad_input(write: Callable[..., Path]) -> None:
    [line] = render_errors(write, matrix("[client-requests]", "    acknowledge: {CMFW113: x}\n"))
    assert "policies[0].acknowledge.CMFW113: CMFW113 is not a lint code (see docs/lint.md)" in line
    [line] = render_errors(write, matrix("[client-requests]", "    acknowledge: {CMFW101: ''}\n"))
    assert "policies[0].acknowledge.CMFW101: must not be empty" in line
    [line] = render_errors(write, matrix(top="acknowledge: {cmfw103: x}\n"))
    assert "a lint code such as CMFW103" in line


def test_cli_lint_strict_and_json(write: Callable[..., Path], runner: CliRunner) -> None:
    path = write(matrix("[{client-push: {from: site_servers}}]"))
    result = runner.invoke(cli, ["lint", str(path)])
    assert result.exit_code == 0 and result.stdout.count("\n") == 1 and "CMFW103" in result.stdout
    assert result.stderr == f"{path}: 0 errors, 1 warning, 0 acknowledged\n"
    assert runner.invoke(cli, ["lint", str(path), "--strict"]).exit_code == 1
    doc = json.loads(runner.invoke(cli, ["lint", str(path), "--format", "json"]).stdout)
    assert doc["format"] == "cmfw-lint/1" and doc["counts"] == {"errors": 0, "warnings": 1, "acknowledged": 0}
    [finding] = doc["findings"]
    assert finding["code"] == "CMFW103" and finding["name"] == "client-push" and finding["line"] == 8
    assert runner.invoke(cli, ["lint", str(EXAMPLE), "--strict"]).exit_code == 0


def test_build_shows_warnings_and_strict_writes_nothing(write: Callable[..., Path], tmp_path: Path, runner: CliRunner) -> None:
    path = write(matrix("[{client-push: {from: site_servers}}]"))
    out = tmp_path / "out"
    result = runner.invoke(cli, ["build", str(path), "-o", str(out), "--strict"])
    assert result.exit_code == 1 and not out.exists()
    assert result.stderr.splitlines()[-1].startswith("cmfw: 1 open lint warning and --strict: nothing written")
    with pytest.raises(LintFailure):
        build(path, out, strict=True)
    result = runner.invoke(cli, ["build", str(path), "-o", str(out)])
    assert result.exit_code == 0 and "CMFW103 client-push" in result.stderr and "lint: 1 lint warning" in result.stdout
    before = snapshot(out)
    assert runner.invoke(cli, ["build", str(path), "-o", str(out), "--strict"]).exit_code == 1
    assert snapshot(out) == before
