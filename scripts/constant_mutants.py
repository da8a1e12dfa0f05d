"""Hand mutants of module-level constants, which mutmut 3 does not mutate (only functions).

Each mutant is applied to a copy of ``src/`` and the core tests run against it (with
``PYTHONPATH`` pointing at the copy); every mutant must be killed (a test fails).

Usage: ``python scripts/constant_mutants.py [TEXT...]`` (run under ``nice``; a few minutes);
with ``TEXT``, only the mutants whose original text contains one of them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
#: The core tests: mutmut's selection (``[tool.mutmut]`` in pyproject.toml), and the store's
#: test of the clock mark's bound.
TESTS = ["tests/test_attacks.py", "tests/test_clock.py", "tests/test_jws.py",
         "tests/test_keys.py", "tests/test_claims.py", "tests/test_response.py",
         "tests/test_policy.py", "tests/test_verify.py", "tests/test_vectors.py",
         "tests/test_external_vectors.py", "tests/test_fast_paths.py", "tests/test_store.py"]
#: (file, original text, mutated text): each a rule the tests must pin.
MUTANTS = [
    ("_jws.py", "MAX_TOKEN_LENGTH = 64 * 1024", "MAX_TOKEN_LENGTH = 128 * 1024"),
    ("_jws.py", "MAX_JSON_DEPTH = 16", "MAX_JSON_DEPTH = 17"),
    ("_jws.py", "MAX_JSON_DEPTH = 16", "MAX_JSON_DEPTH = 15"),
    ("_jws.py", 'frozenset(b"AQgw")', 'frozenset(b"AQgwB")'),
    ("_jws.py", 'frozenset(b"AEIMQUYcgkosw048")', 'frozenset(b"AEIMQUYcgkosw048B")'),
    ("_jws.py", "salt_length=48)", "salt_length=padding.PSS.AUTO)"),
    ("_jws.py", 'ALGORITHM = "PS384"', 'ALGORITHM = "PS256"'),
    ("_jws.py", '_SURROGATE_ESCAPE = re.compile(r"\\\\u[dD][89a-fA-F]")',
     '_SURROGATE_ESCAPE = re.compile(r"\\\\u[dD][89]")'),
    ("_response.py", "MAX_RESPONSE_LENGTH = 4 * MAX_TOKEN_LENGTH",
     "MAX_RESPONSE_LENGTH = 5 * MAX_TOKEN_LENGTH"),
    ("_response.py", '_JSON_SPACE = " \\t\\n\\r"', '_JSON_SPACE = " \\t\\n\\r\\x0b\\x0c"'),
    ("_response.py", '_UTF16_BOMS = (b"\\xff\\xfe", b"\\xfe\\xff")',
     '_UTF16_BOMS = (b"\\xff\\xfe",)'),
    ("_policy.py", "DEFAULT_LEEWAY = timedelta(seconds=60)",
     "DEFAULT_LEEWAY = timedelta(seconds=61)"),
    ("_policy.py", "MAX_LEEWAY = timedelta(days=366)", "MAX_LEEWAY = timedelta(days=367)"),
    ("_claims.py", 'NUMBER = re.compile(r" *([0-9]+(?:\\.[0-9]+)?) *", re.ASCII)',
     'NUMBER = re.compile(r" *(-?[0-9]+(?:\\.[0-9]+)?) *", re.ASCII)'),
    ("_claims.py", 'NUMBER = re.compile(r" *([0-9]+(?:\\.[0-9]+)?) *", re.ASCII)',
     'NUMBER = re.compile(r"\\s*([0-9]+(?:\\.[0-9]+)?)\\s*", re.ASCII)'),
    ("_key_forms.py", "MIN_KEY_BITS = 2048", "MIN_KEY_BITS = 2047"),
    ("_keys.py", "_MAX_KEY_FILE = 1024 * 1024", "_MAX_KEY_FILE = 1024 * 1024 + 1"),
    ("_key_forms.py", '_KMS_ALGORITHM = "RSASSA_PSS_SHA_384"',
     '_KMS_ALGORITHM = "RSASSA_PSS_SHA_256"'),
    ("_key_forms.py", '_OID_RSASSA_PSS = bytes.fromhex("06092a864886f70d01010a")',
     '_OID_RSASSA_PSS = bytes.fromhex("06092a864886f70d01010b")'),
    ("_key_forms.py", '_short_der(0xA2, b"\\x02\\x01\\x30")',
     '_short_der(0xA2, b"\\x02\\x01\\x20")'),
    ("_clock.py", r"(?:\.(\d{1,9}))?)?", r"(?:\.(\d{1,10}))?)?"),
    ("_clock.py", r"(?:\.(\d{1,9}))?)?", r"(?:\.(\d{1,9}))?)"),
    ("_clock.py", r':[0-5]\d)?"', r':[0-6]\d)?"'),
    ("_clock.py", r':[0-5]\d)?"', r':[0-5]\d)"'),
    ("store/_mark.py", "MAX_MARK_FILE = 4096", "MAX_MARK_FILE = 8192"),
]


def main(only: list[str]) -> int:
    survivors = []
    chosen = [m for m in MUTANTS if not only or any(text in m[1] for text in only)]
    with tempfile.TemporaryDirectory(prefix="constant-mutants-") as scratch:
        for index, (name, original, mutated) in enumerate(chosen):
            copy = Path(scratch) / f"m{index}"
            shutil.copytree(ROOT / "src", copy, ignore=shutil.ignore_patterns("__pycache__"))
            target = copy / "license_token" / name
            text = target.read_text()
            if text.count(original) != 1:
                print(f"STALE   {name}: {original!r} is not in the source once", flush=True)
                survivors.append(original)
                continue
            target.write_text(text.replace(original, mutated))
            env = dict(os.environ, PYTHONPATH=str(copy), PYTHONDONTWRITEBYTECODE="1")
            done = subprocess.run(  # noqa: S603 - our own interpreter and test files
                [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *TESTS],
                cwd=ROOT, env=env, capture_output=True, text=True, check=False)
            killed = done.returncode != 0
            print(f"{'killed ' if killed else 'SURVIVED'} {name}: {original} -> {mutated}",
                  flush=True)
            if not killed:
                survivors.append(original)
    print(f"{len(chosen) - len(survivors)} of {len(chosen)} constant mutants killed")
    return 1 if survivors else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
