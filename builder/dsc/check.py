"""Check the DSC artifacts of a build: MOFs and checksums, PowerShell syntax, DSC v3 documents."""

from __future__ import annotations

import functools
import hashlib
import json
import re
import threading
from typing import Any, Callable, Mapping, Sequence, Union

import yaml

from ..errors import InputError, Problem
from .mof import MofDocument, MofInstance, decode_text, parse
from ..jsonschemas import json_problems
from .mofclasses import all_properties, check_document, declarations, _value_problems
from ..syntax.powershell import Reparser, syntax_problems, syntax_problems_by_shape

V3_SCHEMA = "dsc/dsc-v3-subset.schema.json"
#: DSC v3 resource type → the MOF class its properties are checked against.
V3_CLASSES = {
    "NetworkingDsc/Firewall": "DSC_Firewall",
    "NetworkingDsc/FirewallProfile": "DSC_FirewallProfile",
    "GPRegistryPolicyDsc/RegistryPolicyFile": "MSFT_RegistryPolicyFile",
    "GPRegistryPolicyDsc/RefreshRegistryPolicy": "MSFT_RefreshRegistryPolicy",
    "PSDesiredStateConfiguration/Script": "MSFT_ScriptResource",
}


def check_dsc_files(files: Mapping[str, bytes], root: str) -> list[Problem]:
    """Every DSC document parsed and checked in full (``cmfw check``, the tests). Each
    file is checked on its own (a MOF with its checksum), so a big build's files are
    checked in worker processes, in order; the problems are the same either way."""
    from .. import parallel

    return [problem for chunk in parallel.map_chunks(check_items, dsc_items(files, root)) for problem in chunk]


Item = tuple[str, bytes, Union[bytes, None]]


def dsc_items(files: Mapping[str, bytes], root: str) -> list[Item]:
    """The DSC files under ``root`` in path order, each as (path, bytes, its MOF's checksum file)."""
    return [
        (path, files[path], files.get(path + ".checksum") if path.endswith(".mof") else None)
        for path in sorted(p for p in files if p.startswith(root + "/"))
    ]


def check_items(items: Sequence[Item]) -> list[Problem]:
    """:func:`check_dsc_files` on some of its items (a worker's chunk), in their order."""
    problems: list[Problem] = []
    for path, data, checksum in items:
        if path.endswith(".mof"):
            problems += check_mof(path, data)
            if checksum is None:
                problems.append(Problem(path + ".checksum", message="missing: pull servers need it"))
            elif checksum != hashlib.sha256(data).hexdigest().upper().encode("ascii"):
                problems.append(Problem(path + ".checksum", message="is not the upper-case SHA-256 of the MOF next to it"))
        elif path.endswith((".ps1", ".psd1")):
            problems += check_powershell(path, data)
        elif path.endswith(".dsc.yaml"):
            problems += check_v3(path, data)
    return problems


NOT_UTF16 = "is not UTF-16LE with a byte order mark (what the LCM reads safely)"


def mof_text(path: str, data: bytes) -> str | list[Problem]:
    """A MOF's text, or why it cannot be read as the LCM reads it."""
    if not data.startswith(b"\xff\xfe"):
        return [Problem(path, message=NOT_UTF16)]
    try:
        return decode_text(data)
    except UnicodeDecodeError as exc:
        return [Problem(path, message=f"is not valid UTF-16 (byte offset {exc.start})")]


def check_mof(path: str, data: bytes) -> list[Problem]:
    text = mof_text(path, data)
    return text if isinstance(text, list) else mof_problems(path, text)[0]


def mof_problems(path: str, text: str, *, by_shape: bool = False) -> tuple[list[Problem], MofDocument | None]:
    """Every problem of a MOF's text, and the document when it parses."""
    try:
        doc = parse(text, path)
    except InputError as exc:
        return list(exc.problems), None
    problems = check_document(doc, path)
    for inst in doc.instances:
        if inst.class_name.lower() == "msft_scriptresource":
            problems += [Problem(path, inst.line, 0, "", m) for m in script_problems(inst.properties, by_shape=by_shape)]
    return problems, doc


