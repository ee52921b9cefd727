"""CMFW109 without comparing every pair: the indexed search finds exactly what the pairwise one did.

``reference_overlaps`` below is the check as it was first written (every rule against every
other rule of its group), kept here as the definition the fast one must match, finding for
finding, cover for cover, in the same order.
"""

from __future__ import annotations

import ipaddress
import json
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Iterable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import builder.lint as lintmodule
from builder.lint import Overlap, lint_document, lint_file, overlapping_rules
from builder.model import PROFILES, Rule
from builder.syntax.numbers import digits

from .conftest import EXAMPLE

# -- the reference: pairwise, as CMFW109 was first written ----------------------------------------


def reference_overlaps(rules: Iterable[Rule]) -> list[Overlap]:
    groups: dict[tuple[Any, ...], list[Rule]] = {}
    for rule in rules:
        if rule.enabled:
            key = (rule.direction, rule.action, rule.protocol, (rule.program or "").casefold(), (rule.service or "").casefold())
            groups.setdefault(key, []).append(rule)
    found = []
    for group in groups.values():
        for b in group:
            cover = next((a for a in group if a is not b and _covers(a, b) and not (_covers(b, a) and a.id > b.id)), None)
            if cover is not None:
                found.append(Overlap(b, cover, _covers(b, cover)))
    return found


def _covers(a: Rule, b: Rule) -> bool:
    return (
        set(b.profiles) <= set(a.profiles)
        and _ports_within(b.local_ports, a.local_ports)
        and _ports_within(b.remote_ports, a.remote_ports)
        and _addresses_within(b.remote_addresses, a.remote_addresses)
        and _addresses_within(b.local_addresses, a.local_addresses)
        and (not a.icmp_types or (bool(b.icmp_types) and set(b.icmp_types) <= set(a.icmp_types)))
    )


def _ranges(ports: Iterable[str]) -> tuple[list[tuple[int, int]], set[str]]:
    numeric, words = [], set()
    for port in ports:
        low, _, high = port.partition("-")
        if digits(low) and (not high or digits(high)):  # isdigit until 0d96545 (ASCII digits only)
            numeric.append((int(low), int(high or low)))
        else:
            words.add(port.casefold())
    return numeric, words


def _ports_within(inner: tuple[str, ...], outer: tuple[str, ...]) -> bool:
    if not outer:
        return True
    if not inner:
        return False
    ni, wi = _ranges(inner)
    no, wo = _ranges(outer)
    return wi <= wo and all(any(o0 <= i0 and i1 <= o1 for o0, o1 in no) for i0, i1 in ni)


def _networks(addresses: Iterable[str]) -> tuple[list[tuple[int, int, int]], set[str]]:
    spans: list[tuple[int, int, int]] = []
    words: set[str] = set()
    for address in addresses:
        try:
            if "-" in address:
                first, last = (ipaddress.ip_address(x) for x in address.split("-", 1))
                spans.append((first.version, int(first), int(last)))
            else:
                net = ipaddress.ip_network(address, strict=False)
                spans.append((net.version, int(net.network_address), int(net.broadcast_address)))
        except ValueError:
            words.add(address.casefold())
    return spans, words


def _addresses_within(inner: tuple[str, ...], outer: tuple[str, ...]) -> bool:
    if not outer:
        return True
    if not inner:
        return False
    si, wi = _networks(inner)
    so, wo = _networks(outer)
    return wi <= wo and all(any(v == w and o0 <= i0 and i1 <= o1 for w, o0, o1 in so) for v, i0, i1 in si)


def summary(found: list[Overlap], rules: list[Rule]) -> list[tuple[int, str, int, str, bool]]:
    """Each finding as (position, ID) of the rule and of its cover, and the wording: comparable and readable."""
    where: dict[int, int] = {}
    for position, rule in enumerate(rules):
        where.setdefault(id(rule), position)
    return [(where[id(o.rule)], o.rule.id, where[id(o.cover)], o.cover.id, o.duplicate) for o in found]


# -- random rule sets, small universes so that rules often hold one another -----------------------------


def _v4(n: int) -> str:
    return str(ipaddress.IPv4Address(0x0A000000 + n))


