"""Write a build to disk so that a failure never leaves a half-written output.

The new tree is written into a hidden sibling directory, flushed to disk, and then
swapped with the old one by two renames. A crash between the renames leaves the
old tree under its hidden name, and the next build puts it back before it starts.

The writer only removes what cmfw wrote: the previous build's ``build.json`` lists
its files, and any other file in the output directory is *foreign*. A directory
with foreign files is refused unless ``force`` is given, and then the foreign files
are carried into the new tree, never deleted.

It never follows a link it did not make: the output tree is walked with ``lstat``,
and a symbolic link, FIFO, socket or device node anywhere in it is refused by name,
``force`` or not (a link ``out/gpo -> /elsewhere`` would otherwise take the backups
elsewhere; reading a FIFO would hang). Files are created with ``O_EXCL`` and
``O_NOFOLLOW`` in a staging directory cmfw just made.
"""

from __future__ import annotations

import collections
import contextlib
import hashlib
import json
import os
import queue
import shutil
import stat
import sys
import tempfile
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Callable, Iterator, Mapping

from .errors import OutputError
from .package.manifest import MANIFEST, UNLISTED, file_mode
_NEW = ".cmfw-new-"
_OLD = ".cmfw-old-"
_LOCK = ".cmfw-lock"


def check_relative(path: str) -> PurePosixPath:
    """Refuse any artifact path that could land outside the output directory."""
    # Split the raw text: PurePosixPath would quietly normalise "a//b" and "./a".
    if not path or "\\" in path or "\x00" in path or any(part in ("", ".", "..") for part in path.split("/")):
        raise OutputError(f"refusing to write artifact path {path!r}: not a plain relative path")
    if any(len(part.encode("utf-8")) > 255 for part in path.split("/")):
        raise OutputError(f"refusing to write artifact path {path!r}: a file name longer than 255 bytes")
    return PurePosixPath(path)


def check_paths(files: Mapping[str, bytes]) -> None:
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
        if not stat.S_ISREG(os.lstat(target / MANIFEST).st_mode):
            return None
        manifest = json.loads((target / MANIFEST).read_text(encoding="utf-8"))
        files = manifest["files"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not isinstance(files, dict):
        return None
    return set(files) | set(UNLISTED)


#: What ``lstat`` says an entry is, for the entries the writer refuses.
_SPECIAL = (
    (stat.S_ISLNK, "symbolic link"), (stat.S_ISFIFO, "FIFO"), (stat.S_ISSOCK, "socket"),
    (stat.S_ISCHR, "device node"), (stat.S_ISBLK, "device node"),
)


def _kind(mode: int) -> str | None:
    """``None`` for a regular file or directory, else what the entry is."""
    for test, name in _SPECIAL:
        if test(mode):
            return name
    if stat.S_ISREG(mode) or stat.S_ISDIR(mode):
        return None
    return "special file"


def scan(target: Path) -> tuple[set[str], list[tuple[str, str]]]:
    """Regular files below ``target`` (relative POSIX paths) and every entry that is
    neither a file nor a directory, as (path, kind). Nothing is followed."""
    files: set[str] = set()
    special: list[tuple[str, str]] = []
    stack = [""]
    while stack:
        rel = stack.pop()
        try:
            entries = sorted(os.scandir(target / rel) if rel else os.scandir(target), key=lambda e: e.name)
        except OSError as exc:
            raise OutputError(f"{target / rel}: cannot list it ({exc.strerror or exc})") from None
        for entry in entries:
            path = f"{rel}/{entry.name}" if rel else entry.name
            mode = entry.stat(follow_symlinks=False).st_mode
            kind = _kind(mode)
            if kind is not None:
                special.append((path, kind))
            elif stat.S_ISDIR(mode):
                stack.append(path)
            else:
                files.add(path)
    return files, sorted(special)


def existing_files(target: Path) -> set[str]:
    files, special = scan(target)
    return files | {path for path, _ in special}


def refuse_special(target: Path) -> set[str]:
    """The regular files below ``target``; raises :class:`OutputError` naming every link,
    FIFO, socket or device node (cmfw follows, copies and deletes none of them)."""
    files, special = scan(target)
    if special:
        shown = ", ".join(f"{path} ({kind})" for path, kind in special[:3])
        more = f" and {len(special) - 3} more" if len(special) > 3 else ""
        raise OutputError(
            f"{target}: holds {shown}{more}, which cmfw neither follows nor replaces; remove "
            + ("it" if len(special) == 1 else "them") + " and build again"
        )
    return files


def foreign_files(target: Path) -> list[str]:
    """Files in ``target`` that cmfw did not write (all of them if it has no manifest)."""
    if not target.exists():
        return []
    present = refuse_special(target)
    owned = owned_files(target)
    if owned is None:
        return sorted(present)
    return sorted(present - owned)


@contextmanager
def output_lock(target: Path) -> Iterator[None]:
    """Hold ``.<name>.cmfw-lock`` next to ``target`` for one build.

    Two builds into one directory would each clean up the other's staging folder.
    The lock is taken without waiting (the second build stops and says why) and the
    file is removed while still held; a build that locked a file just removed sees
    that its path is gone and takes a fresh one.
    """
    path = target.parent / f".{target.name}{_LOCK}"
    for parent in [target.parent, *target.parent.parents]:
        if os.path.lexists(parent) and not parent.is_dir():
            raise OutputError(f"{parent}: is a file, not a folder; choose another output path")
    target.parent.mkdir(parents=True, exist_ok=True)
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | _NOFOLLOW, 0o600)
        if not _try_lock(fd):
            os.close(fd)
            raise OutputError(f"another build is writing {target}; wait for it to finish (lock {path})")
        try:
            same = os.path.samestat(os.fstat(fd), os.lstat(path))
        except OSError:
            same = False
        if same:
            break
        os.close(fd)  # locked a file the previous holder had just removed: take a new one
    try:
        yield
    finally:
        try:
            os.unlink(path)
        except OSError:
            pass
        os.close(fd)


