"""What a build checks of its own fresh DSC documents: each distinct *shape* once.

A build's DSC documents come from writers whose codecs are property-tested against
their parsers (MOF strings, PowerShell and YAML quoting): whatever text a value holds,
the document parses back to that value. What can still be wrong depends on the
*shape* of a document (which resources, which properties, which ValueMap values,
where the code is), not on the free text in it. So a build:

* splits each document into the text between its string literals and the literals
  themselves (one C-speed regex split). The *shape* is that text with every literal
  left out, except those that are a value some ValueMap, ``enum`` or ``const`` allows
  (``"Inbound"``, ``'NetworkingDsc/Firewall'``): a wrong one is left out, and so makes a
  shape of its own, which is then checked in full;
* checks the first document of each shape in full, exactly as ``cmfw check`` does
  (:mod:`.check`). A shape is shared only if that representative is clean, and only
  after its real parser put the strings exactly where the split found them;
* for every other document of a shared shape, checks what compares free text across a
  document: ResourceIDs and keys unique, DependsOn names that exist, DSC v3 instance
  names (pattern, unique) and dependsOn references, and the purge scripts (each parsed
  once per shape, :func:`~builder.syntax.powershell.syntax_problems_by_shape`), with
  the document's own strings.

``cmfw check`` and the tests parse every document (:func:`.check.check_dsc_files`).
"""

from __future__ import annotations

import functools
import hashlib
import re
from dataclasses import dataclass
from typing import Any, Mapping

from ..errors import Problem
from .check import (
    V3_CLASSES, V3_SCHEMA, _v3_validators, check_powershell, check_v3, mof_problems, mof_text, script_problems,
)
from .mof import MofDocument, MofError, MofInstance, string_spans, unescape
from .mofclasses import Relations, declarations, key_properties

_MAX_SHAPES = 1024