def _v6(n: int) -> str:
    return str(ipaddress.IPv6Address((0xFE80 << 112) + n))


def _subnet(make: Callable[[int], str], bits: int) -> st.SearchStrategy[str]:
    return st.tuples(st.integers(0, 11), st.integers(1, 3)).map(lambda t: make(t[0] >> t[1] << t[1]) + f"/{bits - t[1]}")


def _span(make: Callable[[int], str]) -> st.SearchStrategy[str]:
    # mostly first-last, sometimes backwards (a checked matrix refuses those; the check must not care)
    return st.tuples(st.integers(0, 11), st.integers(-2, 6)).map(lambda t: f"{make(t[0])}-{make(max(t[0] + t[1], 0))}")


ADDRESS = st.one_of(
    st.integers(0, 11).map(_v4), _subnet(_v4, 32), _span(_v4),
    st.integers(0, 11).map(_v6), _subnet(_v6, 128), _span(_v6),
    st.sampled_from(["LocalSubnet", "localsubnet", "DHCP", "DNS", "Internet", "DefaultGateway"]),
)
PORT = st.one_of(
    st.integers(1, 10).map(str),
    st.tuples(st.integers(1, 10), st.integers(-2, 5)).map(lambda t: f"{t[0]}-{max(t[0] + t[1], 1)}"),
    st.sampled_from(["RPC", "rpc", "RPC-EPMap", "IPHTTPS", "mDNS"]),
)
ICMP = st.sampled_from(["0", "3", "3:4", "8", "8:*", "11:0"])
#: a group: direction, action, protocol, program, service (spellings that differ only in case group together)
GROUP = st.tuples(
    st.sampled_from(["In", "Out"]), st.sampled_from(["Allow", "Block"]), st.sampled_from([6, 17, None, 1, 58]),
    st.sampled_from([None, r"%SystemRoot%\system32\svchost.exe", r"%systemroot%\System32\SVCHOST.exe"]),
    st.sampled_from([None, "WinRM", "winrm"]),
)
FIELDS = {"local_ports": PORT, "remote_ports": PORT, "remote_addresses": ADDRESS, "local_addresses": ADDRESS, "icmp_types": ICMP}


@st.composite
def rule_sets(draw: st.DrawFn) -> list[Rule]:
    """Rules in one to three groups, many made from others: narrowed, widened, copied, listed twice."""
    groups = draw(st.lists(GROUP, min_size=1, max_size=3))

    def values(field: str) -> tuple[str, ...]:
        if field in ("remote_ports", "local_addresses", "icmp_types") and draw(st.booleans()):
            return ()  # often any, as in real rules
        return tuple(draw(st.lists(FIELDS[field], max_size=4)))

    def ident() -> str:
        return f"R{draw(st.integers(0, 30)):02d}"

    rules: list[Rule] = []
    for _ in range(draw(st.integers(1, 16))):
        make_from_another = draw(st.booleans())
        if rules and make_from_another:
            rules.append(derived(draw, draw(st.sampled_from(rules)), ident, values))
            continue
        direction, action, protocol, program, service = draw(st.sampled_from(groups))
        lists: dict[str, Any] = {field: values(field) for field in FIELDS}
        rules.append(Rule(
            id=ident(), name="r", direction=direction, action=action, protocol=protocol,
            program=program, service=service, profiles=tuple(draw(st.sets(st.sampled_from(PROFILES)))),
            enabled=draw(st.sampled_from([True, True, True, False])),
            **lists,
        ))
    return list(draw(st.permutations(rules)))


def derived(draw: st.DrawFn, rule: Rule, ident: Callable[[], str], values: Callable[[str], tuple[str, ...]]) -> Rule:
    how = draw(st.sampled_from(["copy", "same id", "same object", "drop", "add", "other", "any", "profiles"]))
    if how == "same object":
        return rule
    if how in ("copy", "same id"):
        return replace(rule, id=ident() if how == "copy" else rule.id)
    field = draw(st.sampled_from(sorted(FIELDS)))
    now: tuple[str, ...] = getattr(rule, field)
    if how == "drop" and now:  # narrower (or, dropping the last entry, any)
        gone = draw(st.integers(0, len(now) - 1))
        now = now[:gone] + now[gone + 1:]
    elif how == "add":
        now = now + (draw(FIELDS[field]),)
    elif how == "other":
        now = values(field)
    elif how == "any":
        now = ()
    changes: dict[str, Any] = {field: now}
    if how == "profiles":
        changes = {"profiles": tuple(draw(st.sets(st.sampled_from(PROFILES))))}
    return replace(rule, id=ident(), **changes)