def _try_lock(fd: int) -> bool:
    try:
        import fcntl
    except ImportError:  # Windows
        import msvcrt

        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)  # type: ignore[attr-defined]
            return True
        except OSError:
            return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False


def write_tree(target: Path | str, files: dict[str, bytes], *, force: bool = False) -> None:
    """Replace ``target`` with exactly ``files`` (plus foreign files kept under ``force``)."""
    with StagedTree(target, force=force) as tree:
        tree.commit(files)


class FileMap(Mapping[str, bytes]):
    """A build's files by path: in memory (``bytes``) until ``tree`` has written them, then
    (``None``) read back from it when asked for, so that a big build does not hold every
    file it wrote. Iteration and ``in`` never read a file."""

    def __init__(self, files: Mapping[str, bytes | None], tree: StagedTree) -> None:
        self._files, self._tree = files, tree

    def __getitem__(self, rel: str) -> bytes:
        data = self._files[rel]
        return data if data is not None else self._tree.read(rel)

    def __iter__(self) -> Iterator[str]:
        return iter(self._files)

    def __len__(self) -> int:
        return len(self._files)

    def __contains__(self, rel: object) -> bool:
        return rel in self._files

    def on_disk(self, rel: str) -> bool:
        """Whether ``rel`` is one the tree wrote, and so not held here."""
        return rel in self._files and self._files[rel] is None


