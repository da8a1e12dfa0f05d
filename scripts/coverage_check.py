"""Check the coverage thresholds in a ``coverage json`` report.

Branch coverage of the core modules at least 98 %, and at least 92 % (statements and
branches) for the whole package, the online CLI included. Prints each figure.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

CORE = ("_clock.py", "_jws.py", "_key_forms.py", "_keys.py", "_claims.py", "_response.py",
        "_policy.py", "_verify.py")
CORE_BRANCH_MIN, TOTAL_MIN = 98.0, 92.0


def main(report_path: str) -> int:
    report = json.loads(Path(report_path).read_text())
    files = report["files"]
    failures = []
    for name in CORE:
        path = next(p for p in files if p.endswith(f"license_token/{name}"))
        summary = files[path]["summary"]
        branches, covered = summary["num_branches"], summary["covered_branches"]
        percent = 100.0 * covered / branches if branches else 100.0
        print(f"{name:<14} branches {covered}/{branches} = {percent:.1f} %  "
              f"(statements+branches {summary['percent_covered']:.1f} %)")
        if percent < CORE_BRANCH_MIN:
            failures.append(f"{name} branch coverage {percent:.1f} % < {CORE_BRANCH_MIN} %")
    totals = report["totals"]
    branch_total = 100.0 * totals["covered_branches"] / max(totals["num_branches"], 1)
    print(f"{'total':<14} {totals['percent_covered']:.1f} % (statements+branches), "
          f"branches {branch_total:.1f} %")
    cli = [p for p in files if "/license_token/cli/" in p]
    for path in sorted(cli):
        percent = files[path]["summary"]["percent_covered"]
        print(f"  {path.split('license_token/')[1]:<22} {percent:.1f} %")
    if totals["percent_covered"] < TOTAL_MIN:
        failures.append(f"total coverage {totals['percent_covered']:.1f} % < {TOTAL_MIN} %")
    for failure in failures:
        print(f"FAIL: {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1] if len(sys.argv) > 1 else "coverage.json"))
