"""The shortcuts of issue 16 give the answers of the long way: the matrix schema checked
once per distinct policy, and `diff` of two matrices without rendering them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import builder.jsonschemas as jsonschemas
from builder.build import build
from builder.diff import diff_document, diff_paths
from builder.matrix import SCHEMA
from builder.yamlsource import load_text

from .conftest import EXAMPLE


def _matrix(policies: list[str]) -> str:
    return "version: 1\ndomain: corp.contoso.com\naddresses:\n  consoles: [10.20.0.0/24]\npolicies:\n" + "".join(policies)


def _policy(i: int, extra: str = "") -> str:
    return f"  - name: Policy {i}\n    id: P{i}\n    features: [client-notification, {{remote-control: {{from: consoles}}}}]\n{extra}"


BAD = {
    "an id with a space": lambda i: _policy(i).replace(f"id: P{i}", f"id: P {i}"),
    "a name too long": lambda i: _policy(i).replace(f"name: Policy {i}", "name: " + "x" * 300),
    "an unknown key": lambda i: _policy(i, "    colour: blue\n"),
    "a wrong type": lambda i: _policy(i, "    profiles: Domain\n"),
    "a newline at the end of an id": lambda i: _policy(i).replace(f"id: P{i}", f'id: "P{i}\\n"'),
}


def _full(doc: object) -> list:
    saved = jsonschemas._valid_by_shape
    jsonschemas._valid_by_shape = lambda data, name: False  # type: ignore[assignment]
    try:
        return jsonschemas.schema_problems(doc, SCHEMA)  # type: ignore[arg-type]
    finally:
        jsonschemas._valid_by_shape = saved  # type: ignore[assignment]


def test_a_big_valid_matrix_is_valid_by_shape() -> None:
    doc = load_text(_matrix([_policy(i) for i in range(40)]), "m.yaml")
    assert jsonschemas._valid_by_shape(doc.data, SCHEMA) is True
    assert jsonschemas.schema_problems(doc, SCHEMA) == [] == _full(doc)


@pytest.mark.parametrize("fault", sorted(BAD))
def test_a_fault_in_one_of_many_policies_gives_the_full_checks_problems(fault: str) -> None:
    policies = [_policy(i) for i in range(40)]
    policies[23] = BAD[fault](23)
    doc = load_text(_matrix(policies), "m.yaml")
    problems = jsonschemas.schema_problems(doc, SCHEMA)
    assert problems and problems == _full(doc)
    assert all(p.line >= 3 + 23 * 3 for p in problems), problems  # located in policy 23, not elsewhere


def test_diff_of_two_matrices_equals_diff_of_their_builds(tmp_path: Path) -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    changed = text.replace("client_notification: 10124", "client_notification: 10125", 1)
    assert changed != text
    a, b = tmp_path / "a.yaml", tmp_path / "b.yaml"
    a.write_text(text, encoding="utf-8")
    b.write_text(changed, encoding="utf-8")
    build(a, tmp_path / "out-a")
    build(b, tmp_path / "out-b")
    from_matrices = diff_document(diff_paths(a, b, labels=("A", "B")))
    from_builds = diff_document(diff_paths(tmp_path / "out-a", tmp_path / "out-b", labels=("A", "B")))
    for document in (from_matrices, from_builds):
        for side in ("a", "b"):
            document[side].pop("kind", None)
    assert from_matrices["summary"]["rules_changed"] > 0
    assert json.dumps(from_matrices, sort_keys=True) == json.dumps(from_builds, sort_keys=True)


def test_check_of_a_big_build_finds_what_one_process_finds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`cmfw check` parses a big build's DSC documents in workers while it runs the other
    validators: the problems, and their order, are those of a check in one process."""
    from builder.check import check_path

    policies = [_policy(i) for i in range(60)]
    matrix = tmp_path / "big.yaml"
    matrix.write_text(_matrix(policies), encoding="utf-8")
    out = tmp_path / "out"
    build(matrix, out)
    assert check_path(out).problems == ()
    mof = out / "dsc" / "P41" / "localhost.mof"
    broken = mof.read_bytes().decode("utf-16").replace('Direction = "Inbound"', 'Direction = "Inbund"', 1)
    mof.write_bytes(b"\xff\xfe" + broken.encode("utf-16-le"))
    (out / "dsc" / "P41" / "localhost.mof.checksum").write_text("0" * 64)
    rules = out / "rules.json"
    rules.write_bytes(rules.read_bytes().replace(b'"cmfw-rules/1"', b'"cmfw-rules/9"', 1))
    in_workers = check_path(out).problems
    monkeypatch.setenv("CMFW_JOBS", "1")
    in_one = check_path(out).problems
    assert in_workers == in_one
    files = {Path(p.file).relative_to(out).as_posix() for p in in_one if Path(p.file).is_absolute()}
    assert {"rules.json", "dsc/P41/localhost.mof", "dsc/P41/localhost.mof.checksum"} <= files, in_one


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "string", "minLength": 1, "maxLength": 512, "description": "a rule ID"},
        {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9_.-]*$", "maxLength": 5},
        {"type": "string"},
    ],
)
def test_the_string_test_accepts_exactly_what_jsonschema_accepts(schema: dict) -> None:
    from hypothesis import given, settings
    from hypothesis import strategies as st

    test = jsonschemas.string_test(schema)
    assert test is not None
    check = jsonschemas.validator_class(schema)(schema)

    @settings(max_examples=300, deadline=None)
    @given(st.one_of(st.text(max_size=600), st.integers(), st.none(), st.lists(st.text(max_size=2), max_size=2),
                     st.sampled_from(["", "a", "x" * 512, "x" * 513, "𝔘nicode", "A-1", "-A", "ab\n"])))
    def agree(value: object) -> None:
        assert test(value) == check.is_valid(value), value

    agree()


