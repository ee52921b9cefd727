"""Checks of the Intune documents and the deploy plan, at build time and in ``cmfw check``.

The JSON Schema (schemas/intune/firewall-rules-policy.schema.json) holds what any
firewall-rule policy must be, exports included: setting IDs, choice IDs, template IDs,
value patterns, the 150-rule limit, the CSP's rules across settings. What only cmfw's
own POST bodies must be is checked here: no read-only property, no two rules of one
name, the protocol a JSON number, template references on the first rule only, the
marker naming the document's own path, and the plan agreeing with the documents.
"""

from __future__ import annotations

import copy
import functools
import json
import re
from typing import Any, Mapping

from ..errors import Problem
from ..identifiers import INTUNE_MARKER_PATTERN
from . import settings as s
from .deploy import PLAN_FORMAT, used_ids
from .read import looks_like_policy, marker_of
from .translate import PLAN, ROOT, document_paths

SCHEMA = "intune/firewall-rules-policy.schema.json"
#: The keys of a POST body, in cmfw's order.
BODY_KEYS = ("name", "description", "platforms", "technologies", "roleScopeTagIds", "templateReference", "settings")


def schema_problems(path: str, doc: object) -> list[Problem]:
    """``doc`` against the schema, each error in a line an admin can act on.

    jsonschema takes about a millisecond per rule setting through the schema's dispatch
    on setting IDs, which would dominate a build. The schema is therefore applied in
    parts that together find exactly what the whole finds: the document without its
    rules; each rule with only what its rule-level constraints read of its settings
    (their IDs, and protocol, direction and edge traversal), once per distinct shape;
    each setting once per distinct value, against the definition its setting ID selects.
    """
    root = _validator()
    rule_lists = _rule_lists(doc)
    if rule_lists is None:
        return [Problem(path, path=e.json_path, message=_message(e)) for e in root.iter_errors(doc)]
    skeleton: Any = copy.deepcopy(doc)
    for i in rule_lists:
        skeleton["settings"][i]["settingInstance"]["groupSettingCollectionValue"] = []
    problems = [Problem(path, path=e.json_path, message=_message(e)) for e in root.iter_errors(skeleton)]
    limit = root.schema["$defs"]["rules"]["properties"]["groupSettingCollectionValue"]["maxItems"]
    rule_level, by_id, any_setting = _part_validators()
    for i, rules in rule_lists.items():
        where = f"$.settings[{i}].settingInstance.groupSettingCollectionValue"
        if len(rules) > limit:
            problems.append(Problem(path, path=where, message=f"more than {limit} items"))
        for j, rule in enumerate(rules):
            problems.extend(
                Problem(path, path=f"{where}[{j}]{sub}", message=msg) for sub, msg in _rule_errors(rule, rule_level, by_id, any_setting)
            )
    return problems


def _rule_lists(doc: object) -> dict[int, list[Any]] | None:
    """Setting index → its list of rules, when ``doc`` has the shape to take apart."""
    if not isinstance(doc, dict) or not isinstance(doc.get("settings"), list):
        return None
    out = {}
    for i, setting in enumerate(doc["settings"]):
        instance = setting.get("settingInstance") if isinstance(setting, dict) else None
        rules = instance.get("groupSettingCollectionValue") if isinstance(instance, dict) else None
        if isinstance(rules, list):
            out[i] = rules
    return out


_SEEN: dict[str, list[tuple[str, str]]] = {}


def _errors(validator: Any, value: Any) -> list[tuple[str, str]]:
    """(relative JSON path, message) of every error, memoised by the value's JSON form."""
    key = f"{id(validator)}:{json.dumps(value, sort_keys=True)}"
    if key not in _SEEN:
        if len(_SEEN) > 50_000:
            _SEEN.clear()
        _SEEN[key] = [(e.json_path[1:], _message(e)) for e in validator.iter_errors(value)]
    return _SEEN[key]


def _rule_errors(rule: Any, rule_level: Any, by_id: dict[str, Any], any_setting: Any) -> list[tuple[str, str]]:
    if not isinstance(rule, dict) or not isinstance(rule.get("children"), list):
        return _errors(any_setting["rule"], rule)
    children = rule["children"]
    # The rule-level constraints do not depend on the order of the settings: sorted, more
    # rules share a shape (their errors name the settings list, not an index in it).
    shape = dict(rule, children=sorted((_shape(c) for c in children), key=lambda c: json.dumps(c, sort_keys=True)))
    out = list(_errors(rule_level, shape))
    free = _free_texts()
    for k, child in enumerate(children):
        sid = child.get("settingDefinitionId") if isinstance(child, dict) else None
        validator = by_id.get(sid) if isinstance(sid, str) else None
        probe = child
        if sid in free and isinstance(child.get("simpleSettingValue"), dict):
            value = child["simpleSettingValue"].get("value")
            if isinstance(value, str) and value:
                # Any non-empty text passes these settings' value schema: one probe for all.
                probe = dict(child, simpleSettingValue=dict(child["simpleSettingValue"], value="x"))
        out += [(f".children[{k}]{sub}", msg) for sub, msg in _errors(validator or any_setting["setting"], probe)]
    return out


