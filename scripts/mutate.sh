#!/usr/bin/env bash
# Mutation testing of the core (mutmut, configured in pyproject.toml), at low priority.
#
#   scripts/mutate.sh            # run (resumes where a previous run stopped), then list
#   scripts/mutate.sh results    # list the surviving mutants again
#
# The run uses the core tests ([tool.mutmut] lists them, tests/test_fast_paths.py included);
# the survivors not yet listed as equivalent are then tried on tests/test_properties.py too,
# and the ones it does not kill are printed last. A surviving mutant is either killed by a
# new test or listed, with why it is equivalent, in tests/mutmut-equivalent.md. Tests
# written after a run are tried on its survivors with `python scripts/mutmut_recheck.py
# TEST_FILE...` (no full re-run needed); `mutmut run NAME...` re-runs named mutants with
# the current tests.
set -euo pipefail
cd "$(dirname "$0")/.."
MUTMUT=${MUTMUT:-.venv/bin/mutmut}
if [ "${1:-run}" = "run" ]; then
  nice -n 10 "$MUTMUT" run --max-children "${MUTMUT_CHILDREN:-2}" || true
fi
"$MUTMUT" results --all false 2>/dev/null || "$MUTMUT" results
if [ "${1:-run}" = "run" ]; then
  echo "Survivors not listed in tests/mutmut-equivalent.md, after tests/test_properties.py:"
  .venv/bin/python scripts/mutmut_recheck.py --unlisted tests/test_properties.py
fi
