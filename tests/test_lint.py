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
        matrix("[client-requests]", "    profile_settings: {Public: {allow_local_ipsec_rules: false}}\n    dsc: {nodes: [pc1]}\n"),
        matrix("[client-requests]", "    profile_settings: {Public: {allow_local_rules: false}}\n    dsc: {resource: registry-policy, nodes: [pc1]}\n"),
    ),
    (
        "CMFW113",
        matrix("[remote-diagnostics]", "    intune: {enabled: true, unsupported: omit}\n"),
        matrix("[remote-control]", "    intune: {enabled: true, unsupported: omit}\n"),
    ),
    (
        "CMFW114",
        matrix("[remote-control]").replace("consoles: [10.20.0.0/24]", "consoles: [10.0.0.0/7]"),
        matrix("[remote-control]").replace("consoles: [10.20.0.0/24]", "consoles: [10.0.0.0/8]"),
    ),
    ("CMFW115", matrix().replace("domain: corp.contoso.com", "domain: FABRIKAM"), matrix()),
    (
        "CMFW116",
        matrix("[client-requests]", "    links: ['OU=Domain Controllers,DC=corp,DC=contoso,DC=com']\n"),
        matrix("[client-requests]", "    links: ['OU=Clients,DC=corp,DC=contoso,DC=com']\n"),
    ),
    ("CMFW117", matrix("[client-requests]", "    rule_ids: predefined\n"), matrix("[client-requests]")),
    (
        "CMFW118",
        matrix("[ndes-policy-module]").replace("consoles: [10.20.0.0/24]", "consoles: [10.20.0.0/24]\n  certificate_servers: [10.0.0.30]"),
        matrix("[client-requests]"),
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
    [line] = render_errors(write, matrix("[client-requests]", "    acknowledge: {CMFW199: x}\n"))
    assert "policies[0].acknowledge.CMFW199: CMFW199 is not a lint code (see docs/lint.md)" in line
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


# -- a gate CI can trust: complete, quiet on good designs, hints that fix without side effects --


@pytest.mark.parametrize(
    "scope, what",
    [
        ("[0.0.0.0/0]", "every IPv4 address"),
        ("['::/0']", "every IPv6 address"),
        ("[0.0.0.0-255.255.255.255]", "every IPv4 address"),
        ("[0.0.0.0/1, 128.0.0.0/1]", "every IPv4 address"),  # a union that adds up to everything
        ("[0.0.0.0-127.255.255.255, 128.0.0.0/1]", "every IPv4 address"),
        ("[Internet]", "the Internet keyword"),
        ("[10.20.0.0/24, '::-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff']", "every IPv6 address"),
    ],
)
def test_every_spelling_of_everyone_is_inbound_any(write: Callable[..., Path], scope: str, what: str) -> None:
    text = matrix("[remote-control]").replace("consoles: [10.20.0.0/24]", f"consoles: {scope}")
    [finding] = [f for f in lint_file(write(text)).open if f.code == "CMFW101"]
    assert f"inbound TCP 2701 is open to {what}" in finding.message


def test_public_space_is_too_wide_for_management(write: Callable[..., Path]) -> None:
    text = matrix("[remote-control]").replace("consoles: [10.20.0.0/24]", "consoles: [10.20.0.0/24, 198.51.100.0/24, 8.8.8.0/24]")
    [finding] = [f for f in lint_file(write(text)).open if f.code == "CMFW114"]
    assert finding.message == "inbound TCP 2701 is open to public addresses (8.8.8.0/24)"
    narrow = text.replace(", 8.8.8.0/24", "")  # 198.51.100.0/24 is documentation space, not public
    assert "CMFW114" not in codes(write, narrow)


def test_management_and_distribution_point_on_one_server_is_quiet(write: Callable[..., Path]) -> None:
    text = (
        "version: 1\ndomain: corp.contoso.com\n"
        "addresses:\n  management_points: [10.0.0.20]\n  distribution_points: [10.0.0.20]\n"
        "policies:\n  - name: Primary site clients\n    features: [client-requests, content-download, client-notification]\n"
    )
    assert codes(write, text) == []


def test_no_default_variant_has_a_narrower_sibling() -> None:
    """Defaults never raise a finding: CMFW105 is for variants chosen on purpose."""
    from builder.catalog import load_catalog

    catalog = load_catalog()
    for feature in catalog.features.values():
        assert feature.variant().narrower is None, feature.id


# Each code's hint, applied to the matrix that triggers it: (code, old text, new text).
HINT_FIXES = {
    "CMFW100": ("    acknowledge: {CMFW103: no push here any more}\n", ""),
    "CMFW101": ("{remote-control: {from: any}}", "remote-control"),
    "CMFW102": ("profiles: [Domain, Public]", "profiles: [Domain]"),
    "CMFW103": ("[{client-push: {from: site_servers}}]", "[client-install-group-policy]"),
    "CMFW104": ("variant: legacy", "variant: modern"),
    "CMFW105": ("variant: seed", "variant: narrow"),
    "CMFW106": ("https: 8533", "https: 8531"),
    "CMFW107": ("exclude: [HTTP-Out]", "exclude: []"),
    "CMFW108": ("wake_on_lan: 9,", "wake_on_lan: 12287,"),
    "CMFW109": ("    custom_rules:\n", "    acknowledge: {CMFW109: Both stay.}\n    custom_rules:\n"),
    "CMFW110": ("    profile_settings: {Public", "    profiles: [Domain, Public]\n    profile_settings: {Public"),
    "CMFW111": ("    profile_settings: {Domain: {default_outbound", "    outbound_rules: false\n    profile_settings: {Domain: {default_outbound"),
    "CMFW112": ("dsc: {nodes: [pc1]}", "dsc: {resource: registry-policy, nodes: [pc1]}"),
    "CMFW113": ("unsupported: omit", "unsupported: omit}\n    acknowledge: {CMFW113: Intune-managed devices need no remote diagnostics."),
    "CMFW114": ("10.0.0.0/7", "10.20.0.0/24"),
    "CMFW115": ("domain: FABRIKAM", "domain: fabrikam.local"),
    "CMFW116": ("OU=Domain Controllers,", "OU=Clients,"),
    "CMFW117": ("    rule_ids: predefined\n", ""),
    "CMFW118": ("[ndes-policy-module]", "[client-requests]"),
}


@pytest.mark.parametrize("code, triggers", [(c[0], c[1]) for c in CASES], ids=[c[0] for c in CASES])
def test_following_a_hint_removes_its_finding_and_adds_none(write: Callable[..., Path], code: str, triggers: str) -> None:
    old, new = HINT_FIXES[code]
    assert triggers.count(old) == 1, (code, old)
    before = codes(write, triggers)
    after = codes(write, triggers.replace(old, new))
    assert code not in after, (code, after)
    assert set(after) <= set(before) - {code}, f"{code}'s fix brought {sorted(set(after) - set(before))}"


DOCS_WRAPPER = (
    "version: 1\ndomain: corp.contoso.com\n"
    "addresses:\n  site_servers: [10.0.0.10]\n  consoles: [10.20.0.0/24]\n  helpdesk: [10.21.0.0/24]\n"
    "  dmz_sup: [192.168.50.10]\npolicies:\n  - name: Example\n"
)


def test_the_docs_matrix_examples_lint_clean(tmp_path: Path) -> None:
    """Every matrix example in docs/ and the README lints with no open warning or error:
    whole matrices as they are, policy-level snippets (features, custom_rules,
    profile_settings, links, ports) inside a policy of a small matrix."""
    import re

    root = Path(__file__).parent.parent
    checked = 0
    for page in [root / "README.md", *sorted((root / "docs").glob("*.md"))]:
        for i, block in enumerate(re.findall(r"```yaml\n(.*?)```", page.read_text(encoding="utf-8"), re.S)):
            first = next((line.split(":")[0] for line in block.splitlines() if line and not line.startswith("#")), "")
            if all(f"\n{key}:" in "\n" + block for key in ("version", "domain", "policies")):
                text = block
            elif first in ("features", "custom_rules", "profile_settings", "links", "ports"):
                body = "".join(f"    {line}\n" for line in block.splitlines())
                text = DOCS_WRAPPER + body + ("" if first == "features" else "    features: [client-requests]\n")
            else:
                continue
            path = tmp_path / f"{page.stem}-{i}.yaml"
            path.write_text(text, encoding="utf-8")
            report = lint_file(path)
            assert [f.format() for f in report.errors + report.warnings] == [], f"{page.name} block {i}"
            checked += 1
    assert checked >= 6
