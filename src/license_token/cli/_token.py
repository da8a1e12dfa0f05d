"""``--license-token-file`` and ``--role-arn``: online commands on a machine without AWS
credentials (see ``license_token.aws.credentials``)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from .._errors import ConfigurationError
from ._common import UsageError


def add_token_options(parser: argparse.ArgumentParser) -> None:
    """The token-exchange options of an online command."""
    parser.add_argument("--license-token-file", type=Path, metavar="FILE",
                        help="a token from License Manager CreateToken: exchange it for "
                             "temporary credentials instead of using AWS credentials")
    parser.add_argument("--role-arn", metavar="ARN",
                        help="the role to assume with the token (with --license-token-file)")
    parser.add_argument("--sts-endpoint-url", metavar="URL",
                        help="custom STS endpoint (default: --endpoint-url)")


def client_options_with_token(args: argparse.Namespace,
                              options: dict[str, Any]) -> dict[str, Any]:
    """``options`` for ``make_client``, with a token session when a token file is given."""
    if args.license_token_file is None:
        if args.role_arn or args.sts_endpoint_url:
            raise UsageError("--role-arn and --sts-endpoint-url go with --license-token-file")
        return options
    if not args.role_arn:
        raise UsageError("--license-token-file needs --role-arn")
    if args.profile:
        raise UsageError("--license-token-file replaces --profile: give one of them")
    if not args.region:
        raise UsageError("--license-token-file needs --region: the license's home Region")
    from ..aws.credentials import LicenseToken, token_session

    try:
        token = LicenseToken.from_file(args.license_token_file)
        token.read()  # a missing or malformed file is a usage error now, not mid-call
        session = token_session(token, args.role_arn,
                                region_name=args.region, endpoint_url=args.endpoint_url,
                                sts_endpoint_url=args.sts_endpoint_url)
    except ConfigurationError as exc:
        raise UsageError(str(exc)) from exc
    return {"session": session, "endpoint_url": args.endpoint_url}
