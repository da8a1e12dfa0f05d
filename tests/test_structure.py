"""One helper per job: the clock, the leeway default, bounded reads, the entitlement notation."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from license_token._policy import DEFAULT_LEEWAY
from license_token.cli import _parser


def test_the_cli_leeway_default_is_the_library_default(tmp_path: Path) -> None:
    args = _parser().parse_args(["verify", "x", "--key", "k"])
    assert timedelta(seconds=args.leeway) == DEFAULT_LEEWAY
