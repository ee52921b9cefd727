"""The one time a build records: never the clock, so builds are reproducible.

It comes from ``--timestamp``, else ``SOURCE_DATE_EPOCH`` (the reproducible-builds
convention), else a fixed default. GPO backups need a time (``BackupTime``);
nothing else in an artifact does.
"""

from __future__ import annotations

import os
from datetime import datetime, timezone

from .errors import InputError, Problem

DEFAULT = datetime(2020, 1, 1, tzinfo=timezone.utc)


def build_time(explicit: str | None = None, environ: dict[str, str] | None = None) -> datetime:
    """The build's timestamp, in UTC, to the second."""
    env = os.environ if environ is None else environ
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
        if value.isdigit():
            moment = datetime.fromtimestamp(int(value), tz=timezone.utc)
        else:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=timezone.utc)
    except (ValueError, OverflowError, OSError):
        raise InputError(
            [Problem(origin, message=f"{text!r} is not a timestamp (seconds since 1970, or ISO 8601 such as 2026-11-26T12:00:00Z)")]
        ) from None
    if not 1980 <= moment.year <= 9999:
        raise InputError([Problem(origin, message=f"{text!r} is outside the years 1980-9999")])
    return moment.astimezone(timezone.utc).replace(microsecond=0)
