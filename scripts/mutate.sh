#!/usr/bin/env bash
# Mutation testing of the core (mutmut, configured in pyproject.toml), at low priority.
#
#   scripts/mutate.sh            # run (resumes where a previous run stopped), then list
#   scripts/mutate.sh results    # list the surviving mutants again
#
# The run uses the example-based core tests ([tool.mutmut] explains why); the survivors not
# yet listed as equivalent are then tried on the hypothesis suites too, and the ones those
# do not kill are printed last. A surviving mutant is either killed by a new test or listed,
# with why it is equivalent, in tests/mutmut-equivalent.md. Tests written after a run are
# tried on its survivors with `python scripts/mutmut_recheck.py TEST_FILE...` (no full
# re-run needed); `mutmut run NAME...` re-runs named mutants with the current tests.
set -euo pipefail
cd "$(dirname "$0")/.."
MUTMUT=${MUTMUT:-.venv/bin/mutmut}
if [ "${1:-run}" = "run" ]; then
  nice -n 10 "$MUTMUT" run --max-children "${MUTMUT_CHILDREN:-2}" || true
fi
"$MUTMUT" results --all false 2>/dev/null || "$MUTMUT" results
if [ "${1:-run}" = "run" ]; then
  echo "Survivors not listed in tests/mutmut-equivalent.md, after the hypothesis suites:"
  .venv/bin/python scripts/mutmut_recheck.py --unlisted tests/test_properties.py \
    tests/test_fast_paths.py
fi
