"""Load and check the user's feature matrix (``firewall.yaml``).

Two passes, both reporting every problem they find with ``file:line:column``:

1. structure, against ``schemas/matrix.schema.json`` (the schema editors use too);
2. meaning, against the catalog: variants and rule selectors that exist, address
   sets that are defined and well formed, the WSUS port rule, unique policy names
   and IDs, and text that can be carried safely into every artifact.

The result is a typed :class:`Matrix`; nothing here knows about output formats.
See ``docs/matrix.md`` for the file format.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .addresses import canonical_address
from .catalog import Catalog, load_catalog
from .catalog.types import wsus_https
from .dn import DnError, domain_dn, format_dn, parse_dn
from .model import DscOptions, GpoLink, IntuneOptions
from .errors import InputError, Problem
from .ports import canonical_port
from .jsonschemas import schema_problems, suggest
from .lintcodes import CHECKS
from .freetext import text_problem
from .yamlsource import Document, KeyPath, load_bytes, load_file

SCHEMA = "matrix.schema.json"
ANY = "any"
_RESERVED_NAMES = {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(1, 10)), *(f"LPT{i}" for i in range(1, 10))}


#: The longest DSC node name: "<node>.mof.checksum" must fit a 255-byte file name.
MAX_NODE_NAME = 255 - len(".mof.checksum")


@dataclass(frozen=True)
class SoftwareUpdatePoint:
    http: int
    https: int
    name: str = ""
    #: Where the entry is in the matrix (empty for the catalog's default).
    path: KeyPath = ()
    #: Address sets of this server: its ports go to them only (else to the role's set).
    servers: tuple[str, ...] | None = None


@dataclass(frozen=True)
class FeatureUse:
    """One entry of a policy's ``features`` list, with its options."""

    feature: str
    path: KeyPath
    variant: str | None = None
    from_sets: tuple[str, ...] | None = None
    to_sets: tuple[str, ...] | None = None
    profiles: tuple[str, ...] | None = None
    exclude: tuple[str, ...] = ()


@dataclass(frozen=True)
class CustomRule:
    """A rule the admin writes out in full (``custom_rules``)."""

    id: str
    name: str
    direction: str
    path: KeyPath
    description: str = ""
    action: str = "Allow"
    protocol: int | str | None = None
    local_ports: tuple[str, ...] = ()
    remote_ports: tuple[str, ...] = ()
    icmp_types: tuple[str, ...] = ()
    remote_sets: tuple[str, ...] | None = None
    program: str | None = None
    service: str | None = None
    profiles: tuple[str, ...] | None = None
    enabled: bool = True


@dataclass(frozen=True)
class PolicySpec:
    name: str
    key: str
    path: KeyPath
    description: str = ""
    profiles: tuple[str, ...] = ("Domain",)
    outbound_rules: bool = True
    ports: dict[str, Any] = field(default_factory=dict)
    programs: dict[str, str] = field(default_factory=dict)
    software_update_points: tuple[SoftwareUpdatePoint, ...] = ()
    #: The policy's own ``ports:`` (canonical), before the matrix-wide ones are merged in.
    own_ports: dict[str, Any] = field(default_factory=dict)
    features: tuple[FeatureUse, ...] = ()
    custom_rules: tuple[CustomRule, ...] = ()
    profile_settings: dict[str, dict[str, Any]] = field(default_factory=dict)
    rule_ids: str = "cmfw"
    dsc: DscOptions = field(default_factory=DscOptions)
    links: tuple[GpoLink, ...] = ()
    acknowledge: dict[str, str] = field(default_factory=dict)
    intune: IntuneOptions = field(default_factory=IntuneOptions)


