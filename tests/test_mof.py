"""MOF: writing, strict parsing, and the class checks a MOF compiler does not do."""

from datetime import datetime, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from builder.dsc.mof import MofError, MofResource, decode_text, mof_string, parse, write_document
from builder.dsc.mofclasses import check_document

MOMENT = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)


def firewall(name: str = "R1", **props: object) -> MofResource:
    base = {"Name": name, "Ensure": "Present", "Enabled": "True", "Profile": ["Domain"]}
    base.update(props)
    return MofResource("DSC_Firewall", f"[Firewall]{name}", tuple(base.items()), "NetworkingDsc", "9.1.0")


def test_layout_is_powershell_5_1_s() -> None:
    data = write_document("localhost", "Cfg", [firewall("A"), firewall("B")], MOMENT)
    assert data.startswith(b"\xff\xfe")
    text = decode_text(data)
    assert text.startswith("/*\r\n@TargetNode='localhost'\r\n@GeneratedBy=cmfw\r\n@GenerationDate=01/02/2026 03:04:05\r\n*/\r\n")
    assert "instance of DSC_Firewall as $DSC_Firewall1ref\r\n{\r\nResourceID = \"[Firewall]A\";\r\n Name = \"A\";" in text
    assert "$DSC_Firewall2ref" in text and ' ConfigurationName = "Cfg";\r\n};' in text
    assert ' Profile = {\r\n    "Domain"\r\n};' in text
    assert text.endswith('Name="Cfg";\r\n};\r\n')
    assert "GenerationHost" not in text


@given(st.text(st.characters(blacklist_categories=("Cs",)), max_size=50))
def test_strings_round_trip(value: str) -> None:
    doc = parse(f"instance of X {{ P = {mof_string(value)}; }};")
    assert doc.instances[0].properties["P"] == value


def test_parser_reads_what_the_writer_writes_and_checks_pass() -> None:
    data = write_document("n1", "Cfg", [firewall("A", LocalPort=["80", "443"], Description='say "hi" \\ C:\\x')], MOMENT)
    doc = parse(decode_text(data), "n1.mof")
    [inst, omi] = doc.instances
    assert inst.properties["LocalPort"] == ["80", "443"]
    assert inst.properties["Description"] == 'say "hi" \\ C:\\x'
    assert omi.class_name == "OMI_ConfigurationDocument"
    assert check_document(doc, "n1.mof") == []


@pytest.mark.parametrize(
    "text, fragment",
    [
        ('instance of X { P = "C:\\windows"; };', "invalid escape \\w"),
        ('instance of X { P = "a" };', "expected ';'"),
        ('instance of X { P = "a";', "expected"),
        ('instance of X { P = {"a" 1}; };', "expected ',' or '}'"),
        ('instance X { };', "expected 'of'"),
        ('instance of X { P = 1; P = 2; };', "property P is set twice"),
        ('instance of X { P = "a\nb"; };', "unexpected character"),
        ("instance of X as Y { };", "expected an alias"),
    ],
)
def test_parse_errors_name_the_line(text: str, fragment: str) -> None:
    with pytest.raises(MofError) as info:
        parse("// comment\n" + text, "x.mof")
    [line] = info.value.lines()
    assert line.startswith("x.mof:") and fragment in line


OMI = 'instance of OMI_ConfigurationDocument { Version = "2.0.0"; Name = "C"; };'


def check(body: str) -> list[str]:
    return [p.message for p in check_document(parse(body + "\n" + OMI, "x.mof"), "x.mof")]


BASE = 'ResourceID = "[Firewall]A"; ModuleName = "NetworkingDsc"; ModuleVersion = "9.1.0";'


@pytest.mark.parametrize(
    "body, fragment",
    [
        (f'instance of DSC_Firewall {{ {BASE} Name = "A"; LocalPorts = {{"1"}}; }};', "has no property LocalPorts"),
        (f'instance of DSC_Firewall {{ {BASE} Name = "A"; Enabled = True; }};', "True is not a string"),
        (f'instance of DSC_Firewall {{ {BASE} Name = "A"; Ensure = "Maybe"; }};', "'Maybe' is not one of Present, Absent"),
        (f'instance of DSC_Firewall {{ {BASE} Name = "A"; LocalPort = "80"; }};', "an array is declared, a single value given"),
        (f'instance of DSC_Firewall {{ {BASE} Name = "A"; Protocol = {{"TCP"}}; }};', "a single value is declared, an array given"),
        (f'instance of DSC_Firewall {{ {BASE} Name = "A"; DisplayGroup = "x"; }};', "read-only"),
        (f'instance of DSC_Firewall {{ {BASE} }};', "lacks key property Name"),
        ('instance of DSC_Firewall { ResourceID = "[Firewall]A"; Name = "A"; ModuleVersion = "1"; };', "lacks required property ModuleName"),
        (f'instance of DSC_Firewall {{ {BASE} Name = "A"; }};\ninstance of DSC_Firewall {{ {BASE} Name = "B"; }};', "ResourceID [Firewall]A repeats"),
        (f'instance of DSC_Firewall {{ {BASE} Name = "A"; }};\ninstance of DSC_Firewall {{ ResourceID = "[Firewall]B"; ModuleName = "N"; ModuleVersion = "1"; Name = "A"; }};', "with key A repeats"),
        (f'instance of DSC_Firewall {{ {BASE} Name = "A"; DependsOn = {{"[Firewall]Z"}}; }};', "DependsOn names [Firewall]Z"),
        ('instance of Unknown_Class { };', "undeclared class Unknown_Class"),
        ('instance of OMI_BaseResource { };', "abstract class"),
        (f'instance of DSC_Firewall as $a {{ {BASE} Name = "A"; }};\ninstance of DSC_Firewall as $a {{ {BASE.replace("[Firewall]A", "[Firewall]B")} Name = "B"; }};', "alias $a is used twice"),
    ],
)
def test_class_checks(body: str, fragment: str) -> None:
    found = check(body)
    assert any(fragment in m for m in found), found


def test_exactly_one_configuration_document() -> None:
    doc = parse(f'instance of DSC_Firewall {{ {BASE} Name = "A"; }};', "x.mof")
    assert any("0 OMI_ConfigurationDocument" in p.message for p in check_document(doc, "x.mof"))


def test_long_runs_of_space_and_comments_are_read_in_one_pass() -> None:
    """Space and comments are skipped as tokenising skips them, never re-split: a regex that
    could split a run of spaces in two ways tries every split before it fails (a real
    PowerShell MOF, indented, took minutes). Each of these would not end."""
    from builder.dsc.mof import MofError, parse

    run = " \t\r\n" * 10_000
    doc = parse(f"instance of A{run}{{{run}B{run}={run}{{{run}\"x\"{run}}}{run};{run}C = 1;{run}}};{run}")
    assert doc.instances[0].properties == {"B": ["x"], "C": 1}
    with pytest.raises(MofError) as info:
        parse(f"instance of A {{ B = {run}{run}@; }};")
    assert "unexpected character '@'" in str(info.value) and ":20001" in str(info.value)
    comments = "/* a */ // b\n" * 5_000
    assert parse(f"instance of A {{{comments}B{comments}={comments}\"y\"{comments};}};").instances[0].properties == {"B": "y"}
