"""Two XSD engines, libxml2 (through lxml) and xmlschema, agree on every GPO XML file.

One engine can agree with our own mistakes in schemas/gpo/; xmlschema implements XSD
1.0 in Python and shares no validation code with libxml2. Every file we have (the
golden build, fresh builds, real GPMC backups) must get the same verdict from both,
and a fault planted in a generated file must be refused by both.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

import pytest
from click.testing import CliRunner
from lxml import etree

from builder.build import build, render
from builder.check import check_path
from builder.errors import InputError, Problem
from builder.cli import cli
from builder.gpo.xsd import ENGINES, SCHEMAS, problems_with
from builder.syntax.xml import parse_xml

from .conftest import EXAMPLE, GOLDEN, ROOT
from .test_dsc_build import hostile_matrix
from .test_gpo_backup import HOSTILE as XML_HOSTILE


@pytest.fixture(scope="module")
def xmlschema_installed() -> None:
    """For the tests that run the second engine (the others need no xmlschema)."""
    pytest.importorskip("xmlschema", reason="xmlschema is not installed (pip install -e '.[test]')")


def schema_of(path: str) -> str | None:
    """The XSD for a GPO XML file by its name; the samples keep manifests as ``*-manifest.xml``."""
    name = path.rsplit("/", 1)[-1]
    return SCHEMAS.get(name) or ("manifest.xsd" if name.endswith("manifest.xml") else None)


def both(path: str, data: bytes, schema: str) -> dict[str, list[Problem]]:
    return {engine: problems_with(engine, path, data, schema) for engine in ENGINES}


def validate_all(files: Mapping[str, bytes], label: str, tally: set[str]) -> int:
    """Validate every GPO XML file of ``files`` with both engines; fail on any disagreement
    (or any refusal: every file handed here is one the schemas must accept)."""
    disagree, refused, count = [], [], 0
    for path, data in sorted(files.items()):
        schema = schema_of(path)
        if schema is None:
            continue
        count += 1
        found = both(path, data, schema)
        verdicts = {engine: "refuses" if problems else "accepts" for engine, problems in found.items()}
        if len(set(verdicts.values())) > 1:
            disagree.append(f"{path}: {verdicts}; {[str(p) for ps in found.values() for p in ps][:3]}")
        elif found["lxml"]:
            refused.append(f"{path}: {[str(p) for p in found['lxml'][:3]]}")
        else:
            tally.add(f"{label}:{path}")
    assert not disagree, "the XSD engines disagree:\n" + "\n".join(disagree)
    assert not refused, "both XSD engines refuse:\n" + "\n".join(refused)
    return count


def gpo_files(root: Path, under: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(under.rglob("*.xml"))}


def backup_folders(files: Mapping[str, bytes]) -> int:
    return len({path.split("/")[1] for path in files if path.startswith("gpo/{")})


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def _quoted(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


@pytest.fixture(scope="module")
def builds(xmlschema_installed: None, tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, bytes]]:
    """Fresh renders: the example, and the hostile matrix of the DSC tests with a second
    policy named with what XML must escape (``]]>``, ``<script>``, ``&``, quotes)."""
    tmp = tmp_path_factory.mktemp("engines")
    xml_policy = (
        f"  - name: {_quoted(XML_HOSTILE)}\n    id: XmlHostile\n    description: {_quoted(XML_HOSTILE)}\n"
        "    features: [client-requests, remote-control]\n"
    )
    hostile = hostile_matrix(lambda text, name="firewall.yaml": _write(tmp / name, text), xml_policy)
    return {"contoso": render(EXAMPLE).files, "hostile": render(hostile).files}


# -- every file we have: both engines accept ------------------------------------------------------


@pytest.mark.usefixtures("xmlschema_installed")
def test_the_golden_build(both_engines_tally: set[str]) -> None:
    files = gpo_files(GOLDEN, GOLDEN / "gpo")
    folders = backup_folders(files)
    assert folders >= 1
    assert validate_all(files, "golden", both_engines_tally) == 1 + 3 * folders


@pytest.mark.parametrize("name", ["contoso", "hostile"])
def test_fresh_builds(builds: dict[str, dict[str, bytes]], name: str, both_engines_tally: set[str]) -> None:
    files = builds[name]
    folders = backup_folders(files)
    assert folders >= (1 if name == "contoso" else 2)
    assert validate_all(files, name, both_engines_tally) == 1 + 3 * folders
    if name == "hostile":
        reports = [files[p].decode("utf-16") for p in files if p.endswith("/gpreport.xml")]
        assert any("]]&gt; &lt;script&gt;" in text for text in reports)


@pytest.mark.usefixtures("xmlschema_installed")
def test_every_real_gpmc_sample(shared: Path, both_engines_tally: set[str]) -> None:
    samples = shared / "samples" / "gpo"
    assert validate_all(gpo_files(samples, samples), "sample", both_engines_tally) == 17


# -- planted faults: both engines refuse ----------------------------------------------------------


def _swap(old: str, new: str) -> Callable[[str], str]:
    def plant(text: str) -> str:
        assert old in text, f"the fault's anchor {old!r} is not in the file: the test needs updating"
        return text.replace(old, new, 1)

    return plant


def _rename(tag: str, new: str) -> Callable[[str], str]:
    """The first ``<tag>…</tag>`` renamed, the document still well-formed."""

    def plant(text: str) -> str:
        start = text.index(f"<{tag}>")
        end = text.index(f"</{tag}>", start)
        inner = text[start + len(tag) + 2:end]
        return text[:start] + f"<{new}>{inner}</{new}>" + text[end + len(tag) + 3:]

    return plant


def _duplicate_first_backup(text: str) -> str:
    first = re.search(r"<BackupInst>.*?</BackupInst>", text)
    assert first, text[:200]
    return text[: first.end()] + first.group() + text[first.end():]


FAULTS = [
    # A misspelt element, in each kind of file.
    pytest.param("Backup.xml", _swap("<FilePaths/>", "<FilePath/>"), id="misspelt-element-Backup"),
    pytest.param("gpreport.xml", _rename("q1:Action", "q1:Acton"), id="misspelt-element-gpreport"),
    pytest.param("bkupInfo.xml", _rename("GPODisplayName", "GPOName"), id="misspelt-element-bkupInfo"),
    pytest.param("manifest.xml", _rename("Comment", "Comments"), id="misspelt-element-manifest"),
    # A wrong enumeration value.
    pytest.param("gpreport.xml", _swap("<q1:Action>Allow<", "<q1:Action>Permit<"), id="wrong-enum-action"),
    pytest.param("gpreport.xml", _swap("<q1:Dir>In<", "<q1:Dir>Inbound<"), id="wrong-enum-direction"),
    pytest.param("gpreport.xml", _swap("<q1:Profile>Domain<", "<q1:Profile>domain<"), id="wrong-enum-profile"),
    # A missing required attribute.
    pytest.param("Backup.xml", _swap(' bkp:DescName="Registry"', ""), id="missing-attribute-DescName"),
    pytest.param("Backup.xml", _swap(' bkp:type="GroupPolicyBackupTemplate"', ""), id="missing-attribute-type"),
    pytest.param("Backup.xml", _swap('<FSObjectFile bkp:Path="%GPO_FSPATH%\\Adm\\*.*"/>', "<FSObjectFile/>"), id="missing-attribute-Path"),
    pytest.param("manifest.xml", _swap(' mfst:version="1.0"', ""), id="missing-attribute-version"),
    # A wrong namespace.
    pytest.param("bkupInfo.xml", _swap("GPOOperations/Manifest", "GPOOperations/Manifests"), id="wrong-namespace-bkupInfo"),
    pytest.param("Backup.xml", _swap('xmlns="http://www.microsoft.com/GroupPolicy/GPOOperations"', 'xmlns="urn:cmfw:wrong"'), id="wrong-namespace-Backup"),
    pytest.param("gpreport.xml", _swap("<Enabled>", '<Enabled xmlns="http://www.microsoft.com/GroupPolicy/Types">'), id="wrong-namespace-element"),
    pytest.param("gpreport.xml", _swap('xmlns:q1="http://www.microsoft.com/GroupPolicy/Settings/WindowsFirewall"',
                                       'xmlns:q1="http://www.microsoft.com/GroupPolicy/Settings/WindowsFirewal"'), id="wrong-namespace-xsi-type"),
    # What else a schema promises: types, facets, patterns, identity, required elements.
    pytest.param("gpreport.xml", _swap('xsi:type="q1:WindowsFirewallSettings"', 'xsi:type="q1:FirewallSettings"'), id="unknown-xsi-type"),
    pytest.param("gpreport.xml", _swap(' xsi:type="q1:WindowsFirewallSettings"', ""), id="abstract-extension"),
    pytest.param("gpreport.xml", _swap("<q1:Active>true<", "<q1:Active>yes<"), id="not-a-boolean"),
    pytest.param("Backup.xml", _swap("<Options><![CDATA[1]]>", "<Options><![CDATA[4]]>"), id="out-of-range"),
    pytest.param("bkupInfo.xml", _swap("<ID><![CDATA[{", "<ID><![CDATA[{X"), id="not-a-guid"),
    pytest.param("manifest.xml", _duplicate_first_backup, id="duplicate-backup-id"),
    pytest.param("Backup.xml", _swap("<WMIFilter/>", ""), id="missing-element"),
    # The engines disagreed here before the wildcards moved into an inner sequence (README.md).
    pytest.param("Backup.xml", _swap("<FilePaths/>", "<FilePaths>C:\\evil</FilePaths>"), id="text-in-wildcard-content"),
]


def _encode(name: str, text: str) -> bytes:
    return text.encode("utf-16") if name == "gpreport.xml" else text.encode("utf-8")


def _decode(name: str, data: bytes) -> str:
    return data.decode("utf-16") if name == "gpreport.xml" else data.decode("utf-8")


def _first(files: Mapping[str, bytes], name: str) -> str:
    return sorted(path for path in files if path.rsplit("/", 1)[-1] == name)[0]


@pytest.mark.parametrize(("name", "plant"), FAULTS)
def test_a_planted_fault_is_refused_by_both(builds: dict[str, dict[str, bytes]], name: str, plant: Callable[[str], str]) -> None:
    files = builds["contoso"]
    path = _first(files, name)
    schema = SCHEMAS[name]
    assert both(path, files[path], schema) == {"lxml": [], "xmlschema": []}
    found = both(path, _encode(name, plant(_decode(name, files[path]))), schema)
    assert found["lxml"] and found["xmlschema"], found
    for problem in found["lxml"] + found["xmlschema"]:
        assert problem.file == path and "\n" not in problem.message
    assert all(p.message.endswith(f"(XSD {schema}, xmlschema)") for p in found["xmlschema"])
    assert all(p.line > 0 for p in found["lxml"])


def test_xmlschema_gives_the_line_of_the_fault(builds: dict[str, dict[str, bytes]]) -> None:
    files = builds["contoso"]
    path = _first(files, "gpreport.xml")
    text = _decode("gpreport.xml", files[path])
    line = text[: text.index("<q1:Dir>In<")].count("\n") + 1
    [problem] = problems_with("xmlschema", path, _encode("gpreport.xml", text.replace("<q1:Dir>In<", "<q1:Dir>Inbound<", 1)), "gpreport.xsd")
    assert problem.line == line and "Dir" in problem.message and "In" in problem.message


def _mutants(tree: Any) -> Iterator[tuple[str, bytes]]:
    """One generated file broken in every way a hand edit breaks XML, once per distinct
    element (a parent and child tag pair): deleted, renamed, moved to another namespace,
    given stray text, stripped of its attributes. Some mutants stay valid (an optional
    element deleted); the engines must agree either way."""
    seen: set[tuple[str | None, str]] = set()
    for index, element in enumerate(tree.iter(etree.Element)):
        parent = element.getparent()
        key = (parent.tag if parent is not None else None, element.tag)
        if key in seen:
            continue
        seen.add(key)
        for kind in ("delete", "rename", "namespace", "text", "attributes"):
            if (kind == "delete" and parent is None) or (kind == "attributes" and not element.attrib):
                continue
            copy = etree.ElementTree(etree.fromstring(etree.tostring(tree)))
            target = list(copy.iter(etree.Element))[index]
            if kind == "delete":
                target.getparent().remove(target)
            elif kind == "rename":
                target.tag += "x"
            elif kind == "namespace":
                target.tag = "{urn:cmfw:elsewhere}" + etree.QName(target).localname
            elif kind == "text" and len(target):
                target[0].tail = (target[0].tail or "") + "stray"
            elif kind == "text":
                target.text = "stray"
            else:
                target.attrib.clear()
            yield f"{kind} {etree.QName(element).localname} (element {index})", etree.tostring(copy)


@pytest.mark.parametrize("name", list(SCHEMAS))
def test_the_engines_agree_on_every_mutant_of_a_generated_file(builds: dict[str, dict[str, bytes]], name: str) -> None:
    files = builds["contoso"]
    path = min((p for p in files if p.rsplit("/", 1)[-1] == name), key=lambda p: len(files[p]))  # the quickest
    verdicts, disagree = [], []
    for what, data in _mutants(parse_xml(files[path], path)):
        found = both(path, data, SCHEMAS[name])
        verdicts.append(bool(found["lxml"]))
        if bool(found["lxml"]) != bool(found["xmlschema"]):
            disagree.append(f"{what}: {found}")
    assert not disagree, "\n".join(disagree)
    assert len(verdicts) > 20 and sum(verdicts) > len(verdicts) // 2  # mostly refused: the schema has teeth


@pytest.mark.parametrize("anchor", ["<SecurityDescriptor>", 'xsi:type="q3:RegistrySettings">', 'xsi:type="q1:AuditSettings">'])
@pytest.mark.usefixtures("xmlschema_installed")
def test_text_in_a_gpmc_wildcard_element_is_refused_by_both(shared: Path, anchor: str) -> None:
    # Content a schema does not check (security descriptor, Registry and Auditing
    # extensions) still cannot hold text: xmlschema let it through before the fix.
    path = shared / "samples" / "gpo" / "steveunderscoren-sn-gpo" / "{7A3AE19B-11BE-4CF7-A078-15C03A897E90}" / "gpreport.xml"
    text = path.read_bytes().decode("utf-16")
    assert both(str(path), path.read_bytes(), "gpreport.xsd") == {"lxml": [], "xmlschema": []}
    found = both(str(path), _swap(anchor, anchor + "stray text")(text).encode("utf-16"), "gpreport.xsd")
    assert found["lxml"] and found["xmlschema"], found


# -- untrusted input: the same hardened parse for both engines ------------------------------------


def test_schema_location_hints_are_not_followed(builds: dict[str, dict[str, bytes]], tmp_path: Path) -> None:
    # FilePaths takes any element, checked only where a declaration is known (lax). The
    # document names a schema that declares <Evil> as a number: an engine that
    # followed the hint would refuse "not a number". Neither opens it, nor the URL.
    trap = tmp_path / "trap.xsd"
    trap.write_text(
        '<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" targetNamespace="urn:cmfw:trap" '
        'elementFormDefault="qualified"><xs:element name="Evil" type="xs:int"/></xs:schema>',
        encoding="utf-8",
    )
    files = builds["contoso"]
    path = _first(files, "Backup.xml")
    evil = (
        '<FilePaths xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
        f'xsi:schemaLocation="urn:cmfw:trap {trap.as_uri()} urn:cmfw:net http://127.0.0.1:9/x.xsd">'
        '<Evil xmlns="urn:cmfw:trap">not a number</Evil><Net xmlns="urn:cmfw:net"/></FilePaths>'
    )
    text = _swap("<FilePaths/>", evil)(_decode("Backup.xml", files[path]))
    assert both(path, text.encode("utf-8"), "backup.xsd") == {"lxml": [], "xmlschema": []}


def test_entities_are_refused_before_either_engine(builds: dict[str, dict[str, bytes]]) -> None:
    files = builds["contoso"]
    path = _first(files, "bkupInfo.xml")
    text = _decode("bkupInfo.xml", files[path]).replace("<![CDATA[]]>", "&x;", 1)
    data = ('<!DOCTYPE BackupInst [<!ENTITY x SYSTEM "file:///etc/passwd">]>' + text).encode("utf-8")
    found = both(path, data, "manifest.xsd")
    assert found["lxml"] == found["xmlschema"] == [
        Problem(path, 1, 0, "", "has a DOCTYPE declaration; GPO files have none (refused for safety)")
    ]


@pytest.mark.parametrize(("depth", "accepted"), [(250, True), (300, False)])
def test_deep_nesting_is_bounded_by_the_parser(builds: dict[str, dict[str, bytes]], depth: int, accepted: bool) -> None:
    # xmlschema recurses per level; the parser's depth limit keeps it far from Python's.
    files = builds["contoso"]
    path = _first(files, "Backup.xml")
    nested = "<a>" * depth + "</a>" * depth
    data = _swap("<FilePaths/>", f"<FilePaths>{nested}</FilePaths>")(_decode("Backup.xml", files[path])).encode("utf-8")
    found = both(path, data, "backup.xsd")
    assert (found["lxml"] == [] and found["xmlschema"] == []) is accepted
    if not accepted:
        assert found["lxml"] == found["xmlschema"] and "Excessive depth" in found["lxml"][0].message


# -- cmfw check --xsd: the library side -----------------------------------------------------------


@pytest.fixture
def out(tmp_path: Path) -> Path:
    target = tmp_path / "out"
    build(EXAMPLE, target)
    return target


@pytest.mark.usefixtures("xmlschema_installed")
def test_check_path_passes_the_engine_down(out: Path) -> None:
    folder = sorted((out / "gpo").glob("{*}"))[0]
    backup = folder / "Backup.xml"
    backup.write_bytes(backup.read_bytes().replace(b"<FilePaths/>", b"<FilePaths>stray</FilePaths>", 1))
    for target in (out, out / "gpo", folder):
        default, lxml, second = check_path(target), check_path(target, xsd="lxml"), check_path(target, xsd="xmlschema")
        assert default == lxml
        xsd_lxml = [p for p in lxml.problems if "(XSD backup.xsd" in p.message]
        xsd_second = [p for p in second.problems if "(XSD backup.xsd" in p.message]
        assert xsd_lxml and all(not p.message.endswith("xmlschema)") for p in xsd_lxml)
        assert xsd_second and all(p.message.endswith("(XSD backup.xsd, xmlschema)") for p in xsd_second)
        assert all(p.file == str(backup) for p in xsd_lxml + xsd_second)
        # Everything else cmfw check finds is the same whatever the engine.
        assert set(lxml.problems) - set(xsd_lxml) == set(second.problems) - set(xsd_second)


@pytest.mark.usefixtures("xmlschema_installed")
def test_check_path_with_xmlschema_accepts_the_golden_build() -> None:
    report = check_path(GOLDEN, xsd="xmlschema")
    assert report.ok and report.kind == "build", report.problems


@pytest.mark.usefixtures("xmlschema_installed")
def test_check_path_with_xmlschema_accepts_gpmc_backups(shared: Path) -> None:
    for name in ("steveunderscoren-sn-gpo", "nsa-shb-windows-firewall"):
        report = check_path(shared / "samples" / "gpo" / name, xsd="xmlschema")
        assert report.ok and report.files > 0, report.problems


def test_an_unknown_engine_is_one_line(out: Path) -> None:
    with pytest.raises(InputError) as caught:
        check_path(out, xsd="saxon")
    assert caught.value.lines() == ["cmfw: error: unknown XSD engine 'saxon': choose lxml or xmlschema"]


def test_without_the_package_the_engine_says_how_to_get_it(monkeypatch: pytest.MonkeyPatch, out: Path) -> None:
    monkeypatch.setitem(sys.modules, "xmlschema", None)  # import xmlschema now raises ImportError
    expected = ["cmfw: error: the xmlschema engine needs the xmlschema package: pip install xmlschema"]
    with pytest.raises(InputError) as caught:
        check_path(out, xsd="xmlschema")
    assert caught.value.lines() == expected
    with pytest.raises(InputError) as caught:
        problems_with("xmlschema", "Backup.xml", b"<a/>", "backup.xsd")
    assert caught.value.lines() == expected
    assert check_path(out).ok  # the default engine does not need it


def test_builder_never_imports_xmlschema_unless_asked(out: Path) -> None:
    code = (
        "import sys, builder.cli\n"
        "from builder.check import check_path\n"
        f"assert check_path({str(out)!r}).ok\n"
        "print('xmlschema' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert result.stdout.strip() == "False", result.stderr


@pytest.mark.usefixtures("xmlschema_installed")
def test_cmfw_check_takes_the_engine(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["check", str(GOLDEN), "--xsd", "xmlschema"])
    assert result.exit_code == 0 and result.stdout.endswith("checked: ok\n"), result.output
    bad = runner.invoke(cli, ["check", str(GOLDEN), "--xsd", "saxon"])
    assert bad.exit_code == 2 and "'saxon' is not one of 'lxml', 'xmlschema'" in bad.output
