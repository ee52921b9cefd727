"""The shape of the code, kept true by tests: the import graph and the emitter contract."""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

import pytest

from builder import formats
from builder.build import build, render, validate
from builder.check import check_path
from builder.errors import ArtifactError, InputError, Problem
from builder.formats import Artifacts, Context, Emitted, Emitter, Validator

from .conftest import EXAMPLE

PACKAGE = Path(__file__).resolve().parent.parent / "builder"
#: Output formats: each may import the core, registry/ and syntax/, never another format.
FORMATS = ("builder.gpo", "builder.dsc", "builder.package", "builder.rulesjson", "builder.report", "builder.intune")
SHARED = ("builder.registry", "builder.syntax")


def _module(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    """Every builder module ``name`` imports, at any depth of the file (functions included)."""
    is_package = path.name == "__init__.py"
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if is_package else name.split(".")[:-1]
                base = base[: len(base) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            # `from . import x` names a submodule when there is one.
            targets = [f"{module}.{a.name}" if f"{module}.{a.name}" in known else module for a in node.names]
        else:
            continue
        out.update(t for t in targets if t.startswith("builder"))
    return out - {name}


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    known = set(modules)
    return {name: {t for t in _imports(name, path, known) if t in known} for name, path in modules.items()}


def _owner(module: str, roots: tuple[str, ...]) -> str | None:
    return next((r for r in roots if module == r or module.startswith(r + ".")), None)


def test_the_import_graph_has_no_cycle() -> None:
    graph = _graph()
    done: set[str] = set()

    def visit(node: str, stack: list[str]) -> None:
        if node in stack:
            cycle = stack[stack.index(node):] + [node]
            pytest.fail("import cycle: " + " -> ".join(cycle))
        if node in done:
            return
        for target in sorted(graph[node]):
            # A package's submodules import it implicitly; that edge is no cycle.
            if not node.startswith(target + "."):
                visit(target, stack + [node])
        done.add(node)

    for module in sorted(graph):
        visit(module, [])


def test_formats_import_each_other_only_through_registry_and_syntax() -> None:
    wrong = []
    for module, targets in _graph().items():
        mine = _owner(module, FORMATS)
        shared = _owner(module, SHARED)
        for target in sorted(targets):
            theirs = _owner(target, FORMATS)
            if mine and theirs and theirs != mine:
                wrong.append(f"{module} imports {target}")
            if shared and theirs:
                wrong.append(f"{module} (shared) imports the format {target}")
    assert wrong == []


def test_the_graph_sees_imports_inside_functions() -> None:
    # The guard above is only as good as the parser under it: a planted import must show.
    graph = _graph()
    assert "builder.syntax.powershell" in graph["builder.package.scripts"]  # imported inside emit_scripts
    assert "builder.gpo.layout" in graph["builder.read"]


def test_every_registered_format_keeps_the_contract() -> None:
    found = formats.emitters()
    assert [e.name for e in found] == ["rules.json", "gpo", "dsc", "scripts", "verify", "intune", "report", "package"]
    for emitter in found:
        assert emitter.owns and emitter.validators, emitter.name
        assert all(v.what.strip() for v in emitter.validators)
    formats.check_order(found)


def test_the_registry_order_is_checked() -> None:
    gpo, report = formats.by_name("gpo"), formats.by_name("report")
    with pytest.raises(ArtifactError, match="requires backups, which no earlier format provides"):
        formats.check_order([report, gpo])
    twin = Emitter("twin", ("gpo/extra.txt",), lambda ctx: Emitted({}))
    with pytest.raises(ArtifactError, match="both own"):
        formats.check_order([gpo, twin])


# -- a new format is one module and one line in the registry ------------------------------------

DUMMY = "dummy/"


def _dummy_emit(ctx: Context) -> Emitted:
    backups = ctx.fact("backups", formats.Backups)
    return Emitted({f"{DUMMY}{p.key}.txt": f"{p.name}: {len(p.rules)} rules, backup {backups.ids[p.key]}\n".encode() for p in ctx.policyset.policies})


def _dummy_check(artifacts: Artifacts) -> list[Problem]:
    return [
        Problem(path, message="does not end with a newline")
        for path, data in sorted(artifacts.files.items())
        if path.startswith(DUMMY) and not data.endswith(b"\n")
    ]


EMITTER = Emitter(
    name="dummy",
    owns=(DUMMY,),
    emit=_dummy_emit,
    requires=("backups",),
    validators=(Validator("dummy/*.txt end with a newline", _dummy_check),),
)


@pytest.fixture
def with_dummy(monkeypatch: pytest.MonkeyPatch) -> None:
    registry = formats.REGISTRY[:-1] + ("tests.test_architecture",) + formats.REGISTRY[-1:]
    monkeypatch.setattr(formats, "REGISTRY", registry)


def test_a_registered_format_is_built_listed_and_checked(with_dummy: None, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = build(EXAMPLE, out)
    assert (out / "dummy" / "Workstations.txt").read_text().startswith("ConfigMgr Clients - Workstations: 55 rules, backup {")
    manifest = (out / "build.json").read_text()
    assert '"dummy/Kiosks.txt"' in manifest  # the package emitter lists what every format wrote
    assert check_path(out).ok
    (out / "dummy" / "Kiosks.txt").write_bytes(b"edited")
    messages = [p.message for p in check_path(out).problems]
    assert "does not end with a newline" in messages  # the format's own validator, run by `cmfw check`
    assert len(result.files) == len(render(EXAMPLE, out_dir=out).files)


def test_a_format_whose_output_fails_its_validator_stops_the_build(tmp_path: Path) -> None:
    broken = Emitter("dummy", (DUMMY,), lambda ctx: Emitted({"dummy/x.txt": b"no newline"}),
                     validators=(Validator("newline", _dummy_check),))
    with pytest.raises(ArtifactError, match="dummy/x.txt: does not end with a newline"):
        render(EXAMPLE, emitters=formats.emitters()[:-1] + (broken,) + formats.emitters()[-1:])


def test_a_format_may_write_only_what_it_owns() -> None:
    stray = Emitter("stray", (DUMMY,), lambda ctx: Emitted({"rules.json.bak": b"x"}))
    with pytest.raises(ArtifactError, match="wrote rules.json.bak, which is not among the paths it owns"):
        render(EXAMPLE, emitters=(stray,))


# -- validate does not render -------------------------------------------------------------------


def test_validate_renders_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(ctx: Context) -> Emitted:
        raise AssertionError("validate rendered an artifact")

    refusing = tuple(dataclasses.replace(e, emit=refuse) for e in formats.emitters())
    monkeypatch.setattr(formats, "emitters", lambda: refusing)
    with pytest.raises(AssertionError, match="rendered"):
        render(EXAMPLE)  # the stand-ins are in place
    checked = validate(EXAMPLE)
    assert len(checked.policyset.policies) == 6


def test_what_dsc_cannot_express_is_a_positioned_error_from_validate(tmp_path: Path) -> None:
    matrix = tmp_path / "m.yaml"
    matrix.write_text(
        "version: 1\ndomain: corp.example.com\naddresses: {peers: [10.0.0.0/24]}\npolicies:\n"
        "  - name: P\n    custom_rules:\n"
        "      - id: Cast\n        name: mDNS (UDP-In)\n        direction: In\n        protocol: UDP\n"
        "        local_ports: [mDNS]\n        from: peers\n",
        encoding="utf-8",
    )
    with pytest.raises(InputError) as info:
        validate(matrix)
    [line] = info.value.lines()
    assert line.startswith(f"{matrix}:7:9: error: policies[0].custom_rules[0]: rule CMFW-P-Custom-Cast-In: the port keyword mDNS")
    assert line.endswith("cannot be expressed with NetworkingDsc Firewall; use `dsc: {resource: registry-policy}` for this policy")


def test_architecture_doc_lists_every_validator_and_module() -> None:
    doc = (PACKAGE.parent / "docs" / "architecture.md").read_text(encoding="utf-8")
    assert [v.what for e in formats.emitters() for v in e.validators if v.what not in doc] == []
    block = doc[doc.index("REGISTRY = ("):]
    positions = [block.index(f'"{m}",') for m in formats.REGISTRY]
    assert positions == sorted(positions)  # the documented registry, in build order
    top = sorted(p.stem for p in PACKAGE.glob("*.py") if p.stem not in ("__init__", "__main__"))
    top += sorted(p.name + "/" for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists())
    assert [name for name in top if f"`{name}" not in doc] == []
