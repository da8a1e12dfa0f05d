"""The atheris harnesses in ``fuzz/`` run, and ``fuzz/run_all.py`` says how to get atheris.

The harness test needs the ``fuzz`` extra (atheris); ``.ci/run`` installs it where atheris
has a wheel, and without it that test is skipped with that reason.
"""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
from conftest import ROOT

FUZZ = ROOT / "fuzz"
HARNESSES = sorted(path.stem.removeprefix("fuzz_") for path in FUZZ.glob("fuzz_*.py"))


def test_run_all_without_atheris_says_how_to_install_it() -> None:
    code = ("import runpy, sys; sys.modules['atheris'] = None; sys.path.insert(0, 'fuzz'); "
            "sys.argv = ['fuzz/run_all.py', '1']; "
            "runpy.run_path('fuzz/run_all.py', run_name='__main__')")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 2, done.stderr
    assert "atheris is not installed" in done.stderr
    assert "pip install -e '.[fuzz]'" in done.stderr
    assert "Traceback" not in done.stderr


def test_run_all_knows_every_harness() -> None:
    sys.path.insert(0, str(FUZZ))
    try:
        import run_all
    finally:
        sys.path.remove(str(FUZZ))
    assert sorted(run_all.HARNESSES) == HARNESSES


@pytest.mark.parametrize("harness", HARNESSES)
def test_each_harness_runs_its_seed_corpus(harness: str, tmp_path_factory:
                                           pytest.TempPathFactory) -> None:
    pytest.importorskip("atheris", reason="atheris is not installed: pip install -e "
                        "'.[fuzz]' (.ci/run installs it where atheris has a wheel)")
    sys.path.insert(0, str(FUZZ))
    try:
        import _support
        import run_all
    finally:
        sys.path.remove(str(FUZZ))
    corpus = tmp_path_factory.mktemp(f"corpus-{harness}")
    _support.write_corpus(corpus, run_all.HARNESSES[harness]())
    done = subprocess.run([sys.executable, str(FUZZ / f"fuzz_{harness}.py"), str(corpus),
                           "-runs=0", "-rss_limit_mb=2048"], cwd=ROOT, capture_output=True,
                          text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    assert re.search(r"^Done \d+ runs in", done.stderr, re.M), done.stderr[-3000:]
