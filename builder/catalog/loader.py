"""Read the catalog data files into :class:`~builder.catalog.types.Catalog`.

The files are checked against ``schemas/catalog.schema.json`` by the test suite; this
loader checks what a schema cannot: that every reference (parameter, role, source,
Windows group, required feature) exists, that ports fit their protocol, and that
every inbound rule says who may connect.
"""

from __future__ import annotations

import dataclasses
import hashlib

import functools
import ipaddress
from pathlib import Path
from typing import Any

from ..errors import InputError, Problem
from ..model import DIRECTIONS, PROFILES, parse_protocol
from ..ports import canonical_port
from ..addresses import canonical_address
from ..yamlsource import Document, KeyPath, load_file
from .types import (
    Catalog,
    Feature,
    LocalRule,
    Note,
    Parameter,
    Peer,
    Predefined,
    Remote,
    Role,
    RuleTemplate,
    Scenario,
    Source,
    SourceRef,
    Variant,
    WindowsRule,
)

CATALOG_DIR = Path(__file__).parent
FILES = ("catalog.yaml", "windows.yaml", "features.yaml")
PORT_KINDS = ("port", "port-range", "software-update-points")


@functools.cache
def load_catalog() -> Catalog:
    """The catalog shipped with cmfw (parsed once per process)."""
    return load_catalog_from(CATALOG_DIR)


def load_catalog_from(directory: Path) -> Catalog:
    docs = {name: load_file(directory / name, f"builder/catalog/{name}") for name in FILES}
    # Line ends normalised: a Windows checkout (CRLF) must record the same digest.
    digest = hashlib.sha256()
    for name in sorted(FILES):
        digest.update(name.encode() + b"\x00" + (directory / name).read_bytes().replace(b"\r\n", b"\n") + b"\x00")
    return dataclasses.replace(_Loader(docs).load(), digest=digest.hexdigest())


