"""A vendor's app, frozen with PyInstaller by ``tests/test_frozen_app.py``.

At startup it verifies its saved license response with the pinned key (a PEM or a JWK file:
a JWK makes ``license_token`` import jwcrypto lazily, which the frozen bundle must carry),
then prints one line and exits 0, or prints the error code and exits 1.

Usage: ``app KEY_FILE RESPONSE_FILE NODE_ID``
"""

from __future__ import annotations

import sys

from license_token import LicenseTokenError, TrustStore, Verifier


def main(argv: list[str]) -> int:
    """Verify the license the way an app does at startup; return the exit code."""
    key_file, response_file, node = argv
    try:
        verifier = Verifier(TrustStore.from_file(key_file), node_id=node,
                            require=["Users:Count=5"])
        with open(response_file, "rb") as fh:
            lic = verifier.verify(fh.read())
    except LicenseTokenError as exc:
        print(f"REJECTED {exc.code}: {exc}")
        return 1
    loaded = sorted(m for m in ("jwcrypto", "boto3", "botocore") if m in sys.modules)
    print(f"VALID {lic.license_arn} users={lic.entitlements['Users'].value} "
          f"frozen={getattr(sys, 'frozen', False)} loaded={','.join(loaded) or '-'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
