"""What a build says about itself: ``build.json``, ``SHA256SUMS`` and ``package.zip``.

::

    build.json           what was built from what; every other file with its SHA-256
    SHA256SUMS           every file, build.json included, in ``sha256sum -c`` format
    package.zip          with --zip: the whole package, reproducibly zipped
"""

from __future__ import annotations

import hashlib
import io
import os
import zipfile
from datetime import datetime
from pathlib import Path, PurePosixPath

from .. import __version__
from ..gpo.backup import ROOT as GPO_ROOT
from ..errors import Problem
from ..syntax.jsonlayout import dumps
from ..matrix import Matrix
from ..model import PolicySet
from ..rulesjson import link_to_dict

BUILD_FORMAT = "cmfw-build/1"
MANIFEST = "build.json"
SUMS = "SHA256SUMS"
ZIP = "package.zip"
#: Files that describe the package and so cannot be listed in build.json.
UNLISTED = (MANIFEST, SUMS, ZIP)

#: Earliest time a zip entry can carry (the DOS date format starts in 1980).
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


def file_mode(path: str) -> int:
    """Mode of a written file: scripts for POSIX shells are executable, the rest are not."""
    return 0o755 if path.endswith(".sh") else 0o644


def build_manifest(
    matrix: Matrix,
    policyset: PolicySet,
    backup_ids: dict[str, str],
    files: dict[str, bytes],
    out_dir: str | Path | None = None,
) -> bytes:
    """``build.json``: what was built from what, and every file with its SHA-256.

    The matrix path is written relative to the output directory (forward slashes),
    so that builds started from different working directories are byte-identical;
    without an output directory, or across drives, only its file name is kept.
    """
    return dumps(
        {
            "format": BUILD_FORMAT,
            "generator": {"name": "cmfw", "version": __version__},
            "matrix": {"path": matrix_path(matrix.file, out_dir), "sha256": matrix.sha256},
            "catalog_version": policyset.catalog_version,
            "domain": policyset.domain,
            "policies": [
                {
                    "name": p.name,
                    "key": p.key,
                    "gpo_guid": p.gpo_guid,
                    "backup_id": backup_ids[p.key],
                    "rules": len(p.rules),
                    "rule_ids": [r.id for r in p.rules],
                    "links": [link_to_dict(link) for link in p.links],
                }
                for p in policyset.policies
            ],
            "files": {path: hashlib.sha256(files[path]).hexdigest() for path in sorted(files) if path not in UNLISTED},
        }
    )


def matrix_path(matrix_file: str, out_dir: str | Path | None) -> str:
    name = Path(matrix_file).name
    if out_dir is None:
        return name
    try:
        relative = os.path.relpath(os.path.abspath(matrix_file), os.path.abspath(out_dir))
    except ValueError:  # another drive on Windows
        return name
    return PurePosixPath(*Path(relative).parts).as_posix()


def checksums(files: dict[str, bytes]) -> bytes:
    """``SHA256SUMS``: one ``<hex>  <path>`` line per file, sorted by path, LF line ends."""
    lines = [
        f"{hashlib.sha256(files[path]).hexdigest()}  {path}\n"
        for path in sorted(files)
        if path not in (SUMS, ZIP)
    ]
    return "".join(lines).encode("utf-8")


def parse_checksums(data: bytes) -> dict[str, str]:
    """Inverse of :func:`checksums`; ``ValueError`` naming the first bad line."""
    out: dict[str, str] = {}
    for number, line in enumerate(data.decode("utf-8").split("\n"), start=1):
        if not line:
            continue
        digest, sep, path = line.partition("  ")
        if not sep or len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest) or not path:
            raise ValueError(f"line {number} is not '<sha256>  <path>'")
        out[path] = digest
    return out


