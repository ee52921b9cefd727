"""The package on a real domain controller: a Samba AD DC on loopback (marker ``dc``).

The DC is provisioned once for this module in a temporary directory, bound to
127.0.0.1/::1 only, and stopped by its PID at the end (also when a test fails). The
tests deploy the example with the package's own ``deploy-samba.sh`` and read every
GPO back through Samba: over SMB (``samba-tool gpo fetch``) and LDAP.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any, Iterator

import pytest

from builder.build import build
from builder.gpo.backup import MACHINE_EXTENSIONS
from builder.read import read_path
from builder.model import rule_to_dict

from .conftest import EXAMPLE
from .sambadc import PASSWORD, SambaDC, is_loopback, unavailable

pytestmark = pytest.mark.dc

OUS = (
    "OU=Clients,DC=corp,DC=contoso,DC=com",
    "OU=Workstations,OU=Clients,DC=corp,DC=contoso,DC=com",
    "OU=Laptops,OU=Clients,DC=corp,DC=contoso,DC=com",
    "OU=Member Servers,DC=corp,DC=contoso,DC=com",
)
HOSTILE = "Evil'; touch /tmp/cmfw-dc-pwned; echo \"$(id)\" `id` \\ *"


@pytest.fixture(scope="module")
def dc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SambaDC]:
    reason = unavailable()
    if reason and os.environ.get("CMFW_REQUIRE_DC"):
        pytest.fail(f"CMFW_REQUIRE_DC is set (CI) but no DC can run here: {reason}")
    if reason:
        pytest.skip(reason)
    root = tmp_path_factory.mktemp("sambadc")
    server = SambaDC(root / "dc")
    try:
        server.provision()
        server.start()
        for ou in OUS:
            done = server.samba_tool("ou", "create", ou)
            assert done.returncode == 0, done.stderr
        yield server
    finally:
        left = server.stop()
        log = server.log()
        shutil.rmtree(root, ignore_errors=True)
        assert not left, f"processes left after stopping the DC: {left}\n{log[-2000:]}"


def deploy(package: Path, dc: SambaDC, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(package / "deploy-samba.sh"), "-s", str(dc.conf), "-H", dc.url, *args],
        capture_output=True, text=True, env=dict(os.environ, PASSWD=PASSWORD), timeout=600,
    )


def plan(package: Path, dc: SambaDC, *args: str) -> tuple[int, dict[str, Any]]:
    """``deploy-samba.sh --plan --format json``: exit status and the plan."""
    done = deploy(package, dc, "--plan", "--format", "json", *args)
    assert done.returncode in (0, 2), done.stdout + done.stderr
    return done.returncode, json.loads(done.stdout)


def rows(found: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {row["key"]: row for row in found["policies"]}


def edited(tmp_path: Path, name: str, *replacements: tuple[str, str]) -> Path:
    """The example with each (old, new) replaced once, built into tmp_path/name."""
    text = EXAMPLE.read_text(encoding="utf-8")
    for old, new in replacements:
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    matrix = tmp_path / f"{name}.yaml"
    matrix.write_text(text, encoding="utf-8")
    out = tmp_path / name
    build(matrix, out)
    return out


def by_name(dc: SambaDC) -> dict[str, tuple[str, dict[str, object]]]:
    return {str(info["name"]): (guid, info) for guid, info in dc.gpos().items()}


def check_gpo(dc: SambaDC, guid: str, pol: bytes, where: Path) -> int:
    """Assert that the GPO in the DC holds exactly ``pol``; its version. Raises AssertionError."""
    info = dc.gpos()[guid]
    assert info["machine_extensions"] == MACHINE_EXTENSIONS, info["machine_extensions"]
    assert info["user_extensions"] in (None, "")
    folder = dc.fetch(guid, where)
    fetched = folder / "Machine" / "Registry.pol"
    assert fetched.read_bytes() == pol, "Registry.pol in SYSVOL differs from the build"
    ini = (folder / "GPT.INI").read_text(encoding="utf-8", errors="replace")
    assert re.findall(r"(?im)^version=(\d+)\s*$", ini) == [str(info["version"])], ini
    return int(info["version"])  # type: ignore[call-overload]


@pytest.fixture(scope="module")
def first(dc: SambaDC, tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    out = tmp_path_factory.mktemp("first") / "contoso"
    result = build(EXAMPLE, out)
    done = deploy(out, dc, "--link")
    assert done.returncode == 0, done.stdout + done.stderr
    return {"out": out, "build": result, "stdout": done.stdout}


def test_the_dc_listens_on_loopback_only(dc: SambaDC) -> None:
    sockets = dc.listening()
    assert any(port == 389 for _, _, port in sockets) and any(port == 445 for _, _, port in sockets)
    outside = [s for s in sockets if not is_loopback(s[1])]
    assert outside == [], f"bound outside loopback: {outside}"


def test_every_policy_deployed_and_read_back(dc: SambaDC, first: dict[str, object], tmp_path: Path) -> None:
    result, out = first["build"], first["out"]
    gpos = by_name(dc)
    policies = result.policyset.policies  # type: ignore[attr-defined]
    assert len(policies) == 6 and first["stdout"].count("   verified (version 1)") == 6  # type: ignore[union-attr]
    for policy in policies:
        guid, info = gpos[policy.name]
        assert info["flags"] == 1  # user settings disabled, as the backup's <Options> says
        comment = (dc.sysvol / guid / "GPO.cmt").read_bytes()
        assert comment.startswith(b"\xff\xfe") and comment[2:].decode("utf-16-le") == (
            f"Managed by cmfw: domain corp.contoso.com, policy {policy.key}. Edit the matrix, not this GPO."
        )
        assert check_gpo(dc, guid, pol_of(out, policy.name).read_bytes(), tmp_path / guid) == 1  # type: ignore[arg-type]
        # `cmfw inspect` of what came back is the resolved policy, rule for rule.
        [content] = read_path(next((tmp_path / guid).rglob("Registry.pol")))
        assert [comparable(r) for r in content.rules] == [comparable(r) for r in policy.rules]
        assert content.profile_settings == list(policy.profile_settings)


def test_links_are_where_the_matrix_says(dc: SambaDC, first: dict[str, object]) -> None:
    gpos = by_name(dc)
    expected = {
        "OU=Workstations,OU=Clients,DC=corp,DC=contoso,DC=com": ("ConfigMgr Clients - Workstations", 0),
        "OU=Laptops,OU=Clients,DC=corp,DC=contoso,DC=com": ("ConfigMgr Clients - Laptops", 2),  # enforced
        "OU=Member Servers,DC=corp,DC=contoso,DC=com": ("ConfigMgr Member Servers", 1),  # disabled
    }
    for dn, (name, options) in expected.items():
        guid, _ = gpos[name]
        assert links_of(dc, dn) == {guid: options}
    assert links_of(dc, "OU=Clients,DC=corp,DC=contoso,DC=com") == {}


def test_an_unchanged_matrix_plans_no_changes(dc: SambaDC, first: dict[str, object]) -> None:
    out: Path = first["out"]  # type: ignore[assignment]
    text = deploy(out, dc, "--plan", "--link", "--detailed-exitcode")
    assert text.returncode == 0, text.stdout + text.stderr
    assert text.stdout.splitlines()[-1] == "Plan: 6 unchanged. No changes.", text.stdout
    status, found = plan(out, dc, "--link", "--detailed-exitcode")
    assert status == 0 and found["format"] == "cmfw-plan/1" and found["changes"] is False and found["orphans"] == []
    for row in found["policies"]:
        assert (row["action"], row["found_by"], row["rename_from"]) == ("unchanged", "marker", None), row
        assert all(ln["action"] == "unchanged" for ln in row["links"]) and row["rules"]["changed"] == []
    assert sum(len(row["links"]) for row in found["policies"]) == 3


def test_a_second_deploy_changes_only_what_changed(dc: SambaDC, first: dict[str, object], tmp_path: Path) -> None:
    again = deploy(first["out"], dc, "--link")  # type: ignore[arg-type]
    assert again.returncode == 0 and again.stdout.count("   Registry.pol unchanged (version 1)") == 6, again.stdout
    out = edited(
        tmp_path, "contoso",
        ("client_notification: 10124", "client_notification: 10125"),
        ("enforced: true            # wins", "enforced: false           # wins"),
    )
    status, found = plan(out, dc, "--link", "--detailed-exitcode")
    assert status == 2 and found["changes"] is True
    by_key = rows(found)
    for key in ("Workstations", "Laptops"):
        row = by_key[key]
        assert row["action"] == "update" and row["rules"]["added"] == row["rules"]["removed"] == []
        assert row["rules"]["changed"] == [
            {"id": f"CMFW-{key}-ClientNotification-TCP-Out", "fields": {"RPort": {"from": ["10124"], "to": ["10125"]}}}
        ]
        assert row["settings"] == {"added": [], "removed": [], "changed": []} and not (row["marker"] or row["status"])
    assert [ln["action"] for ln in by_key["Laptops"]["links"]] == ["update"]
    assert {row["action"] for key, row in by_key.items() if key not in ("Workstations", "Laptops")} == {"unchanged"}
    text = deploy(out, dc, "--plan", "--link").stdout
    assert "      ~ rule CMFW-Workstations-ClientNotification-TCP-Out  RPort: 10124 -> 10125" in text
    assert "moves to the end of the target's links" in text
    done = deploy(out, dc, "--link")
    assert done.returncode == 0, done.stdout + done.stderr
    gpos = by_name(dc)
    changed = {"ConfigMgr Clients - Laptops", "ConfigMgr Clients - Workstations"}
    for name, (guid, info) in gpos.items():
        if name not in {p.name for p in first["build"].policyset.policies}:  # type: ignore[attr-defined]
            continue
        version = check_gpo(dc, guid, pol_of(out, name).read_bytes(), tmp_path / "fetch" / guid)
        assert version == (2 if name in changed else 1), name
    laptops, _ = gpos["ConfigMgr Clients - Laptops"]
    assert links_of(dc, "OU=Laptops,OU=Clients,DC=corp,DC=contoso,DC=com") == {laptops: 0}


def test_the_check_fails_on_a_corrupted_registry_pol(dc: SambaDC, first: dict[str, object], tmp_path: Path) -> None:
    name = "ConfigMgr PXE Distribution Points"
    guid, _ = by_name(dc)[name]
    good = pol_of(first["out"], name).read_bytes()  # type: ignore[arg-type]
    on_dc = dc.sysvol / guid / "Machine" / "Registry.pol"
    on_dc.write_bytes(good[:-4] + b"\xff\xff\xff\xff")
    with pytest.raises(AssertionError, match="Registry.pol in SYSVOL differs from the build"):
        check_gpo(dc, guid, good, tmp_path / "broken")
    _, found = plan(first["out"], dc, "--policy", "PxeDPs")  # type: ignore[arg-type]
    [row] = found["policies"]  # the plan sees the damage: the last rule's string lost its end
    assert row["action"] == "update" and [c["id"] for c in row["rules"]["changed"]] == ["CMFW-PxeDPs-PxeDistributionPoint-TFTP-Data-UDP-Out"]
    done = deploy(first["out"], dc, "--policy", "PxeDPs", "--verify-dc", "127.0.0.1")  # type: ignore[arg-type]
    assert done.returncode == 0 and "uploaded" in done.stdout and "verified (version 2)" in done.stdout
    assert "== SYSVOL on 127.0.0.1" in done.stdout and "   verified on 127.0.0.1 (version 2)" in done.stdout
    assert check_gpo(dc, guid, good, tmp_path / "repaired") == 2


def test_the_check_fails_on_a_wrong_extension_list(dc: SambaDC, first: dict[str, object], tmp_path: Path) -> None:
    name = "ConfigMgr Console Workstations"
    guid, _ = by_name(dc)[name]
    good = pol_of(first["out"], name).read_bytes()  # type: ignore[arg-type]
    dc.set_attribute(guid, "gPCMachineExtensionNames", "[{35378EAC-683F-11D2-A89A-00C04FBBCFA2}]")
    with pytest.raises(AssertionError, match=r"\[\{35378EAC-683F-11D2-A89A-00C04FBBCFA2\}\]"):
        check_gpo(dc, guid, good, tmp_path / "broken")
    done = deploy(first["out"], dc, "--policy", "Consoles")  # type: ignore[arg-type]
    assert done.returncode == 0 and "uploaded" in done.stdout, done.stdout
    check_gpo(dc, guid, good, tmp_path / "repaired")


def test_a_registry_pol_clients_cannot_read_fails_the_check(dc: SambaDC, first: dict[str, object]) -> None:
    guid, _ = by_name(dc)["ConfigMgr Clients - Kiosks"]
    pol = dc.sysvol / guid / "Machine" / "Registry.pol"
    admins_only = "O:DAG:DAD:P(A;;FA;;;DA)(A;;FA;;;SY)"
    done = subprocess.run(
        ["samba-tool", "ntacl", "set", admins_only, str(pol), "-s", str(dc.conf), "--service=sysvol"],
        capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    checked = deploy(first["out"], dc, "--policy", "Kiosks")  # type: ignore[arg-type]
    assert checked.returncode == 1, checked.stdout + checked.stderr
    assert "no ACL entry lets Authenticated Users read it; clients will not apply the GPO" in checked.stdout
    restore = subprocess.run(["samba-tool", "ntacl", "sysvolreset", "-s", str(dc.conf)], capture_output=True, text=True, timeout=300)
    assert restore.returncode == 0, restore.stderr
    assert deploy(first["out"], dc, "--policy", "Kiosks").returncode == 0  # type: ignore[arg-type]


RENAME = ("name: ConfigMgr Clients - Workstations", "name: ConfigMgr Clients - Desktops")
SERVERS = "  - name: ConfigMgr Member Servers\n"


def test_a_rename_keeps_the_gpo_its_guid_and_links(dc: SambaDC, tmp_path: Path) -> None:
    before, _ = by_name(dc)["ConfigMgr Clients - Workstations"]
    out = edited(tmp_path, "renamed", RENAME)
    status, found = plan(out, dc, "--link", "--detailed-exitcode")
    row = rows(found)["Workstations"]
    assert status == 2 and row["gpo"] == before and row["found_by"] == "marker"
    assert row["rename_from"] == "ConfigMgr Clients - Workstations" and row["name"] == "ConfigMgr Clients - Desktops"
    assert [ln["action"] for ln in row["links"]] == ["unchanged"]
    assert "      rename: 'ConfigMgr Clients - Workstations' -> 'ConfigMgr Clients - Desktops'" in deploy(out, dc, "--plan").stdout
    done = deploy(out, dc, "--link")
    assert done.returncode == 0, done.stdout + done.stderr
    gpos = by_name(dc)
    assert "ConfigMgr Clients - Workstations" not in gpos
    after, _ = gpos["ConfigMgr Clients - Desktops"]
    assert after == before
    assert links_of(dc, "OU=Workstations,OU=Clients,DC=corp,DC=contoso,DC=com") == {before: 0}
    again = deploy(out, dc, "--plan", "--link", "--detailed-exitcode")
    assert again.returncode == 0 and again.stdout.endswith("No changes.\n"), again.stdout


def test_orphans_are_listed_and_pruned_and_unmarked_gpos_never_touched(dc: SambaDC, tmp_path: Path) -> None:
    clients = "OU=Clients,DC=corp,DC=contoso,DC=com"
    strangers = {}
    for name, comment in (
        ("Foreign firewall", None),  # no marker at all
        ("Other owner", "Managed by cmfw: domain corp.contoso.com, owner someone-else, policy Servers. Edit the matrix, not this GPO."),
        ("Other domain", "Managed by cmfw: domain other.example, policy Servers. Edit the matrix, not this GPO."),
    ):
        made = dc.samba_tool("gpo", "create", name)
        assert made.returncode == 0, made.stderr
        guid = re.search(r"\{[0-9A-Fa-f-]{36}\}", made.stdout).group(0).upper()  # type: ignore[union-attr]
        if comment:
            (dc.sysvol / guid / "GPO.cmt").write_bytes(b"\xff\xfe" + comment.encode("utf-16-le"))
        strangers[name] = guid
    assert dc.samba_tool("gpo", "setlink", clients, strangers["Foreign firewall"]).returncode == 0
    servers, _ = by_name(dc)["ConfigMgr Member Servers"]
    text = EXAMPLE.read_text(encoding="utf-8").replace(*RENAME)
    start, end = text.index(SERVERS), text.index("  - name: ConfigMgr Clients - Kiosks")
    matrix = tmp_path / "no-servers.yaml"
    matrix.write_text(text[:start] + text[end:], encoding="utf-8")
    out = tmp_path / "no-servers"
    build(matrix, out)

    status, found = plan(out, dc, "--link", "--detailed-exitcode")
    assert status == 0 and found["changes"] is False  # an orphan kept is not a change
    assert found["orphans"] == [{
        "gpo": servers, "name": "ConfigMgr Member Servers", "key": "Servers",
        "links": ["OU=Member Servers,DC=corp,DC=contoso,DC=com"], "action": "keep",
    }]
    text_plan = deploy(out, dc, "--plan").stdout
    assert f"  - ConfigMgr Member Servers  (GPO {servers}, policy Servers, linked to OU=Member Servers,DC=corp,DC=contoso,DC=com): orphan, kept (--prune deletes it)" in text_plan
    status, found = plan(out, dc, "--prune", "--detailed-exitcode")
    assert status == 2 and [o["action"] for o in found["orphans"]] == ["delete"]

    done = deploy(out, dc, "--link", "--prune")
    assert done.returncode == 0, done.stdout + done.stderr
    gpos = dc.gpos()
    assert servers not in gpos
    assert links_of(dc, "OU=Member Servers,DC=corp,DC=contoso,DC=com") == {}
    assert all(guid in gpos for guid in strangers.values())
    assert links_of(dc, clients) == {strangers["Foreign firewall"]: 0}
    status, found = plan(out, dc, "--prune", "--detailed-exitcode")
    assert status == 0 and found["orphans"] == []


def test_a_gpo_deployed_before_markers_is_found_by_name(dc: SambaDC, tmp_path: Path) -> None:
    guid, _ = by_name(dc)["ConfigMgr Console Workstations"]
    (dc.sysvol / guid / "GPO.cmt").unlink()
    out = edited(tmp_path, "renamed", RENAME)
    status, found = plan(out, dc, "--detailed-exitcode", "--policy", "Consoles")
    [row] = found["policies"]
    assert status == 2 and (row["gpo"], row["found_by"], row["action"], row["marker"]) == (guid, "name", "update", True)
    assert row["rules"] == {"added": [], "removed": [], "changed": []}
    done = deploy(out, dc, "--policy", "Consoles")
    assert done.returncode == 0 and "wrote the cmfw marker" in done.stdout, done.stdout + done.stderr
    assert (dc.sysvol / guid / "GPO.cmt").read_bytes()[2:].decode("utf-16-le").startswith("Managed by cmfw: domain corp.contoso.com, policy Consoles.")
    status, found = plan(out, dc, "--detailed-exitcode", "--policy", "Consoles")
    assert status == 0 and found["policies"][0]["found_by"] == "marker"


def test_a_hostile_policy_name_is_only_a_name(dc: SambaDC, tmp_path: Path) -> None:
    matrix = tmp_path / "hostile.yaml"
    matrix.write_text(
        "version: 1\ndomain: corp.contoso.com\naddresses: {consoles: [10.20.0.0/24]}\npolicies:\n"
        f"  - name: {json.dumps(HOSTILE)}\n    id: Evil\n    features: [remote-control]\n"
        "    links: ['OU=Clients,DC=corp,DC=contoso,DC=com']\n"
    )
    out = tmp_path / "evil"
    result = build(matrix, out)
    assert result.policyset.policies[0].name == HOSTILE
    Path("/tmp/cmfw-dc-pwned").unlink(missing_ok=True)
    done = deploy(out, dc, "--link")
    assert done.returncode == 0, done.stdout + done.stderr
    guid, _ = by_name(dc)[HOSTILE]
    check_gpo(dc, guid, pol_of(out, HOSTILE).read_bytes(), tmp_path / "fetch")
    assert links_of(dc, "OU=Clients,DC=corp,DC=contoso,DC=com")[guid] == 0
    assert not Path("/tmp/cmfw-dc-pwned").exists()
    for args in (("--plan",), ("--plan", "--link", "--prune")):
        seen = deploy(out, dc, *args)
        assert seen.returncode == 0 and f"  = {HOSTILE}  (GPO {guid}, found by marker)" in seen.stdout, seen.stdout + seen.stderr
    assert rows(plan(out, dc)[1])["Evil"]["name"] == HOSTILE
    assert not Path("/tmp/cmfw-dc-pwned").exists()


def pol_of(out: Path, name: str) -> Path:
    """The built registry.pol of the policy called ``name``."""
    [gpo] = [g for g in read_path(out / "gpo") if g.name == name]
    return Path(gpo.source) / "DomainSysvol" / "GPO" / "Machine" / "registry.pol"


def links_of(dc: SambaDC, dn: str) -> dict[str, int]:
    """GPO GUID → link options (1 disabled, 2 enforced) in the target's gPLink."""
    return {guid.upper(): int(options) for guid, options in re.findall(r"(?i)\[LDAP://cn=(\{[0-9a-f-]{36}\}),[^;\]]*;(\d+)\]", dc.gplink(dn))}


def comparable(rule: object) -> dict[str, object]:
    """A rule's fields that a GPO carries (the feature and source stay in the matrix)."""
    data = rule_to_dict(rule)  # type: ignore[arg-type]
    data.pop("feature")
    data.pop("source")
    return data