@dataclass(frozen=True)
class Matrix:
    """A checked matrix. ``document`` keeps positions for later messages."""

    file: str
    sha256: str
    domain: str
    description: str
    addresses: dict[str, tuple[str, ...]]
    policies: tuple[PolicySpec, ...]
    document: Document
    acknowledge: dict[str, str] = field(default_factory=dict)
    #: The matrix-wide ``ports:`` (canonical; ``software_update_points`` typed).
    ports: dict[str, Any] = field(default_factory=dict)
    #: Which matrix owns the domain's cmfw GPOs (``owner:``), empty when not said.
    owner: str = ""

    def problem(self, path: KeyPath, message: str) -> Problem:
        return self.document.problem(path, message)


def load_matrix(path: str | Path, catalog: Catalog | None = None) -> Matrix:
    """Read and check a matrix file; raises :class:`InputError` listing every problem."""
    return check_matrix(load_file(path), catalog)


def parse_matrix(text: str, name: str = "<matrix>", catalog: Catalog | None = None) -> Matrix:
    """Like :func:`load_matrix`, from a string (for Python callers and tests)."""
    return check_matrix(load_bytes(text.encode("utf-8"), name), catalog)


def check_matrix(doc: Document, catalog: Catalog | None = None) -> Matrix:
    if not isinstance(doc.data, dict):
        raise InputError([doc.problem((), "the matrix must be a mapping (version, domain, policies, ...)")])
    problems = schema_problems(doc, SCHEMA)
    if problems:
        # Meaning cannot be checked on a broken structure; fix these first.
        raise InputError(problems)
    return _Checker(doc, catalog or load_catalog()).check()


