"""``rules.json``: the resolved rules of every policy, as stable JSON.

It is the machine-readable artifact that ``diff``, reports and scripts build on;
the format is documented in ``docs/rules-json.md`` and checked by
``schemas/rules.schema.json``. Keys come in a fixed, documented order; rules are
sorted by ID and policies by key, so the bytes only change when the rules do.
"""

from __future__ import annotations

import copy
import functools
import json
from typing import Any

from .errors import Problem
from .formats import Artifacts, Context, Emitted, Emitter, Validator
from .jsonschemas import load_schema, string_test, validator, validator_class
from .syntax.jsonlayout import compact, dumps
from .model import (
    DscOptions, FeatureChoice, GpoLink, IntuneOptions, Policy, PolicySet, ProfileSetting, Rule, link_to_dict, rule_from_dict, rule_to_dict,
)

PATH = "rules.json"
FORMAT = "cmfw-rules/1"


def policyset_to_dict(policyset: PolicySet) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "domain": policyset.domain,
        "catalog_version": policyset.catalog_version,
        "policies": [_policy(p) for p in policyset.policies],
    }


def _policy(policy: Policy) -> dict[str, Any]:
    return {
        "name": policy.name,
        "key": policy.key,
        "gpo_guid": policy.gpo_guid,
        "description": policy.description,
        "features": [
            {"id": f.id, "variant": f.variant, "implied_by": f.implied_by} for f in policy.features
        ],
        "dsc": {
            "nodes": list(policy.dsc.nodes),
            "resource": policy.dsc.resource,
            "networkingdsc_version": policy.dsc.networkingdsc_version,
            "gpregistrypolicydsc_version": policy.dsc.gpregistrypolicydsc_version,
        },
        "intune": {
            "enabled": policy.intune.enabled,
            "name": policy.intune.name,
            "groups": list(policy.intune.groups),
            "unsupported": policy.intune.unsupported,
            "technologies": policy.intune.technologies,
        },
        "links": [link_to_dict(link) for link in policy.links],
        "profile_settings": [
            {"profile": ps.profile, "name": ps.name, "value": ps.value} for ps in policy.profile_settings
        ],
        "rules": [rule_to_dict(r) for r in policy.rules],
    }


def emit(policyset: PolicySet) -> dict[str, bytes]:
    return {PATH: dumps(policyset_to_dict(policyset))}


def read(data: bytes) -> PolicySet:
    """Parse ``rules.json`` back into a :class:`PolicySet`; ``ValueError`` when malformed."""
    try:
        doc = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"not JSON: {exc}") from None
    _require_format(doc)
    try:
        policies = tuple(_read_policy(p, tuple(rule_from_dict(r) for r in p["rules"])) for p in doc["policies"])
        return PolicySet(doc["domain"], policies, doc.get("catalog_version", ""))
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"malformed rules.json: {exc}") from None


def _require_format(doc: object) -> None:
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise ValueError(f"not a {FORMAT} document")


def _read_policy(p: dict[str, Any], rules: tuple[Rule, ...]) -> Policy:
    return Policy(
        name=p["name"],
        key=p["key"],
        gpo_guid=p["gpo_guid"],
        description=p.get("description", ""),
        features=tuple(FeatureChoice(f["id"], f["variant"], f.get("implied_by")) for f in p["features"]),
        rules=rules,
        dsc=_dsc(p["dsc"]) if "dsc" in p else DscOptions(),
        intune=_intune(p["intune"]) if "intune" in p else IntuneOptions(),
        links=tuple(GpoLink(x["target"], x["order"], x["enforced"], x["enabled"]) for x in p.get("links", [])),
        profile_settings=tuple(ProfileSetting(ps["profile"], ps["name"], ps["value"]) for ps in p.get("profile_settings", [])),
    )


def _intune(data: dict[str, Any]) -> IntuneOptions:
    return IntuneOptions(
        enabled=bool(data["enabled"]),
        name=data["name"],
        groups=tuple(data["groups"]),
        unsupported=data["unsupported"],
        technologies=data["technologies"],
    )


def _dsc(data: dict[str, Any]) -> DscOptions:
    return DscOptions(
        nodes=tuple(data["nodes"]),
        targeted=tuple(data["nodes"]) != DscOptions.nodes,
        resource=data["resource"],
        networkingdsc_version=data["networkingdsc_version"],
        gpregistrypolicydsc_version=data["gpregistrypolicydsc_version"],
    )


# -- validation -------------------------------------------------------------------------------


def _check(artifacts: Artifacts) -> list[Problem]:
    """rules.json against its schema; from disk, also in the one form cmfw writes."""
    data = artifacts.files.get(PATH)
    if data is None:
        return []
    path, canonical = PATH, artifacts.thorough
    try:
        doc = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return [Problem(path, message=f"not valid JSON: {exc}")]
    problems = schema_problems(path, doc)
    if problems or not canonical:
        return problems
    try:
        canonical = _canonical(doc, data)
    except ValueError as exc:
        return [Problem(path, message=str(exc))]
    return [] if canonical else [Problem(path, message="does not survive a read/write round trip (not canonical)")]


