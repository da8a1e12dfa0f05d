"""The Verifier facade and VerifiedLicense: settings, clock, the slow-clock window, the result."""

from __future__ import annotations

import base64
import hashlib
from datetime import datetime, timedelta, timezone

import pytest
from conftest import NOW, UTC

from license_token import (
    BadSignature,
    ConfigurationError,
    Expired,
    PinnedKey,
    TrustStore,
    VerifiedLicense,
    Verifier,
)
from license_token._verify import verify_allowing_slow_clock
from license_token.testing import TokenFactory


def test_clock_and_now_inputs() -> None:
    factory = TokenFactory()
    fixed = factory.now
    verifier = Verifier(factory.trust_store(), clock=lambda: fixed + timedelta(days=30))
    with pytest.raises(Expired, match="expired"):
        verifier.verify(factory.token())
    assert verifier.verify(factory.token(), now=fixed).verified_at == fixed
    with pytest.raises(ConfigurationError, match="timezone-aware"):
        verifier.verify(factory.token(), now=datetime(2026, 1, 1))
    with pytest.raises(ConfigurationError, match="negative"):
        Verifier(factory.trust_store(), leeway=-1)
    with pytest.raises(ConfigurationError, match="leeway"):
        Verifier(factory.trust_store(), leeway="60")  # type: ignore[arg-type]
    for bad in (float("inf"), float("nan"), 1e300):
        with pytest.raises(ConfigurationError, match="leeway"):
            Verifier(factory.trust_store(), leeway=bad)
    with pytest.raises(ConfigurationError, match="requirement"):
        Verifier(factory.trust_store(), require=[5])  # type: ignore[list-item]
    with pytest.raises(ConfigurationError, match="TrustStore"):
        Verifier("key.pem")  # type: ignore[arg-type]


def test_verifier_repr_names_the_policy_not_the_keys(issuer: TokenFactory) -> None:
    text = repr(Verifier(issuer.trust_store(), require=["Users:Count=5"]))
    assert text.startswith("Verifier(keys=1, policy=Policy(")
    assert "Users" in text


def test_the_key_a_token_names_by_kid_is_the_one_reported(issuer: TokenFactory) -> None:
    """The same public key pinned under two kids (a rotation that kept the key)."""
    public = issuer.trust_store().keys[0].public_key
    keys = TrustStore([PinnedKey(public_key=public, kid=kid) for kid in ("old", "new")])
    fresh = Verifier(keys, clock=lambda: NOW)
    assert fresh.verify(issuer.token(header={"kid": "new"})).key.kid == "new"
    reused = Verifier(keys, clock=lambda: NOW)
    for kid in ("old", "new", "old"):
        assert reused.verify(issuer.token(header={"kid": kid})).key.kid == kid


def test_verified_license_view(factory: TokenFactory) -> None:
    lic = Verifier(factory.trust_store(), require=["Users:Count=10"]).verify(factory.response())
    assert lic.entitlements["Users"].value == "10"
    assert lic.expires_at > lic.issued_at
    assert lic.consumption_token == lic.claims.consumption_token
    assert lic.to_json()["claims"]["nodeId"] == "node-7f3a"
    assert lic.key.fingerprint == factory.trust_store().keys[0].fingerprint
    with pytest.raises(AttributeError):
        lic.claims = lic.claims  # type: ignore[misc]


def test_verified_license_json_summary(issuer: TokenFactory) -> None:
    lic = Verifier(issuer.trust_store()).verify(issuer.token(), now=NOW)
    assert lic.to_json() == {
        "claims": lic.claims.to_json(),
        "key_fingerprint_sha256": hashlib.sha256(issuer.public_key_der()).hexdigest(),
        "key_id": None,
        "verified_at": "2026-03-15T12:00:00Z",
    }


