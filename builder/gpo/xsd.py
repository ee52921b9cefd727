"""The XSDs of the GPO backup files (schemas/gpo/), loaded once, used to check bytes."""

from __future__ import annotations

import functools
from typing import Any

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
