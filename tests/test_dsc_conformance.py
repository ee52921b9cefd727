"""DSC output against independent implementations: pywbem, tree-sitter-powershell, the DSC v3 schema."""

import json
import warnings
from pathlib import Path

import pytest
import yaml

from builder.build import render
from builder.dsc.mof import decode_text, parse
from builder.dsc.mofclasses import declarations
from builder.syntax.powershell import _parser

from .conftest import EXAMPLE, ROOT

SCRIPT_RESOURCE = ROOT / "schemas" / "dsc" / "psdesiredstateconfiguration.mof"
from .test_dsc_build import hostile_matrix

UPSTREAM = ("psdesiredstateconfiguration/BaseResource.schema.mof", "networkingdsc/DSC_Firewall.schema.mof",
            "networkingdsc/DSC_FirewallProfile.schema.mof",
            "gpregistrypolicydsc/MSFT_RegistryPolicyFile.schema.mof", "gpregistrypolicydsc/MSFT_RefreshRegistryPolicy.schema.mof")


@pytest.fixture(scope="module")
def builds(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, bytes]]:
    tmp = tmp_path_factory.mktemp("m")
    return [render(EXAMPLE).files, render(hostile_matrix(lambda text, name="f.yaml": _write(tmp / name, text))).files]


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_pywbem_compiles_every_mof_against_the_unmodified_upstream_schemas(shared: Path, builds: list[dict[str, bytes]]) -> None:
    pywbem_mock = pytest.importorskip("pywbem_mock", reason="pywbem is not installed (pip install -e '.[test]')")
    dsc = shared / "samples" / "dsc"
    compiled = 0
    for files in builds:
        for path, data in sorted(files.items()):
            if not path.endswith(".mof"):
                continue
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                conn = pywbem_mock.FakedWBEMConnection(default_namespace="root/dsc")
                conn.compile_mof_string((dsc / "authored" / "qualifiers.mof").read_text(encoding="utf-8-sig"))
                for schema in UPSTREAM:
                    conn.compile_mof_string((dsc / schema).read_text(encoding="utf-8-sig"))
                # The built-in Script resource: no upstream schema file is published, so cmfw's own
                # declaration (from its documented properties) stands in, on the upstream base class.
                conn.compile_mof_string(SCRIPT_RESOURCE.read_text(encoding="utf-8"))
                conn.compile_mof_string(decode_text(data))
                ours = parse(decode_text(data))
                for class_name in ("DSC_Firewall", "DSC_FirewallProfile", "MSFT_RegistryPolicyFile", "MSFT_ScriptResource"):
                    expected = sum(i.class_name == class_name for i in ours.instances)
                    assert len(conn.EnumerateInstances(class_name)) == expected, path
            compiled += 1
    assert compiled == 8


def test_tree_sitter_finds_no_error_in_any_script(builds: list[dict[str, bytes]]) -> None:
    checked = 0
    for files in builds:
        for path, data in files.items():
            if path.endswith((".ps1", ".psd1")):
                tree = _parser().parse(data.decode("utf-8-sig").encode("utf-8"))
                stack = [tree.root_node]
                while stack:
                    node = stack.pop()
                    assert node.type != "ERROR" and not node.is_missing, (path, node.start_point)
                    stack.extend(node.children)
                checked += 1
    intune = sum("Deploy-CmfwIntune.ps1" in files for files in builds)  # a build with Intune policies has it
    assert checked == 14 + 2 * len(builds) + intune  # DSC scripts and data, plus Import-CmfwGpo.ps1 and Test-CmfwFirewall.ps1 per build


def test_every_v3_document_validates_against_the_bundled_schema(shared: Path, builds: list[dict[str, bytes]]) -> None:
    from jsonschema import Draft202012Validator

    for name in ("document.bundled.v3.json", "document.bundled.v3.1.0.json"):
        validator = Draft202012Validator(json.loads((shared / "samples" / "dsc" / "dsc-v3" / name).read_text()))
        for files in builds:
            for path, data in files.items():
                if path.endswith(".dsc.yaml"):
                    assert [e.message for e in validator.iter_errors(yaml.safe_load(data))] == [], (name, path)


def test_our_class_declarations_match_upstream(shared: Path) -> None:
    dsc = shared / "samples" / "dsc"
    upstream = {}
    for schema in UPSTREAM:
        for cls in parse((dsc / schema).read_text(encoding="utf-8-sig")).classes:
            upstream[cls.name.lower()] = cls
    ours = declarations()
    for name in ("omi_baseresource", "dsc_firewall", "dsc_firewallprofile", "msft_registrypolicyfile", "msft_refreshregistrypolicy", "omi_configurationdocument"):
        a, b = ours[name], upstream[name]
        assert (a.name, a.superclass) == (b.name, b.superclass)
        assert set(a.properties) == set(b.properties), name
        for prop in a.properties:
            pa, pb = a.properties[prop], b.properties[prop]
            assert (pa.type, pa.array) == (pb.type, pb.array), (name, prop)
            for qualifier in ("key", "required", "read", "valuemap"):
                assert pa.qualifiers.get(qualifier) == pb.qualifiers.get(qualifier), (name, prop, qualifier)


def test_our_parser_reads_a_real_powershell_compiled_mof(shared: Path) -> None:
    data = (shared / "samples" / "dsc" / "baselinemanagement" / "localhost.mof").read_bytes()
    doc = parse(decode_text(data))
    assert len(doc.instances) == 100 and doc.instances[-1].class_name == "OMI_ConfigurationDocument"
