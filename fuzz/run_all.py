"""Seed the corpora from ``vectors/`` and run every harness for a while.

Usage: ``python fuzz/run_all.py [SECONDS_EACH] [HARNESS ...]`` (default 10 s, all harnesses).
Exit status 1 if any harness found a crash (its input is left as ``fuzz/crash-*``), 2 if
atheris is not installed (the message says how to get it).
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import _support

HERE = Path(__file__).resolve().parent
HARNESSES: dict[str, Callable[[], list[bytes]]] = {
    "verify": _support.vector_inputs,
    "verify_dict": lambda: [bytes(range(i, i + 32)) for i in range(0, 224, 32)],
    "read_response": _support.vector_inputs,
    "keys": _support.key_inputs,
    "store": _support.store_inputs,
    "cli": lambda: [b"\x00" * 8 + seed for seed in _support.vector_inputs()],
}


#: What to do when atheris is missing.
NO_ATHERIS = (
    "fuzz/run_all.py: atheris is not installed. Install the fuzz extra: "
    "pip install -e '.[fuzz]' (atheris publishes wheels for Linux x86-64 and older ones for "
    "macOS; elsewhere pip builds it from source, which needs a clang with libFuzzer: "
    "see https://github.com/google/atheris#installation). Not on Windows.")


def main(argv: list[str]) -> int:
    if importlib.util.find_spec("atheris") is None:
        print(NO_ATHERIS, file=sys.stderr)
        return 2
    seconds = int(argv[0]) if argv else 10
    names = argv[1:] or list(HARNESSES)
    failed = []
    for name in names:
        corpus = HERE / "corpus" / name
        _support.write_corpus(corpus, HARNESSES[name]())
        done = subprocess.run(
            [sys.executable, str(HERE / f"fuzz_{name}.py"), str(corpus),
             f"-max_total_time={seconds}", "-rss_limit_mb=2048", "-timeout=10",
             f"-artifact_prefix={HERE}/crash-{name}-", "-print_final_stats=1"],
            capture_output=True, text=True, check=False)
        stats = [line for line in done.stderr.splitlines()
                 if line.startswith(("stat::number_of_executed_units", "#", "==")) and (
                     "DONE" in line or "stat::" in line or "ERROR" in line)]
        print(f"{name}: exit {done.returncode}; " + "; ".join(stats[-2:]), flush=True)
        if done.returncode != 0:
            failed.append(name)
            print(done.stderr[-3000:], file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