@settings(max_examples=500)
@given(rule_sets())
def test_the_indexed_search_reports_what_the_pairwise_one_does(rules: list[Rule]) -> None:
    assert summary(overlapping_rules(rules), rules) == summary(reference_overlaps(rules), rules)


def _kinds(found: list[Overlap], rules: list[Rule]) -> set[str]:
    kinds = set()
    where = {id(rule): position for position, rule in reversed(list(enumerate(rules)))}
    for o in found:
        kinds.add("duplicate" if o.duplicate else "covered")
        if o.duplicate and o.rule.id == o.cover.id:
            kinds.add("same ID")
        if where[id(o.cover)] > where[id(o.rule)]:
            kinds.add("cover listed later")
        for field in ("local_ports", "remote_addresses", "local_addresses", "icmp_types"):
            mine, theirs = getattr(o.rule, field), getattr(o.cover, field)
            if not o.duplicate and mine and theirs and mine != theirs:
                kinds.add(f"wider {field}")
    return kinds


def test_the_random_rule_sets_hold_what_the_property_is_about() -> None:
    """Else the property would prove little: covered rules of every kind turn up."""
    seen: set[str] = set()

    @settings(max_examples=300, database=None, derandomize=True)  # a fixed sample: the count must not flicker
    @given(rule_sets())
    def collect(rules: list[Rule]) -> None:
        seen.update(_kinds(reference_overlaps(rules), rules))

    collect()
    assert seen == {"duplicate", "covered", "same ID", "cover listed later", "wider local_ports",
                    "wider remote_addresses", "wider local_addresses", "wider icmp_types"}


# -- examples that pin the wording ---------------------------------------------------------------


def tcp_in(rule_id: str, ports: tuple[str, ...], addresses: tuple[str, ...], **fields: Any) -> Rule:
    return Rule(id=rule_id, name=rule_id, direction="In", protocol=6, local_ports=ports, remote_addresses=addresses, **fields)


def test_duplicates_name_the_smaller_id_and_wider_rules_cover() -> None:
    b = tcp_in("B", ("445",), ("10.0.0.0/24",))
    a = tcp_in("A", ("445",), ("10.0.0.0/24",))
    wide = tcp_in("Z", ("400-500",), ("10.0.0.0/16",))
    other = tcp_in("C", ("445",), ("10.0.0.0/24",), program=r"C:\tool.exe")
    rules = [b, a, wide, other]
    assert summary(overlapping_rules(rules), rules) == [(0, "B", 1, "A", True), (1, "A", 2, "Z", False)]


def test_entries_are_compared_one_to_one_as_before() -> None:
    """A range that only two adjacent entries together hold is not reported (CMFW109 never merged entries)."""
    rules = [
        tcp_in("Split", ("10-15", "16-20"), ("10.0.0.0/25", "10.0.0.128/25")),
        tcp_in("Whole", ("10-20",), ("10.0.0.0/25",)),
        tcp_in("Both", ("12",), ("10.0.0.0/24",)),
    ]
    assert summary(overlapping_rules(rules), rules) == summary(reference_overlaps(rules), rules) == []
    rules.append(tcp_in("Narrow", ("12",), ("10.0.0.200", "10.0.0.5")))
    assert summary(overlapping_rules(rules), rules) == [(3, "Narrow", 0, "Split", False)]


# -- the example, and a big policy, give the same lint output -----------------------------------------


def _lint_json(path: Path) -> str:
    return json.dumps(lint_document(lint_file(path), str(path)), indent=1)


def _with_reference(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lintmodule, "overlapping_rules", reference_overlaps)