def test_the_string_test_declines_other_schemas() -> None:
    assert jsonschemas.string_test({"type": "string", "enum": ["a"]}) is None
    assert jsonschemas.string_test({"type": "integer"}) is None
    assert jsonschemas.string_test({"type": "string", "format": "ipv4"}) is None


def _paths(doc: object, prefix: tuple = ()) -> list[tuple]:
    """Every place in a JSON document (mapping keys and list indices), for mutations."""
    out = [prefix]
    if isinstance(doc, dict):
        for key, value in doc.items():
            out += _paths(value, prefix + (key,))
    elif isinstance(doc, list):
        for i, value in enumerate(doc[:3]):
            out += _paths(value, prefix + (i,))
    return out


def test_lean_problems_are_exactly_jsonschemas(tmp_path: Path) -> None:
    """build.json checked the lean way (plain strings by their test, one object per shape)
    finds exactly what jsonschema finds on the whole document, for any one value changed."""
    import copy

    from hypothesis import given, settings
    from hypothesis import strategies as st

    from builder.build import render

    doc = json.loads(render(EXAMPLE).files["build.json"])
    assert jsonschemas.lean_problems("build.json", doc, "build.schema.json") == []
    places = [p for p in _paths(doc) if p]
    values = st.one_of(
        st.none(), st.booleans(), st.integers(-2, 70), st.text(max_size=70), st.sampled_from(["", "x" * 64, "a" * 64, "/abs", "{x}"]),
        st.lists(st.text(max_size=3), max_size=2), st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
    )

    @settings(max_examples=300, deadline=None)
    @given(st.sampled_from(places), values, st.booleans())
    def agree(place: tuple, value: object, delete: bool) -> None:
        changed = copy.deepcopy(doc)
        holder = changed
        for step in place[:-1]:
            holder = holder[step]
        if delete and isinstance(holder, dict):
            del holder[place[-1]]
        else:
            holder[place[-1]] = value
        lean = jsonschemas.lean_problems("build.json", changed, "build.schema.json")
        assert lean == jsonschemas.json_problems("build.json", changed, "build.schema.json"), place

    agree()


def test_check_of_a_big_package_zip_in_workers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A package.zip's DSC files reach the workers as bytes (not paths): checked and summed
    there, with the answer of one process, and a changed file is found either way."""
    import zipfile

    from builder.check import check_path

    matrix = tmp_path / "big.yaml"
    matrix.write_text(_matrix([_policy(i) for i in range(60)]), encoding="utf-8")
    build(matrix, tmp_path / "out", zip=True)
    package = tmp_path / "out" / "package.zip"
    assert check_path(package).problems == ()
    changed = tmp_path / "changed.zip"
    with zipfile.ZipFile(package) as source, zipfile.ZipFile(changed, "w") as target:
        for info in source.infolist():
            data = source.read(info)
            if info.filename.endswith("P41/P41.ps1"):
                data = data.replace(b"Configuration P41", b"Configuration P41 {", 1)
            target.writestr(info, data)
    from builder import parallel

    started = []
    workers = parallel.Workers

    def counted(*args, **kwargs):  # type: ignore[no-untyped-def]
        started.append(args[0])
        return workers(*args, **kwargs)

    monkeypatch.setattr(parallel, "Workers", counted)
    monkeypatch.setenv("CMFW_JOBS", "2")
    in_workers = check_path(changed).problems
    assert started == [2]
    monkeypatch.setenv("CMFW_JOBS", "1")
    assert check_path(changed).problems == in_workers and started == [2]
    messages = {(Path(p.file).name, p.message) for p in in_workers}
    assert ("P41.ps1", "differs from the SHA-256 in build.json (edited after the build?)") in messages, in_workers
    assert any(name == "P41.ps1" and "differs" not in message for name, message in messages), in_workers


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_a_dsc_file_gone_between_listing_and_reading_is_one_line_and_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, jobs: str
) -> None:
    """`check` lists a build, then reads each file when a check asks (a worker's DSC
    files in the worker): a file removed in between is refused by name, in one line."""
    from click.testing import CliRunner

    import builder.read as reader
    from builder.cli import cli

    matrix = tmp_path / "big.yaml"
    matrix.write_text(_matrix([_policy(i) for i in range(60)]), encoding="utf-8")
    out = tmp_path / "out"
    build(matrix, out)
    gone = out / "dsc" / "P41" / "P41.dsc.yaml"
    listing = reader.list_tree

    def list_then_remove(directory: Path, prefix: str = "") -> reader.Tree:
        tree = listing(directory, prefix)
        gone.unlink()
        return tree

    monkeypatch.setattr(reader, "list_tree", list_then_remove)
    monkeypatch.setattr("builder.check.list_tree", list_then_remove)
    monkeypatch.setenv("CMFW_JOBS", jobs)
    result = CliRunner().invoke(cli, ["check", str(out)], catch_exceptions=False)
    assert result.exit_code == 2, result.output
    assert result.stderr.splitlines() == [f"{gone}: error: cannot read it: No such file or directory"]
