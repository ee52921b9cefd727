"""Peak memory of cmfw on inputs built to exhaust it (issue 14): each must stay under a bound.

    python benchmarks/memory.py [--rounds N]

Each case runs the installed ``cmfw`` in a fresh process and reads the process's own
peak resident set size from ``wait4`` (ru_maxrss): what the admin's machine would see.
The inputs are generated in a temporary folder: a matrix whose aliases expand one 9 MiB
string a thousand times, a character device, a registry.pol at the read limit, MOFs
over and under the MOF limit (16 MiB), a zip bomb in place of a build's package.zip.
The exit status is checked too (2:
refused as bad input, 1: reported as a problem); a case that ends otherwise fails the
run. Workers are off (CMFW_JOBS=1): these are single reads, not builds.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from harness import cmfw

ROOT = Path(__file__).resolve().parent.parent
#: The documented bound (README, benchmarks/README.md): no case above it.
BOUND_MB = 256


def peak(command: list[str], env: dict[str, str]) -> tuple[int, float, float]:
    """(exit status, peak RSS in MiB, seconds) of one fresh process."""
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - start
    process.stderr.read() if process.stderr else None  # type: ignore[func-returns-value]
    code = os.waitstatus_to_exitcode(status)
    return code, usage.ru_maxrss / 1024, elapsed


_MAKE = """
import sys, zipfile
from pathlib import Path
tmp = Path(sys.argv[1])
with open(tmp / "alias-bomb.yaml", "w", encoding="utf-8") as fh:
    fh.write('a: &a "' + "x" * (9 * 1024 * 1024) + '"\\nb: [' + ", ".join(["*a"] * 1000) + "]\\n")
with open(tmp / "big.pol", "wb") as fh:
    fh.write(b"PReg\\x01\\x00\\x00\\x00")
    for _ in range(64):
        fh.write(b"[" * (1024 * 1024))
with open(tmp / "semicolons.mof", "wb") as fh:
    for _ in range(60):
        fh.write(b";" * (1024 * 1024))
with open(tmp / "semicolons-15.mof", "wb") as fh:
    for _ in range(15):
        fh.write(b";" * (1024 * 1024))
with zipfile.ZipFile(tmp / "out" / "package.zip", "w", zipfile.ZIP_DEFLATED) as archive:
    with archive.open("out/build.json", "w", force_zip64=True) as entry:
        for _ in range(1024):
            entry.write(bytes(1024 * 1024))
"""


def cases(tmp: Path, exe: str) -> dict[str, tuple[list[str], tuple[int, ...]]]:
    """The inputs, made by a child process: the parent's own peak would otherwise be
    inherited by every process it starts (ru_maxrss counts pages shared at fork)."""
    bomb, pol, mof, build = tmp / "alias-bomb.yaml", tmp / "big.pol", tmp / "semicolons.mof", tmp / "out"
    subprocess.run([exe, "build", str(ROOT / "examples" / "contoso.yaml"), "-o", str(build)], check=True, capture_output=True)
    subprocess.run([sys.executable, "-c", _MAKE, str(tmp)], check=True)
    return {
        "validate: a 9 MiB string aliased 1,000 times": ([exe, "validate", str(bomb)], (2,)),
        "inspect /dev/zero": ([exe, "inspect", "/dev/zero"], (2,)),
        "inspect a 64 MiB registry.pol of '['": ([exe, "inspect", str(pol)], (2,)),
        "inspect a 60 MiB MOF of ';' (over the MOF limit)": ([exe, "inspect", str(mof)], (2,)),
        "inspect a 15 MiB MOF of ';' (parsed)": ([exe, "inspect", str(tmp / "semicolons-15.mof")], (2,)),
        "check a build whose package.zip is a 1 GiB zip bomb": ([exe, "check", str(build)], (1,)),
        "reference: cmfw --version": ([exe, "--version"], (0,)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    exe = cmfw()
    env = dict(os.environ, CMFW_JOBS="1")
    with tempfile.TemporaryDirectory() as tmp:
        found = cases(Path(tmp), exe)
        samples: dict[str, list[tuple[float, float]]] = {name: [] for name in found}
        for _ in range(max(args.rounds, 5)):  # interleaved: one run of each case per round
            for name, (command, expected) in found.items():
                code, rss, seconds = peak(command, env)
                if code not in expected:
                    sys.exit(f"benchmarks: {name}: exit {code}, expected {expected}")
                samples[name].append((rss, seconds))
    print(f"Peak resident memory, fresh processes, medians of {max(args.rounds, 5)} (min-max); workers off; bound {BOUND_MB} MiB")
    worst = 0.0
    for name, values in samples.items():
        rss = [v[0] for v in values]
        secs = [v[1] for v in values]
        worst = max(worst, max(rss)) if not name.startswith("reference") else worst
        print(f"  {name:55} {statistics.median(rss):7.1f} MiB ({min(rss):.1f}-{max(rss):.1f})  {statistics.median(secs):6.2f} s")
    print(f"worst case {worst:.1f} MiB: {'within' if worst <= BOUND_MB else 'OVER'} the {BOUND_MB} MiB bound")
    if worst > BOUND_MB:
        sys.exit(1)


if __name__ == "__main__":
    shutil.which("cmfw") or sys.exit("benchmarks: install cmfw first (pip install -e .)")
    main()