def test_the_lifecycle_window_allows_a_slow_clock_up_to_the_tolerance_only() -> None:
    """``verify_allowing_slow_clock`` (the store's and the startup's): ``issuedAt`` may be
    ahead of ``now`` by up to the tolerance; expiry and plain ``verify`` are unchanged."""
    from license_token import ClockBehind, NotYetValid
    from license_token._verify import verify_allowing_slow_clock

    factory = TokenFactory(now=datetime(2026, 1, 10, tzinfo=UTC))
    token = factory.token(issuedAt="2026-01-10T00:00:00", expiration="2026-01-11T00:00:00")
    verifier = Verifier(factory.trust_store(), leeway=timedelta(seconds=60))
    issued, expiry = datetime(2026, 1, 10, tzinfo=UTC), datetime(2026, 1, 11, tzinfo=UTC)
    hour = timedelta(hours=1)
    lic = verify_allowing_slow_clock(verifier, token, now=issued - hour, tolerance=hour)
    assert lic.clock_behind == hour and lic.verified_at == issued - hour
    with pytest.raises(ClockBehind, match="reads 1:00:00 behind") as info:
        verify_allowing_slow_clock(verifier, token, now=issued - hour - timedelta(microseconds=1),
                                   tolerance=hour)
    assert info.value.code == "clock_behind" and isinstance(info.value, NotYetValid)
    assert info.value.behind == hour + timedelta(microseconds=1)
    assert "tolerance 1:00:00" in str(info.value)
    small = verify_allowing_slow_clock(verifier, token, now=issued - timedelta(seconds=60),
                                       tolerance=timedelta(0))  # never less than the leeway
    assert small.clock_behind == timedelta(seconds=60)
    with pytest.raises(ClockBehind):
        verify_allowing_slow_clock(verifier, token, now=issued - timedelta(seconds=61),
                                   tolerance=timedelta(seconds=30))
    last = expiry + timedelta(seconds=59, microseconds=999999)  # expiry exactly as verify's
    assert verify_allowing_slow_clock(verifier, token, now=last, tolerance=hour).clock_behind \
        is None
    with pytest.raises(Expired):
        verify_allowing_slow_clock(verifier, token, now=expiry + timedelta(seconds=60),
                                   tolerance=hour)
    with pytest.raises(NotYetValid) as plain:  # plain verify: the documented window
        verifier.verify(token, now=issued - hour)
    assert type(plain.value) is NotYetValid and plain.value.behind == hour
    assert str(plain.value) == ("issued at 2026-01-10T00:00:00Z: the clock reads 1:00:00 "
                                "behind it (leeway 0:01:00), now is 2026-01-09T23:00:00Z")
    assert verifier.verify(token, now=issued).clock_behind is None


_ISSUED = datetime(2026, 1, 10, tzinfo=timezone.utc)


def test_the_lifecycle_verify_reads_the_verifier_s_clock_without_now() -> None:
    """Protects ``verify_allowing_slow_clock`` with ``now=None`` (how the store and the startup
    call it when the app passes no time): the verifier's own clock is read, slow or not."""
    factory = TokenFactory(now=_ISSUED)
    token = factory.token(issuedAt="2026-01-10T00:00:00", expiration="2026-01-11T00:00:00")
    slow = _ISSUED - timedelta(hours=1)
    verifier = Verifier(factory.trust_store(), clock=lambda: slow)
    lic = verify_allowing_slow_clock(verifier, token, now=None, tolerance=timedelta(hours=2))
    assert lic.verified_at == slow
    assert lic.clock_behind == timedelta(hours=1)


def test_a_verified_license_cannot_be_built_by_calling_the_class(factory: TokenFactory) -> None:
    """Protects ``VerifiedLicense.__init__``: calling the class with any fields (here those of
    a license that did verify) raises ``TypeError`` naming the one way to get one."""
    lic = Verifier(factory.trust_store()).verify(factory.token())
    with pytest.raises(TypeError, match=r"^a VerifiedLicense is built only by Verifier\.verify$"):
        VerifiedLicense(claims=lic.claims, key=lic.key, header=lic.header, token=lic.token,
                        verified_at=lic.verified_at)


def test_a_bad_signature_s_message_has_a_length_hint_only_when_the_length_is_wrong(
        factory: TokenFactory) -> None:
    """Protects ``Verifier._length_hint`` and the ``BadSignature`` message: a signature of the
    pinned keys' length that does not verify says nothing about lengths; one of another
    length says both lengths and why that happens."""
    verifier = Verifier(factory.trust_store())
    head, payload, signature = factory.token().split(".")
    tampered = ".".join((head, payload, ("B" if signature[0] == "A" else "A") + signature[1:]))
    with pytest.raises(BadSignature) as same_length:
        verifier.verify(tampered)
    assert str(same_length.value) == "no pinned key (1 tried) verifies the PS384 signature"
    raw = base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4))
    short_b64 = base64.urlsafe_b64encode(raw[:-3]).rstrip(b"=").decode()
    truncated = ".".join((head, payload, short_b64))  # 3 bytes short
    with pytest.raises(BadSignature) as short:
        verifier.verify(truncated)
    assert str(short.value) == (
        "no pinned key (1 tried) verifies the PS384 signature: the signature is 253 bytes, the "
        "pinned keys' signatures are 256 (a truncated token, or one signed by another key)")
    two_sizes = Verifier(factory.trust_store() | TokenFactory.with_key_size(3072).trust_store())
    with pytest.raises(BadSignature) as either:
        two_sizes.verify(truncated)
    assert str(either.value).endswith(
        ": the signature is 253 bytes, the pinned keys' signatures are 256 or 384 "
        "(a truncated token, or one signed by another key)")
