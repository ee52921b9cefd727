"""Reading a zip (a build's package.zip) without trusting it.

A zip says how big each entry is, and a hostile one lies: a few kilobytes can inflate
to gigabytes. Entries are read in chunks, each against the size it declares and a
limit per entry, with a limit on the number of entries and on the bytes of all of them
together; names that could point outside the archive's folder are refused. Whatever
goes wrong is one :class:`~builder.errors.InputError` naming the zip and the entry.
"""

from __future__ import annotations

import zipfile
from pathlib import Path, PurePosixPath

from .errors import InputError, Problem

_CHUNK = 1024 * 1024


def read_zip(path: str | Path | bytes, max_entry: int, max_total: int, max_entries: int, name: str = "") -> dict[str, bytes]:
    """Every file entry of the zip at ``path`` (or in these bytes) by name, read within the limits."""
    import io

    where = name or (str(path) if not isinstance(path, bytes) else "zip")
    source = io.BytesIO(path) if isinstance(path, bytes) else path

    def fail(message: str) -> InputError:
        return InputError([Problem(where, message=message)])

    try:
        archive = zipfile.ZipFile(source)
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise fail(f"not a readable zip: {exc}") from None
    out: dict[str, bytes] = {}
    total = 0
    with archive:
        entries = archive.infolist()
        if len(entries) > max_entries:
            raise fail(f"holds {len(entries)} entries, more than {max_entries}")
        for info in entries:
            entry = info.filename
            parts = PurePosixPath(entry).parts
            if entry.startswith("/") or "\\" in entry or ".." in parts or ":" in entry:
                raise fail(f"entry {entry!r} is not a plain relative path")
            if info.is_dir():
                continue
            if info.file_size > max_entry:
                raise fail(f"entry {entry!r} declares {info.file_size} bytes, more than {_size(max_entry)}")
            if total + info.file_size > max_total:
                raise fail(f"its entries hold more than {_size(max_total)} together")
            if entry in out:
                raise fail(f"entry {entry!r} appears twice")
            chunks = []
            size = 0
            try:
                with archive.open(info) as fh:
                    while True:
                        chunk = fh.read(_CHUNK)
                        if not chunk:
                            break
                        size += len(chunk)
                        if size > info.file_size:
                            raise fail(f"entry {entry!r} inflates past the {info.file_size} bytes it declares")
                        chunks.append(chunk)
            except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError, RuntimeError) as exc:
                raise fail(f"entry {entry!r} cannot be read: {exc}") from None
            if size != info.file_size:
                raise fail(f"entry {entry!r} holds {size} bytes, not the {info.file_size} it declares")
            total += size
            out[entry] = b"".join(chunks)
    return out


def _size(count: int) -> str:
    return f"{count // 2**20} MiB" if count >= 2**20 else f"{count} bytes"
