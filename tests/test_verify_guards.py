"""Guards of ``_verify`` that the example suites left to chance (found by mutation testing):
the lifecycle's verify reads the verifier's clock, ``VerifiedLicense`` has no public
constructor, and a bad signature's message adds the length hint only when the length says so."""

from __future__ import annotations

import base64
from datetime import datetime, timedelta, timezone

import pytest

from license_token import BadSignature, VerifiedLicense, Verifier
from license_token._verify import verify_allowing_slow_clock
from license_token.testing import TokenFactory

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
