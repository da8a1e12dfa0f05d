"""Re-test mutmut's surviving mutants against test files mutmut did not run on them.

mutmut keeps its verdicts and the tests it copied when the run started; this runs each
survivor (switched on with ``MUTANT_UNDER_TEST`` in ``mutants/src``) against the given test
files as they are now, two at a time, and prints the ones that still survive. Use it for
tests written since the run, and for the hypothesis suites left out of the run's selection.

Usage::

    python scripts/mutmut_recheck.py tests/test_claims.py tests/test_response.py
    python scripts/mutmut_recheck.py --unlisted tests/test_properties.py tests/test_fast_paths.py

With ``--unlisted``, only the survivors not listed in ``tests/mutmut-equivalent.md``.
"Survivors" are the mutants mutmut reports ``survived`` or ``no tests`` (no test of its
selection calls the function): neither was killed.

A mutant of a function the library calls while it is imported (``_claims.slot_setters``,
``_key_forms._short_der``) is switched on here before the import, so the import fails and
any test file "kills" it; mutmut's run switches mutants on after the import. For those,
mutmut's verdict (``mutmut run NAME``) is the one to trust.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MUTMUT = ROOT / ".venv" / "bin" / "mutmut"
EQUIVALENT = ROOT / "tests" / "mutmut-equivalent.md"


def survivors() -> list[str]:
    done = subprocess.run([str(MUTMUT), "results"], cwd=ROOT, capture_output=True,  # noqa: S603
                          text=True, check=True)
    return [line.split(":")[0].strip() for line in done.stdout.splitlines()
            if line.strip().endswith((": survived", ": no tests"))]


def listed() -> set[str]:
    """The mutants listed as equivalent (the lists after them name killed ones)."""
    text = EQUIVALENT.read_text().split("\n## Killed by", 1)[0]
    return set(re.findall(r"`(license_token\.[^`]+)`", text))


def killed(name: str, tests: list[str]) -> bool:
    env = dict(os.environ, MUTANT_UNDER_TEST=name, PYTHONPATH=str(ROOT / "mutants" / "src"),
               PYTHONDONTWRITEBYTECODE="1")
    done = subprocess.run(["nice", "-n", "10", sys.executable, "-m", "pytest", "-x", "-q",  # noqa: S603,S607
                           "-p", "no:cacheprovider", *tests],
                          cwd=ROOT, env=env, capture_output=True, check=False)
    return done.returncode != 0


def main(args: list[str]) -> int:
    unlisted = "--unlisted" in args
    tests = [a for a in args if a != "--unlisted"]
    names = survivors()
    if unlisted:
        known = listed()
        names = [name for name in names if name not in known]
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
