"""Timing what a user waits for: the installed ``cmfw`` in a fresh process, interleaved.

Each round runs every case once, in the same order, so that a slow moment of a shared
machine hits all cases alike; the report gives the median with min and max of the
rounds. Only ratios between cases of one run mean something across machines.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence


def cmfw() -> str:
    """The installed console script (next to this Python), as a user runs it."""
    here = Path(sys.executable).with_name("cmfw")
    found = str(here) if here.exists() else shutil.which("cmfw")
    if not found:
        sys.exit("benchmarks: the cmfw command is not installed (pip install -e .)")
    return found


@dataclass(frozen=True)
class Timing:
    name: str
    samples: tuple[float, ...]
    #: Peak resident set size of each run in MiB (the process and its workers' largest).
    rss: tuple[float, ...] = ()

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    def cell(self) -> str:
        return f"{self.median:7.3f} s ({min(self.samples):.3f}-{max(self.samples):.3f})"


def interleaved(
    cases: dict[str, Sequence[str]],
    rounds: int = 5,
    env: dict[str, str] | None = None,
    before: Callable[[str], None] | None = None,
    expect: dict[str, tuple[int, ...]] | None = None,
) -> dict[str, Timing]:
    """Run each command once per round; ``before(name)`` runs untimed before each run.

    A run must exit with one of ``expect[name]`` (default 0): a traceback also exits 1,
    and a benchmark must never time a broken command as if it had worked.
    """
    rounds = max(rounds, 5)
    environ = dict(os.environ, **(env or {}))
    samples: dict[str, list[float]] = {name: [] for name in cases}
    peaks: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(rounds):
        for name, command in cases.items():
            if before is not None:
                before(name)
            code, elapsed, rss, stderr = _run(command, environ)
            samples[name].append(elapsed)
            peaks[name].append(rss)
            wanted = (expect or {}).get(name, (0,))
            if code not in wanted or b"Traceback (most recent call last)" in stderr:
                sys.exit(f"benchmarks: {name} exited {code} (expected {wanted}): {stderr.decode(errors='replace')[-400:]}")
    return {name: Timing(name, tuple(values), tuple(peaks[name])) for name, values in samples.items()}


def _run(command: Sequence[str], environ: dict[str, str]) -> tuple[int, float, float, bytes]:
    """(exit status, seconds, peak RSS in MiB, stderr) of one fresh process; the peak is
    the largest of the process and the children it waited for (wait4's ru_maxrss)."""
    with tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        process = subprocess.Popen(list(command), stdout=subprocess.DEVNULL, stderr=err, env=environ)
        _, status, usage = os.wait4(process.pid, 0)
        elapsed = time.perf_counter() - start
        process.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        return process.returncode, elapsed, usage.ru_maxrss / 1024, err.read()


def workers_note(env: dict[str, str] | None = None) -> str:
    jobs = (env or {}).get("CMFW_JOBS", os.environ.get("CMFW_JOBS", ""))
    if jobs.strip() == "1":
        return "worker processes off (CMFW_JOBS=1)"
    return f"worker processes on for big builds ({jobs or 'default'}; {os.cpu_count()} CPUs)"


def print_table(rows: list[tuple[str, str, str, str]]) -> None:
    """Rows of (case, timing, ratio, budget)."""
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    header = ("case", "median (min-max)", "ratio", "budget")
    widths = [max(w, len(h)) for w, h in zip(widths, header)]
    for row in [header, *rows]:
        print("  ".join(cell.ljust(widths[i]) if i < 3 else cell for i, cell in enumerate(row)).rstrip())