def check_powershell(path: str, data: bytes, *, by_shape: bool = False) -> list[Problem]:
    """A .ps1/.psd1 parses, with nothing but single-quoted values; ``by_shape``: cmfw's own
    fresh script, checked once per shape (:func:`~builder.syntax.powershell.syntax_problems_by_shape`;
    the configuration name, the file's stem, is the one word of code that differs)."""
    if not data.startswith(b"\xef\xbb\xbf"):
        return [Problem(path, message="has no UTF-8 byte order mark: Windows PowerShell 5.1 would read it as ANSI")]
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return [Problem(path, message=f"is not valid UTF-8 (byte offset {exc.start})")]
    allowed = ("$AllNodes",) if path.endswith(".ps1") else ()
    if by_shape:
        stem = path.rsplit("/", 1)[-1].rsplit(".", 1)[0]
        found = syntax_problems_by_shape(text, allowed, (stem,))
    else:
        found = syntax_problems(text, allowed, _reparser(path.rsplit(".", 1)[-1]))
    return [Problem(path, line, 0, "", message) for line, message in found]


_REPARSERS = threading.local()


def _reparser(kind: str) -> Reparser:
    """This thread's incremental parser for one kind of script: a policy's scripts are
    much like the policy's before (:class:`~builder.syntax.powershell.Reparser`). One per
    thread: a library caller may check two builds at once, and a parser's last tree is
    edited before each parse."""
    mine: dict[str, Reparser] | None = getattr(_REPARSERS, "by_kind", None)
    if mine is None:
        mine = _REPARSERS.by_kind = {}
    found = mine.get(kind)
    if found is None:
        found = mine[kind] = Reparser()
    return found


