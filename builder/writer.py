"""Write a build to disk so that a failure never leaves a half-written output.

The new tree is written into a hidden sibling directory, flushed to disk, and then
swapped with the old one by two renames. A crash between the renames leaves the
old tree under its hidden name, and the next build puts it back before it starts.

The writer only removes what cmfw wrote: the previous build's ``build.json`` lists
its files, and any other file in the output directory is *foreign*. A directory
with foreign files is refused unless ``force`` is given, and then the foreign files
are carried into the new tree, never deleted.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from .errors import OutputError
from .package.manifest import MANIFEST, UNLISTED, file_mode
_NEW = ".cmfw-new-"
_OLD = ".cmfw-old-"


def check_relative(path: str) -> PurePosixPath:
    """Refuse any artifact path that could land outside the output directory."""
    # Split the raw text: PurePosixPath would quietly normalise "a//b" and "./a".
    if not path or "\\" in path or "\x00" in path or any(part in ("", ".", "..") for part in path.split("/")):
        raise OutputError(f"refusing to write artifact path {path!r}: not a plain relative path")
    return PurePosixPath(path)


def check_paths(files: dict[str, bytes]) -> None:
    """Every path plain and relative, and no two the same on a case-insensitive file system."""
    folded: dict[str, str] = {}
    for path in sorted(files):
        check_relative(path)
        key = path.casefold()
        if key in folded:
            raise OutputError(f"refusing to write both {folded[key]!r} and {path!r}: they collide on Windows and macOS")
        folded[key] = path


def owned_files(target: Path) -> set[str] | None:
    """Files the previous build wrote (from its manifest), or ``None`` if it has none."""
    try:
        manifest = json.loads((target / MANIFEST).read_text(encoding="utf-8"))
        files = manifest["files"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not isinstance(files, dict):
        return None
    return set(files) | set(UNLISTED)


def existing_files(target: Path) -> set[str]:
    out = set()
    for root, dirs, names in os.walk(target):
        dirs.sort()
        for name in names:
            out.add(Path(root, name).relative_to(target).as_posix())
        for name in dirs:
            if Path(root, name).is_symlink():
                out.add(Path(root, name).relative_to(target).as_posix())
    return out


def foreign_files(target: Path) -> list[str]:
    """Files in ``target`` that cmfw did not write (all of them if it has no manifest)."""
    if not target.exists():
        return []
    present = existing_files(target)
    owned = owned_files(target)
    if owned is None:
        return sorted(present)
    return sorted(present - owned)


def write_tree(target: Path | str, files: dict[str, bytes], *, force: bool = False) -> None:
    """Replace ``target`` with exactly ``files`` (plus foreign files kept under ``force``)."""
    target = Path(os.path.realpath(target))
    check_paths(files)
    _recover(target)
    if target.exists() and not target.is_dir():
        raise OutputError(f"{target}: exists and is not a directory")
    foreign = foreign_files(target)
    if foreign and not force:
        shown = ", ".join(foreign[:3]) + (f" and {len(foreign) - 3} more" if len(foreign) > 3 else "")
        raise OutputError(
            f"{target}: holds files cmfw did not write ({shown}); choose an empty or cmfw-built "
            "directory, or use --force to build there and keep them"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}{_NEW}", dir=target.parent))
    try:
        for rel in foreign:
            if rel not in files:
                destination = staging / rel
                destination.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(target / rel, destination, follow_symlinks=False)
        for rel in sorted(files):
            _write_file(staging / rel, files[rel], file_mode(rel))
        for folder in sorted({parent for rel in files for parent in PurePosixPath(rel).parents} - {PurePosixPath(".")}):
            os.chmod(staging / folder, 0o755)
        os.chmod(staging, 0o755)
        _fsync_dir(staging)
        _swap(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _write_file(path: Path, data: bytes, mode: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "xb") as fh:
        fh.write(data)
        fh.flush()
        # A fixed mode, whatever the umask: the same build gives the same tree.
        if hasattr(os, "fchmod"):  # not on Windows, where modes mean little
            os.fchmod(fh.fileno(), mode)
        os.fsync(fh.fileno())


def _swap(staging: Path, target: Path) -> None:
    if not target.exists():
        os.rename(staging, target)
        _fsync_dir(target.parent)
        return
    old = Path(tempfile.mkdtemp(prefix=f".{target.name}{_OLD}", dir=target.parent))
    os.rmdir(old)
    os.rename(target, old)
    os.rename(staging, target)
    _fsync_dir(target.parent)
    shutil.rmtree(old, ignore_errors=True)


def _recover(target: Path) -> None:
    """Undo what an interrupted build left behind next to ``target``."""
    parent = target.parent
    if not parent.is_dir():
        return
    leftovers = sorted(parent.glob(f".{target.name}{_OLD}*"))
    if leftovers and not target.exists():
        # Killed between the two renames: the old output is intact under its hidden name.
        os.rename(leftovers[-1], target)
        leftovers = leftovers[:-1]
    for stale in leftovers + sorted(parent.glob(f".{target.name}{_NEW}*")):
        shutil.rmtree(stale, ignore_errors=True)


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return  # not supported on this platform (Windows); the renames are still atomic
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@dataclass(frozen=True)
class Stale:
    """A file a build would change, and why (``differs``, ``missing``, ``obsolete``)."""

    path: str
    reason: str


def stale_files(target: Path | str, files: dict[str, bytes]) -> list[Stale]:
    """How ``target`` differs from ``files``; foreign files are not cmfw's business.

    ``obsolete`` files are ones the previous build wrote (per its build.json) that
    the new build no longer produces.
    """
    target = Path(target)
    out: list[Stale] = []
    for rel in sorted(files):
        path = target / rel
        if path.is_symlink() or not path.is_file():
            out.append(Stale(rel, "missing"))
        elif path.stat().st_size != len(files[rel]) or path.read_bytes() != files[rel]:
            out.append(Stale(rel, "differs"))
    present = existing_files(target) if target.is_dir() else set()
    owned = owned_files(target) or set()
    out.extend(Stale(rel, "obsolete") for rel in sorted((owned & present) - set(files)))
    return out
