"""Check a compiled MOF against the class declarations in ``schemas/dsc/``.

A MOF compiler such as pywbem checks grammar and that properties exist, but not
the CIM type of a value, ValueMaps, ``[Required]``, ``[Read]`` or duplicate keys
(dsc-formats.md 3.2). This checks all of them, so a MOF that passes is one the
Local Configuration Manager accepts.
"""

from __future__ import annotations

import functools
from typing import Callable

from ..errors import Problem
from ..datafiles import data_dir
from .mof import Alias, MofClass, MofDocument, MofInstance, MofProperty, MofValue, parse

_INTEGER_TYPES = {"uint8", "uint16", "uint32", "uint64", "sint8", "sint16", "sint32", "sint64"}


@functools.cache
def declarations() -> dict[str, MofClass]:
    """Every class of schemas/dsc/*.mof, by lower-case name."""
    out: dict[str, MofClass] = {}
    for path in sorted((data_dir("schemas") / "dsc").glob("*.mof")):
        for cls in parse(path.read_text(encoding="utf-8"), path.name).classes:
            out[cls.name.lower()] = cls
    return out


@functools.cache
def all_properties(class_name: str) -> dict[str, MofProperty]:
    """A class's properties, inherited ones included (lower-case names); shared, do not change it."""
    classes = declarations()
    out: dict[str, MofProperty] = {}
    current: str | None = class_name.lower()
    chain = []
    while current:
        cls = classes[current]
        chain.append(cls)
        current = cls.superclass.lower() if cls.superclass else None
    for cls in reversed(chain):
        out.update(cls.properties)
    return out


Fail = Callable[[int, str], None]


def check_document(doc: MofDocument, file: str) -> list[Problem]:
    problems: list[Problem] = []

    def fail(line: int, message: str) -> None:
        problems.append(Problem(file, line, 0, "", message))

    classes = declarations()
    aliases: set[str] = set()
    relations = Relations(fail)
    documents = 0
    for inst in doc.instances:
        cls = classes.get(inst.class_name.lower())
        if cls is None:
            fail(inst.line, f"instance of undeclared class {inst.class_name}")
            continue
        if cls.qualifiers.get("abstract"):
            fail(inst.line, f"instance of abstract class {cls.name}")
        if inst.alias:
            if inst.alias.lower() in aliases:
                fail(inst.line, f"alias {inst.alias} is used twice")
            aliases.add(inst.alias.lower())
        if cls.name == "OMI_ConfigurationDocument":
            documents += 1
        declared = all_properties(cls.name)
        for name, value in inst.properties.items():
            line = inst.property_lines.get(name, inst.line)
            prop = declared.get(name.lower())
            if prop is None:
                fail(line, f"{cls.name} has no property {name}")
                continue
            if prop.qualifiers.get("read"):
                fail(line, f"{cls.name}.{prop.name} is read-only ([Read]); a configuration cannot set it")
            for message in _value_problems(prop, value, aliases):
                fail(line, f"{cls.name}.{prop.name}: {message}")
        present = {name.lower() for name, value in inst.properties.items() if value is not None}
        for prop in declared.values():
            if (prop.qualifiers.get("key") or prop.qualifiers.get("required")) and prop.name.lower() not in present:
                fail(inst.line, f"{cls.name} instance lacks {'key' if prop.qualifiers.get('key') else 'required'} property {prop.name}")
        relations.instance(inst, cls)
    relations.finish(doc.instances)
    if documents != 1:
        fail(1, f"has {documents} OMI_ConfigurationDocument instances; a configuration has exactly one")
    return problems


class Relations:
    """The checks that compare the values of a document's instances with each other:
    ResourceIDs and keys unique, DependsOn naming a ResourceID. Everything else about an
    instance depends on the instance alone (what a build checks once per shape)."""

    def __init__(self, fail: Fail) -> None:
        self.fail = fail
        self.resource_ids: dict[str, int] = {}
        self.keys: dict[tuple[str, tuple[object, ...]], int] = {}

    def instance(self, inst: MofInstance, cls: MofClass) -> None:
        resource_id = _get(inst, "ResourceID")
        if isinstance(resource_id, str):
            if resource_id in self.resource_ids:
                self.fail(inst.line, f"ResourceID {resource_id} repeats the instance on line {self.resource_ids[resource_id]}")
            self.resource_ids.setdefault(resource_id, inst.line)
        key_values = tuple(_get(inst, name) for name in key_properties(cls.name))
        if key_values and all(v is not None for v in key_values):
            key = (cls.name, key_values)
            if key in self.keys:
                self.fail(inst.line, f"{cls.name} with key {', '.join(map(str, key_values))} repeats the instance on line {self.keys[key]}")
            self.keys.setdefault(key, inst.line)

    def finish(self, instances: list[MofInstance]) -> None:
        for inst in instances:
            depends = _get(inst, "DependsOn")
            for target in depends if isinstance(depends, list) else []:
                if target not in self.resource_ids:
                    self.fail(inst.line, f"DependsOn names {target}, which no instance has as ResourceID")


@functools.cache
def key_properties(class_name: str) -> tuple[str, ...]:
    """The names of a class's [Key] properties, in declaration order."""
    return tuple(p.name for p in all_properties(class_name).values() if p.qualifiers.get("key"))


def _get(inst: MofInstance, name: str) -> MofValue:
    if name in inst.properties:  # names are unique without regard to case (the parser says so)
        return inst.properties[name]
    for key, value in inst.properties.items():
        if key.lower() == name.lower():
            return value
    return None


def _value_problems(prop: MofProperty, value: MofValue, aliases: set[str]) -> list[str]:
    if value is None:
        return []
    if prop.array != isinstance(value, list):
        return ["an array is declared, a single value given" if prop.array else "a single value is declared, an array given"]
    items = value if isinstance(value, list) else [value]
    out = []
    for item in items:
        if isinstance(item, Alias):
            if not prop.qualifiers.get("embeddedinstance"):
                out.append(f"an instance reference {item.name} where a {prop.type} is declared")
            elif item.name.lower() not in aliases:
                out.append(f"alias {item.name} is not defined before it is used")
            continue
        expected = (
            bool if prop.type == "boolean" else int if prop.type in _INTEGER_TYPES else float if prop.type.startswith("real") else str
        )
        if not isinstance(item, expected) or (expected is int and isinstance(item, bool)):
            out.append(f"{item!r} is not a {prop.type}")
            continue
        valuemap = prop.qualifiers.get("valuemap")
        if isinstance(valuemap, list) and item not in valuemap:
            out.append(f"{item!r} is not one of {', '.join(map(str, valuemap))}")
    return out
