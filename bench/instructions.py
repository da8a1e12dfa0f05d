"""Instructions per verification, by stage: ``python bench/instructions.py [BITS]``.

Wall-clock time on a shared machine is noisy; the number of instructions a stage executes
is not. This script runs each stage of a response verification (and "the limit" of
``bench/run.py``) under valgrind's callgrind, once with 0 and once with ``N`` calls, and
prints the difference per call. It needs ``valgrind`` on the PATH; it takes about a minute.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from base64 import urlsafe_b64decode
from collections.abc import Callable
from pathlib import Path
from typing import Any

CALLS = 200
#: The stages of ``Verifier.verify`` on a boto3 response, in order; then the whole.
STAGES = ("limit", "crypto", "json.loads", "read_response", "parse_compact", "verifying_key",
          "loads_strict", "from_payload", "check_consistency", "policy", "response",
          "bare token")


Stage = tuple[Callable[..., Any], list[tuple[Any, ...]]]


def _stages(data: dict[str, Any]) -> dict[str, Stage]:
    """Each stage as a function and the arguments of its calls, one per token (set up
    beforehand, so that a stage's count is its own)."""
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding, rsa

    from license_token import TrustStore, Verifier
    from license_token._claims import LicenseClaims
    from license_token._jws import loads_strict, parse_compact
    from license_token._response import check_consistency, read_response

    responses = data["responses"]
    tokens = [r["SignedToken"] for r in responses]
    verifier = Verifier(TrustStore.from_pem(data["pem"]), node_id="node-7f3a",
                        require=["Users:Count=5"])
    public = serialization.load_pem_public_key(data["pem"].encode())
    assert isinstance(public, rsa.RSAPublicKey)
    pss, sha = padding.PSS(mgf=padding.MGF1(hashes.SHA384()), salt_length=48), hashes.SHA384()
    jwss = [parse_compact(token) for token in tokens]
    payloads = [loads_strict(jws.payload, "payload") for jws in jwss]
    claims = [LicenseClaims._from_payload(payload) for payload in payloads]
    now = verifier.clock()

    def b64(segment: str) -> bytes:
        return urlsafe_b64decode(segment + "=" * (-len(segment) % 4))

    def limit(token: str) -> None:
        head, body, signature = token.split(".")
        public.verify(b64(signature), f"{head}.{body}".encode(), pss, sha)
        json.loads(b64(body))

    def each(*columns: list[Any]) -> list[tuple[Any, ...]]:
        return list(zip(*columns, strict=True))

    return {
        "nothing": (lambda *_: None, each(tokens)),
        "limit": (limit, each(tokens)),
        "crypto": (public.verify, [(j.signature, j.signing_input, pss, sha) for j in jwss]),
        "json.loads": (json.loads, [(j.payload,) for j in jwss]),
        "read_response": (read_response, each(responses)),
        "parse_compact": (parse_compact, each(tokens)),
        "verifying_key": (verifier._verifying_key,
                          [(j.header.get("kid"), j.signing_input, j.signature) for j in jwss]),
        "loads_strict": (loads_strict, [(j.payload, "payload") for j in jwss]),
        "from_payload": (LicenseClaims._from_payload, each(payloads)),
        "check_consistency": (check_consistency, each(responses, claims, payloads)),
        "policy": (verifier.policy._check, [(c, now) for c in claims]),
        "response": (verifier.verify, each(responses)),
        "bare token": (verifier.verify, each(tokens)),
    }


def _run_stage(data_file: str, stage: str, calls: int) -> None:
    """The process valgrind measures: set up, warm up, then ``calls`` calls of ``stage``."""
    function, arguments = _stages(json.loads(Path(data_file).read_text()))[stage]
    function(*arguments[0])
    for i in range(calls):
        function(*arguments[i % len(arguments)])


def _instructions(data_file: str, stage: str, calls: int) -> int:
    done = subprocess.run(
        ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable,
         __file__, "--stage", stage, "--calls", str(calls), "--data", data_file],
        capture_output=True, text=True, check=True, env={**os.environ, "PYTHONHASHSEED": "0"})
    found = re.search(r"Collected : (\d+)", done.stderr)
    if found is None:
        raise RuntimeError(f"no callgrind total for {stage}: {done.stderr[-500:]}")
    return int(found.group(1))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bits", nargs="?", type=int, default=2048)
    parser.add_argument("--stage", help=argparse.SUPPRESS)
    parser.add_argument("--calls", type=int, default=CALLS, help=argparse.SUPPRESS)
    parser.add_argument("--data", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.stage:
        _run_stage(args.data, args.stage, args.calls)
        return 0
    if shutil.which("valgrind") is None:
        print("valgrind is not installed: it counts the instructions", file=sys.stderr)
        return 2
    from license_token._response import wire_form
    from license_token.testing import TokenFactory

    factory = TokenFactory.with_key_size(args.bits)
    pem = factory.public_key_pem()
    data = {"pem": pem.decode() if isinstance(pem, bytes) else pem,
            "responses": [factory.response() for _ in range(20)]}
    with tempfile.TemporaryDirectory() as tmp:
        data_file = str(Path(tmp, "tokens.json"))
        Path(data_file).write_text(json.dumps(wire_form(data)))
        base = _instructions(data_file, "nothing", 0)
        idle = (_instructions(data_file, "nothing", args.calls) - base) / args.calls
        print(f"RSA-{args.bits}: instructions per call (callgrind, {args.calls} calls, "
              "set-up and the loop itself subtracted)")
        counts = {}
        for stage in STAGES:
            counts[stage] = (_instructions(data_file, stage, args.calls) - base) / args.calls
            counts[stage] -= idle
            print(f"  {stage:18} {counts[stage]:>9,.0f}", flush=True)
    over = counts["response"] - counts["limit"]
    print(f"  a response verification is {over:,.0f} instructions over the limit "
          f"({counts['response'] / counts['limit']:.3f}x)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
