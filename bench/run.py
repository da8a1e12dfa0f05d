"""Benchmarks: ``python bench/run.py [--quick]``; prints a table, writes bench/results.json.

Every figure is a ratio measured side by side, so that the machine's speed and noise
cancel out: each of several runs interleaves the methods (in a shuffled order, round
after round), times each call with the timer's own overhead subtracted, and gives one
ratio (from each method's fastest round in it); the key sizes take turns run after run;
the report shows the median of the runs and their spread (min..max).

"The limit" is the least any correct verifier must do: split the token, base64url-decode
payload and signature, one ``cryptography`` RSA-PSS verify of the signing input, and one
``json.loads`` of the payload. Ours is a full ``Verifier.verify`` of a boto3-shaped
response, and of the bare token: strict parsing, signature, claims, unsigned-field
consistency (responses) and a policy (node and one entitlement requirement). Peers verify
the bare token's signature and decode it, and check nothing else.
"""

from __future__ import annotations

import argparse
import importlib.metadata
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

import attrs
import cryptography
import jwt
from _minimal import MINIMAL, PEAK_RSS
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


def _timer_overhead() -> float:
    """Seconds one ``perf_counter()`` pair costs, subtracted from every sample."""
    clock = time.perf_counter
    samples = []
    for _ in range(200):
        start = clock()
        samples.append(clock() - start)
    return statistics.median(samples)


TIMER_OVERHEAD = _timer_overhead()


