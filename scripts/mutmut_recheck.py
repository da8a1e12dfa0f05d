"""Re-test mutmut's surviving mutants against test files written since the run.

mutmut keeps its verdicts and the tests it copied when the run started; this runs each
survivor (switched on with ``MUTANT_UNDER_TEST`` in ``mutants/src``) against the given test
files as they are now, two at a time, and prints the ones that still survive.

Usage: ``python scripts/mutmut_recheck.py tests/test_core_edges.py tests/test_hostile.py``
"""

from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MUTMUT = ROOT / ".venv" / "bin" / "mutmut"


def survivors() -> list[str]:
    done = subprocess.run([str(MUTMUT), "results"], cwd=ROOT, capture_output=True,  # noqa: S603
                          text=True, check=True)
    return [line.split(":")[0].strip() for line in done.stdout.splitlines()
            if line.strip().endswith(": survived")]


def killed(name: str, tests: list[str]) -> bool:
    env = dict(os.environ, MUTANT_UNDER_TEST=name, PYTHONPATH=str(ROOT / "mutants" / "src"),
               PYTHONDONTWRITEBYTECODE="1")
    done = subprocess.run([sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider",  # noqa: S603
                           *tests], cwd=ROOT, env=env, capture_output=True, check=False)
    return done.returncode != 0


def main(tests: list[str]) -> int:
    names = survivors()
    with ThreadPoolExecutor(max_workers=2) as pool:
        verdicts = list(pool.map(lambda name: killed(name, tests), names))
    still = [name for name, verdict in zip(names, verdicts, strict=True) if not verdict]
    for name in still:
        print(name)
    print(f"{len(names)} survivors re-tested: {len(names) - len(still)} now killed, "
          f"{len(still)} still survive", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
