"""The one time a build records: never the clock, so builds are reproducible.

It comes from ``--timestamp``, else ``SOURCE_DATE_EPOCH`` (the reproducible-builds
convention), else a fixed default. GPO backups need a time (``BackupTime``);
nothing else in an artifact does. ``--timestamp git`` takes the time of the last
commit that changed the matrix: the same commit gives the same bytes, and backups of
different builds kept side by side (GPMC's "Manage Backups") show different times.
It is not the default, because a matrix edited and checked before its commit
(``build --check`` in a pre-commit hook) would then be stale once committed.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from datetime import datetime, timezone

from .errors import InputError, Problem
from .syntax.numbers import digits

DEFAULT = datetime(2020, 1, 1, tzinfo=timezone.utc)


def build_time(explicit: str | None = None, environ: dict[str, str] | None = None, matrix: str | Path | None = None) -> datetime:
    """The build's timestamp, in UTC, to the second (``explicit`` ``"git"``: see the module)."""
    env = os.environ if environ is None else environ
    if explicit is not None and explicit.strip().lower() == "git":
        if matrix is None:
            raise InputError([Problem("--timestamp", message="'git' needs the matrix file whose last commit it reads")])
        return commit_time(Path(matrix))
    if explicit is not None:
        return parse_timestamp(explicit, "--timestamp")
    epoch = env.get("SOURCE_DATE_EPOCH")
    if epoch:
        return parse_timestamp(epoch, "SOURCE_DATE_EPOCH")
    return DEFAULT


def parse_timestamp(text: str, origin: str) -> datetime:
    """Seconds since 1970, or an ISO 8601 date-time (UTC unless it says otherwise)."""
    value = text.strip()
    try:
        if digits(value):
            moment = datetime.fromtimestamp(int(value), tz=timezone.utc)
        else:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=timezone.utc)
    except (ValueError, OverflowError, OSError):
        raise InputError(
            [Problem(origin, message=f"{text!r} is not a timestamp (seconds since 1970, or ISO 8601 such as 2026-11-26T12:00:00Z)")]
        ) from None
    try:
        # In UTC, where the build records it: 9999-12-31T23:59:59-01:00 is in year 10000.
        moment = moment.astimezone(timezone.utc)
    except OverflowError:
        raise InputError([Problem(origin, message=f"{text!r} is outside the years 1980-9999 (UTC)")]) from None
    if not 1980 <= moment.year <= 9999:
        raise InputError([Problem(origin, message=f"{text!r} is outside the years 1980-9999 (UTC)")])
    return moment.replace(microsecond=0)


def commit_time(matrix: Path) -> datetime:
    """The committer time of the last commit that changed ``matrix`` (git must know the file)."""
    try:
        done = subprocess.run(
            ["git", "log", "-1", "--format=%ct", "--", matrix.name],
            cwd=matrix.resolve().parent, capture_output=True, text=True, timeout=60, check=False,
            env=dict(os.environ, GIT_TERMINAL_PROMPT="0", LC_ALL="C"),
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise InputError([Problem("--timestamp", message=f"'git' needs git: {exc}")]) from None
    stamp = done.stdout.strip()
    if done.returncode != 0 or not digits(stamp):
        why = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "git has no commit of it"
        raise InputError([Problem(str(matrix), message=f"--timestamp git: no commit time for this file ({why})")])
    return parse_timestamp(stamp, "--timestamp git")