def _spread(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


Methods = dict[str, Callable[[], None]]


def _one_run(methods: Methods, rounds: int, per_call: int) -> dict[str, float]:
    """One run: µs per item of each method, from its fastest of ``rounds`` rounds.

    The methods alternate in a shuffled order round after round; noise on a shared
    machine only ever adds time, so the fastest round is the least disturbed.
    """
    samples: dict[str, list[float]] = {name: [] for name in methods}
    names = list(methods)
    clock = time.perf_counter
    for _ in range(rounds):
        random.shuffle(names)
        for name in names:
            start = clock()
            methods[name]()
            samples[name].append((clock() - start - TIMER_OVERHEAD) / per_call * 1e6)
    return {name: min(values) for name, values in samples.items()}


def _summary(runs: list[dict[str, float]], base: str) -> dict[str, Any]:
    """Each method's µs, ratio and difference to ``base``, taken within each run, then
    summarised across runs as median, min and max."""
    names = list(runs[0])
    return {"runs": len(runs),
            "us": {k: _spread([run[k] for run in runs]) for k in names},
            "ratio": {k: _spread([run[k] / run[base] for run in runs]) for k in names},
            "over_us": {k: _spread([run[k] - run[base] for run in runs]) for k in names}}


def _interleaved_runs(suites: dict[Any, Methods], runs: int, rounds: int, per_call: int,
                      base: str) -> dict[Any, dict[str, Any]]:
    """``runs`` runs of every suite, the suites taking turns run after run: a burst of
    load from elsewhere then spoils one run of each suite, which the median discards,
    rather than every run of one suite."""
    results: dict[Any, list[dict[str, float]]] = {key: [] for key in suites}
    for _ in range(runs):
        for key, methods in suites.items():
            results[key].append(_one_run(methods, rounds, per_call))
    return {key: {"rounds": rounds, "per_call": per_call, **_summary(measured, base)}
            for key, measured in results.items()}


def verify_cost_methods(bits: int, tokens: int) -> Methods:
    """The limit, ours (response and bare token) and the peers on ``tokens`` tokens."""
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

    def response() -> None:
        for item in responses:
            verifier.verify(item)

    def bare_token() -> None:
        for token in raw:
            verifier.verify(token)

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

    methods = {"limit": limit, "response": response, "bare token": bare_token,
               "joserfc": joserfc, "PyJWT": pyjwt, "jwcrypto": jwcrypto}
    for method in methods.values():  # warm: imports, the header cache, the key hint
        method()
    return methods


def bench_verify_cost(sizes: tuple[int, ...], tokens: int, runs: int,
                      rounds: int) -> list[dict[str, Any]]:
    suites = {bits: verify_cost_methods(bits, tokens) for bits in sizes}
    measured = _interleaved_runs(suites, runs, rounds, tokens, base="limit")
    return [{"bits": bits, "tokens": tokens, **measured[bits]} for bits in sizes]


def _verify_all(verifier: Verifier, responses: list[dict[str, Any]]) -> Callable[[], None]:
    def run() -> None:
        for response in responses:
            verifier.verify(response)
    return run


def bench_trust_store(tokens: int, runs: int, rounds: int) -> dict[str, Any]:
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
        first[n] = (time.perf_counter() - start - TIMER_OVERHEAD) * 1e6
    suite = {str(n): _verify_all(v, responses) for n, v in verifiers.items()}
    measured = _interleaved_runs({"keys": suite}, runs, rounds, tokens, base="1")["keys"]
    return {"first_us": first, **measured}


_OURS = """
import sys
from license_token import TrustStore, Verifier
keys = TrustStore.from_file(sys.argv[1])
lic = Verifier(keys).verify(open(sys.argv[2], "rb").read())
print(open("/proc/self/status").read().split("VmHWM:")[1].split()[0])
"""
_MINIMAL = MINIMAL + PEAK_RSS


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
        for _ in range(runs):  # each run starts both, in a shuffled order: one ratio per run
            random.shuffle(order)
            for name in order:
                script = _OURS if name == "license-token" else _MINIMAL
                start = time.perf_counter()
                done = subprocess.run([sys.executable, "-c", script, str(key), str(response)],
                                      capture_output=True, text=True, check=True)
                samples[name].append((time.perf_counter() - start - TIMER_OVERHEAD,
                                      int(done.stdout.split()[-1])))
        importtime = subprocess.run([sys.executable, "-X", "importtime", "-c",
                                     "import license_token"], capture_output=True, text=True,
                                    check=True).stderr
    ours, minimal = samples["license-token"], samples["minimal"]
    top = [int(m.group(1)) for m in re.finditer(r"\|\s+(\d+) \| license_token$",
                                                 importtime, re.M)]
    return {"runs": runs,
            "wall_ms": {k: _spread([s[0] * 1e3 for s in v]) for k, v in samples.items()},
            "peak_rss_mib": {k: _spread([s[1] / 1024 for s in v]) for k, v in samples.items()},
            "wall_ratio": _spread([a[0] / b[0] for a, b in zip(ours, minimal, strict=True)]),
            "rss_ratio": _spread([a[1] / b[1] for a, b in zip(ours, minimal, strict=True)]),
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
    return {"cores": cores, "repeats": repeats,
            "tokens_per_second": {n: _spread(v) for n, v in samples.items()},
            "scaling": _spread([a / b for a, b in zip(samples[cores], samples[1], strict=True)])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds (a smoke run)")
    args = parser.parse_args()
    # tokens per sample, runs (each gives one ratio), rounds per run
    tokens, runs, rounds = (10, 5, 3) if args.quick else (20, 9, 15)
    started = time.perf_counter()
    report: dict[str, Any] = {
        "machine": {"python": platform.python_version(), "platform": platform.platform(),
                    "processor": _cpu_model(), "cpus": os.cpu_count(),
                    "cryptography": cryptography.__version__, "attrs": attrs.__version__,
                    "license_token": license_token.__version__, "pyjwt": jwt.__version__,
                    "joserfc": _version("joserfc"), "jwcrypto": _version("jwcrypto")},
        "timer_overhead_ns": TIMER_OVERHEAD * 1e9,
        "verify_cost": bench_verify_cost((2048, 3072, 4096), tokens, runs, rounds),
        "trust_store": bench_trust_store(tokens, runs, rounds),
        "cold_start": bench_cold_start(5 if args.quick else 15),
        "throughput": bench_throughput(*((0.5, 1) if args.quick else (2.0, 3))),
    }
    report["seconds"] = time.perf_counter() - started
    print_report(report)
    out = HERE / "results.json"
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nwritten to {out}; the run took {report['seconds']:.0f} s")


def _version(distribution: str) -> str:
    return importlib.metadata.version(distribution)


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _ratio(cell: dict[str, float], unit: str = "x") -> str:
    """``1.17x (1.15..1.20)``: the median and the spread (min..max) across runs."""
    return f"{cell['median']:.2f}{unit} ({cell['min']:.2f}..{cell['max']:.2f})"


def print_report(r: dict[str, Any]) -> None:
    m = r["machine"]
    print(f"Python {m['python']} on {m['platform']}, {m['processor']}, {m['cpus']} CPUs; "
          f"cryptography {m['cryptography']}, attrs {m['attrs']}, joserfc {m['joserfc']}, "
          f"PyJWT {m['pyjwt']}, jwcrypto {m['jwcrypto']}; timer overhead "
          f"{r['timer_overhead_ns']:.0f} ns subtracted")
    first = r["verify_cost"][0]
    print(f"\nVerify cost, distinct tokens: median of {first['runs']} interleaved runs "
          f"({first['rounds']} rounds x {first['tokens']} tokens each), spread (min..max)")
    peers = ("response", "bare token", "joserfc", "PyJWT", "jwcrypto")
    for row in r["verify_cost"]:
        us, ratio, over = row["us"], row["ratio"], row["over_us"]
        print(f"  RSA-{row['bits']}: limit {us['limit']['median']:.1f} µs")
        for name in peers:
            print(f"    {name:<11} {us[name]['median']:7.1f} µs  {_ratio(ratio[name])}  "
                  f"over the limit {_ratio(over[name], ' µs')}")
    print("  response / bare token: a full verify() of a boto3 response / of the bare token "
          "(signature, claims, unsigned fields, node and entitlement policy); the peers only "
          "verify the bare token's signature and decode it")
    t = r["trust_store"]
    print("\nTrust store size (signing key last, no kid): ratio to 1 key, after the first")
    print("  " + "  ".join(f"{n} keys: {_ratio(v)} (first {t['first_us'][int(n)]:.0f} µs)"
                           for n, v in t["ratio"].items()))
    c = r["cold_start"]
    print(f"\nCold start (new process: import, load key, verify one saved response), "
          f"{c['runs']} runs")
    print(f"  wall {c['wall_ms']['license-token']['median']:.1f} ms vs minimal "
          f"{c['wall_ms']['minimal']['median']:.1f} ms = {_ratio(c['wall_ratio'])}; peak RSS "
          f"{c['peak_rss_mib']['license-token']['median']:.1f} vs "
          f"{c['peak_rss_mib']['minimal']['median']:.1f} MiB = {_ratio(c['rss_ratio'])}; "
          f"import license_token {c['import_license_token_ms']} ms")
    h = r["throughput"]
    print(f"\nThroughput (verifications per second), {h['repeats']} alternated repeats")
    print("  " + ", ".join(f"{n} process(es): {v['median']:,.0f}/s"
                           for n, v in h["tokens_per_second"].items())
          + f"; scaling {_ratio(h['scaling'])} on {h['cores']} cores")


if __name__ == "__main__":
    main()