def _canonical(doc: Any, data: bytes) -> bool:
    """Whether ``emit(read(data)) == data`` (``ValueError`` as :func:`read` raises it).

    The layout is one function of the parsed document (``dumps(doc) == data``); what is
    left is that reading and writing give back the same values, in the same order and
    of the same JSON types: compared as their compact JSON, policy by policy without
    the rules, and once per distinct rule body (a rule's ID is passed through as it is,
    and the model keeps the rules sorted by ID, which a sorted list survives).
    """
    if dumps(doc) != data:
        return False
    _require_format(doc)
    try:
        top = policyset_to_dict(PolicySet(doc["domain"], (), doc.get("catalog_version", "")))
        if compact(dict(doc, policies=[])) != compact(top):
            return False
        keys = [p["key"].casefold() for p in doc["policies"]]
        if keys != sorted(keys):
            return False
        bodies: dict[str, bool] = {}
        for p in doc["policies"]:
            if compact(dict(p, rules=[])) != compact(_policy(_read_policy(p, ()))):
                return False
            ids = [r["id"].casefold() for r in p["rules"]]
            if ids != sorted(ids):
                return False
            for rule in p["rules"]:
                body = dict(rule, id="")
                key = compact(body)
                same = bodies.get(key)
                if same is None:
                    same = bodies[key] = compact(rule_to_dict(rule_from_dict(body))) == key
                if not same:
                    return False
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ValueError(f"malformed rules.json: {exc}") from None
    return True


def schema_problems(path: str, doc: object) -> list[Problem]:
    """``rules.schema.json`` on a whole document, checking each distinct policy and rule
    body once.

    A large build repeats the same rule in every policy, differing only in its ID, and
    policies that differ only in their name, key and GUID; jsonschema costs about a
    millisecond per rule, which would dominate the build. Neither schema has a condition
    between properties, so validating each distinct body without those fields once, plus
    each of the fields on its own, finds exactly the errors a full validation finds.
    """
    full, policy_once, rule_once = _validators()
    policies = doc.get("policies") if isinstance(doc, dict) else None
    if not isinstance(doc, dict) or not isinstance(policies, list) or not all(
        isinstance(p, dict) and isinstance(p.get("rules"), list) for p in policies
    ):
        return [Problem(path, path=e.json_path, message=e.message) for e in full.iter_errors(doc)]
    problems = [Problem(path, path=e.json_path, message=e.message) for e in full.iter_errors(dict(doc, policies=[]))]
    for i, policy in enumerate(policies):
        where = f"$.policies[{i}]"
        problems += policy_once.problems(path, where, policy)
        for j, rule in enumerate(policy["rules"]):
            problems += rule_once.problems(path, f"{where}.rules[{j}]", rule)
    return problems


class _Once:
    """A schema for objects checked once per distinct body: the object without its
    ``apart`` fields (and ``skip``, checked elsewhere) against the rest of the schema,
    remembered; each ``apart`` field against its own schema."""

    def __init__(self, cls: Any, schema: dict[str, Any], apart: tuple[str, ...], skip: tuple[str, ...] = ()) -> None:
        body = copy.deepcopy(schema)
        self.fields = {name: cls(body["properties"].pop(name)) for name in apart}
        self.tests = {name: string_test(v.schema) or v.is_valid for name, v in self.fields.items()}
        for name in skip:
            body["properties"][name] = True
        body["required"] = [name for name in body["required"] if name not in apart]
        self.apart, self.skip = frozenset(apart), frozenset(skip)
        self.body = cls(body)
        self.seen: dict[str, list[tuple[str, str]]] = {}

    def problems(self, path: str, where: str, value: object) -> list[Problem]:
        if not isinstance(value, dict):
            return [Problem(path, path=where, message=f"{value!r} is not of type 'object'")]
        rest = {k: ([] if k in self.skip else v) for k, v in value.items() if k not in self.apart}
        key = compact(rest)  # key order as written: another order is another (rarer) key
        if key not in self.seen:
            self.seen[key] = [(e.json_path[1:], e.message) for e in self.body.iter_errors(rest)]
        out = [Problem(path, path=where + sub, message=msg) for sub, msg in self.seen[key]]
        for name, test in self.tests.items():
            if name not in value:
                out.append(Problem(path, path=where, message=f"{name!r} is a required property"))
            elif not test(value[name]):
                out += [Problem(path, path=f"{where}.{name}", message=e.message) for e in self.fields[name].iter_errors(value[name])]
        return out


def _validators() -> tuple[Any, _Once, _Once]:
    """Validators for a whole rules.json, a policy (its rules aside) and a rule, the
    latter two checking each distinct body once (fresh ones: what they remember is one
    document's)."""
    schema = load_schema("rules.schema.json")
    cls = validator_class(schema)
    return (
        _full(),
        _Once(cls, schema["properties"]["policies"]["items"], ("name", "key", "gpo_guid"), skip=("rules",)),
        _Once(cls, schema["$defs"]["rule"], ("id",)),
    )


@functools.cache
def _full() -> Any:
    return validator("rules.schema.json")


def _emit(ctx: Context) -> Emitted:
    return Emitted(emit(ctx.policyset))


EMITTER = Emitter(
    name="rules.json",
    owns=(PATH,),
    emit=_emit,
    validators=(
        Validator(
            "rules.json against schemas/rules.schema.json (each distinct rule body once); from disk, also a "
            "read/write round trip (canonical form)",
            _check,
        ),
    ),
)
