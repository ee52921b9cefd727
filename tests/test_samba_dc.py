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
from typing import Iterator

import pytest

from builder.build import build, render
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
        guid, _ = gpos[policy.name]
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


def test_a_second_deploy_changes_only_what_changed(dc: SambaDC, first: dict[str, object], tmp_path: Path) -> None:
    again = deploy(first["out"], dc, "--link")  # type: ignore[arg-type]
    assert again.returncode == 0 and again.stdout.count("   unchanged (version 1)") == 6, again.stdout
    matrix = tmp_path / "changed.yaml"
    matrix.write_text(
        EXAMPLE.read_text(encoding="utf-8")
        .replace("client_notification: 10124", "client_notification: 10125")
        .replace("enforced: true            # wins", "enforced: false           # wins")
    )
    out = tmp_path / "contoso"
    build(matrix, out)
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
    done = deploy(first["out"], dc, "--policy", "PxeDPs")  # type: ignore[arg-type]
    assert done.returncode == 0 and "uploaded" in done.stdout and "verified (version 2)" in done.stdout
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
    assert links_of(dc, "OU=Clients,DC=corp,DC=contoso,DC=com") == {guid: 0}
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