class StagedTree:
    """An output directory being replaced: files go into a hidden staging sibling as they
    are made (:meth:`add`, written by a background thread while the build goes on), and
    :meth:`commit` adds the rest, flushes and swaps it in. Leaving the ``with`` block
    without a commit removes the staging folder: the previous output stays as it was.

    Nothing touches the disk before the first :meth:`start` (or :meth:`add`/:meth:`commit`),
    which takes the output lock, clears what a killed build left, and refuses an output
    that holds foreign files (unless ``force``) or is not a folder.
    """

    def __init__(self, target: Path | str, *, force: bool = False) -> None:
        self.target = Path(os.path.realpath(target))
        self.force = force
        self.staging: Path | None = None
        self._foreign: list[str] = []
        self._lock: contextlib.ExitStack | None = None
        self._written: dict[str, str] = {}  # path → SHA-256 of what was written
        self._landed: collections.deque[str] = collections.deque()  # written, not yet told (:meth:`written`)
        self._folders: set[PurePosixPath] = set()
        self._queue: queue.SimpleQueue[dict[str, bytes] | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self._abort = False
        self._committed = False

    def __enter__(self) -> StagedTree:
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self._abort = not self._committed
            self.flush()
            if self.staging is not None and not self._committed:
                shutil.rmtree(self.staging, ignore_errors=True)
        finally:
            if self._lock is not None:
                self._lock.close()

    def start(self) -> None:
        """Lock the output and make the staging folder (once)."""
        if self.staging is not None:
            return
        target = self.target
        if os.path.ismount(target):
            raise OutputError(
                f"{target}: is a mount point; cmfw replaces the output directory as a whole, "
                "so build into a folder inside it"
            )
        try:
            stack = contextlib.ExitStack()
            stack.enter_context(output_lock(target))
            self._lock = stack
            self.staging, self._foreign = _prepare(target, self.force)
        except OSError as exc:
            raise self._failed(exc) from None

    def add(self, files: Mapping[str, bytes]) -> None:
        """Write ``files`` into the staging folder, in the background (the first call also
        takes the lock and makes the staging folder there)."""
        if not files:
            return
        check_paths(dict(files))
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="cmfw-writer", daemon=True)
            self._thread.start()
        self._queue.put(dict(files))
        if self._error is not None:
            self._raise()

    def written(self) -> list[str]:
        """The files written since the last call (the build may then let go of their bytes:
        :meth:`read` gives them back)."""
        out = []
        while self._landed:
            out.append(self._landed.popleft())
        return out

    @property
    def digests(self) -> Mapping[str, str]:
        """The SHA-256 (hex) of every file written so far, by path (summed as it was written;
        a copy: the writer thread goes on)."""
        return dict(self._written)

    def read(self, rel: str) -> bytes:
        """A file this tree wrote, read back: from the staging folder, or after the commit
        from the output."""
        root = self.target if self._committed else self.staging
        assert root is not None and rel in self._written
        try:
            fd = os.open(root / rel, os.O_RDONLY | _NOFOLLOW | getattr(os, "O_BINARY", 0))
            with os.fdopen(fd, "rb") as fh:
                return fh.read()
        except OSError as exc:
            if self._committed:  # the build is done: the caller's own business
                raise
            raise self._failed(exc) from None

    def commit(self, files: Mapping[str, bytes], *, unchanged: Callable[[str], bool] | None = None) -> None:
        """Make the staging folder exactly ``files`` (and the foreign files kept), flush it
        and swap it in for the output. ``unchanged(path)``: a file already written that the
        caller knows it did not change since (else it is compared by SHA-256)."""
        check_paths(files)
        self.flush()
        self._raise()
        self.start()
        assert self.staging is not None
        staging = self.staging
        try:
            for rel in sorted(self._written.keys() - files.keys()):  # not in the final build
                os.unlink(staging / rel)
                del self._written[rel]
            for rel in sorted(files):
                before = self._written.get(rel)
                if before is not None and (
                    (unchanged is not None and unchanged(rel)) or hashlib.sha256(files[rel]).hexdigest() == before
                ):
                    continue
                if before is not None:
                    os.unlink(staging / rel)
                self._write(rel, files[rel])
            for rel in self._foreign:
                if rel not in files:
                    _copy_regular(self.target / rel, staging / rel)
            for folder in sorted(self._folders):
                os.chmod(staging / folder, 0o755)
            os.chmod(staging, 0o755)
            _sync_tree(staging)
            with _signals_held():
                previous = _swap(staging, self.target)
                self._committed = True
                _PUBLISHED.append(self.target)
        except OSError as exc:
            raise self._failed(exc) from None
        if previous is not None:  # if this is interrupted, the next build removes the rest
            _remove_tree(previous)

    # -- the writer thread ------------------------------------------------------------------

    def _run(self) -> None:
        # The lock, and the scan of the previous output (every entry, by lstat), here: the
        # build's thread goes on handing out work meanwhile. An error waits for add/commit.
        try:
            self.start()
        except BaseException as exc:
            self._error = exc
        while True:
            batch = self._queue.get()
            if batch is None:
                return
            if self._abort or self._error is not None:
                continue  # stopping, or failed already: the rest is not written
            try:
                for rel in sorted(batch):
                    if self._abort:
                        break
                    self._write(rel, batch[rel])
            except BaseException as exc:  # reported by the build's thread (add, commit)
                self._error = exc

    def _write(self, rel: str, data: bytes) -> None:
        assert self.staging is not None
        for folder in reversed(PurePosixPath(rel).parents):
            if folder != PurePosixPath(".") and folder not in self._folders:
                os.mkdir(self.staging / folder, 0o700)  # parents first; all new, so never a link
                self._folders.add(folder)
        _write_file(self.staging / rel, data, file_mode(rel))
        self._written[rel] = hashlib.sha256(data).hexdigest()  # big files: without the interpreter lock
        self._landed.append(rel)

    def flush(self) -> None:
        """Wait until every file given to :meth:`add` so far is written (or writing failed:
        :meth:`commit` and :meth:`add` report it)."""
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join()
            self._thread = None

    def _raise(self) -> None:
        error, self._error = self._error, None
        if isinstance(error, OSError):
            raise self._failed(error) from None
        if error is not None:
            raise error

    def _failed(self, exc: OSError) -> OutputError:
        return OutputError.from_os(_as_target(exc, self.target), self.target, "writing the build; the previous output is unchanged")