@functools.cache
def _free_texts() -> frozenset[str]:
    """Setting IDs whose value the schema only asks to be text (at least one character):
    read from the schema, so a pattern added there is honoured here."""
    defs = _validator().schema["$defs"]
    out = set()
    for name, sub in defs.items():
        value = sub.get("properties", {}).get("simpleSettingValue", {}).get("properties", {}).get("value")
        base = [ref.get("$ref") for ref in sub.get("allOf", [])]
        if name.startswith("child_") and base == ["#/$defs/simple"] and set(value or {}) <= {"minLength"} and (value or {}).get("minLength", 0) <= 1:
            ref = sub["properties"]["simpleSettingValue"].get("$ref")
            if ref == "#/$defs/stringValue":
                out.add(f"{s.PREFIX}_{name[len('child_'):]}")
    return frozenset(out)


#: The settings whose values a rule-level constraint of the schema reads (protocol for ports
#: and ICMP, direction for edge traversal); of the others only the setting ID matters there.
_READ_WHOLE = tuple(s.CHILDREN[x].id for x in ("protocol", "direction", "edgetraversal"))


def _shape(child: Any) -> Any:
    """What the rule-level constraints read of a setting: its ID, and the value of protocol,
    direction and edge traversal (their template references and annotations aside)."""
    if not isinstance(child, dict):
        return child
    out = {"settingDefinitionId": child["settingDefinitionId"]} if "settingDefinitionId" in child else {}
    if child.get("settingDefinitionId") in _READ_WHOLE:
        for key in ("simpleSettingValue", "choiceSettingValue"):
            value = child.get(key)
            if key in child:
                out[key] = {"value": value["value"]} if isinstance(value, dict) and "value" in value else value
    return out


@functools.cache
def _validator() -> Any:
    from ..jsonschemas import validator

    return validator(SCHEMA)


@functools.cache
def _part_validators() -> tuple[Any, dict[str, Any], dict[str, Any]]:
    """A rule without its settings' contents; each setting definition by setting ID; and the
    whole rule and whole setting definitions (for values of an unexpected shape)."""
    root = _validator()
    defs = root.schema["$defs"]
    rule = copy.deepcopy(defs["rule"])
    rule["properties"]["children"]["items"] = True
    by_id = {f"{s.PREFIX}_{name[len('child_'):]}": root.evolve(schema=sub) for name, sub in defs.items() if name.startswith("child_")}
    return root.evolve(schema=rule), by_id, {"rule": root.evolve(schema=defs["rule"]), "setting": root.evolve(schema=defs["ruleSetting"])}


def _message(error: Any) -> str:
    """jsonschema's message, unless it would print a whole rule or a long list of IDs."""
    schema = error.schema if isinstance(error.schema, dict) else {}
    if error.validator in ("contains", "minContains", "maxContains", "not", "if", "then"):
        if "description" in schema:
            return f"breaks: {schema['description']}"
        target = schema.get("contains", {}).get("properties", {}).get("settingDefinitionId", {}).get("const", "")
        suffix = target[len(s.PREFIX) + 1:] if target.startswith(s.PREFIX) else target
        if error.validator == "maxContains":
            return f"the setting {suffix} appears more than once"
        return f"the setting {suffix} is missing"
    if len(error.message) <= 300:
        return error.message
    if error.validator == "enum":
        return f"{error.instance!r} is not one of the {len(error.validator_value)} values the schema allows"
    if error.validator == "maxItems":
        return f"more than {error.validator_value} items"
    if "description" in schema:
        return f"breaks: {schema['description']}"
    return f"fails the schema's {error.validator!r} check"


