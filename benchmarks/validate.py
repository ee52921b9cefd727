"""`cmfw validate` against `cmfw build`: validate renders nothing, so it must cost less.

    python benchmarks/validate.py [--rounds N]

Both on the bundled example and on a 250-policy matrix, with the installed cmfw in a
fresh process each time (writes included for build), interleaved rounds.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import cmfw, interleaved, print_table, workers_note  # noqa: E402
from run import big_matrix  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    exe = cmfw()
    with tempfile.TemporaryDirectory() as tmp:
        big = Path(tmp, "big.yaml")
        big.write_text(big_matrix(250))
        example = str(ROOT / "examples" / "contoso.yaml")
        cases = {
            "python -c pass": [sys.executable, "-c", "pass"],
            "validate example": [exe, "validate", example],
            "build example": [exe, "build", example, "-o", f"{tmp}/example"],
            "validate 250 policies": [exe, "validate", str(big)],
            "build 250 policies": [exe, "build", str(big), "-o", f"{tmp}/big"],
        }

        def clean(name: str) -> None:  # every build starts from an empty output
            for out in ("example", "big"):
                shutil.rmtree(Path(tmp, out), ignore_errors=True)

        found = interleaved(cases, args.rounds, before=clean)
    print(f"{args.rounds} interleaved rounds; {workers_note()}")
    bare = found["python -c pass"].median
    rows = [("python -c pass (reference)", found["python -c pass"].cell(), "", "")]
    for size in ("example", "250 policies"):
        v, b = found[f"validate {size}"], found[f"build {size}"]
        rows.append((f"cmfw validate {size}", v.cell(), f"{v.median / b.median:.2f}x build, {v.median / bare:.1f}x start", "< build"))
        rows.append((f"cmfw build {size}", b.cell(), f"{b.median / bare:.1f}x start", ""))
    print_table(rows)


if __name__ == "__main__":
    main()