def _prepare(target: Path, force: bool) -> tuple[Path, list[str]]:
    """Clear what a killed build left, check the output, make the staging folder."""
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
    return Path(tempfile.mkdtemp(prefix=f".{target.name}{_NEW}", dir=target.parent)), foreign


def _as_target(exc: OSError, target: Path) -> OSError:
    """The error with a staging path (random name) told as the path in the output."""
    name = exc.filename
    if isinstance(name, str):
        staged = Path(name)
        for parent in [staged, *staged.parents]:
            if parent.parent == target.parent and parent.name.startswith(f".{target.name}{_NEW}"):
                return OSError(exc.errno, exc.strerror, str(target / staged.relative_to(parent)))
    return exc


_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
#: Flush the whole staging tree with one call (Linux syncfs, else sync) rather than one
#: fsync per file, which cost 3.3 s of a 1,000-policy build. Elsewhere: fsync each file.
_SYNC_ONCE = sys.platform.startswith("linux")


def _sync_tree(staging: Path) -> None:
    """Make every file and folder of ``staging`` durable before the renames publish it."""
    if _SYNC_ONCE:
        fd = os.open(staging, os.O_RDONLY)
        try:
            _syncfs(fd)
        finally:
            os.close(fd)
    else:
        _fsync_dir(staging)


def _syncfs(fd: int) -> None:
    """syncfs(2) on the file system holding ``fd``; it reports write-back errors (Linux 5.8+)."""
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        call = libc.syncfs
    except (OSError, AttributeError):
        os.sync()
        return
    if call(fd) != 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code))


def _create(path: Path) -> int:
    """A new file in the staging tree (its folder exists): never an existing one, never
    through a link."""
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | getattr(os, "O_BINARY", 0), 0o600)


def _write_file(path: Path, data: bytes, mode: int) -> None:
    with os.fdopen(_create(path), "wb") as fh:
        fh.write(data)
        fh.flush()
        # A fixed mode, whatever the umask: the same build gives the same tree.
        if hasattr(os, "fchmod"):  # not on Windows, where modes mean little
            os.fchmod(fh.fileno(), mode)
        if not _SYNC_ONCE:
            os.fsync(fh.fileno())