def test_the_example_lints_as_with_the_pairwise_check(monkeypatch: pytest.MonkeyPatch) -> None:
    """The whole lint of the example, fast and with the oracle, and the overlaps under it
    (CMFW109 reports only some of them: not those between two features)."""
    from builder.catalog import load_catalog
    from builder.lint import overlapping_rules
    from builder.matrix import load_matrix
    from builder.resolve import resolve

    fast = _lint_json(EXAMPLE)
    policies = resolve(load_matrix(EXAMPLE), load_catalog()).policies
    found = [(o.rule.id, o.cover.id, o.duplicate) for p in policies for o in overlapping_rules(p.rules)]
    assert len(found) >= 5 and any(d for *_, d in found) and not all(d for *_, d in found)
    _with_reference(monkeypatch)
    assert _lint_json(EXAMPLE) == fast
    oracle = lintmodule.overlapping_rules  # the quadratic reference, patched in above
    assert [(o.rule.id, o.cover.id, o.duplicate) for p in policies for o in oracle(p.rules)] == found


def big_policy(count: int) -> str:
    """Custom rules that repeat, widen and narrow one another, some from a shared address set."""
    lines = [
        "version: 1", "domain: corp.contoso.com", "addresses:", "  site_servers: [10.0.0.10]",
        "  consoles: [10.20.0.0/24, 10.30.0.0/16, 'fd00::/64']",
        "  big: [" + ", ".join(f"10.40.{i // 250}.{i % 250}" for i in range(600)) + "]",
        "policies:", "  - name: Workstations", "    features: [client-requests, {remote-control: {from: consoles}}]",
        "    custom_rules:",
    ]
    sets = ["site_servers", "consoles", "big", "[site_servers, big]"]
    for i in range(count):
        port = f"{2700 + i % 7}" if i % 5 else f"'{2700 + i % 3}-{2705 + i % 4}'"
        lines.append(
            f"      - {{id: R{(i * 37) % count}, name: Rule {i}, direction: In, protocol: {'TCP' if i % 4 else 'UDP'}, "
            f"local_ports: [{port}], from: {sets[i % len(sets)]}, profiles: {['[Domain]', '[Domain, Private]'][i % 2]}}}"
        )
    return "\n".join(lines) + "\n"


def test_a_big_policy_lints_as_with_the_pairwise_check(write: Callable[..., Path], monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(big_policy(160))
    fast = _lint_json(path)
    assert 50 < fast.count('"CMFW109"') < 160 and "is covered by" in fast and "duplicates" in fast
    _with_reference(monkeypatch)
    assert _lint_json(path) == fast


# -- how much work the search does (counted, not timed) ---------------------------------------------


def _count_calls(monkeypatch: pytest.MonkeyPatch, owner: Any, name: str) -> list[int]:
    calls = [0]
    original = getattr(owner, name)

    def counted(*args: Any) -> Any:
        calls[0] += 1
        return original(*args)

    monkeypatch.setattr(owner, name, counted)
    return calls


def test_distinct_rules_are_not_compared_with_each_other(monkeypatch: pytest.MonkeyPatch) -> None:
    tests = _count_calls(monkeypatch, lintmodule._Shape, "holds")
    rules = [tcp_in(f"P{i}", (str(1000 + i),), ("10.0.0.10",)) for i in range(2000)]
    rules += [tcp_in(f"A{i}", (), (_v4(256 * i),)) for i in range(2000)]  # any port, one address each
    rules += [tcp_in("Any", (), ("10.0.0.10",))]  # holds the 2,000 P rules
    found = overlapping_rules(rules)
    assert len(found) == 2000 and {o.cover.id for o in found} == {"Any"}
    assert tests[0] <= 2 * len(rules)  # pairwise: 16 million


def test_an_address_set_is_parsed_once(monkeypatch: pytest.MonkeyPatch) -> None:
    parsed = _count_calls(monkeypatch, lintmodule, "_networks")
    big = tuple(_v4(i) for i in range(5000))
    rules = [tcp_in(f"R{i}", (str(2701 + i % 2),), big) for i in range(6)]
    found = overlapping_rules(rules)
    assert summary(found, rules) == [(2, "R2", 0, "R0", True), (3, "R3", 1, "R1", True), (4, "R4", 0, "R0", True),
                                     (5, "R5", 1, "R1", True)]
    assert parsed[0] == 1
