"""Check the DSC artifacts of a build: MOFs and checksums, PowerShell syntax, DSC v3 documents."""

from __future__ import annotations

import hashlib
from typing import Mapping

import yaml

from ..errors import InputError, Problem
from .mof import MofInstance, decode_text, parse
from .mofcheck import all_properties, check_document, declarations, _value_problems
from .powershell import syntax_problems

V3_SCHEMA = "dsc/dsc-v3-subset.schema.json"
#: DSC v3 resource type → the MOF class its properties are checked against.
V3_CLASSES = {
    "NetworkingDsc/Firewall": "DSC_Firewall",
    "NetworkingDsc/FirewallProfile": "DSC_FirewallProfile",
    "GPRegistryPolicyDsc/RegistryPolicyFile": "MSFT_RegistryPolicyFile",
    "GPRegistryPolicyDsc/RefreshRegistryPolicy": "MSFT_RefreshRegistryPolicy",
}


def check_dsc_files(files: Mapping[str, bytes], root: str) -> list[Problem]:
    problems: list[Problem] = []
    for path in sorted(p for p in files if p.startswith(root + "/")):
        data = files[path]
        if path.endswith(".mof"):
            problems += check_mof(path, data)
            checksum = files.get(path + ".checksum")
            if checksum is None:
                problems.append(Problem(path + ".checksum", message="missing: pull servers need it"))
            elif checksum != hashlib.sha256(data).hexdigest().upper().encode("ascii"):
                problems.append(Problem(path + ".checksum", message="is not the upper-case SHA-256 of the MOF next to it"))
        elif path.endswith((".ps1", ".psd1")):
            problems += check_powershell(path, data)
        elif path.endswith(".dsc.yaml"):
            problems += check_v3(path, data)
    return problems


def check_mof(path: str, data: bytes) -> list[Problem]:
    if not data.startswith(b"\xff\xfe"):
        return [Problem(path, message="is not UTF-16LE with a byte order mark (what the LCM reads safely)")]
    try:
        return check_document(parse(decode_text(data), path), path)
    except InputError as exc:
        return list(exc.problems)
    except UnicodeDecodeError as exc:
        return [Problem(path, message=f"is not valid UTF-16 (byte offset {exc.start})")]


def check_powershell(path: str, data: bytes) -> list[Problem]:
    if not data.startswith(b"\xef\xbb\xbf"):
        return [Problem(path, message="has no UTF-8 byte order mark: Windows PowerShell 5.1 would read it as ANSI")]
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return [Problem(path, message=f"is not valid UTF-8 (byte offset {exc.start})")]
    allowed = ("$AllNodes",) if path.endswith(".ps1") else ()
    return [Problem(path, line, 0, "", message) for line, message in syntax_problems(text, allowed)]


def check_v3(path: str, data: bytes) -> list[Problem]:
    from ..validate import json_problems

    try:
        doc = yaml.safe_load(data.decode("utf-8"))
    except (UnicodeDecodeError, yaml.YAMLError) as exc:
        return [Problem(path, message=f"not readable YAML: {exc}")]
    problems = json_problems(path, doc, V3_SCHEMA)
    if problems:
        return problems
    seen: set[str] = set()
    for i, res in enumerate(doc["resources"]):
        where = f"$.resources[{i}]"
        if res["name"] in seen:
            problems.append(Problem(path, path=where, message=f"name {res['name']!r} is used twice"))
        seen.add(res["name"])
        cls = V3_CLASSES.get(res["type"])
        if cls is None:
            problems.append(Problem(path, path=where, message=f"type {res['type']} is not one cmfw writes"))
            continue
        declared = all_properties(cls)
        for name, value in res["properties"].items():
            prop = declared.get(name.lower())
            if prop is None or name.lower() in {p.lower() for p in ("ResourceId", "ModuleName", "ModuleVersion")}:
                problems.append(Problem(path, path=f"{where}.properties.{name}", message=f"{cls} has no settable property {name}"))
                continue
            for message in _value_problems(prop, value, set()):
                problems.append(Problem(path, path=f"{where}.properties.{name}", message=message))
        for prop in declared.values():
            if prop.qualifiers.get("key") and prop.name not in res["properties"]:
                problems.append(Problem(path, path=where, message=f"lacks key property {prop.name}"))
    return problems


__all__ = ["check_dsc_files", "check_mof", "check_powershell", "check_v3", "declarations", "MofInstance"]