def _copy_regular(source: Path, destination: Path) -> None:
    """Carry a foreign file over (``--force``), checking on the open handle that it is
    still a regular file: it may have been swapped for a link or a FIFO since the scan."""
    try:
        fd = os.open(source, os.O_RDONLY | _NOFOLLOW | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except OSError as exc:
        raise OutputError(f"{source}: cannot keep this foreign file ({exc.strerror or exc})") from None
    with os.fdopen(fd, "rb") as src:
        info = os.fstat(src.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise OutputError(f"{source}: is no longer a regular file; cmfw does not copy it")
        destination.parent.mkdir(parents=True, exist_ok=True)  # a folder cmfw may not write itself
        with os.fdopen(_create(destination), "wb") as dst:
            shutil.copyfileobj(src, dst)
            if hasattr(os, "fchmod"):
                os.fchmod(dst.fileno(), stat.S_IMODE(info.st_mode))
            if not _SYNC_ONCE:
                os.fsync(dst.fileno())
    os.utime(destination, ns=(info.st_atime_ns, info.st_mtime_ns))


#: A previous output with this many folders two levels down (about 128 policies) is removed
#: by a process of its own: the build is done once the new output is in place, and a
#: thousand policies' files take a second to remove. What it leaves, the next build removes.
_DETACH_AT = 256


def _remove_tree(root: Path) -> None:
    """Remove a previous output: a big one in the background (:func:`_remove_detached`), or
    its folders' folders in four threads (a file system frees many files faster when asked
    in parallel; ``unlink`` lets go of the interpreter lock), then what is left."""
    try:
        branches = [
            entry.path for top in os.scandir(root) if top.is_dir(follow_symlinks=False)
            for entry in os.scandir(top.path) if entry.is_dir(follow_symlinks=False)
        ]
    except OSError:
        branches = []
    if len(branches) >= _DETACH_AT and _remove_detached(root):
        return
    if len(branches) >= 64:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(4) as pool:
            list(pool.map(lambda path: shutil.rmtree(path, ignore_errors=True), branches))
    shutil.rmtree(root, ignore_errors=True)


def _remove_detached(root: Path) -> bool:
    """Start ``rm -rf`` on ``root`` in a session of its own, which outlives cmfw, with no
    terminal or pipe of ours (a caller reading cmfw's output is not kept waiting);
    ``False`` where that cannot be done."""
    import subprocess

    shell, remove = shutil.which("sh"), shutil.which("rm")
    if os.name != "posix" or shell is None or remove is None:
        return False
    try:
        # The shell starts rm in the background and exits at once: rm is no child of ours.
        subprocess.run(
            [shell, "-c", '"$0" -rf -- "$1" </dev/null >/dev/null 2>&1 &', remove, str(root)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True, check=True, timeout=30,
        )
    except (OSError, subprocess.SubprocessError):
        return False
    return True


def _swap(staging: Path, target: Path) -> Path | None:
    """Put ``staging`` in ``target``'s place; the previous output's hidden new name (for
    the caller to remove), if there was one."""
    if not target.exists():
        os.rename(staging, target)
        _fsync_dir(target.parent)
        return None
    old = Path(tempfile.mkdtemp(prefix=f".{target.name}{_OLD}", dir=target.parent))
    os.rmdir(old)
    os.rename(target, old)
    try:
        os.rename(staging, target)
    except BaseException:
        os.rename(old, target)  # put the previous output back before reporting
        raise
    _fsync_dir(target.parent)
    return old


#: Outputs this process has replaced: an interruption after the swap is told truthfully.
_PUBLISHED: list[Path] = []


def published() -> tuple[Path, ...]:
    """The output directories this process replaced with a new build."""
    return tuple(_PUBLISHED)


@contextmanager
def _signals_held() -> Iterator[None]:
    """SIGINT and SIGTERM held back (delivered right after): the swap and the record that
    it happened are one step, so an interruption is either before it or after it."""
    import signal

    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _recover(target: Path) -> None:
    """Undo what an interrupted build left behind next to ``target``."""
    parent = target.parent
    if not parent.is_dir():
        return
    # Only real directories are ours: a link named like a leftover is not followed or moved.
    leftovers = sorted(p for p in parent.glob(f".{target.name}{_OLD}*") if _is_real_dir(p))
    if leftovers and not os.path.lexists(target):
        # Killed between the two renames: the old output is intact under its hidden name.
        os.rename(leftovers[-1], target)
        leftovers = leftovers[:-1]
    for stale in leftovers + sorted(p for p in parent.glob(f".{target.name}{_NEW}*") if _is_real_dir(p)):
        shutil.rmtree(stale, ignore_errors=True)


def _is_real_dir(path: Path) -> bool:
    try:
        return stat.S_ISDIR(os.lstat(path).st_mode)
    except OSError:
        return False


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


def stale_files(target: Path | str, files: Mapping[str, bytes]) -> list[Stale]:
    """How ``target`` differs from ``files``; foreign files are not cmfw's business.

    ``obsolete`` files are ones the previous build wrote (per its build.json) that
    the new build no longer produces.
    """
    target = Path(target)
    out: list[Stale] = []
    present: set[str] = set()
    special: dict[str, str] = {}
    if target.is_dir():
        present, found = scan(target)
        special = dict(found)
    for rel in sorted(files):
        if rel in special or any(str(parent) in special for parent in PurePosixPath(rel).parents):
            out.append(Stale(rel, "missing"))  # behind a link or not a file: never read through it
        elif rel not in present:
            out.append(Stale(rel, "missing"))
        else:
            path = target / rel
            if path.stat().st_size != len(files[rel]) or path.read_bytes() != files[rel]:
                out.append(Stale(rel, "differs"))
    owned = owned_files(target) or set()
    out.extend(Stale(rel, "obsolete") for rel in sorted((owned & (present | set(special))) - set(files)))
    return out
