"""Fuzz the CLI: argument lists from a vocabulary and fuzzed words, input from fuzzed bytes.

``main`` must return 0, 1 or 2 and never raise; runs in a scratch directory (fuzzed words
are relative paths there), with only offline commands.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
import tempfile
from pathlib import Path

import atheris

with atheris.instrument_imports():
    import _support

    from license_token.cli import main

SCRATCH = Path(tempfile.mkdtemp(prefix="fuzz-cli-"))
(SCRATCH / "key.pem").write_bytes(_support.KEY_FILE.read_bytes())
(SCRATCH / "store").mkdir()
WORDS = ["verify", "inspect", "store", "list", "show", "remove", "input", "-", "--key",
         "key.pem", "--dir", "store", "--json", "--require", "--at", "--leeway", "--node-id",
         "--license-arn", "Users:Count=5", "2026-03-15T12:00:00Z", "60", "node-7f3a"]
FIRST = [["verify", "input", "--key", "key.pem"], ["inspect", "input"],
         ["store", "list", "--dir", "store", "--key", "key.pem"],
         ["store", "show", "arn", "--dir", "store", "--key", "key.pem"],
         ["store", "remove", "arn", "--dir", "store"]]


def _word(fdp: atheris.FuzzedDataProvider) -> str:
    if fdp.ConsumeBool():
        return WORDS[int(fdp.ConsumeIntInRange(0, len(WORDS) - 1))]
    return "x" + str(fdp.ConsumeUnicode(16)).replace("\x00", "")  # relative, never a NUL


def test_one_input(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    argv = list(FIRST[fdp.ConsumeIntInRange(0, len(FIRST) - 1)])
    argv += [_word(fdp) for _ in range(fdp.ConsumeIntInRange(0, 6))]
    (SCRATCH / "input").write_bytes(fdp.ConsumeBytes(fdp.remaining_bytes()))
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    if code not in (0, 1, 2):
        raise AssertionError(f"exit code {code!r} for {argv!r}")
    for text in (out.getvalue(), err.getvalue()):
        if any(c in text for c in "\x1b\r\x07\x08\x9b\u202e"):
            raise AssertionError(f"unescaped control character in output for {argv!r}")


if __name__ == "__main__":
    os.chdir(SCRATCH)  # fuzzed words are paths relative to the scratch directory
    os.environ.setdefault("COLUMNS", "100")
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()
