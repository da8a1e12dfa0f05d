"""Benchmarks: ``python bench/run.py [--quick]``; prints a table, writes bench/results.json.

Every figure is a ratio measured side by side in one run, so that the machine's speed
and noise cancel out. "The limit" is the least any correct verifier must do: split the
token, base64url-decode payload and signature, one ``cryptography`` RSA-PSS verify of
the signing input, and one ``json.loads`` of the payload. Our figure is a full
``Verifier.verify`` of a boto3-shaped response: strict parsing, signature, claims,
unsigned-field consistency and a policy (node and one entitlement requirement).
Peers verify the bare token's signature and decode it, and check nothing else.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
from base64 import urlsafe_b64decode
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cryptography
import jwt
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from joserfc import jws as joserfc_jws
from joserfc.jwk import RSAKey
from jwcrypto import jwk as jwcrypto_jwk
from jwcrypto import jws as jwcrypto_jws

import license_token
from license_token import TrustStore, Verifier
from license_token.testing import TokenFactory

HERE = Path(__file__).resolve().parent
PSS_48 = padding.PSS(mgf=padding.MGF1(hashes.SHA384()), salt_length=48)
SHA384 = hashes.SHA384()


def _b64(segment: str) -> bytes:
    return urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def _paired_ratios(methods: dict[str, Callable[[], None]], rounds: int,
                   per_call: int) -> dict[str, float]:
    """Median per-item time of each method (µs) and their ratios, measured interleaved."""
    samples: dict[str, list[float]] = {name: [] for name in methods}
    names = list(methods)
    for _ in range(rounds):
        random.shuffle(names)
        for name in names:
            start = time.perf_counter()
            methods[name]()
            samples[name].append((time.perf_counter() - start) / per_call * 1e6)
    return {name: statistics.median(values) for name, values in samples.items()}


def bench_verify_cost(bits: int, tokens: int, rounds: int) -> dict[str, Any]:
    factory = TokenFactory.with_key_size(bits)
    responses = [factory.response() for _ in range(tokens)]
    raw = [r["SignedToken"] for r in responses]
    public = factory.private_key.public_key()
    verifier = Verifier(factory.trust_store(), node_id="node-7f3a", require=["Users:Count=5"])
    jose_key = RSAKey.import_key(factory.public_key_pem())
    jwcrypto_key = jwcrypto_jwk.JWK.from_pem(factory.public_key_pem())

    def limit() -> None:
        for token in raw:
            head, payload, signature = token.split(".")
            public.verify(_b64(signature), f"{head}.{payload}".encode(), PSS_48, SHA384)
            json.loads(_b64(payload))

    def ours() -> None:
        for response in responses:
            verifier.verify(response)

    def pyjwt() -> None:
        for token in raw:
            jwt.decode(token, public, algorithms=["PS384"])

    def joserfc() -> None:
        for token in raw:
            json.loads(joserfc_jws.deserialize_compact(token, jose_key,
                                                       algorithms=["PS384"]).payload)

    def jwcrypto() -> None:
        for token in raw:
            obj = jwcrypto_jws.JWS()
            obj.deserialize(token)
            obj.verify(jwcrypto_key, alg="PS384")
            json.loads(obj.payload)

    ours()  # warm: imports, the header cache, the key hint
    medians = _paired_ratios({"limit": limit, "license-token": ours, "PyJWT": pyjwt,
                              "joserfc": joserfc, "jwcrypto": jwcrypto}, rounds, tokens)
    return {"bits": bits, "tokens": tokens, "rounds": rounds, "median_us": medians,
            "ratio": {k: v / medians["limit"] for k, v in medians.items()}}


def _verify_all(verifier: Verifier, responses: list[dict[str, Any]]) -> Callable[[], None]:
    def run() -> None:
        for response in responses:
            verifier.verify(response)
    return run


def bench_trust_store(tokens: int, rounds: int) -> dict[str, Any]:
    signer = TokenFactory()
    decoys = [TokenFactory().private_key.public_key() for _ in range(19)]
    responses = [signer.response() for _ in range(tokens)]
    verifiers = {n: Verifier(TrustStore.from_public_keys(*decoys[: n - 1],
                                                         signer.private_key.public_key()))
                 for n in (1, 5, 20)}
    first: dict[int, float] = {}
    for n, verifier in verifiers.items():  # the first verification of each tries every key
        start = time.perf_counter()
        verifier.verify(responses[0])
        first[n] = (time.perf_counter() - start) * 1e6
    medians = _paired_ratios({str(n): _verify_all(v, responses) for n, v in verifiers.items()},
                             rounds, tokens)
    return {"first_us": first, "median_us": medians,
            "ratio_to_1_key": {k: v / medians["1"] for k, v in medians.items()}}


_OURS = """
import sys
from license_token import TrustStore, Verifier
keys = TrustStore.from_file(sys.argv[1])
lic = Verifier(keys).verify(open(sys.argv[2], "rb").read())
print(open("/proc/self/status").read().split("VmHWM:")[1].split()[0])
"""
_MINIMAL = """
import json, sys
from base64 import urlsafe_b64decode
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
key = serialization.load_pem_public_key(open(sys.argv[1], "rb").read())
token = json.loads(open(sys.argv[2], "rb").read())["SignedToken"]
h, p, s = token.split(".")
d = lambda x: urlsafe_b64decode(x + "=" * (-len(x) % 4))
key.verify(d(s), f"{h}.{p}".encode(),
           padding.PSS(mgf=padding.MGF1(hashes.SHA384()), salt_length=48), hashes.SHA384())
