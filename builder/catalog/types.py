"""The catalog as typed data: features, their rule templates, parameters, roles."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Union

PortValue = Union[int, str, list]


@dataclass(frozen=True)
class SourceRef:
    """A document of ``Catalog.sources`` and the section of it a fact comes from."""

    doc: str
    section: str

    def __str__(self) -> str:
        return f"{self.doc}: {self.section}"


@dataclass(frozen=True)
class Source:
    id: str
    title: str
    url: str = ""
    date: str = ""
    note: str = ""


@dataclass(frozen=True)
class Note:
    source: SourceRef
    text: str


@dataclass(frozen=True)
class Parameter:
    """A ConfigMgr setting the matrix may change (``ports:`` or ``programs:``).

    ``kind`` is ``port``, ``port-range``, ``program`` or ``software-update-points``.
    An optional parameter has neither ``default`` nor ``default_from``.
    """

    name: str
    kind: str
    title: str
    default: PortValue | None = None
    default_from: str | None = None
    where: str = ""
    source: SourceRef | None = None

    @property
    def section(self) -> str:
        """The matrix section that sets it."""
        return "programs" if self.kind == "program" else "ports"


@dataclass(frozen=True)
class Role:
    """A conventional address-set name (``consoles``, ``site_servers``…).

    ``default_from``: the role whose set stands in when the matrix lacks this one (the
    SMS Provider usually runs on the site server).
    """

    name: str
    title: str
    default_from: str | None = None


@dataclass(frozen=True)
class Remote:
    """Who is on the other end of a rule: roles, literal addresses, or anyone."""

    roles: tuple[str, ...] = ()
    addresses: tuple[str, ...] = ()

    @property
    def is_any(self) -> bool:
        return not self.roles and not self.addresses

    def describe(self) -> dict[str, object]:
        if len(self.roles) == 1:
            return {"role": self.roles[0]}
        if self.roles:
            return {"roles": list(self.roles)}
        if self.addresses:
            return {"addresses": list(self.addresses)}
        return {"any": True}


@dataclass(frozen=True)
class WindowsRule:
    """One rule of a Windows predefined group, as Windows ships it."""

    id: str
    profiles: tuple[str, ...]
    remote_addresses: tuple[str, ...] = ()


@dataclass(frozen=True)
class Predefined:
    """Where a template came from when it expands a Windows predefined group."""

    group: str
    group_title: str
    embed_context: str
    display_name: str
    name_resource: str
    description_resource: str
    windows_rules: tuple[WindowsRule, ...]
    edge_traversal: str | None = None


@dataclass(frozen=True)
class RuleTemplate:
    """A rule as the catalog states it: ports may still be ``$parameter`` references."""

    key: str
    direction: str
    name: str
    description: str
    protocol: int | None
    local_ports: tuple[str, ...] = ()
    remote_ports: tuple[str, ...] = ()
    icmp_types: tuple[str, ...] = ()
    program: str | None = None
    service: str | None = None
    remote: Remote = field(default_factory=Remote)
    profiles: tuple[str, ...] | None = None
    source: SourceRef | None = None
    predefined: Predefined | None = None
    edge_traversal: str | None = None

    @property
    def selector(self) -> str:
        """``<key>-<direction>``: unique within a feature variant and the tail of the rule ID."""
        return f"{self.key}-{self.direction}"

    @property
    def parameters(self) -> tuple[str, ...]:
        refs = [v[1:] for v in self.local_ports + self.remote_ports if v.startswith("$")]
        if self.program and self.program.startswith("$"):
            refs.append(self.program[1:])
        return tuple(dict.fromkeys(r.split(".")[0] for r in refs))


@dataclass(frozen=True)
class Peer:
    """The other end of a scenario's connection.

    ``kind``: ``role`` (an address set, :attr:`name`), ``local-subnet`` (a peer on the
    machine's subnet), ``any`` (anyone), ``teredo`` (a peer reached over Teredo) or
    ``address`` (a literal address, :attr:`name`: a broadcast or multicast group).
    """

    kind: str
    name: str = ""

    def describe(self) -> str:
        if self.kind == "role":
            return f"the {self.name} set"
        if self.kind == "address":
            return self.name
        return {"local-subnet": "a peer on the local subnet", "any": "any address", "teredo": "a Teredo peer"}[self.kind]


@dataclass(frozen=True)
class Scenario:
    """Traffic a feature needs, as Microsoft's pages describe it: one connection.

    Ports may be numbers, keywords or ``$parameter`` references. ``variants`` limits
    it to some variants; ``limits`` names variants that by design do not allow it.
    """

    name: str
    source: SourceRef
    direction: str
    protocol: int
    peer: Peer
    local_port: str | None = None
    remote_port: str | None = None
    icmp: tuple[int, int] | None = None
    program: str | None = None
    service: str | None = None
    edge: bool = False
    profiles: tuple[str, ...] | None = None
    variants: tuple[str, ...] | None = None
    limits: Mapping[str, str] = field(default_factory=dict)

    @property
    def port(self) -> str | None:
        """The service's port: local for inbound, remote for outbound."""
        return self.local_port if self.direction == "In" else self.remote_port


@dataclass(frozen=True)
class LocalRule:
    """A rule Windows keeps enabled in the local store on a clean install."""

    id: str
    name: str
    direction: str
    protocol: int | None
    local_ports: tuple[str, ...] = ()
    remote_ports: tuple[str, ...] = ()
    program: str | None = None
    service: str | None = None
    source: SourceRef | None = None


@dataclass(frozen=True)
class Variant:
    name: str
    summary: str
    rules: tuple[RuleTemplate, ...]
    #: A variant of the same feature that opens less and is enough for most (lint CMFW105).
    narrower: str | None = None


@dataclass(frozen=True)
class Feature:
    id: str
    title: str
    summary: str
    applies_to: str
    source: SourceRef
    variants: dict[str, Variant]
    default_variant: str
    requires: tuple[str, ...] = ()
    notes: tuple[Note, ...] = ()
    #: ``management``: remote administration of the client (inbound, from admins' machines);
    #: ``local-rules``: the ConfigMgr client also creates these rules locally.
    traits: tuple[str, ...] = ()
    #: The traffic the feature needs, from Microsoft's pages (:class:`Scenario`).
    scenarios: tuple[Scenario, ...] = ()
    #: Why ConfigMgr no longer supports the feature, when it does not.
    deprecated: str = ""

    def scenarios_of(self, variant: str) -> tuple[Scenario, ...]:
        """The scenarios that concern ``variant`` (those that are limits of it included)."""
        return tuple(s for s in self.scenarios if s.variants is None or variant in s.variants)

    @property
    def id_part(self) -> str:
        """``remote-control`` → ``RemoteControl``: the feature's part of a rule ID."""
        return "".join(word[:1].upper() + word[1:] for word in self.id.split("-"))

    def variant(self, name: str | None = None) -> Variant:
        return self.variants[name or self.default_variant]


@dataclass(frozen=True)
class Catalog:
    version: str
    sources: dict[str, Source]
    parameters: dict[str, Parameter]
    roles: dict[str, Role]
    features: dict[str, Feature]
    local_rules: tuple[LocalRule, ...] = ()
    #: SHA-256 over the catalog's files: build.json records it, so that `build --check`
    #: knows an output made from another catalog is stale.
    digest: str = ""

    def parameter_value(self, name: str, overrides: Mapping[str, object] | None = None) -> str | None:
        """A port or program parameter as text: the matrix's value, else the default.

        ``default_from`` follows the other parameter *with* the overrides, so moving the
        HTTP port also moves the fallback status point. ``None``: optional and unset.
        """
        overrides = overrides or {}
        if name in overrides:
            return str(overrides[name])
        param = self.parameters[name]
        if param.default_from:
            return self.parameter_value(param.default_from, overrides)
        return None if param.default is None else str(param.default)

    def ports(
        self,
        values: tuple[str, ...],
        overrides: Mapping[str, object] | None = None,
        software_update_points: list[tuple[int, int]] | None = None,
    ) -> tuple[str, ...] | None:
        """A template's ports with ``$parameter`` references substituted.

        Unset optional parameters add nothing; ``None`` means the template had ports
        and every one of them was such a parameter (the rule is then left out).
        """
        sups = self.default_software_update_points() if software_update_points is None else software_update_points
        out: list[str] = []
        for value in values:
            if not value.startswith("$"):
                out.append(value)
                continue
            name, _, part = value[1:].partition(".")
            if name == "software_update_points":
                out.extend(str(pair[0 if part == "http" else 1]) for pair in sups)
                continue
            resolved = self.parameter_value(name, overrides)
            if resolved is not None:
                out.append(resolved)
        if values and not out:
            return None
        return tuple(out)

    def default_software_update_points(self) -> list[tuple[int, int]]:
        """(http, https) pairs of the catalog default, with HTTPS derived by the WSUS rule."""
        entries: list[dict[str, int]] = self.parameters["software_update_points"].default or []  # type: ignore[assignment]
        return [(e["http"], e.get("https", wsus_https(e["http"]))) for e in entries]


def wsus_https(http: int) -> int:
    """The HTTPS port WSUS pairs with an HTTP port: 443 for 80, else HTTP + 1."""
    return 443 if http == 80 else http + 1