def zip_package(files: dict[str, bytes], top: str, moment: datetime) -> bytes:
    """The whole package as one zip whose bytes depend on the files alone.

    Entries are sorted, under one folder ``top``, with the build time, fixed modes and
    a fixed "made on Unix" marker. They are *stored*, not deflated: zlib builds
    (zlib, zlib-ng, different versions) compress to different bytes, and identical
    bytes on every machine matter more here than size.
    """
    stamp = max(_ZIP_EPOCH, (moment.year, moment.month, moment.day, moment.hour, moment.minute, moment.second))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        for path in sorted(files):
            if path == ZIP:
                continue
            info = zipfile.ZipInfo(f"{top}/{path}", date_time=stamp)
            info.create_system = 3
            info.external_attr = (0o100000 | file_mode(path)) << 16
            info.compress_type = zipfile.ZIP_STORED
            archive.writestr(info, files[path])
    return buffer.getvalue()


def zip_top(out_dir: str | Path | None) -> str:
    """The folder a zip unpacks to: the output directory's name."""
    name = Path(os.path.abspath(out_dir)).name if out_dir is not None else ""
    return name or "cmfw-package"


def check_package(files: dict[str, bytes]) -> list[Problem]:
    """Problems with the package files of a build on disk (build.json, SHA256SUMS, zip).

    The artifacts themselves are checked against build.json by the caller; here the
    three self-describing files are checked against the schema, each other and the tree.
    """
    import json

    from ..jsonschemas import json_problems

    try:
        manifest = json.loads(files[MANIFEST].decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        return [Problem(MANIFEST, message=f"not JSON: {exc}")]
    problems = json_problems(MANIFEST, manifest, "build.schema.json")
    listed = manifest.get("files") if isinstance(manifest, dict) else None
    if problems or not isinstance(listed, dict):
        return problems or [Problem(MANIFEST, message="has no file list")]
    for path in sorted(files):
        if path not in listed and path not in UNLISTED and path.startswith(GPO_ROOT + "/"):
            problems.append(Problem(path, message="is in a backup folder but not in build.json (an import would carry it)"))
    if SUMS not in files:
        problems.append(Problem(SUMS, message="missing"))
    else:
        try:
            sums = parse_checksums(files[SUMS])
        except (UnicodeDecodeError, ValueError) as exc:
            sums = {}
            problems.append(Problem(SUMS, message=str(exc)))
        expected = dict(listed, **{MANIFEST: hashlib.sha256(files[MANIFEST]).hexdigest()})
        for path in sorted(set(sums) | set(expected)):
            if path not in sums:
                problems.append(Problem(SUMS, message=f"does not list {path}"))
            elif path not in expected:
                problems.append(Problem(SUMS, message=f"lists {path}, which build.json does not"))
            elif sums[path] != expected[path]:
                what = "build.json's own SHA-256" if path == MANIFEST else f"the SHA-256 build.json gives for {path}"
                problems.append(Problem(SUMS, message=f"disagrees with {what}"))
    if ZIP in files:
        problems.extend(_check_zip(files))
    return problems


def _check_zip(files: dict[str, bytes]) -> list[Problem]:
    try:
        with zipfile.ZipFile(io.BytesIO(files[ZIP])) as archive:
            names = archive.namelist()
            tops = {name.split("/", 1)[0] for name in names}
            if len(tops) != 1:
                return [Problem(ZIP, message="does not hold exactly one top folder")]
            top = tops.pop()
            inside = {name[len(top) + 1 :]: archive.read(name) for name in names}
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        return [Problem(ZIP, message=f"not a readable zip: {exc}")]
    expected = {path: data for path, data in files.items() if path != ZIP}
    problems = [Problem(ZIP, message=f"lacks {path}") for path in sorted(set(expected) - set(inside))]
    problems += [Problem(ZIP, message=f"holds {path}, which the build does not") for path in sorted(set(inside) - set(expected))]
    problems += [
        Problem(ZIP, message=f"holds another {path} than the build")
        for path in sorted(set(inside) & set(expected))
        if inside[path] != expected[path]
    ]
    return problems
