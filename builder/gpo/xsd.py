"""The XSDs of the GPO backup files (schemas/gpo/), loaded once, used to check bytes.

Two XSD engines can check the same bytes against the same schemas: libxml2 through
lxml (the default, what ``build`` uses) and the pure-Python ``xmlschema`` package, a
second opinion that shares no validation code with the first (``cmfw check --xsd
xmlschema``). Both see the tree of the one hardened parser, :func:`parse_xml`, so
untrusted bytes are parsed the same safe way whatever the engine. ``xmlschema`` is
a test extra, imported only when asked for: start-up time does not change.
"""

from __future__ import annotations

import functools
from typing import Any, Callable

from ..errors import InputError, Problem
from ..datafiles import schema_path
from ..syntax.xml import parse_xml, parser

#: File name → schema file. bkupInfo.xml is one <BackupInst>, which manifest.xsd declares.
SCHEMAS = {
    "manifest.xml": "manifest.xsd",
    "bkupInfo.xml": "manifest.xsd",
    "Backup.xml": "backup.xsd",
    "gpreport.xml": "gpreport.xsd",
}

#: The XSD engines, the default first.
ENGINES = ("lxml", "xmlschema")

_NO_XMLSCHEMA = "the xmlschema engine needs the xmlschema package: pip install xmlschema"


@functools.cache
def _schema(name: str) -> Any:
    from lxml import etree

    path = schema_path("gpo/" + name)
    return etree.XMLSchema(etree.parse(str(path), parser()))


def xsd_problems(file: str, data: bytes, schema: str) -> list[Problem]:
    """Every way ``data`` breaks ``schema`` (a file of schemas/gpo/), with line numbers."""
    try:
        tree = parse_xml(data, file)
    except InputError as exc:
        return list(exc.problems)
    xsd = _schema(schema)
    if xsd.validate(tree):
        return []
    return [Problem(file, e.line, e.column, "", f"{e.message} (XSD {schema})") for e in xsd.error_log]


def _xmlschema_module() -> Any:
    try:
        import xmlschema
    except ImportError:
        raise InputError(_NO_XMLSCHEMA) from None
    return xmlschema


@functools.cache
def _xmlschema_schema(name: str) -> Any:
    # The schemas are ours, but they are read the safe way all the same: no entity or
    # DTD (defuse), imports only from schemas/gpo/ itself (sandbox), and no fallback
    # copies of well-known schemas that would let xmlschema check what lxml does not.
    xmlschema = _xmlschema_module()
    path = schema_path("gpo/" + name).resolve()  # the sandbox is the folder of an absolute path
    return xmlschema.XMLSchema10(str(path), allow="sandbox", defuse="always", use_fallback=False)


def xmlschema_problems(file: str, data: bytes, schema: str) -> list[Problem]:
    """Like :func:`xsd_problems`, by the xmlschema package: a second, independent XSD engine.

    Raises :class:`InputError` (one line) when xmlschema is not installed.
    """
    xmlschema = _xmlschema_module()
    xsd = _xmlschema_schema(schema)
    try:
        tree = parse_xml(data, file)
    except InputError as exc:
        return list(exc.problems)
    # The tree is already parsed; allow="none" and no location hints: the document
    # cannot make xmlschema open a file or a URL (xsi:schemaLocation is ignored).
    resource = xmlschema.XMLResource(tree, allow="none", defuse="always")
    try:
        errors = list(xsd.iter_errors(resource, use_location_hints=False))
    except xmlschema.XMLSchemaException as exc:
        # xmlschema raises (rather than reports) some faults, e.g. an xsi:type naming
        # a type no schema declares; the document is refused either way.
        text = str(exc.args[0]) if exc.args else type(exc).__name__
        reason = text.splitlines()[0] if text else type(exc).__name__
        return [Problem(file, 0, 0, "", f"{reason} (XSD {schema}, xmlschema)")]
    return [_xmlschema_problem(file, error, schema) for error in errors]


def _xmlschema_problem(file: str, error: Any, schema: str) -> Problem:
    # error.message spans many lines (it quotes the schema component); the reason and
    # the element's path fit the one-line-per-problem promise.
    reason = error.reason or error.message.splitlines()[0]
    where = f"{error.path}: " if error.path else ""
    return Problem(file, error.sourceline or 0, 0, "", f"{where}{reason} (XSD {schema}, xmlschema)")


_ENGINES: dict[str, Callable[[str, bytes, str], list[Problem]]] = {
    "lxml": xsd_problems,
    "xmlschema": xmlschema_problems,
}


def require_engine(engine: str) -> None:
    """Refuse an unknown engine, or xmlschema when it is not installed, before any file is read."""
    if engine not in _ENGINES:
        raise InputError(f"unknown XSD engine {engine!r}: choose {' or '.join(ENGINES)}")
    if engine == "xmlschema":
        _xmlschema_module()


def problems_with(engine: str, file: str, data: bytes, schema: str) -> list[Problem]:
    """Every way ``data`` breaks ``schema``, according to ``engine`` (one of :data:`ENGINES`)."""
    require_engine(engine)
    return _ENGINES[engine](file, data, schema)
