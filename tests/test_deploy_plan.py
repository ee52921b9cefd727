"""deploy-samba.py's own logic, without a domain controller: markers, the plan, its text.

The program runs under Samba's Python on a DC and cannot import cmfw, so it carries
its own copies of a few constants; these tests hold them to cmfw's. The DC tests
(test_samba_dc.py) run it for real.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from builder.datafiles import template_path
from builder.identifiers import MARKER_PATTERN, gpo_marker
from builder.registry.policyfile import FIREWALL_TOOL, REGISTRY_CSE, RULES_KEY

PROGRAM = template_path("package/deploy-samba.py")
HOSTILE = "Evil'; touch /tmp/cmfw-plan-pwned; echo \"$(id)\" `id` \\ *"


@pytest.fixture(scope="module")
def deploy() -> ModuleType:
    spec = importlib.util.spec_from_file_location("deploy_samba", PROGRAM)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["deploy_samba"] = module
    spec.loader.exec_module(module)
    return module


def test_constants_match_cmfw(deploy: ModuleType) -> None:
    assert deploy.MARKER.pattern == MARKER_PATTERN
    assert (deploy.REGISTRY_CSE, deploy.FIREWALL_TOOL) == (REGISTRY_CSE, FIREWALL_TOOL)
    assert deploy.RULES_KEY.lower() == RULES_KEY.lower()


def test_it_compiles_under_debians_python_too() -> None:
    python = shutil.which("python3", path="/usr/bin")
    if python is None:
        pytest.skip("no /usr/bin/python3")
    done = subprocess.run([python, "-c", f"import ast; ast.parse(open({str(PROGRAM)!r}).read())"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_markers_round_trip(deploy: ModuleType) -> None:
    for owner in ("", "team-a.prod"):
        marker = gpo_marker("Corp.Contoso.com", owner, "Workstations")
        text = deploy.decode_comment(deploy.encode_comment(marker + "\nmore text an admin added"))
        assert deploy.parse_marker(text) == ("corp.contoso.com", owner, "Workstations")
    assert deploy.decode_comment(b"\xff\xfe" + "x".encode("utf-16-le")) == "x"
    assert deploy.decode_comment("x".encode("utf-16-le")) == "x"  # GPMC may omit the byte order mark
    for foreign in (None, "", "Firewall for clients", "managed by cmfw: domain a, policy B.", "Managed by cmfw: domain a, policy 1x."):
        assert deploy.parse_marker(foreign) is None, foreign


def test_rule_changes_name_the_fields(deploy: ModuleType) -> None:
    old = "v2.31|Action=Allow|Dir=In|Protocol=6|LPort=10123|LPort=80|RA4=10.0.0.1|Name=x|"
    new = "v2.31|Action=Allow|Dir=In|Protocol=6|LPort=80|LPort=10124|RA4=10.0.0.1|Name=x|"
    assert deploy.rule_changes(old, new) == {"LPort": {"from": ["10123", "80"], "to": ["80", "10124"]}}
    assert deploy.rule_changes(old, old.replace("LPort=10123|LPort=80", "LPort=80|LPort=10123")) == {}
    assert deploy.rule_changes("v2.30|Action=Allow|", "v2.31|Action=Block|") == {
        "Action": {"from": ["Allow"], "to": ["Block"]}, "version": {"from": ["v2.30"], "to": ["v2.31"]},
    }


def test_link_helpers(deploy: ModuleType) -> None:
    gplink = "[LDAP://cn={aaaaaaaa-0000-0000-0000-000000000001},cn=policies,cn=system,DC=x;0][LDAP://CN={AAAAAAAA-0000-0000-0000-000000000002},CN=Policies;3]"
    assert deploy.links_in(gplink) == {"{AAAAAAAA-0000-0000-0000-000000000001}": 0, "{AAAAAAAA-0000-0000-0000-000000000002}": 3}
    assert deploy.link_text(deploy.link_options(enforced=True, enabled=False)) == "disabled, enforced"
    assert deploy.link_text(None) is None
    security = "[{827D319E-6EAC-11D2-A4EA-00C04F79F83A}{803E14A0-B4FB-11D0-A0D0-00A0C90F574B}]"
    assert deploy.merged_extensions(security) == f"[{REGISTRY_CSE}{FIREWALL_TOOL}]{security}"
    assert deploy.merged_extensions(f"[{REGISTRY_CSE}{{0F6B957E-509E-11D1-A7CC-0000F87571E3}}]") == (
        f"[{REGISTRY_CSE}{{0F6B957E-509E-11D1-A7CC-0000F87571E3}}{FIREWALL_TOOL}]"
    )


def test_samba_tool_option_spelling(deploy: ModuleType) -> None:
    assert deploy.kerberos_off("  --use-kerberos=desired|required|off\n  -k KERBEROS") == ["--use-kerberos=off"]
    assert deploy.kerberos_off("  -k KERBEROS, --kerberos=KERBEROS  Use Kerberos") == ["-k", "no"]


# -- the plan, from made-up inventories --------------------------------------------------------

RULE = RULES_KEY
GUIDS = [f"{{00000000-0000-0000-0000-00000000000{i}}}" for i in range(10)]


def policy(key: str, name: str, links: list[dict[str, Any]] | None = None, owner: str = "") -> dict[str, Any]:
    return {"key": key, "name": name, "marker": gpo_marker("corp.contoso.com", owner, key), "links": links or []}


def build_of(*policies: dict[str, Any], owner: str = "") -> dict[str, Any]:
    return {"domain": "corp.contoso.com", "owner": owner, "policies": list(policies)}


def gpo(name: str, key: str | None = None, entries: dict | None = None, owner: str = "", domain: str = "corp.contoso.com") -> dict[str, Any]:
    comment = gpo_marker(domain, owner, key) if key else None
    extensions = f"[{REGISTRY_CSE}{FIREWALL_TOOL}]"
    return {"name": name, "comment": comment, "flags": 1, "extensions": extensions, "entries": entries if entries is not None else {}}


def inventory(gpos: dict[str, Any], gplinks: dict[str, str] | None = None, linked: dict[str, list[str]] | None = None) -> dict[str, Any]:
    return {"gpos": gpos, "gplinks": gplinks or {}, "linked_from": linked or {}}


def entries(**rules: str) -> dict[tuple[str, str], tuple[int, str]]:
    return {(RULE, rid.replace("_", "-")): (1, text) for rid, text in rules.items()}


def run_plan(deploy: ModuleType, build: dict[str, Any], inv: dict[str, Any], wanted: dict[str, Any], *, link: bool = False, prune: bool = False) -> dict[str, Any]:
    return deploy.plan(build, build["policies"], inv, wanted=wanted, link=link, prune=prune)


def test_create_update_rename_unchanged_and_orphans(deploy: ModuleType) -> None:
    a = policy("A", "Policy A")
    b = policy("B", "Policy B renamed", links=[{"target": "OU=X", "order": None, "enforced": False, "enabled": True}])
    c = policy("C", "Policy C")
    d = policy("D", "Policy D")
    build = build_of(a, b, c, d)
    inv = inventory(
        {
            GUIDS[1]: gpo("Policy B", "B", entries(CMFW_B_1="v2.31|LPort=1|")),
            GUIDS[2]: gpo("Policy C", "C", entries(CMFW_C_1="v2.31|LPort=1|", CMFW_C_2="v2.31|LPort=2|")),
            GUIDS[3]: gpo("Policy D", "D", entries(CMFW_D_1="v2.31|LPort=1|")),
            GUIDS[4]: gpo("Old policy", "Gone"),
            GUIDS[5]: gpo("Hand made"),
            GUIDS[6]: gpo("Another team", "Gone", owner="team-b"),
            GUIDS[7]: gpo("Another domain", "Gone", domain="other.example"),
        },
        gplinks={"OU=X": f"[LDAP://cn={GUIDS[1]},cn=policies;0]"},
        linked={GUIDS[4]: ["OU=Y"], GUIDS[5]: ["OU=Z"]},
    )
    wanted = {
        "A": entries(CMFW_A_1="v2.31|LPort=1|"),
        "B": entries(CMFW_B_1="v2.31|LPort=1|"),
        "C": entries(CMFW_C_1="v2.31|LPort=9|", CMFW_C_3="v2.31|LPort=3|"),
        "D": entries(CMFW_D_1="v2.31|LPort=1|"),
    }
    found = run_plan(deploy, build, inv, wanted, link=True)
    by_key = {row["key"]: row for row in found["policies"]}
    assert (by_key["A"]["action"], by_key["A"]["gpo"], by_key["A"]["rules"]["added"]) == ("create", None, ["CMFW-A-1"])
    assert (by_key["B"]["action"], by_key["B"]["gpo"], by_key["B"]["rename_from"]) == ("rename", GUIDS[1], "Policy B")
    assert by_key["B"]["links"] == [{"target": "OU=X", "action": "unchanged", "from": "enabled", "to": "enabled"}]
    assert by_key["C"]["action"] == "update" and by_key["C"]["rules"] == {
        "added": ["CMFW-C-3"], "removed": ["CMFW-C-2"], "changed": [{"id": "CMFW-C-1", "fields": {"LPort": {"from": ["1"], "to": ["9"]}}}],
    }
    assert by_key["D"]["action"] == "unchanged"
    assert found["orphans"] == [{"gpo": GUIDS[4], "name": "Old policy", "key": "Gone", "links": ["OU=Y"], "action": "keep"}]
    assert found["changes"] is True
    lines = deploy.format_plan(found, False)
    assert lines[0] == "Plan for domain corp.contoso.com:"
    assert f"  ~ Policy B renamed  (GPO {GUIDS[1]}, found by marker)" in lines
    assert "      rename: 'Policy B' -> 'Policy B renamed'" in lines
    assert "      ~ rule CMFW-C-1  LPort: 1 -> 9" in lines and "      + rule CMFW-C-3" in lines and "      - rule CMFW-C-2" in lines
    assert f"  - Old policy  (GPO {GUIDS[4]}, policy Gone, linked to OU=Y): orphan, kept (--prune deletes it)" in lines
    assert lines[-1] == "Plan: 1 to create, 1 to update, 1 to rename, 1 unchanged, 1 orphan kept."
    pruned = run_plan(deploy, build, inv, wanted, prune=True)
    assert [o["action"] for o in pruned["orphans"]] == ["delete"]


def test_an_owner_sees_only_its_own_gpos(deploy: ModuleType) -> None:
    build = build_of(policy("A", "Policy A", owner="team-b"), owner="team-b")
    inv = inventory({GUIDS[1]: gpo("Theirs", "Gone"), GUIDS[2]: gpo("Ours", "Gone", owner="team-b")})
    found = run_plan(deploy, build, inv, {"A": {}}, prune=True)
    assert [o["gpo"] for o in found["orphans"]] == [GUIDS[2]]


def test_no_changes_means_no_changes(deploy: ModuleType) -> None:
    build = build_of(policy("A", "Policy A"))
    inv = inventory({GUIDS[1]: gpo("Policy A", "A", entries(CMFW_A_1="x"))})
    found = run_plan(deploy, build, inv, {"A": entries(CMFW_A_1="x")})
    assert found["changes"] is False and found["policies"][0]["action"] == "unchanged"
    assert deploy.format_plan(found, False)[-1] == "Plan: 1 unchanged. No changes."
    # The marker, the status and the extension list count as changes too.
    inv["gpos"][GUIDS[1]]["flags"] = 0
    assert run_plan(deploy, build, inv, {"A": entries(CMFW_A_1="x")})["policies"][0]["status"] is True


def test_ambiguity_is_an_error_not_a_guess(deploy: ModuleType) -> None:
    build = build_of(policy("A", "Policy A"), policy("B", "Policy B"), policy("C", "Policy C"))
    inv = inventory({
        GUIDS[1]: gpo("Policy A", "A"), GUIDS[2]: gpo("Policy A copy", "A"),  # two GPOs carry A's marker
        GUIDS[3]: gpo("Policy B", "C"),  # B's name is taken by C's GPO
        GUIDS[4]: gpo("Policy C old", "C"),
    })
    found = run_plan(deploy, build, inv, {"A": {}, "B": {}, "C": {}})
    by_key = {row["key"]: row for row in found["policies"]}
    assert by_key["A"]["action"] == "error" and "2 GPOs carry the marker of policy A" in by_key["A"]["error"]
    assert by_key["B"]["action"] == "error" and "is managed by cmfw for domain corp.contoso.com, policy C: not taking it over" in by_key["B"]["error"]
    assert by_key["C"]["action"] == "error" and "2 GPOs carry the marker of policy C" in by_key["C"]["error"]
    assert "  ! Policy A: 2 GPOs carry the marker" in "\n".join(deploy.format_plan(found, False))


def test_a_rename_onto_a_taken_name_is_refused(deploy: ModuleType) -> None:
    build = build_of(policy("A", "Taken"))
    inv = inventory({GUIDS[1]: gpo("Policy A", "A"), GUIDS[2]: gpo("Taken")})
    [row] = run_plan(deploy, build, inv, {"A": {}})["policies"]
    assert row["action"] == "error" and row["error"] == f"cannot rename GPO {GUIDS[1]} to 'Taken': GPO {GUIDS[2]} has that name"


def test_a_missing_link_target_is_an_error(deploy: ModuleType) -> None:
    build = build_of(policy("A", "Policy A", links=[{"target": "OU=Nowhere", "order": None, "enforced": True, "enabled": True}]))
    found = run_plan(deploy, build, inventory({}, gplinks={"OU=Nowhere": None}), {"A": {}}, link=True)  # type: ignore[dict-item]
    assert found["policies"][0]["links"][0]["action"] == "error"
    assert "      ! link OU=Nowhere: OU=Nowhere does not exist in the domain" in deploy.format_plan(found, False)


def test_hostile_names_are_data_in_the_plan(deploy: ModuleType) -> None:
    build = build_of(policy("Evil", HOSTILE))
    found = run_plan(deploy, build, inventory({GUIDS[1]: gpo(HOSTILE, "Evil")}), {"Evil": {}})
    assert f"  = {HOSTILE}  (GPO {GUIDS[1]}, found by marker)" in deploy.format_plan(found, False)


def test_usage_errors(deploy: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stop:
        deploy.main(["--no-such-option"])
    assert stop.value.code == 2 and "unrecognized arguments: --no-such-option" in capsys.readouterr().err
    with pytest.raises(SystemExit) as stop:
        deploy.main(["--no-such-option", "--detailed-exitcode"])
    assert stop.value.code == 1  # 2 means "changes" there


def test_warnings_reach_the_plan(deploy: ModuleType) -> None:
    build = build_of(policy("A", "Policy A"))
    inv = inventory({GUIDS[1]: gpo("Policy A", "A", entries(CMFW_A_1="x"))})
    inv["warnings"] = ["the domain has 2 domain controllers (dc1, dc2): Samba does not replicate SYSVOL"]
    found = run_plan(deploy, build, inv, {"A": entries(CMFW_A_1="x")})
    assert found["warnings"] == inv["warnings"]
    assert "  warning: the domain has 2 domain controllers (dc1, dc2): Samba does not replicate SYSVOL" in deploy.format_plan(found, False)


def test_data_reaches_samba_tool_only_after_double_dash(deploy: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A policy named like an option stays a name: a stand-in samba-tool logs its argv."""
    log = tmp_path / "argv.json"
    tool = tmp_path / "samba-tool"
    tool.write_text(f"#!{sys.executable}\nimport json, sys\nopen({str(log)!r}, 'a').write(json.dumps(sys.argv[1:]) + '\\n')\nprint(\"GPO '-' created as {{00000000-0000-0000-0000-000000000001}}\")\n")
    tool.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:/usr/bin:/bin")
    args = deploy.parser().parse_args(["-H", "ldap://dc", "-U", "admin", "-s", "/etc/samba/smb.conf"])
    runner = deploy.Deployer(args, tmp_path, {"policies": []})
    runner.password = "secret"
    runner.tool_auth = ["--use-kerberos=off"]
    for name in ("--version", "-s/tmp/evil.conf", "-dash", HOSTILE):
        runner.samba_tool("gpo", "create", positional=[name])
    runner.samba_tool("gpo", "setlink", "--enforce", positional=["-OU=x", "{GUID}"])
    calls = [json.loads(line) for line in log.read_text().splitlines()]
    for argv, name in zip(calls, ("--version", "-s/tmp/evil.conf", "-dash", HOSTILE)):
        assert argv[argv.index("--") + 1:] == [name] and argv.count(name) == 1 and "secret" not in argv
    assert calls[-1][calls[-1].index("--") + 1:] == ["-OU=x", "{GUID}"] and calls[-1].index("--enforce") < calls[-1].index("--")


def test_every_samba_tool_call_passes_data_as_positional() -> None:
    """In the program's source, samba_tool(...) takes only literal words before positional=."""
    import ast

    tree = ast.parse(PROGRAM.read_text(encoding="utf-8"))
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr == "samba_tool"]
    assert len(calls) >= 5
    for call in calls:
        for arg in call.args:
            literal = isinstance(arg, ast.Constant) or (isinstance(arg, ast.Starred) and isinstance(arg.value, ast.Name) and arg.value.id == "options")
            assert literal, ast.unparse(arg)