json.loads(d(p))
print(open("/proc/self/status").read().split("VmHWM:")[1].split()[0])
"""


def bench_cold_start(runs: int) -> dict[str, Any]:
    # As a wheel install leaves it: bytecode compiled (pip does this; PYTHONDONTWRITEBYTECODE
    # in some environments would otherwise make every start compile our sources).
    subprocess.run([sys.executable, "-m", "compileall", "-q",
                    str(Path(license_token.__file__).parent)], check=True)
    factory = TokenFactory()
    with tempfile.TemporaryDirectory() as tmp:
        key, response = Path(tmp, "key.pem"), Path(tmp, "response.json")
        key.write_bytes(factory.public_key_pem())
        response.write_text(json.dumps(factory.response()))
        samples: dict[str, list[tuple[float, int]]] = {"license-token": [], "minimal": []}
        order = list(samples)
        for _ in range(runs):
            random.shuffle(order)
            for name in order:
                script = _OURS if name == "license-token" else _MINIMAL
                start = time.perf_counter()
                done = subprocess.run([sys.executable, "-c", script, str(key), str(response)],
                                      capture_output=True, text=True, check=True)
                samples[name].append((time.perf_counter() - start,
                                      int(done.stdout.split()[-1])))
        importtime = subprocess.run([sys.executable, "-X", "importtime", "-c",
                                     "import license_token"], capture_output=True, text=True,
                                    check=True).stderr
    wall = {k: statistics.median(s[0] for s in v) * 1e3 for k, v in samples.items()}
    rss = {k: statistics.median(s[1] for s in v) / 1024 for k, v in samples.items()}
    top = [int(m.group(1)) for m in re.finditer(r"\|\s+(\d+) \| license_token$",
                                                 importtime, re.M)]
    return {"runs": runs, "wall_ms": wall, "peak_rss_mib": rss,
            "wall_ratio": wall["license-token"] / wall["minimal"],
            "rss_ratio": rss["license-token"] / rss["minimal"],
            "import_license_token_ms": (top[-1] / 1000) if top else None}


def _throughput_worker(args: tuple[bytes, list[dict[str, Any]], float, float]) -> int:
    pem, responses, start_at, seconds = args
    verifier = Verifier(TrustStore.from_pem(pem))
    verifier.verify(responses[0])
    while time.time() < start_at:
        time.sleep(0.001)
    count, end = 0, start_at + seconds
    while time.time() < end:
        for response in responses:
            verifier.verify(response)
        count += len(responses)
    return count


def bench_throughput(seconds: float, repeats: int) -> dict[str, Any]:
    """Tokens per second with 1 and with all cores, alternated ``repeats`` times."""
    factory = TokenFactory()
    responses = [factory.response() for _ in range(200)]
    pem = factory.public_key_pem()
    cores = os.cpu_count() or 1
    ctx = multiprocessing.get_context("fork")
    samples: dict[int, list[float]] = {n: [] for n in sorted({1, cores})}
    with ctx.Pool(cores) as pool:
        for _ in range(repeats):
            for workers in samples:
                start_at = time.time() + 0.3
                counts = pool.map(_throughput_worker,
                                  [(pem, responses, start_at, seconds)] * workers, chunksize=1)
                samples[workers].append(sum(counts) / seconds)
    rates = {n: statistics.median(v) for n, v in samples.items()}
    return {"cores": cores, "repeats": repeats, "tokens_per_second": rates,
            "scaling": rates[cores] / rates[1]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds (a smoke run)")
    args = parser.parse_args()
    tokens, rounds = (20, 5) if args.quick else (100, 25)
    started = time.perf_counter()
    report: dict[str, Any] = {
        "machine": {"python": platform.python_version(), "platform": platform.platform(),
                    "cpus": os.cpu_count(), "cryptography": cryptography.__version__,
                    "license_token": license_token.__version__, "pyjwt": jwt.__version__},
        "verify_cost": [bench_verify_cost(bits, tokens, rounds) for bits in (2048, 3072, 4096)],
        "trust_store": bench_trust_store(tokens, rounds),
        "cold_start": bench_cold_start(3 if args.quick else 15),
        "throughput": bench_throughput(*((1.0, 1) if args.quick else (3.0, 3))),
    }
    report["seconds"] = time.perf_counter() - started
    print_report(report)
    out = HERE / "results.json"
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nwritten to {out} in {report['seconds']:.0f} s")


def print_report(r: dict[str, Any]) -> None:
    m = r["machine"]
    print(f"Python {m['python']} on {m['platform']}, {m['cpus']} CPUs, "
          f"cryptography {m['cryptography']}")
    print("\nVerify cost: median µs per token, ratio to the limit (distinct tokens)")
    print(f"  {'RSA':>5}  {'limit':>7}  {'license-token':>15}  {'joserfc':>13}  "
          f"{'PyJWT':>13}  {'jwcrypto':>13}")
    for row in r["verify_cost"]:
        us, ratio = row["median_us"], row["ratio"]
        cells = [f"{us[k]:6.1f} ({ratio[k]:.2f}x)"
                 for k in ("license-token", "joserfc", "PyJWT", "jwcrypto")]
        print(f"  {row['bits']:>5}  {us['limit']:7.1f}  {cells[0]:>15}  " + "  ".join(
            f"{c:>13}" for c in cells[1:]))
    print("  (peers verify the signature and decode; they check no claims, no response)")
    t = r["trust_store"]
    print("\nTrust store size (signing key last, no kid): ratio to 1 key, after the first")
    print("  " + "  ".join(f"{n} keys: {v:.2f}x (first {t['first_us'][int(n)]:.0f} µs)"
                           for n, v in t["ratio_to_1_key"].items()))
    c = r["cold_start"]
    print("\nCold start (new process: import, load key, verify one saved response)")
    print(f"  wall {c['wall_ms']['license-token']:.1f} ms vs minimal "
          f"{c['wall_ms']['minimal']:.1f} ms = {c['wall_ratio']:.2f}x; peak RSS "
          f"{c['peak_rss_mib']['license-token']:.1f} vs {c['peak_rss_mib']['minimal']:.1f} MiB"
          f" = {c['rss_ratio']:.2f}x; import license_token {c['import_license_token_ms']} ms")
    h = r["throughput"]
    print("\nThroughput (verifications per second)")
    print("  " + ", ".join(f"{n} process(es): {v:,.0f}/s"
                           for n, v in h["tokens_per_second"].items())
          + f"; scaling {h['scaling']:.2f}x on {h['cores']} cores")


if __name__ == "__main__":
    main()
