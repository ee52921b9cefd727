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
    """A conventional address-set name (``consoles``, ``site_servers``…)."""

    name: str
    title: str


@dataclass(frozen=True)
class Remote:
    """Who is on the other end of a rule: a role, literal addresses, or anyone."""

    role: str | None = None
    addresses: tuple[str, ...] = ()

    @property
    def is_any(self) -> bool:
        return self.role is None and not self.addresses

    def describe(self) -> dict[str, object]:
        if self.role:
            return {"role": self.role}
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
