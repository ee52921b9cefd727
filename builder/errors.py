"""The error types of the library.

Each error knows its exit code and how to present itself; the CLI prints
:meth:`CmfwError.lines` and exits with :attr:`CmfwError.exit_code`. Nothing here
depends on click, so a Python caller gets ordinary exceptions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable


@dataclass(frozen=True, order=True)
class Problem:
    """One finding in a user's file: where it is and what is wrong.

    ``path`` is the dotted key path inside the document (``policies[0].features[2]``);
    ``line`` and ``column`` are 1-based, or 0 when unknown.
    """

    file: str
    line: int = 0
    column: int = 0
    path: str = ""
    message: str = ""

    @property
    def location(self) -> str:
        where = self.file
        if self.line:
            where += f":{self.line}"
            if self.column:
                where += f":{self.column}"
        return where

    def format(self, severity: str = "error") -> str:
        """``file:line:col: error: path: message``, the shape editors and CI jump to."""
        field = f"{self.path}: " if self.path else ""
        return f"{self.location}: {severity}: {field}{self.message}"

    def __str__(self) -> str:
        field = f"{self.path}: " if self.path else ""
        return f"{self.location}: {field}{self.message}"


class CmfwError(Exception):
    """Base class: a condition the user can act on, reported without a traceback."""

    exit_code = 2

    def lines(self) -> list[str]:
        """What to print, one line per problem."""
        return [_one_line(f"cmfw: error: {self}")]


class InputError(CmfwError):
    """Bad input (a matrix, a path, a file to read): exit code 2.

    Carries every problem found, not just the first, so that one run shows all
    the fixes a file needs.
    """

    def __init__(self, problems: Iterable[Problem] | str) -> None:
        if isinstance(problems, str):
            self.problems: tuple[Problem, ...] = ()
            text = problems
        else:
            self.problems = tuple(sorted(set(problems)))
            text = "\n".join(str(p) for p in self.problems)
        super().__init__(text)

    def lines(self) -> list[str]:
        if self.problems:
            return [_one_line(p.format("error")) for p in self.problems]
        return super().lines()


class OutputError(CmfwError):
    """The output directory cannot be written as asked (foreign files, not a directory…)."""

    @classmethod
    def from_os(cls, exc: OSError, fallback: object, doing: str = "") -> "OutputError":
        """The OS's reason, on one line, naming the path it concerns: ``out/gpo: No space
        left on device (while writing the build); the previous output is unchanged``."""
        path = exc.filename if exc.filename is not None else fallback
        reason = exc.strerror or type(exc).__name__
        hint = _OS_HINTS.get(exc.errno or 0, "")
        return cls(f"{path}: {reason}{hint}{f' (while {doing})' if doing else ''}")


#: What to do about the OS errors an admin meets when writing a build.
_OS_HINTS = {
    28: "; free some space",  # ENOSPC
    122: "; the disk quota is used up",  # EDQUOT
    30: "; it is on a read-only file system",  # EROFS
    36: "; the name is too long for this file system (use a shorter output path)",  # ENAMETOOLONG
    13: "; check the folder's permissions",  # EACCES
    1: "; check the folder's permissions",  # EPERM
    16: "; it is a mount point or in use: build into a folder inside it",  # EBUSY
    18: "; the output and its parent folder are on different file systems: build into a folder inside it",  # EXDEV
}


class OutOfDate(CmfwError):
    """``build --check``: the output cannot be up to date (it does not exist): exit 1, like stale."""

    exit_code = 1


class ArtifactError(CmfwError):
    """A generated artifact failed its own validation: a bug in cmfw, never written.

    Exit code 1 rather than 2: the input was accepted, the tool failed.
    """

    exit_code = 1


def _one_line(text: str) -> str:
    # A message must never break the one-line-per-problem promise, whatever the
    # user's file contained (a key with a newline, a NUL...).
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)