#: A MOF comment or string literal (as the parser reads a string: no raw line break).
_MOF_SPLIT = re.compile(r'(//[^\n]*|/\*.*?\*/|"[^"\\\n\r]*(?:\\.[^"\\\n\r]*)*")', re.DOTALL)
#: A MOF string literal whose every escape the parser accepts.
_GOOD_LITERAL = re.compile(r'"(?:[^"\\\n\r]|\\[bfnrt\'"\\]|\\[xX][0-9A-Fa-f])*"')
#: A YAML comment, or a quoted scalar on one line (what cmfw's YAML writer produces).
_YAML_SPLIT = re.compile(r"""('[^'\n]*(?:''[^'\n]*)*'|"[^"\\\n]*(?:\\.[^"\\\n]*)*"|#[^\n]*)""")
#: Characters PyYAML refuses anywhere in a stream.
_NOT_PRINTABLE = re.compile("[^\x09\x0a\x0d\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_YAML_ESCAPES = {"\\\\": "\\", '\\"': '"', "\\n": "\n", "\\r": "\r", "\\t": "\t"}
_YAML_ESCAPE = re.compile(r"\\.")

_SCRIPT_CLASS = "msft_scriptresource"
_SCRIPT_TYPE = "PSDesiredStateConfiguration/Script"


def check_dsc_files_by_shape(files: Mapping[str, bytes], root: str) -> list[Problem]:
    """The build's check of its DSC files: see the module docstring."""
    problems: list[Problem] = []
    for path in sorted(p for p in files if p.startswith(root + "/")):
        data = files[path]
        if path.endswith(".mof"):
            problems += check_mof_by_shape(path, data)
            checksum = files.get(path + ".checksum")
            if checksum is None:
                problems.append(Problem(path + ".checksum", message="missing: pull servers need it"))
            elif checksum != hashlib.sha256(data).hexdigest().upper().encode("ascii"):
                problems.append(Problem(path + ".checksum", message="is not the upper-case SHA-256 of the MOF next to it"))
        elif path.endswith((".ps1", ".psd1")):
            problems += check_powershell(path, data, by_shape=True)
        elif path.endswith(".dsc.yaml"):
            problems += check_v3_by_shape(path, data)
    return problems


def _remember(shapes: dict[Any, Any], key: Any, value: Any) -> None:
    if len(shapes) >= _MAX_SHAPES:
        shapes.clear()
    shapes[key] = value


# -- MOF -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _MofShape:
    """A clean representative's instances, and where the strings that other documents of
    its shape must be checked with sit: (string index, instance, property, array item)."""

    doc: MofDocument
    slots: tuple[tuple[int, int, str, int | None], ...]


_MOF_SHAPES: dict[tuple[str | None, ...], _MofShape | None] = {}


@functools.cache
def _mof_vocabulary() -> frozenset[str]:
    """Every ValueMap value of the declared classes, as a MOF literal."""
    from .mof import mof_string

    words: set[str] = set()
    for cls in declarations().values():
        for prop in cls.properties.values():
            values = prop.qualifiers.get("valuemap")
            if isinstance(values, list):
                words.update(mof_string(v) for v in values if isinstance(v, str))
    return frozenset(words)


def check_mof_by_shape(path: str, data: bytes) -> list[Problem]:
    text = mof_text(path, data)
    if isinstance(text, list):
        return text
    between, literals = _mof_split(text)
    vocabulary = _mof_vocabulary()
    key = (*between, *[lit if lit in vocabulary else None for lit in literals])
    if key in _MOF_SHAPES:
        shape = _MOF_SHAPES[key]
        if shape is not None and all("\\" not in lit or _escapes_ok(lit) for lit in literals):
            return _mof_relations(path, shape, literals)
        return mof_problems(path, text, by_shape=True)[0]
    problems, doc = mof_problems(path, text, by_shape=True)
    _remember(_MOF_SHAPES, key, None if problems or doc is None else _mof_shape(text, between, literals, doc))
    return problems


def _mof_split(text: str) -> tuple[list[str], list[str]]:
    """The text between string literals, and the literals (with their quotes). Comments
    stay in the text between; a quote in one misplaces the split, which the shape's
    representative then shows (its strings are not where the parser finds them)."""
    pieces = text.split('"')
    if len(pieces) % 2 and '\\"' not in text:  # no escaped quote: every quote opens or closes
        literals = ['"' + piece + '"' for piece in pieces[1::2]]
        joined = "".join(literals)
        if "\n" not in joined and "\r" not in joined:
            return pieces[0::2], literals
    between, literals, current = [], [], ""
    for index, part in enumerate(_MOF_SPLIT.split(text)):
        if index % 2 and part[0] == '"':
            between.append(current)
            literals.append(part)
            current = ""
        else:
            current += part
    between.append(current)
    return between, literals


@functools.lru_cache(maxsize=4096)
def _escapes_ok(literal: str) -> bool:
    """Every escape in a MOF literal is one the parser accepts (paths repeat: cached)."""
    return _GOOD_LITERAL.fullmatch(literal) is not None


def _mof_shape(text: str, between: list[str], literals: list[str], doc: MofDocument) -> _MofShape | None:
    """The representative's strings, slot by slot; ``None`` unless the split found exactly
    the parser's string tokens and each holds exactly one value."""
    spans, pos = [], 0
    for before, literal in zip(between, literals):
        pos += len(before)
        spans.append((pos, pos + len(literal)))
        pos += len(literal)
    if doc.classes or string_spans(text) != spans:
        return None
    count, slots = 0, []
    for index, inst in enumerate(doc.instances):
        wanted = {"resourceid", "dependson"} | {k.lower() for k in key_properties(inst.class_name.lower())}
        if inst.class_name.lower() == _SCRIPT_CLASS:
            wanted |= {"getscript", "setscript", "testscript"}
        for name, value in inst.properties.items():
            items = [(None, value)] if isinstance(value, str) else list(enumerate(value)) if isinstance(value, list) else []
            for item, element in items:
                if isinstance(element, str):
                    if name.lower() in wanted:
                        slots.append((count, index, name, item))
                    count += 1
    if count != len(spans):  # adjacent literals joined into one value
        return None
    return _MofShape(doc, tuple(slots))


def _mof_relations(path: str, shape: _MofShape, literals: list[str]) -> list[Problem]:
    """The checks across a document's instances, and its purge scripts, with its own strings:
    the representative's instances, holding this document's ResourceIDs, keys, DependsOn and
    scripts (nothing else of an instance is compared with another)."""
    instances = shape.doc.instances
    props: list[dict[str, Any]] = [{} for _ in instances]
    try:
        for literal_index, index, name, item in shape.slots:
            value = unescape(literals[literal_index], path, instances[index].property_lines.get(name, 0))
            if item is None:
                props[index][name] = value
            else:
                listed = instances[index].properties[name]
                assert isinstance(listed, list)  # a slot with an item index is an array's
                props[index].setdefault(name, list(listed))[item] = value
    except MofError as exc:
        return list(exc.problems)
    problems: list[Problem] = []

    def fail(line: int, message: str) -> None:
        problems.append(Problem(path, line, 0, "", message))

    classes = declarations()
    relations = Relations(fail)
    own = [MofInstance(inst.class_name, inst.alias, props[i], inst.line) for i, inst in enumerate(instances)]
    for inst in own:
        relations.instance(inst, classes[inst.class_name.lower()])
    relations.finish(own)
    for inst in own:
        if inst.class_name.lower() == _SCRIPT_CLASS:
            problems += [Problem(path, inst.line, 0, "", m) for m in script_problems(inst.properties, by_shape=True)]
    return problems


# -- DSC v3 ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _V3Shape:
    """Where a clean representative's resource names, dependsOn references and purge
    scripts are among its quoted scalars."""

    names: tuple[tuple[int, int], ...]  # (resource, scalar index)
    depends: tuple[tuple[int, int, int], ...]  # (resource, item, scalar index)
    scripts: tuple[tuple[int, str, int], ...]  # (resource, property, scalar index)


_V3_SHAPES: dict[tuple[str | None, ...], _V3Shape | None] = {}


@functools.cache
def _v3_vocabulary() -> frozenset[str]:
    """Every ValueMap value, schema ``enum``/``const`` and resource type, as YAML writes it."""
    from ..jsonschemas import load_schema
    from ..syntax.yaml import _scalar

    words: set[str] = set(V3_CLASSES)
    for cls in declarations().values():
        for prop in cls.properties.values():
            values = prop.qualifiers.get("valuemap")
            if isinstance(values, list):
                words.update(v for v in values if isinstance(v, str))
    stack: list[Any] = [load_schema(V3_SCHEMA)]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            for keyword in ("const", "enum"):
                found = node.get(keyword)
                words.update(v for v in (found if isinstance(found, list) else [found]) if isinstance(v, str))
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return frozenset(_scalar(word) for word in words)


def check_v3_by_shape(path: str, data: bytes) -> list[Problem]:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return check_v3(path, data)
    parts = _YAML_SPLIT.split(text)
    vocabulary = _v3_vocabulary()
    found = parts[1::2]
    key = (*parts[0::2], *[p if p[0] == "#" or p in vocabulary else None for p in found])
    if key in _V3_SHAPES:
        shape = _V3_SHAPES[key]
        scalars = [p for p in found if p[0] != "#"]
        if shape is not None and not _NOT_PRINTABLE.search(text):
            related = _v3_relations(path, shape, scalars)
            if related is not None:
                return related
        return check_v3(path, data)
    problems = check_v3(path, data)
    _remember(_V3_SHAPES, key, None if problems else _v3_shape(text, parts))
    return problems


def _v3_shape(text: str, parts: list[str]) -> _V3Shape | None:
    """The representative's roles, from PyYAML's own nodes; ``None`` unless its quoted
    scalars are exactly where the split found them."""
    import yaml

    spans, pos = [], 0
    for i, part in enumerate(parts):
        if i % 2 and part[0] != "#":
            spans.append((pos, pos + len(part)))
        pos += len(part)
    try:
        root = yaml.compose(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError:
        return None
    found: list[tuple[tuple[int, int], tuple[Any, ...]]] = []
    stack: list[tuple[Any, tuple[Any, ...]]] = [(root, ())]
    while stack:
        node, where = stack.pop()
        if isinstance(node, yaml.ScalarNode):
            if node.style in ("'", '"'):
                found.append(((node.start_mark.index, node.end_mark.index), where))
        elif isinstance(node, yaml.SequenceNode):
            stack.extend((item, (*where, j)) for j, item in enumerate(node.value))
        elif isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                stack.append((k, (*where, None)))
                stack.append((v, (*where, k.value)))
    found.sort()
    if [span for span, _ in found] != spans:
        return None
    names, depends, scripts = [], [], []
    resource_types = _resource_types(root)
    for index, (_, where) in enumerate(found):
        if len(where) < 3 or where[0] != "resources" or not isinstance(where[1], int):
            continue
        resource = where[1]
        if where[2:] == ("name",):
            names.append((resource, index))
        elif len(where) == 4 and where[2] == "dependsOn" and isinstance(where[3], int):
            depends.append((resource, where[3], index))
        elif len(where) == 4 and where[2] == "properties" and resource_types.get(resource) == _SCRIPT_TYPE:
            scripts.append((resource, str(where[3]), index))
    return _V3Shape(tuple(names), tuple(depends), tuple(scripts))


def _resource_types(root: Any) -> dict[int, str]:
    import yaml

    out: dict[int, str] = {}
    if not isinstance(root, yaml.MappingNode):
        return out
    for key, value in root.value:
        if key.value == "resources" and isinstance(value, yaml.SequenceNode):
            for index, item in enumerate(value.value):
                if isinstance(item, yaml.MappingNode):
                    for k, v in item.value:
                        if k.value == "type" and isinstance(v, yaml.ScalarNode):
                            out[index] = str(v.value)
    return out


def _unquote(scalar: str) -> str | None:
    """A quoted scalar's value; ``None`` for a double-quoted escape cmfw never writes."""
    if scalar[0] == "'":
        return scalar[1:-1].replace("''", "'")
    body = scalar[1:-1]
    if "\\" not in body:
        return body
    if any(m.group() not in _YAML_ESCAPES for m in _YAML_ESCAPE.finditer(body)):
        return None
    return _YAML_ESCAPE.sub(lambda m: _YAML_ESCAPES[m.group()], body)


def _v3_relations(path: str, shape: _V3Shape, scalars: list[str]) -> list[Problem] | None:
    """Names (pattern, unique), dependsOn references and purge scripts with the document's
    own strings; ``None`` when a scalar cannot be read here (the caller checks in full)."""
    item_schema, name_validator = _v3_validators()
    name_ok, depends_ok, depends_validator = _v3_patterns()
    problems: list[Problem] = []
    seen: set[str] = set()
    for resource, index in shape.names:
        name = _unquote(scalars[index])
        if name is None:
            return None
        where = f"$.resources[{resource}]"
        if not name_ok(name):
            problems += [Problem(path, path=f"{where}.name", message=e.message) for e in name_validator.iter_errors(name)]
        if name in seen:
            problems.append(Problem(path, path=where, message=f"name {name!r} is used twice"))
        seen.add(name)
    for resource, item, index in shape.depends:
        target = _unquote(scalars[index])
        if target is None:
            return None
        if not depends_ok(target):
            problems += [
                Problem(path, path=f"$.resources[{resource}].dependsOn[{item}]", message=e.message)
                for e in depends_validator.iter_errors(target)
            ]
    by_resource: dict[int, dict[str, object]] = {}
    for resource, prop, index in shape.scripts:
        value = _unquote(scalars[index])
        if value is None:
            return None
        by_resource.setdefault(resource, {})[prop] = value
    for resource, props in sorted(by_resource.items()):
        problems += [Problem(path, path=f"$.resources[{resource}]", message=m) for m in script_problems(props, by_shape=True)]
    return problems


@functools.cache
def _v3_patterns() -> tuple[Any, Any, Any]:
    """Fast tests for the name and dependsOn patterns of the schema, and a validator that
    words a dependsOn failure as the full check does."""
    from ..jsonschemas import ecma_search, load_schema, validator_class

    schema = load_schema(V3_SCHEMA)
    item = schema["properties"]["resources"]["items"]["properties"]
    name_pattern, depends_pattern = item["name"]["pattern"], item["dependsOn"]["items"]["pattern"]
    return (
        lambda value: ecma_search(name_pattern, value),
        lambda value: ecma_search(depends_pattern, value),
        validator_class(schema)(item["dependsOn"]["items"]),
    )