class _Checker:
    def __init__(self, doc: Document, catalog: Catalog) -> None:
        self.doc = doc
        self.catalog = catalog
        self.problems: list[Problem] = []

    def fail(self, path: KeyPath, message: str, *, key: bool = False) -> None:
        self.problems.append(self.doc.problem(path, message, key=key))

    def text(self, path: KeyPath, value: str | None, *, in_rule_string: bool = False) -> None:
        if value is None:
            return
        why = text_problem(value, in_rule_string=in_rule_string)
        if why:
            self.fail(path, why)

    def check(self) -> Matrix:
        data = self.doc.data
        self.text(("description",), data.get("description"))
        addresses = self._addresses(data.get("addresses", {}))
        self.address_names = set(addresses)
        base_ports = self._ports(("ports",), data.get("ports", {}))
        base_programs = self._programs(("programs",), data.get("programs", {}))
        policies = self._policies(data["policies"], base_ports, base_programs)
        acknowledge = self._acknowledge(("acknowledge",), data.get("acknowledge", {}))
        if self.problems:
            raise InputError(self.problems)
        return Matrix(
            file=self.doc.file,
            sha256=self.doc.sha256,
            domain=data["domain"].lower(),
            description=data.get("description", ""),
            addresses=addresses,
            policies=tuple(policies),
            document=self.doc,
            acknowledge=acknowledge,
            ports=base_ports,
            owner=data.get("owner", ""),
        )

    # -- addresses ---------------------------------------------------------------------

    def _addresses(self, raw: dict[str, list[str]]) -> dict[str, tuple[str, ...]]:
        out: dict[str, tuple[str, ...]] = {}
        for name, entries in raw.items():
            if name == ANY:
                self.fail(("addresses", name), "'any' is reserved: it means no address scope", key=True)
                continue
            canonical: list[str] = []
            for i, entry in enumerate(entries):
                if entry.strip().casefold() in (ANY, "*"):
                    self.fail(("addresses", name, i), f"{entry!r} cannot be part of a set; write `from: any` on the feature instead")
                    continue
                try:
                    canonical.append(canonical_address(entry))
                except ValueError as exc:
                    self.fail(("addresses", name, i), str(exc))
            out[name] = tuple(dict.fromkeys(canonical))
        return out

    def _refs(self, path: KeyPath, value: str | list[str] | None) -> tuple[str, ...] | None:
        """Check ``from:``/``to:`` address set references."""
        if value is None:
            return None
        names = [value] if isinstance(value, str) else list(value)
        for i, name in enumerate(names):
            where = path if isinstance(value, str) else path + (i,)
            if name == ANY:
                if len(names) > 1:
                    self.fail(where, "'any' cannot be combined with address sets")
                continue
            if name not in self.address_names:
                choices = sorted(self.address_names) + [ANY]
                self.fail(where, f"address set {name!r} is not defined under `addresses`{suggest(name, choices)}")
        return tuple(dict.fromkeys(names))

    # -- ports and programs -----------------------------------------------------------

    def _ports(self, path: KeyPath, raw: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, value in raw.items():
            if name == "software_update_points":
                out[name] = self._sups(path + (name,), value)
                continue
            kind = self.catalog.parameters[name].kind
            try:
                out[name] = canonical_port(value, allow_range=kind == "port-range")
            except ValueError as exc:
                self.fail(path + (name,), str(exc))
        return out

    def _sups(self, path: KeyPath, raw: list[dict[str, Any]]) -> tuple[SoftwareUpdatePoint, ...]:
        out = []
        for i, entry in enumerate(raw):
            http = entry["http"]
            expected = wsus_https(http)
            https = entry.get("https", expected)
            if expected > 65535:
                self.fail(path + (i, "http"), f"HTTP port {http} leaves no HTTPS port: WSUS uses HTTPS = HTTP + 1")
                continue
            # An HTTPS port WSUS does not use is lint finding CMFW106 (an error unless acknowledged).
            self.text(path + (i, "name"), entry.get("name"))
            servers = self._refs(path + (i, "servers"), entry.get("servers"))
            if servers == (ANY,):
                self.fail(path + (i, "servers"), "a software update point has addresses: name its address set (or leave `servers` out)")
            out.append(SoftwareUpdatePoint(http, https, entry.get("name", ""), path + (i,), servers))
        return tuple(out)

    def _programs(self, path: KeyPath, raw: dict[str, str]) -> dict[str, str]:
        for name, value in raw.items():
            self.text(path + (name,), value, in_rule_string=True)
        return dict(raw)

    def _effective_ports(self, path: KeyPath, ports: dict[str, Any]) -> None:
        def value(name: str) -> str | None:
            return self.catalog.parameter_value(name, ports)

        pairs = (("http", "https"), ("http_alternate", "https_alternate"), ("http", "http_alternate"), ("https", "https_alternate"))
        for a, b in pairs:
            if value(a) is not None and value(a) == value(b):
                self.fail(path + (b,), f"{b} {value(b)} is the same port as {a}; ConfigMgr needs them to differ")

    # -- policies -------------------------------------------------------------------

    def _policies(self, raw: list[dict[str, Any]], base_ports: dict[str, Any], base_programs: dict[str, str]) -> list[PolicySpec]:
        names: dict[str, int] = {}
        keys: dict[str, int] = {}
        out = []
        for i, item in enumerate(raw):
            path: KeyPath = ("policies", i)
            name = item["name"]
            self.text(path + ("name",), name)
            folded = unicodedata.normalize("NFC", name).casefold()
            if folded in names:
                self.fail(path + ("name",), f"policy name {name!r} is already used by policies[{names[folded]}] (GPO names are case-insensitive)")
            names.setdefault(folded, i)
            key = item.get("id") or derive_key(name)
            if not key:
                self.fail(path + ("name",), "no policy id can be derived from this name (it has no ASCII letters); add `id:`")
            elif key.casefold() in keys:
                where = path + ("id",) if "id" in item else path + ("name",)
                self.fail(where, f"policy id {key!r} is already used by policies[{keys[key.casefold()]}]; give one of them another `id:`")
            keys.setdefault(key.casefold(), i)
            if key and key.upper() in _RESERVED_NAMES:
                where = path + ("id",) if "id" in item else path + ("name",)
                self.fail(where, f"policy id {key!r} is a reserved device name on Windows and cannot name a folder; give the policy another `id:`")
            self.text(path + ("description",), item.get("description"))

            own_ports = self._ports(path + ("ports",), item.get("ports", {}))
            ports = dict(base_ports)
            ports.update(own_ports)
            self._effective_ports(path + ("ports",) if "ports" in item else ("ports",), ports)
            sups = ports.pop("software_update_points", None)
            if sups is None:
                sups = tuple(SoftwareUpdatePoint(h, s) for h, s in self.catalog.default_software_update_points())
            programs = dict(base_programs)
            programs.update(self._programs(path + ("programs",), item.get("programs", {})))

            settings = item.get("profile_settings", {})
            for profile, values in settings.items():
                self.text(path + ("profile_settings", profile, "log_path"), values.get("log_path"))
            features = self._features(path + ("features",), item.get("features", []))
            customs = self._customs(path + ("custom_rules",), item.get("custom_rules", []))
            if not features and not customs and not settings:
                self.fail(path, "the policy has no features, custom rules or profile settings")
            out.append(
                PolicySpec(
                    name=name,
                    key=key,
                    path=path,
                    description=item.get("description", ""),
                    profiles=tuple(item.get("profiles", ["Domain"])),
                    outbound_rules=item.get("outbound_rules", True),
                    ports=ports,
                    programs=programs,
                    software_update_points=tuple(sups),
                    own_ports=own_ports,
                    features=tuple(features),
                    custom_rules=tuple(customs),
                    profile_settings=settings,
                    rule_ids=item.get("rule_ids", "cmfw"),
                    dsc=self._dsc(path + ("dsc",), item.get("dsc", {})),
                    links=self._links(path + ("links",), item.get("links", [])),
                    acknowledge=self._acknowledge(path + ("acknowledge",), item.get("acknowledge", {})),
                    intune=self._intune(path + ("intune",), item.get("intune", {})),
                )
            )
        return out

    def _acknowledge(self, path: KeyPath, raw: dict[str, str]) -> dict[str, str]:
        for code, reason in raw.items():
            if code not in CHECKS:
                self.fail(path + (code,), f"{code} is not a lint code (see docs/lint.md){suggest(code, CHECKS)}", key=True)
            self.text(path + (code,), reason)
        return dict(raw)

    def _links(self, path: KeyPath, raw: list[Any]) -> tuple[GpoLink, ...]:
        domain = domain_dn(self.doc.data["domain"].lower())
        out: list[GpoLink] = []
        seen: dict[str, int] = {}
        for i, item in enumerate(raw):
            spec = item if isinstance(item, dict) else {"target": item}
            where = path + (i, "target") if isinstance(item, dict) else path + (i,)
            self.text(where, spec["target"])
            try:
                rdns = parse_dn(spec["target"])
            except DnError as exc:
                self.fail(where, f"not a distinguished name: {exc}")
                continue
            head, tail = rdns[: len(rdns) - len(domain)], rdns[len(rdns) - len(domain) :]
            if len(rdns) < len(domain) or [(k, v.casefold()) for k, v in tail] != [(k, v.casefold()) for k, v in domain]:
                self.fail(where, f"{spec['target']!r} is not in the domain {format_dn(domain)}; a GPO links to the domain or to its OUs")
                continue
            if any(kind != "OU" for kind, _ in head):
                self.fail(where, f"{spec['target']!r}: a GPO links to the domain or to OUs (OU=...), not to {head[0][0]}= containers")
                continue
            canonical = format_dn(head + domain)
            if canonical.casefold() in seen:
                self.fail(where, f"links[{seen[canonical.casefold()]}] already links {canonical}")
            seen.setdefault(canonical.casefold(), i)
            out.append(GpoLink(canonical, spec.get("order"), spec.get("enforced", False), spec.get("enabled", True)))
        return tuple(out)

    def _intune(self, path: KeyPath, raw: dict[str, Any]) -> IntuneOptions:
        """The policy's Intune options over the matrix-wide ones (a name is per policy only)."""
        top = self.doc.data.get("intune", {})
        if "name" in top:
            self.fail(("intune", "name"), "an Intune policy name is given per policy, not for all")
        merged = {**top, **raw}
        for i, group in enumerate(merged.get("groups", [])):
            self.text((path if "groups" in raw else ("intune",)) + ("groups", i), group)
        self.text(path + ("name",), raw.get("name"))
        return IntuneOptions(
            enabled=merged.get("enabled", False),
            name=raw.get("name", ""),
            groups=tuple(merged.get("groups", ())),
            unsupported=merged.get("unsupported", "refuse"),
            technologies=merged.get("technologies", "mdm"),
        )

    def _dsc(self, path: KeyPath, raw: dict[str, Any]) -> DscOptions:
        merged = {**self.doc.data.get("dsc", {}), **raw}
        nodes = tuple(raw.get("nodes", DscOptions.nodes))
        seen: dict[str, int] = {}
        for i, node in enumerate(nodes):
            # A node name becomes a file name (<node>.mof): no Windows device names.
            if node.split(".")[0].upper() in _RESERVED_NAMES:
                self.fail(path + ("nodes", i), f"{node!r} is a reserved device name on Windows; it cannot name a MOF file")
            if len(node.encode("utf-8")) > MAX_NODE_NAME:
                self.fail(path + ("nodes", i), f"a node name is at most {MAX_NODE_NAME} characters here ({len(node)} given): "
                          f"it names the files <node>.mof and <node>.mof.checksum, and a file name is at most 255 bytes")
            if node.casefold() in seen:
                self.fail(path + ("nodes", i), f"{node!r} repeats nodes[{seen[node.casefold()]}] (computer names are case-insensitive)")
            seen.setdefault(node.casefold(), i)
        return DscOptions(
            nodes=nodes,
            targeted="nodes" in raw,
            resource=raw.get("resource", "firewall"),
            networkingdsc_version=merged.get("networkingdsc_version", DscOptions.networkingdsc_version),
            gpregistrypolicydsc_version=merged.get("gpregistrypolicydsc_version", DscOptions.gpregistrypolicydsc_version),
        )

    def _features(self, path: KeyPath, raw: list[Any]) -> list[FeatureUse]:
        seen: dict[str, int] = {}
        out = []
        for i, entry in enumerate(raw):
            fpath = path + (i,)
            if isinstance(entry, str):
                fid, options = entry, {}
            else:
                ((fid, options),) = entry.items()
                options = options or {}
                fpath = fpath + (fid,)
            if fid in seen:
                self.fail(fpath, f"feature {fid!r} is listed twice (first as features[{seen[fid]}])")
                continue
            seen[fid] = i
            feature = self.catalog.features[fid]
            variant_name = options.get("variant")
            if variant_name is not None and variant_name not in feature.variants:
                names = [v for v in feature.variants if v != "default"]
                hint = suggest(variant_name, names) or (f" (variants: {', '.join(names)})" if names else " (it has no variants)")
                self.fail(fpath + ("variant",), f"{fid!r} has no variant {variant_name!r}{hint}")
                continue
            variant = feature.variant(variant_name)
            selectors = [t.selector for t in variant.rules]
            exclude = tuple(options.get("exclude", []))
            for j, sel in enumerate(exclude):
                if sel not in selectors:
                    self.fail(fpath + ("exclude", j), f"{fid!r} ({variant.name}) has no rule {sel!r}{suggest(sel, selectors)}")
            kept = [t for t in variant.rules if t.selector not in exclude]
            if exclude and not kept:
                self.fail(fpath + ("exclude",), f"excludes every rule of {fid!r}; remove the feature instead")
            directions = {t.direction for t in kept}
            if "from" in options and "In" not in directions:
                self.fail(fpath + ("from",), f"`from` has no effect: {fid!r} has no inbound rules (use `to` for outbound)")
            if "to" in options and "Out" not in directions:
                self.fail(fpath + ("to",), f"`to` has no effect: {fid!r} has no outbound rules (use `from` for inbound)")
            out.append(
                FeatureUse(
                    feature=fid,
                    path=fpath,
                    variant=variant_name,
                    from_sets=self._refs(fpath + ("from",), options.get("from")),
                    to_sets=self._refs(fpath + ("to",), options.get("to")),
                    profiles=tuple(options["profiles"]) if "profiles" in options else None,
                    exclude=exclude,
                )
            )
        return out

    def _customs(self, path: KeyPath, raw: list[dict[str, Any]]) -> list[CustomRule]:
        seen: dict[str, int] = {}
        out = []
        for i, item in enumerate(raw):
            rpath = path + (i,)
            rid = item["id"]
            if rid.casefold() in seen:
                self.fail(rpath + ("id",), f"custom rule id {rid!r} is already used by custom_rules[{seen[rid.casefold()]}]")
            seen.setdefault(rid.casefold(), i)
            for name in ("name", "description", "program", "service"):
                self.text(rpath + (name,), item.get(name), in_rule_string=True)
            direction = item["direction"]
            protocol = item.get("protocol")
            has_ports = bool(item.get("local_ports") or item.get("remote_ports"))
            if has_ports and protocol not in ("TCP", "UDP", 6, 17):
                self.fail(rpath + ("protocol",), "ports need protocol TCP or UDP")
            icmp = tuple(self._icmp(rpath + ("icmp_types",), item.get("icmp_types", [])))
            if icmp and protocol not in ("ICMPv4", "ICMPv6", 1, 58):
                self.fail(rpath + ("protocol",), "ICMP types need protocol ICMPv4 or ICMPv6")
            if direction == "In" and "from" not in item:
                # As for catalog rules: an inbound rule says who may connect, even if it is anyone.
                self.fail(rpath, "an inbound rule needs `from:` (address set names, or `any`)")
            wrong = "to" if direction == "In" else "from"
            if wrong in item:
                right = "from" if direction == "In" else "to"
                self.fail(rpath + (wrong,), f"an {'inbound' if direction == 'In' else 'outbound'} rule takes `{right}`, not `{wrong}`")
            local = self._rule_ports(rpath + ("local_ports",), item.get("local_ports", []))
            remote = self._rule_ports(rpath + ("remote_ports",), item.get("remote_ports", []))
            ref_key = "from" if direction == "In" else "to"
            out.append(
                CustomRule(
                    id=rid,
                    name=item["name"],
                    direction=direction,
                    path=rpath,
                    description=item.get("description", ""),
                    action=item.get("action", "Allow"),
                    protocol=protocol,
                    local_ports=local,
                    remote_ports=remote,
                    icmp_types=icmp,
                    remote_sets=self._refs(rpath + (ref_key,), item.get(ref_key)),
                    program=item.get("program"),
                    service=item.get("service"),
                    profiles=tuple(item["profiles"]) if "profiles" in item else None,
                    enabled=item.get("enabled", True),
                )
            )
        return out

    def _rule_ports(self, path: KeyPath, raw: list[Any]) -> tuple[str, ...]:
        out = []
        for i, value in enumerate(raw):
            try:
                out.append(canonical_port(value, allow_keyword=True))
            except ValueError as exc:
                self.fail(path + (i,), str(exc))
        return tuple(out)

    def _icmp(self, path: KeyPath, raw: list[Any]) -> list[str]:
        out = []
        for i, value in enumerate(raw):
            text = str(value)
            match = re.fullmatch(r"(\d{1,3})(?::(\d{1,3}|\*))?", text)
            if not match or int(match[1]) > 255 or (match[2] not in (None, "*") and int(match[2]) > 255):
                self.fail(path + (i,), f"{text!r} is not an ICMP type (0-255) or type:code (code 0-255 or *)")
                continue
            out.append(f"{int(match[1])}:{match[2] if match[2] == '*' else int(match[2]) if match[2] else '*'}")
        return out


def derive_key(name: str) -> str:
    """``ConfigMgr Clients - Workstations`` → ``ConfigMgrClientsWorkstations`` (ASCII, ≤ 40)."""
    words = re.findall(r"[A-Za-z0-9]+", unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode())
    key = "".join(w[:1].upper() + w[1:] for w in words).lstrip("0123456789")
    return (key[:1].upper() + key[1:])[:40]
