"""A big build checks its DSC documents by shape (builder/dsc/shapes.py): each shape once in
full, the free text of every document where it is compared across the document. These
tests hold it to the full check (builder/dsc/check.py, what ``cmfw check`` runs): the
same verdict on a clean build and on faults planted in a document that is *not* the first
of its shape, where a shape checker could wrongly trust its representative."""

from __future__ import annotations

import hashlib
from typing import Callable

import pytest

from builder.build import render
from builder.dsc.check import check_dsc_files
from builder.dsc.shapes import check_dsc_files_by_shape

POLICIES = 36
FEATURES = "[client-notification, software-updates, branchcache, {remote-control: {from: consoles}}, peer-cache]"


@pytest.fixture(scope="module")
def dsc_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    lines = ["version: 1", "domain: corp.contoso.com", "addresses:", "  consoles: [10.20.0.0/24]", "policies:"]
    for i in range(POLICIES):
        lines += [f"  - name: Policy {i}", f"    id: P{i}", f"    features: {FEATURES}"]
    matrix = tmp_path_factory.mktemp("shapes") / "big.yaml"
    matrix.write_text("\n".join(lines) + "\n", encoding="utf-8")
    files = render(matrix).files
    return {path: data for path, data in files.items() if path.startswith("dsc/")}


def _mof(files: dict[str, bytes], policy: str, edit: Callable[[str], str], *, fix_checksum: bool = True) -> dict[str, bytes]:
    path = f"dsc/{policy}/localhost.mof"
    text = files[path].decode("utf-16")
    changed = edit(text)
    assert changed != text, "the planted fault did not apply"
    data = b"\xff\xfe" + changed.encode("utf-16-le")
    out = dict(files, **{path: data})
    if fix_checksum:
        out[path + ".checksum"] = hashlib.sha256(data).hexdigest().upper().encode("ascii")
    return out


def _v3(files: dict[str, bytes], policy: str, edit: Callable[[str], str]) -> dict[str, bytes]:
    path = f"dsc/{policy}/{policy}.dsc.yaml"
    text = files[path].decode("utf-8")
    changed = edit(text)
    assert changed != text, "the planted fault did not apply"
    return dict(files, **{path: changed.encode("utf-8")})


def _messages(problems: list) -> set[tuple[str, str]]:
    return {(p.file, p.message) for p in problems}


def test_a_clean_big_build_passes_both_checks(dsc_files: dict[str, bytes]) -> None:
    assert sum(1 for p in dsc_files if p.endswith(".mof")) == POLICIES
    assert check_dsc_files(dsc_files, "dsc") == []
    assert check_dsc_files_by_shape(dsc_files, "dsc") == []


FAULTS: dict[str, Callable[[dict[str, bytes]], dict[str, bytes]]] = {
    "a value outside its ValueMap": lambda f: _mof(f, "P7", lambda t: t.replace('Direction = "Inbound"', 'Direction = "Inbund"', 1)),
    "two resources with one ResourceID": lambda f: _mof(
        f, "P7", lambda t: t.replace("ResourceID = \"[Firewall]CMFW-P7-Branchcache-Discovery-UDP-Out\"",
                                     "ResourceID = \"[Firewall]CMFW-P7-Branchcache-Discovery-UDP-In\"", 1)),
    "two rules with one Name (the key)": lambda f: _mof(
        f, "P7", lambda t: t.replace(' Name = "CMFW-P7-Branchcache-Discovery-UDP-Out"', ' Name = "CMFW-P7-Branchcache-Discovery-UDP-In"', 1)),
    "a checksum that does not match": lambda f: _mof(f, "P7", lambda t: t.replace("peer discovery (WSD-In)", "peer discovery (WSD-in)", 1),
                                                     fix_checksum=False),
    "a bad escape in a string": lambda f: _mof(f, "P7", lambda t: t.replace("system32\\\\svchost", "system32\\svchost", 1)),
    "a v3 value outside its enum": lambda f: _v3(f, "P7", lambda t: t.replace("Direction: 'Outbound'", "Direction: 'Outbund'", 1)),
    "two v3 instances with one name": lambda f: _v3(
        f, "P7", lambda t: t.replace("- name: 'CMFW P7 Branchcache Discovery UDP Out'", "- name: 'CMFW P7 Branchcache Discovery UDP In'", 1)),
    "a v3 document that is not YAML": lambda f: _v3(f, "P7", lambda t: t.replace("type: 'NetworkingDsc/Firewall'", "type: 'NetworkingDsc/Firewall", 1)),
}


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_a_fault_in_a_later_document_of_a_shape_is_found_as_the_full_check_finds_it(dsc_files: dict[str, bytes], fault: str) -> None:
    broken = FAULTS[fault](dsc_files)
    full = check_dsc_files(broken, "dsc")
    assert full, f"the full check should find {fault}"
    by_shape = check_dsc_files_by_shape(broken, "dsc")
    assert _messages(by_shape) == _messages(full)
