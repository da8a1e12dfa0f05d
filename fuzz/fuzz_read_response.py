"""Fuzz ``read_response`` (and ``parse_compact`` on what it finds) with arbitrary bytes."""

from __future__ import annotations

import sys

import atheris

with atheris.instrument_imports():
    from license_token import LicenseTokenError
    from license_token._jws import parse_compact
    from license_token._response import read_response


def test_one_input(data: bytes) -> None:
    for source in (data, data.decode("latin-1")):
        try:
            response = read_response(source)
        except LicenseTokenError:
            continue
        if not isinstance(response.token, str):
            raise AssertionError(f"token is not text: {data!r}")
        try:
            parse_compact(response.token)
        except LicenseTokenError:
            continue


if __name__ == "__main__":
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()