def check_v3(path: str, data: bytes) -> list[Problem]:
    """The document against the subset schema, and each resource's properties against its class.

    Policies repeat the same resources under other names, so each distinct resource
    (without its names) is checked once; names are checked on their own. The schema
    has no condition between a resource's name and the rest, so this finds exactly
    what checking every resource would.
    """
    try:
        doc = yaml.load(data.decode("utf-8"), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except (UnicodeDecodeError, yaml.YAMLError) as exc:
        return [Problem(path, message=f"not readable YAML: {exc}")]
    resources = doc.get("resources") if isinstance(doc, dict) else None
    if not isinstance(resources, list) or not all(
        isinstance(r, dict) and isinstance(r.get("properties"), dict) for r in resources
    ):
        return json_problems(path, doc, V3_SCHEMA)
    # The document around its resources (an empty list is the schema's own error).
    problems = [
        p for p in json_problems(path, dict(doc, resources=resources[:1]), V3_SCHEMA) if not p.path.startswith("$.resources[")
    ]
    name_validator = _v3_validators()[1]
    name_ok = _name_test()
    seen_names: set[str] = set()
    for i, res in enumerate(resources):
        where = f"$.resources[{i}]"
        name = res.get("name")
        if not name_ok(name):
            for error in name_validator.iter_errors(name):
                problems.append(Problem(path, path=f"{where}.name", message=error.message))
        if name in seen_names:
            problems.append(Problem(path, path=where, message=f"name {name!r} is used twice"))
        seen_names.add(name) if isinstance(name, str) else None
        properties = dict(res["properties"])
        if "Name" in properties and _free_text_name(res.get("type")):
            properties["Name"] = "x"  # a unique ID per resource: checked on its own below
        shape = dict(res, name="x", properties=properties)
        key = json.dumps(shape, sort_keys=True, default=str)
        problems += [Problem(path, path=where + sub, message=msg) for sub, msg in _shape_problems(key)]
        if res.get("type") == "PSDesiredStateConfiguration/Script":
            problems += [Problem(path, path=where, message=m) for m in script_problems(res["properties"])]
        resource_name = res["properties"].get("Name")
        if "Name" in res["properties"] and not isinstance(resource_name, str):
            problems.append(Problem(path, path=f"{where}.properties.Name", message=f"{resource_name!r} is not a string"))
    return problems


@functools.lru_cache(maxsize=16384)
def _shape_problems(key: str) -> tuple[tuple[str, str], ...]:
    """Problems of one resource shape (policies share them, so the cache spans documents)."""
    return tuple(_resource_problems(json.loads(key), _v3_validators()[0]))


def _resource_problems(res: dict[str, Any], validator: Any) -> list[tuple[str, str]]:
    out = [(e.json_path[1:], e.message) for e in validator.iter_errors(res)]
    if out:
        return out
    cls = V3_CLASSES.get(str(res["type"]))
    if cls is None:
        return [("", f"type {res['type']} is not one cmfw writes")]
    declared = all_properties(cls)
    properties = res["properties"]
    assert isinstance(properties, dict)
    for name, value in properties.items():
        prop = declared.get(name.lower())
        if prop is None or name.lower() in ("resourceid", "modulename", "moduleversion"):
            out.append((f".properties.{name}", f"{cls} has no settable property {name}"))
            continue
        out += [(f".properties.{name}", message) for message in _value_problems(prop, value, set())]
    for prop in declared.values():
        if prop.qualifiers.get("key") and prop.name not in properties:
            out.append(("", f"lacks key property {prop.name}"))
    return out


def script_problems(properties: Mapping[str, object], *, by_shape: bool = False) -> list[str]:
    """The purge scripts (dsc/purge.py): PowerShell that parses, uses only its own variables
    and single-quoted literals, and touches only the rules of its own policy prefix.
    ``by_shape``: cmfw's own fresh scripts, parsed once per shape."""
    from .purge import PARTS, VARIABLES

    out = []
    lowered = {k.lower(): v for k, v in properties.items()}
    for part in PARTS:
        text = lowered.get(part.lower())
        if not isinstance(text, str):
            out.append(f"{part} is missing")
            continue
        found = _script_syntax(text, VARIABLES, by_shape, part)
        out += [f"{part} line {line}: {message}" for line, message in found]
        match = _PREFIX.search(text)
        if match is None or not _POLICY_PREFIX.fullmatch(match.group(1)):
            out.append(f"{part} does not limit itself to one policy's CMFW-<id>- rules")
    return out


@functools.lru_cache(maxsize=64)
def _script_syntax(text: str, variables: tuple[str, ...], by_shape: bool, part: str) -> tuple[tuple[int, str], ...]:
    """A purge script is in the MOF and in the v3 document: the same text is checked once."""
    if by_shape:
        return tuple(syntax_problems_by_shape(text, variables))
    return tuple(syntax_problems(text, variables, _reparser(part)))


_PREFIX = re.compile(r"^\$prefix = '([^']*)'$", re.MULTILINE)
_POLICY_PREFIX = re.compile(r"CMFW-[A-Za-z][A-Za-z0-9]{0,39}-")


def _free_text_name(resource_type: object) -> bool:
    cls = V3_CLASSES.get(str(resource_type))
    prop = all_properties(cls).get("name") if cls else None
    return prop is not None and "valuemap" not in prop.qualifiers


@functools.cache
def _name_test() -> Callable[[object], bool]:
    """A resource name as its schema accepts it, without jsonschema for each of thousands."""
    from ..jsonschemas import string_test

    validator = _v3_validators()[1]
    return string_test(validator.schema) or validator.is_valid


@functools.cache
def _v3_validators() -> tuple[Any, Any]:
    from ..jsonschemas import load_schema, validator_class

    schema = load_schema(V3_SCHEMA)
    item = schema["properties"]["resources"]["items"]
    cls = validator_class(schema)
    return cls(item), cls(item["properties"]["name"])


__all__ = ["check_dsc_files", "check_mof", "check_powershell", "check_v3", "declarations", "MofInstance"]
