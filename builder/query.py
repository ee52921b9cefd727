"""``cmfw query``: would this connection get through, and by which rule?

A *source* is anything cmfw reads rules from: a matrix (resolved, nothing rendered),
a cmfw build (its rules.json), a GPO backup root or folder, a registry.pol, an LGPO
text file or a MOF. The policies it holds are decided by :mod:`builder.firewall`;
``--scenarios`` decides every scenario of every policy (:mod:`builder.scenarios`),
which needs the matrix (given, or the one a build records in build.json).
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from .catalog import Catalog, load_catalog
from .errors import InputError, Problem
from .firewall import UNDECIDED, Connection, Decision, Environment, Network, decide
from .keywords import PORT
from .matrix import Matrix, load_matrix
from .model import PROFILES, PolicySet, ProfileSetting, Rule, parse_protocol, rule_to_dict
from .scenarios import LOCAL_SUBNETS, Check, policy_checks
from .syntax.numbers import digits
from .syntax.plaintext import shown

FORMAT = "cmfw-query/1"
MATRIX_SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True)
class QueryPolicy:
    """One policy of a source: what the decision needs, and what shows provenance."""

    key: str
    name: str
    rules: tuple[Rule, ...]
    settings: tuple[ProfileSetting, ...]


@dataclass(frozen=True)
class Source:
    path: str
    kind: str
    policies: tuple[QueryPolicy, ...]
    matrix: Matrix | None = None
    policyset: PolicySet | None = None


@dataclass(frozen=True)
class Answer:
    """What ``cmfw query`` found for one connection."""

    source: Source
    policies: tuple[QueryPolicy, ...]
    connection: Connection
    decision: Decision
    local_rules: tuple[Rule, ...] = field(default=())


# -- sources ------------------------------------------------------------------------------------


def load_source(path: str | Path, catalog: Catalog | None = None) -> Source:
    """Read the policies of ``path``; anything cmfw cannot read raises :class:`InputError`."""
    p = Path(path)
    if str(path) == "-" or (p.is_file() and p.suffix.lower() in MATRIX_SUFFIXES):
        from .resolve import resolve

        catalog = catalog or load_catalog()
        matrix = load_matrix(str(path) if str(path) == "-" else p, catalog)
        policyset = resolve(matrix, catalog)
        return Source(str(path), "matrix", _from_policyset(policyset), matrix, policyset)
    from .read import kind_of, read_path

    kind = kind_of(p)
    if kind == "build":
        return _from_build(p, catalog)
    gpos = read_path(p)
    policies = tuple(
        QueryPolicy(_key_of(g.name, g.source), g.name or Path(g.source).name, tuple(g.rules), tuple(g.profile_settings))
        for g in gpos
    )
    return Source(str(p), kind, policies)


def _from_policyset(policyset: PolicySet) -> tuple[QueryPolicy, ...]:
    return tuple(QueryPolicy(p.key, p.name, p.rules, p.profile_settings) for p in policyset.policies)


def _key_of(name: str, source: str) -> str:
    return name or Path(source).name


def _from_build(root: Path, catalog: Catalog | None) -> Source:
    from .rulesjson import PATH, read

    try:
        policyset = read((root / PATH).read_bytes())
    except OSError as exc:
        raise InputError([Problem(str(root / PATH), message=f"cannot be read: {exc.strerror}")]) from None
    except ValueError as exc:
        raise InputError([Problem(str(root / PATH), message=str(exc))]) from None
    return Source(str(root), "build", _from_policyset(policyset), None, policyset)


def build_matrix(source: Source, catalog: Catalog | None = None) -> Matrix:
    """The matrix a build was made from (its path and SHA-256 are in build.json)."""
    if source.matrix is not None:
        return source.matrix
    if source.kind != "build":
        raise InputError([Problem(source.path, message=(
            "scenarios need the matrix (address sets, feature options): query the matrix or a cmfw build"
        ))])
    from .package.manifest import MANIFEST

    root = Path(source.path)
    try:
        recorded = json.loads((root / MANIFEST).read_text(encoding="utf-8"))["matrix"]
        path = (root / recorded["path"]).resolve()
        data = path.read_bytes()
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InputError([Problem(str(root / MANIFEST), message=f"does not lead to the build's matrix ({exc})")]) from None
    if hashlib.sha256(data).hexdigest() != recorded["sha256"]:
        raise InputError([Problem(str(path), message="has changed since the build: rebuild, or query the matrix itself")])
    return load_matrix(path, catalog)


def select(source: Source, wanted: Sequence[str]) -> tuple[QueryPolicy, ...]:
    """The policies named by ``wanted`` (id or name, any case); all of a one-policy source."""
    if not wanted:
        if len(source.policies) == 1:
            return source.policies
        names = ", ".join(p.key for p in source.policies) or "none"
        raise InputError([Problem(source.path, message=f"holds {len(source.policies)} policies; choose with --policy ({names})")])
    chosen = []
    for name in wanted:
        found = [p for p in source.policies if name.casefold() in (p.key.casefold(), p.name.casefold())]
        if not found:
            from .jsonschemas import suggest

            keys = [p.key for p in source.policies]
            hint = suggest(name, keys) or " (it has: " + ", ".join(keys) + ")"
            raise InputError([Problem(source.path, message=f"has no policy {name!r}{hint}")])
        chosen.extend(found)
    return tuple(dict.fromkeys(chosen))


# -- one connection -----------------------------------------------------------------------------


def parse_service_spec(text: str, option: str) -> tuple[int, int | str | None, tuple[int, int] | None]:
    """``tcp/2701``, ``udp/Teredo``, ``tcp/RPC``, ``icmpv4/8`` or ``icmpv4/8:0`` → (protocol, port, icmp)."""
    head, _, tail = text.partition("/")
    try:
        protocol = parse_protocol(head)
    except ValueError as exc:
        raise _bad(option, text, str(exc)) from None
    if protocol is None:
        raise _bad(option, text, "name a protocol (tcp, udp, icmpv4, icmpv6)")
    if protocol in (1, 58):
        kind, _, code = tail.partition(":")
        if not digits(kind) or int(kind) > 255 or (code and (not digits(code) or int(code) > 255)):
            raise _bad(option, text, "an ICMP type is written icmpv4/TYPE or icmpv4/TYPE:CODE (0-255)")
        return protocol, None, (int(kind), int(code or 0))
    if protocol not in (6, 17):
        if tail:
            raise _bad(option, text, "only TCP and UDP have ports")
        return protocol, None, None
    return protocol, parse_port(tail, option, text), None


def parse_port(value: str, option: str, whole: str | None = None) -> int | str:
    keywords = {k.casefold(): k for k in PORT}
    if digits(value) and 1 <= int(value) <= 65535:
        return int(value)
    if value.casefold() in keywords:
        return keywords[value.casefold()]
    raise _bad(option, whole or value, f"{value!r} is not a port (1-65535) or a port keyword ({', '.join(PORT)})")


def parse_address(value: str, option: str) -> str:
    if "%" in value:
        raise _bad(option, value, "has a zone index ('%'); Windows rules match addresses without one")
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        raise _bad(option, value, "not an IP address (Windows rules match addresses, not names)") from None


def parse_subnet(value: str, option: str) -> Network:
    if "%" in value:
        raise _bad(option, value, "has a zone index ('%'); give the subnet alone")
    try:
        return ipaddress.ip_network(value.strip(), strict=False)
    except ValueError:
        raise _bad(option, value, "not a subnet (such as 10.20.0.0/24)") from None


def parse_profile(value: str) -> str:
    for profile in PROFILES:
        if profile.casefold() == value.strip().casefold():
            return profile
    raise _bad("--profile", value, f"not a profile ({', '.join(PROFILES)})")


def _bad(option: str, value: str, why: str) -> InputError:
    return InputError([Problem(option, message=f"{value!r}: {why}")])


def windows_local_rules(catalog: Catalog | None = None) -> tuple[Rule, ...]:
    """Rules Windows keeps enabled in the local store on a clean install (catalog data)."""
    catalog = catalog or load_catalog()
    return tuple(
        Rule(r.id, r.name, r.direction, protocol=r.protocol, local_ports=r.local_ports, remote_ports=r.remote_ports,
             program=r.program, service=r.service, group="Windows (local store)", source=str(r.source or ""))
        for r in catalog.local_rules
    )


def query(
    source: Source,
    connection: Connection,
    policies: Sequence[str] = (),
    *,
    local_subnets: Sequence[Network] | None = None,
    local_rules: Sequence[Rule] = (),
) -> Answer:
    """Decide ``connection`` against the chosen policies of ``source`` (their rules together)."""
    chosen = select(source, policies)
    rules = tuple(r for p in chosen for r in p.rules)
    settings = tuple(s for p in chosen for s in p.settings)
    environment = Environment(
        local_subnets=tuple(local_subnets) if local_subnets is not None else None, local_rules=tuple(local_rules)
    )
    return Answer(source, chosen, connection, decide(connection, rules, settings, environment), tuple(local_rules))


def scenario_checks(source: Source, policies: Sequence[str] = (), catalog: Catalog | None = None) -> dict[str, list[Check]]:
    """Every scenario of the chosen policies (all when none are named), by policy id."""
    catalog = catalog or load_catalog()
    matrix = build_matrix(source, catalog)
    policyset = source.policyset
    if policyset is None:  # pragma: no cover - matrices and builds always have one
        raise InputError([Problem(source.path, message="holds no cmfw policies")])
    keys = {p.key for p in (select(source, policies) if policies else source.policies)}
    by_key = {p.key: p for p in policyset.policies}
    specs = {spec.key: spec for spec in matrix.policies}
    out = {}
    for key in sorted(keys, key=str.casefold):
        if key not in specs:
            raise InputError([Problem(source.path, message=f"policy {key!r} is not in the matrix the build records")])
        out[key] = policy_checks(matrix, catalog, specs[key], by_key[key])
    return out


# -- output -------------------------------------------------------------------------------------


def provenance(rule: Rule) -> str:
    """``remote-control, seed: Remote Control`` when the source knows it (a matrix or build)."""
    parts = [x for x in (rule.feature, rule.source) if x]
    return ", ".join(parts)


def answer_document(answer: Answer) -> dict[str, Any]:
    c, d = answer.connection, answer.decision
    local_ids = {r.id for r in answer.local_rules}
    return {
        "format": FORMAT,
        "source": {"path": answer.source.path, "kind": answer.source.kind},
        "policies": [{"id": p.key, "name": p.name} for p in answer.policies],
        "connection": {
            "direction": c.direction, "protocol": c.protocol, "local_port": c.local_port, "remote_port": c.remote_port,
            "remote_address": c.remote_address, "icmp": list(c.icmp) if c.icmp else None, "program": c.program,
            "service": c.service, "profile": c.profile, "edge": c.edge,
        },
        "verdict": d.verdict,
        "reason": d.reason,
        "rules": [dict(rule_to_dict(m.rule), store="local" if m.rule.id in local_ids and m.local else "policy") for m in d.rules],
        "unknown": list(d.unknown),
        "near": [{"id": m.rule.id, "why": m.why} for m in d.near],
    }


def hints(decision: Decision) -> list[str]:
    """Which option would settle an undecided answer."""
    text = " ".join(decision.unknown)
    found = []
    for needle, option in (("LocalSubnet", "--local-subnet CIDR"), ("no program was given", "--program PATH"),
                           ("no service was given", "--service NAME"), ("dynamic RPC endpoint", "the port as RPC (tcp/RPC)"),
                           ("stands for a port", "the port keyword itself (udp/Teredo)")):
        if needle in text:
            found.append(option)
    return found


def format_answer(answer: Answer) -> str:
    d = answer.decision
    head = {"allowed": "allowed", "blocked": "not allowed", UNDECIDED: "undecided"}[d.verdict]
    lines = [f"{head}: {answer.connection.describe()}"]
    if d.rules and d.verdict != UNDECIDED:
        for m in d.rules:
            where = " (local store)" if m.local else ""
            origin = provenance(m.rule)
            lines.append(shown(f"  {'by' if d.allowed else 'blocked by'} {m.rule.id}{where}" + (f" ({origin})" if origin else "")))
    else:
        lines.append(f"  {d.reason}")
    for item in d.unknown:
        lines.append(f"  unknown: {item}")
    for m in d.near[:5]:
        lines.append(shown(f"  near: {m.rule.id}: {m.why}"))
    if d.verdict == UNDECIDED and hints(d):
        lines.append("  to decide, give: " + ", ".join(hints(d)))
    return "\n".join(lines)


def format_scenarios(checks: dict[str, list[Check]]) -> str:
    from .scenarios import summary

    lines = []
    for key, items in checks.items():
        lines.append(f"{key}:")
        for c in items:
            mark = "ok  " if c.ok else "FAIL"
            expect = "" if c.expect_allowed else f" (not allowed by design: {c.limit})"
            lines.append(f"  {mark} {c.feature} ({c.variant}): {c.scenario.name}{expect}")
            lines.append(f"       {c.connection.describe()}: {summary(c)}")
    return "\n".join(lines)


def scenarios_document(checks: dict[str, list[Check]]) -> dict[str, Any]:
    from .scenarios import summary

    return {
        "format": "cmfw-scenarios/1",
        "policies": [
            {
                "id": key,
                "scenarios": [
                    {
                        "feature": c.feature, "variant": c.variant, "name": c.scenario.name,
                        "source": str(c.scenario.source), "connection": c.connection.describe(),
                        "expected": "allowed" if c.expect_allowed else "not allowed", "limit": c.limit or None,
                        "verdict": c.decision.verdict, "rules": [m.rule.id for m in c.decision.rules],
                        "summary": summary(c), "ok": c.ok,
                    }
                    for c in items
                ],
            }
            for key, items in checks.items()
        ],
    }


__all__ = [
    "Answer", "LOCAL_SUBNETS", "QueryPolicy", "Source", "answer_document", "build_matrix", "format_answer",
    "format_scenarios", "load_source", "parse_address", "parse_port", "parse_profile", "parse_service_spec",
    "parse_subnet", "query", "scenario_checks", "scenarios_document", "select", "windows_local_rules",
]