def document_problems(path: str, data: bytes) -> list[Problem]:
    """One document cmfw wrote: the schema, then what only a cmfw POST body must be."""
    try:
        doc = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return [Problem(path, message=f"not valid JSON: {exc}")]
    problems = schema_problems(path, doc)
    if problems or not isinstance(doc, dict):
        return problems
    if tuple(doc) != BODY_KEYS:
        problems.append(Problem(path, message=f"keys {list(doc)} are not a POST body's {list(BODY_KEYS)}"))
        return problems
    marker = marker_of(doc["description"])
    if marker is None:
        problems.append(Problem(path, path="$.description", message="the first line is not the cmfw marker"))
    elif not 1 <= marker.part <= marker.parts or _name(document_paths(marker.key, marker.parts)[marker.part - 1]) != _name(path):
        problems.append(Problem(path, path="$.description", message=f"the marker names document {marker.part} of {marker.parts} of policy {marker.key}, not {path}"))
    rules = doc["settings"][0]["settingInstance"]["groupSettingCollectionValue"]
    names: dict[str, int] = {}
    for i, rule in enumerate(rules):
        where = f"$.settings[0].settingInstance.groupSettingCollectionValue[{i}]"
        for child in rule["children"]:
            suffix = child["settingDefinitionId"][len(s.PREFIX) + 1:]
            ref = child.get("settingInstanceTemplateReference")
            known = s.CHILDREN[suffix].instance_template if suffix in s.CHILDREN else None
            if (ref is not None) != (i == 0 and known is not None):
                problems.append(Problem(path, path=where, message=f"{suffix}: template references belong on the first rule only, for every setting with a known template"))
            if suffix == "protocol" and not isinstance(child["simpleSettingValue"]["value"], int):
                problems.append(Problem(path, path=where, message="the protocol is not a JSON number"))
            if suffix == "name":
                name = child["simpleSettingValue"]["value"].casefold()
                if name in names:
                    problems.append(Problem(path, path=where, message=f"the name {child['simpleSettingValue']['value']!r} is also rule {names[name]}'s; Intune refuses duplicates"))
                names.setdefault(name, i)
    return problems


def _name(path: str) -> str:
    return path.replace("\\", "/").rsplit("/", 1)[-1]


def check_documents(files: Mapping[str, bytes]) -> list[Problem]:
    """Intune policy files read from anywhere (``cmfw check`` of a ``.json`` or a folder):
    cmfw's own documents in full, any other firewall rule policy against the schema;
    files that are not meant as Intune policies (the deploy plan, other JSON) are passed over."""
    problems: list[Problem] = []
    for path, data in sorted(files.items()):
        try:
            doc = json.loads(data.decode("utf-8-sig"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            problems.append(Problem(path, message=f"not valid JSON: {exc}"))
            continue
        if not looks_like_policy(doc):
            continue
        ours = isinstance(doc, dict) and isinstance(doc.get("description"), str) and marker_of(doc["description"]) is not None
        problems.extend(document_problems(path, data) if ours else schema_problems(path, doc))
    return problems


def plan_problems(files: Mapping[str, bytes]) -> list[Problem]:
    """The plan lists exactly the documents of the build, with their markers, rule counts
    and the IDs they use (what the deploy script checks in the tenant)."""
    data = files.get(PLAN)
    if data is None:
        return [Problem(PLAN, message="missing: Deploy-CmfwIntune.ps1 reads it")]
    try:
        plan = json.loads(data.decode("utf-8"))
        if plan["format"] != PLAN_FORMAT:
            return [Problem(PLAN, message=f"format {plan['format']!r} is not {PLAN_FORMAT}")]
        listed = {d["path"]: (d, p) for p in plan["policies"] for d in p["documents"]}
        documents = {path: json.loads(files[path].decode("utf-8")) for path in listed if path in files}
    except (UnicodeDecodeError, ValueError, KeyError, TypeError) as exc:
        return [Problem(PLAN, message=f"not a {PLAN_FORMAT} document: {exc}")]
    problems = []
    present = {p for p in files if p.startswith(ROOT + "/") and p != PLAN}
    for path in sorted(present - set(listed)):
        problems.append(Problem(PLAN, message=f"does not list {path}"))
    for path, (entry, policy) in sorted(listed.items()):
        doc = documents.get(path)
        if doc is None:
            problems.append(Problem(PLAN, message=f"lists {path}, which the build does not have"))
            continue
        try:
            rules = len(doc["settings"][0]["settingInstance"]["groupSettingCollectionValue"])
            first = doc["description"].split("\n", 1)[0]
            if entry["name"] != doc["name"] or entry["marker"] != first or entry["rules"] != rules:
                problems.append(Problem(PLAN, message=f"{path}: name, marker or rule count differ from the document"))
        except (KeyError, IndexError, TypeError, AttributeError):
            problems.append(Problem(PLAN, message=f"{path}: not a firewall rule policy"))
    if plan.get("uses") != used_ids(documents.values()):
        problems.append(Problem(PLAN, message="the IDs under 'uses' are not those the documents use"))
    for policy in plan["policies"]:
        for entry in policy["documents"]:
            if not re.match(INTUNE_MARKER_PATTERN, entry["marker"]):
                problems.append(Problem(PLAN, message=f"{entry['path']}: the marker does not match the pattern the script parses"))
    return problems