class _Loader:
    def __init__(self, docs: dict[str, Document]) -> None:
        self.meta = docs["catalog.yaml"]
        self.windows = docs["windows.yaml"]
        self.features_doc = docs["features.yaml"]
        self.problems: list[Problem] = []

    def fail(self, doc: Document, path: KeyPath, message: str) -> None:
        self.problems.append(doc.problem(path, message))

    def load(self) -> Catalog:
        meta = self.meta.data
        sources = {
            sid: Source(sid, s["title"], s.get("url", ""), s.get("date", ""), s.get("note", ""))
            for sid, s in meta["sources"].items()
        }
        self.sources = sources
        self.roles = {name: Role(name, r["title"], r.get("default_from")) for name, r in meta["roles"].items()}
        for name, role in self.roles.items():
            if role.default_from is not None and role.default_from not in self.roles:
                self.fail(self.meta, ("roles", name, "default_from"), f"unknown role {role.default_from!r}")
        self.parameters = {
            name: self._parameter(name, p) for name, p in meta["parameters"].items()
        }
        self.groups = self.windows.data["groups"]
        features = {
            fid: self._feature(fid, f) for fid, f in self.features_doc.data["features"].items()
        }
        self._check_requires(features)
        local_rules = tuple(self._local_rule(i, r) for i, r in enumerate(self.windows.data.get("local_rules", [])))
        if self.problems:
            raise InputError(self.problems)
        return Catalog(str(meta["version"]), sources, self.parameters, self.roles, features, local_rules)

    # -- pieces ------------------------------------------------------------------------

    def _source(self, doc: Document, path: KeyPath, data: dict[str, Any] | None) -> SourceRef | None:
        if data is None:
            return None
        if data["doc"] not in self.sources:
            self.fail(doc, path + ("doc",), f"unknown source document {data['doc']!r}")
        return SourceRef(data["doc"], data["section"])

    def _parameter(self, name: str, data: dict[str, Any]) -> Parameter:
        path: KeyPath = ("parameters", name)
        default = data.get("default")
        if data.get("default_from") and data["default_from"] not in self.meta.data["parameters"]:
            self.fail(self.meta, path + ("default_from",), f"unknown parameter {data['default_from']!r}")
        if default is not None and data["kind"] in ("port", "port-range"):
            try:
                canonical_port(default, allow_range=data["kind"] == "port-range")
            except ValueError as exc:
                self.fail(self.meta, path + ("default",), str(exc))
        return Parameter(
            name,
            data["kind"],
            data["title"],
            default,
            data.get("default_from"),
            data.get("where", ""),
            self._source(self.meta, path + ("source",), data.get("source")),
        )

    def _feature(self, fid: str, data: dict[str, Any]) -> Feature:
        path: KeyPath = ("features", fid)
        doc = self.features_doc
        source = self._source(doc, path + ("source",), data["source"])
        assert source is not None
        notes = tuple(
            Note(self._source(doc, path + ("notes", i, "source"), n["source"]), n["text"])  # type: ignore[arg-type]
            for i, n in enumerate(data.get("notes", []))
        )
        if "variants" in data:
            raw_variants = data["variants"]
            default = data.get("default_variant", "")
            if default not in raw_variants:
                self.fail(doc, path + ("default_variant",), f"default_variant {default!r} is not one of the variants")
            variants = {
                name: Variant(
                    name,
                    v.get("summary", ""),
                    self._rules(fid, data["title"], v["rules"], path + ("variants", name, "rules"), source),
                    v.get("narrower"),
                )
                for name, v in raw_variants.items()
            }
            for name, v in raw_variants.items():
                if v.get("narrower") is not None and v["narrower"] not in raw_variants:
                    self.fail(doc, path + ("variants", name, "narrower"), f"narrower variant {v['narrower']!r} is not one of the variants")
        else:
            default = "default"
            variants = {
                default: Variant(default, "", self._rules(fid, data["title"], data["rules"], path + ("rules",), source))
            }
        scenarios = tuple(
            self._scenario(path + ("scenarios", i), item, variants) for i, item in enumerate(data.get("scenarios", []))
        )
        if not scenarios:
            self.fail(doc, path, f"feature {fid!r} has no scenarios: say, from Microsoft's pages, what traffic it needs")
        for name in variants:
            if not any(s.variants is None or name in s.variants for s in scenarios):
                self.fail(doc, path + ("scenarios",), f"no scenario concerns the variant {name!r}")
        return Feature(
            fid,
            data["title"],
            data.get("summary", ""),
            data.get("applies_to", "clients"),
            source,
            variants,
            default,
            tuple(data.get("requires", [])),
            notes,
            tuple(data.get("traits", [])),
            scenarios,
            data.get("deprecated", ""),
        )

    def _scenario(self, path: KeyPath, item: dict[str, Any], variants: dict[str, Variant]) -> Scenario:
        doc = self.features_doc
        source = self._source(doc, path + ("source",), item["source"])
        assert source is not None
        try:
            protocol = parse_protocol(item["protocol"])
        except ValueError as exc:
            self.fail(doc, path + ("protocol",), str(exc))
            protocol = None
        assert protocol is not None or self.problems
        ports: dict[str, str | None] = {}
        for key in ("port", "local_port", "remote_port"):
            value = item.get(key)
            if value is None:
                ports[key] = None
            elif isinstance(value, str) and value.startswith("$"):
                self._check_ref(doc, path + (key,), value, PORT_KINDS)
                ports[key] = value
            else:
                try:
                    ports[key] = canonical_port(value, allow_range=False, allow_keyword=True)
                except ValueError as exc:
                    self.fail(doc, path + (key,), str(exc))
                    ports[key] = None
        direction = item["direction"]
        service_side = "local_port" if direction == "In" else "remote_port"
        if ports["port"] is not None:
            if ports[service_side] is not None:
                self.fail(doc, path + ("port",), f"give `port` or `{service_side}`, not both")
            ports[service_side] = ports["port"]
        has_ports = ports["local_port"] is not None or ports["remote_port"] is not None
        if has_ports != (protocol in (6, 17)):
            self.fail(doc, path, "a TCP or UDP scenario names its port; an ICMP one does not")
        icmp = None
        if "icmp" in item:
            kind, code = item["icmp"].split(":")
            icmp = (int(kind), int(code))
        peer = self._peer(doc, path + ("peer",), item["peer"])
        program = item.get("program")
        if program and program.startswith("$"):
            self._check_ref(doc, path + ("program",), program, ("program",))
        chosen = item.get("variants")
        for j, name in enumerate(chosen or []):
            if name not in variants:
                self.fail(doc, path + ("variants", j), f"unknown variant {name!r}")
        for name in item.get("limits", {}):
            if name not in variants:
                self.fail(doc, path + ("limits", name), f"unknown variant {name!r}")
            elif chosen is not None and name not in chosen:
                self.fail(doc, path + ("limits", name), f"{name!r} is a limit of a scenario that does not concern it")
        profiles = item.get("profiles")
        return Scenario(
            name=item["name"],
            source=source,
            direction=direction,
            protocol=protocol or 0,
            peer=peer,
            local_port=ports["local_port"],
            remote_port=ports["remote_port"],
            icmp=icmp,
            program=program,
            service=item.get("service"),
            edge=bool(item.get("edge", False)),
            profiles=tuple(p for p in PROFILES if p in profiles) if profiles is not None else None,
            variants=tuple(chosen) if chosen is not None else None,
            limits=dict(item.get("limits", {})),
        )

    def _peer(self, doc: Document, path: KeyPath, data: Any) -> Peer:
        if isinstance(data, str):
            return Peer(data)
        if "role" in data:
            if data["role"] not in self.roles:
                self.fail(doc, path + ("role",), f"unknown role {data['role']!r}")
            return Peer("role", data["role"])
        try:
            address = str(ipaddress.ip_address(data["address"]))
        except ValueError:
            self.fail(doc, path + ("address",), f"{data['address']!r} is not an IP address")
            address = "0.0.0.0"
        return Peer("address", address)

    def _local_rule(self, index: int, item: dict[str, Any]) -> LocalRule:
        path: KeyPath = ("local_rules", index)
        protocol = parse_protocol(item["protocol"])
        return LocalRule(
            id=item["id"],
            name=item["name"],
            direction=item["direction"],
            protocol=protocol,
            local_ports=self._ports(self.windows, path, item, "local_ports", protocol),
            remote_ports=self._ports(self.windows, path, item, "remote_ports", protocol),
            program=item.get("program"),
            service=item.get("service"),
            source=self._source(self.windows, path + ("source",), item.get("source")),
        )

    def _rules(
        self, fid: str, title: str, items: list[dict[str, Any]], path: KeyPath, feature_source: SourceRef
    ) -> tuple[RuleTemplate, ...]:
        doc = self.features_doc
        out: list[RuleTemplate] = []
        for i, item in enumerate(items):
            ipath = path + (i,)
            source = self._source(doc, ipath + ("source",), item.get("source")) or feature_source
            remote = self._remote(doc, ipath + ("remote",), item.get("remote"))
            if "group" in item:
                made = self._expand_group(item, ipath, title, remote, source)
            else:
                made = [self._template(doc, ipath, item, remote, source)]
            # Least privilege by construction: an inbound rule open to anyone must say so.
            if "remote" not in item and any(t.direction == "In" for t in made):
                self.fail(doc, ipath, f"inbound rules of {fid!r} must say who may connect (remote: role, addresses or any)")
            out.extend(made)
        seen: set[str] = set()
        for template in out:
            if template.selector in seen:
                self.fail(doc, path, f"rule {template.selector!r} appears twice in feature {fid!r}")
            seen.add(template.selector)
        return tuple(out)

    def _remote(self, doc: Document, path: KeyPath, data: Any) -> Remote:
        if data is None or data == "any":
            return Remote()
        if "role" in data or "roles" in data:
            roles = [data["role"]] if "role" in data else list(data["roles"])
            for j, role in enumerate(roles):
                if role not in self.roles:
                    where = path + ("role",) if "role" in data else path + ("roles", j)
                    self.fail(doc, where, f"unknown role {role!r}")
            return Remote(roles=tuple(roles))
        addresses = []
        for i, entry in enumerate(data.get("addresses", [])):
            try:
                addresses.append(canonical_address(entry))
            except ValueError as exc:
                self.fail(doc, path + ("addresses", i), str(exc))
        return Remote(addresses=tuple(addresses))

    def _template(
        self,
        doc: Document,
        path: KeyPath,
        item: dict[str, Any],
        remote: Remote,
        source: SourceRef,
        predefined: Predefined | None = None,
        key: str | None = None,
        name: str | None = None,
        description: str | None = None,
    ) -> RuleTemplate:
        try:
            protocol = parse_protocol(item.get("protocol"))
        except ValueError as exc:
            self.fail(doc, path + ("protocol",), str(exc))
            protocol = None
        local = self._ports(doc, path, item, "local_ports", protocol)
        remote_ports = self._ports(doc, path, item, "remote_ports", protocol)
        icmp = tuple(str(t) for t in item.get("icmp_types", []))
        if icmp and protocol not in (1, 58):
            self.fail(doc, path + ("icmp_types",), "ICMP types need protocol ICMPv4 or ICMPv6")
        program = item.get("program")
        if program and program.startswith("$"):
            self._check_ref(doc, path + ("program",), program, ("program",))
        profiles = item.get("profiles")
        if profiles is not None:
            profiles = tuple(p for p in PROFILES if p in profiles)
        direction = item["direction"]
        if direction not in DIRECTIONS:
            self.fail(doc, path + ("direction",), f"direction must be In or Out, not {direction!r}")
        return RuleTemplate(
            key=key or item["key"],
            direction=direction,
            name=name or item["name"],
            description=description if description is not None else item.get("description", ""),
            protocol=protocol,
            local_ports=local,
            remote_ports=remote_ports,
            icmp_types=icmp,
            program=program,
            service=item.get("service"),
            remote=remote,
            profiles=profiles,
            source=source,
            predefined=predefined,
            edge_traversal=item.get("edge_traversal") if predefined is None else None,
        )

    def _ports(self, doc: Document, path: KeyPath, item: dict[str, Any], field: str, protocol: int | None) -> tuple[str, ...]:
        values = item.get(field, [])
        if values and protocol not in (6, 17):
            self.fail(doc, path + (field,), "ports need protocol TCP or UDP")
        out = []
        for i, value in enumerate(values):
            if isinstance(value, str) and value.startswith("$"):
                self._check_ref(doc, path + (field, i), value, PORT_KINDS)
                out.append(value)
                continue
            try:
                out.append(canonical_port(value, allow_keyword=True))
            except ValueError as exc:
                self.fail(doc, path + (field, i), str(exc))
        return tuple(out)

    def _check_ref(self, doc: Document, path: KeyPath, ref: str, kinds: tuple[str, ...]) -> None:
        name, _, part = ref[1:].partition(".")
        param = self.parameters.get(name)
        if param is None:
            self.fail(doc, path, f"unknown parameter {ref!r}")
        elif param.kind not in kinds:
            self.fail(doc, path, f"parameter {ref!r} is a {param.kind}, not usable here")
        elif (param.kind == "software-update-points") != (part in ("http", "https")):
            self.fail(doc, path, f"{ref!r}: software update points are referenced as .http or .https")

    def _expand_group(
        self, item: dict[str, Any], path: KeyPath, title: str, remote: Remote, source: SourceRef
    ) -> list[RuleTemplate]:
        gid = item["group"]
        group = self.groups.get(gid)
        if group is None:
            self.fail(self.features_doc, path + ("group",), f"unknown Windows group {gid!r}")
            return []
        gpath: KeyPath = ("groups", gid)
        entries = list(enumerate(group["rules"]))
        selectors = item.get("rules")
        if selectors is not None:
            by_selector = {f"{r['key']}-{r['direction']}": (i, r) for i, r in entries}
            for j, sel in enumerate(selectors):
                if sel not in by_selector:
                    self.fail(self.features_doc, path + ("rules", j), f"group {gid!r} has no rule {sel!r}")
            entries = [by_selector[s] for s in selectors if s in by_selector]
        if "direction" in item:
            entries = [(i, r) for i, r in entries if r["direction"] == item["direction"]]
        out = []
        for i, rule in entries:
            predefined = Predefined(
                group=gid,
                group_title=group["title"],
                embed_context=group["embed_context"],
                display_name=rule["display_name"],
                name_resource=rule["name_resource"],
                description_resource=rule["description_resource"],
                windows_rules=tuple(
                    WindowsRule(w["id"], tuple(w["profiles"]), tuple(w.get("remote_addresses", [])))
                    for w in rule["windows_rules"]
                ),
                edge_traversal=rule.get("edge_traversal"),
            )
            out.append(
                self._template(
                    self.windows,
                    gpath + ("rules", i),
                    rule,
                    remote,
                    source,
                    predefined,
                    key=f"{group['key_prefix']}-{rule['key']}",
                    name=f"ConfigMgr {title}: {rule['display_name']}",
                    description=(
                        f"The rule Windows predefines as '{rule['display_name']}' "
                        f"(group {group['title']}), needed for {title.lower()}."
                    ),
                )
            )
        return out

    def _check_requires(self, features: dict[str, Feature]) -> None:
        for fid, feature in features.items():
            for j, req in enumerate(feature.requires):
                if req not in features:
                    self.fail(self.features_doc, ("features", fid, "requires", j), f"unknown feature {req!r}")
        # A cycle would make "what does this feature bring" unanswerable.
        for fid in features:
            stack, seen = [fid], set()
            while stack:
                current = stack.pop()
                for req in features[current].requires if current in features else ():
                    if req == fid:
                        self.fail(self.features_doc, ("features", fid, "requires"), f"{fid!r} requires itself")
                        stack.clear()
                        break
                    if req not in seen:
                        seen.add(req)
                        stack.append(req)

