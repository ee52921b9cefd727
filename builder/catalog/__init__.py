"""The feature catalog: data files and their loader."""

from .loader import load_catalog, load_catalog_from
from .types import Catalog, Feature, Parameter, Remote, Role, RuleTemplate, SourceRef, Variant

__all__ = [
    "Catalog",
    "Feature",
    "Parameter",
    "Remote",
    "Role",
    "RuleTemplate",
    "SourceRef",
    "Variant",
    "load_catalog",
    "load_catalog_from",
]
