"""Parse untrusted XML safely: no DTD, no entity expansion, no network, bounded size.

GPO backups come from anywhere. lxml is told not to resolve entities, load DTDs or
touch the network, and a document that declares a DOCTYPE at all is refused (none
of the formats cmfw reads has one). Any failure is an :class:`InputError` naming
the file and line.
"""

from __future__ import annotations

from typing import Any

from .errors import InputError, Problem

MAX_XML_BYTES = 64 * 1024 * 1024


def parser() -> Any:
    from lxml import etree

    return etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False, huge_tree=False, remove_pis=False
    )


def parse_xml(data: bytes, file: str) -> Any:
    """The parsed tree (lxml ``_ElementTree``) of ``data``."""
    from lxml import etree

    if len(data) > MAX_XML_BYTES:
        raise InputError([Problem(file, message=f"larger than {MAX_XML_BYTES // (1024 * 1024)} MiB; not a GPO file")])
    try:
        tree = etree.ElementTree(etree.fromstring(data, parser()))
    except etree.XMLSyntaxError as exc:
        line = exc.position[0] if exc.position else 0
        raise InputError([Problem(file, line, 0, "", f"not well-formed XML: {exc.msg}")]) from None
    if tree.docinfo.doctype:
        raise InputError([Problem(file, 1, 0, "", "has a DOCTYPE declaration; GPO files have none (refused for safety)")])
    return tree
