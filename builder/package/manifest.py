"""What a build says about itself: ``build.json``, ``SHA256SUMS`` and ``package.zip``.

::

    build.json           what was built from what; every other file with its SHA-256
    SHA256SUMS           every file, build.json included, in ``sha256sum -c`` format
    package.zip          with --zip: the whole package, reproducibly zipped

This emitter runs last: it lists and sums what every other emitter wrote.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import zipfile
from collections import ChainMap
from datetime import datetime
from pathlib import Path
from typing import Mapping

from .. import __version__
from ..errors import ArtifactError, InputError, Problem
from ..formats import Artifacts, Backups, Context, Emitted, Emitter, Validator
from ..identifiers import gpo_marker
from ..model import link_to_dict
from ..syntax.jsonlayout import dumps

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


def build_manifest(ctx: Context, files: Mapping[str, bytes], digests: Mapping[str, str] | None = None) -> bytes:
    """``build.json``: what was built from what, and every file with its SHA-256
    (``digests``: those already known, by path)."""
    digests = digests if digests is not None else sha256_all(files)
    if ctx.matrix is None:
        raise ArtifactError("build.json needs the matrix the build was made from")
    backups = ctx.fact("backups", Backups)
    policyset = ctx.policyset
    return dumps(
        {
            "format": BUILD_FORMAT,
            "generator": {"name": "cmfw", "version": __version__},
            "matrix": {"path": ctx.matrix_path, "sha256": ctx.matrix.sha256},
            "catalog_version": policyset.catalog_version,
            "inputs": {
                "catalog_sha256": ctx.catalog.digest if ctx.catalog else "",
                "options": {"timestamp": ctx.moment.strftime("%Y-%m-%dT%H:%M:%SZ"), "zip": ctx.zip},
            },
            "domain": policyset.domain,
            "owner": policyset.owner,
            "policies": [
                {
                    "name": p.name,
                    "key": p.key,
                    "gpo_guid": p.gpo_guid,
                    "backup_id": backups.ids[p.key],
                    "marker": gpo_marker(policyset.domain, policyset.owner, p.key),
                    "rules": len(p.rules),
                    "rule_ids": [r.id for r in p.rules],
                    "links": [link_to_dict(link) for link in p.links],
                }
                for p in policyset.policies
            ],
            "files": {path: digests[path] for path in sorted(files) if path not in UNLISTED},
        }
    )


def _emit(ctx: Context) -> Emitted:
    # The other formats' files are read only where the build has not summed them already
    # (a big build's files were written, and summed, as they were made), and for the zip.
    digests = sha256_all(ctx.files, ctx.digests)
    own = {MANIFEST: build_manifest(ctx, ctx.files, digests)}
    digests[MANIFEST] = hashlib.sha256(own[MANIFEST]).hexdigest()
    own[SUMS] = checksums(ChainMap(own, ctx.files), digests)  # type: ignore[arg-type]
    if ctx.zip:
        own[ZIP] = zip_package(ChainMap(own, ctx.files), zip_top(ctx.out_dir), ctx.moment)  # type: ignore[arg-type]
    return Emitted(own)


def checksums(files: Mapping[str, bytes], digests: Mapping[str, str] | None = None) -> bytes:
    """``SHA256SUMS``: one ``<hex>  <path>`` line per file, sorted by path, LF line ends
    (``digests``: the SHA-256 of files already summed, by path)."""
    known = digests or {}
    lines = [
        f"{known.get(path) or hashlib.sha256(files[path]).hexdigest()}  {path}\n"
        for path in sorted(files)
        if path not in (SUMS, ZIP)
    ]
    return "".join(lines).encode("utf-8")


def sha256_all(files: Mapping[str, bytes], known: Mapping[str, str] | None = None) -> dict[str, str]:
    """The SHA-256 of every file, by path (``known``: those already summed); many in two
    threads (hashlib lets go of the interpreter lock while it sums, so both cores work
    once the workers are done)."""
    known = known or {}
    digests = {path: known[path] for path in files if path in known}
    paths = sorted(path for path in files if path not in digests)
    if len(paths) < 256:
        return digests | {path: hashlib.sha256(files[path]).hexdigest() for path in paths}
    from concurrent.futures import ThreadPoolExecutor

    def summed(share: list[str]) -> dict[str, str]:
        return {path: hashlib.sha256(files[path]).hexdigest() for path in share}

    with ThreadPoolExecutor(2) as pool:
        halves = list(pool.map(summed, (paths[0::2], paths[1::2])))
    return digests | halves[0] | halves[1]


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


def zip_package(files: Mapping[str, bytes], top: str, moment: datetime) -> bytes:
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


def check_package(files: Mapping[str, bytes], *, digests: bool = False, known: Mapping[str, str] | None = None) -> list[Problem]:
    """Problems with build.json, SHA256SUMS and package.zip: the schema, each other, the files.

    ``digests`` also compares every file with the SHA-256 build.json gives for it
    (files read from disk may have been edited; fresh ones are summed as they are made);
    ``known``: the sums of files already summed where they were read, by path.
    """
    from ..jsonschemas import lean_problems

    if MANIFEST not in files:
        return [Problem(MANIFEST, message="missing: a build lists its files in it")]
    try:
        manifest = json.loads(files[MANIFEST].decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        return [Problem(MANIFEST, message=f"not JSON: {exc}")]
    problems = lean_problems(MANIFEST, manifest, "build.schema.json")
    listed = manifest.get("files") if isinstance(manifest, dict) else None
    if problems or not isinstance(listed, dict):
        return problems or [Problem(MANIFEST, message="has no file list")]
    if digests:
        for path, digest in sorted(listed.items()):
            if path not in files:
                problems.append(Problem(path, message="listed in build.json but missing"))
            elif (known[path] if known and path in known else hashlib.sha256(files[path]).hexdigest()) != digest:
                problems.append(Problem(path, message="differs from the SHA-256 in build.json (edited after the build?)"))
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


def _check_zip(files: Mapping[str, bytes]) -> list[Problem]:
    from ..ziparchive import read_zip

    expected = {path: data for path, data in files.items() if path != ZIP}
    # Read within what the build itself holds: a zip bomb stops at the first entry that
    # inflates past its declared size or past the build's own bytes.
    largest = max((len(data) for data in expected.values()), default=0)
    try:
        entries = read_zip(files[ZIP], largest + 1, sum(map(len, expected.values())) + 1, len(expected) + 16, ZIP)
    except InputError as exc:
        return [Problem(ZIP, message=p.message) for p in exc.problems] or [Problem(ZIP, message=str(exc))]
    tops = {name.split("/", 1)[0] for name in entries}
    if len(tops) != 1:
        return [Problem(ZIP, message="does not hold exactly one top folder")]
    top = tops.pop()
    inside = {name[len(top) + 1 :]: data for name, data in entries.items()}
    problems = [Problem(ZIP, message=f"lacks {path}") for path in sorted(set(expected) - set(inside))]
    problems += [Problem(ZIP, message=f"holds {path}, which the build does not") for path in sorted(set(inside) - set(expected))]
    problems += [
        Problem(ZIP, message=f"holds another {path} than the build")
        for path in sorted(set(inside) & set(expected))
        if inside[path] != expected[path]
    ]
    return problems


def _check(artifacts: Artifacts) -> list[Problem]:
    return check_package(artifacts.files, digests=artifacts.thorough, known=artifacts.digests)


EMITTER = Emitter(
    name="package",
    owns=(MANIFEST, SUMS, ZIP),
    emit=_emit,
    requires=("backups",),
    validators=(
        Validator(
            "build.json against schemas/build.schema.json; SHA256SUMS and build.json agree both ways; the zip "
            "holds exactly the build's files; from disk, every file against its SHA-256 in build.json",
            _check,
        ),
    ),
)
