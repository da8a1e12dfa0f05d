"""Making boto3 clients, and the one wrapper every boto call goes through.

boto3 and botocore are imported inside ``make_client``: an app that calls nothing does not
pay for them at its start.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from .._errors import InvalidRequest, LicenseTokenError
from ._endpoint import guard_endpoint, pinned_options
from ._translate import translate


@contextmanager
def translated() -> Iterator[None]:
    """Only the library's errors leave a boto call: anything else is translated."""
    try:
        yield
    except LicenseTokenError:  # ours, raised inside the call (the credentials, _answers)
        raise
    except Exception as exc:  # botocore's, or any other from botocore's parser or handlers
        raise translate(exc) from exc


def new_client_token() -> str:
    import uuid  # at the first checkout: a start that calls nothing does not pay for it

    return uuid.uuid4().hex


def make_client(service: str, *, client: Any = None, session: Any = None,
                region_name: str | None = None, profile_name: str | None = None,
                endpoint_url: str | None = None, retry_mode: str = "standard",
                max_attempts: int = 5, online: bool = False) -> Any:
    """A boto3 client with botocore's retry mode configured; a given client is used as is.

    Args:
        service: ``license-manager`` or ``kms``.
        client: A ready client, returned unchanged.
        session: A boto3 session to make the client from (credentials, profile).
        region_name: The Region; with a session, the session's Region when ``None``.
        profile_name: A named profile, when no session is given.
        endpoint_url: Another endpoint, e.g. the local emulator.
        retry_mode: botocore's retry mode.
        max_attempts: Attempts per call, the first included.
        online: For online-only decisions: AWS's own regional ``https`` endpoint (unless
            ``endpoint_url`` is given in code) and botocore's CA bundle, whatever the
            environment or ``~/.aws`` configure (see ``aws._endpoint``).

    Returns:
        The client.

    Raises:
        NoCredentials: The profile does not exist.
        InvalidRequest: The configuration is incomplete (no Region) or wrong (an
            ``endpoint_url`` that is no URL; ``online``: a Region without AWS endpoint).
    """
    if client is not None:
        return client
    import boto3
    from botocore.config import Config

    config = Config(retries={"mode": retry_mode, "total_max_attempts": max_attempts})
    with translated():
        session = session or boto3.session.Session(profile_name=profile_name,
                                                   region_name=region_name)
        options = (pinned_options(service, region_name or session.region_name, endpoint_url,
                                  config) if online else
                   {"region_name": region_name, "endpoint_url": endpoint_url, "config": config})
        try:
            made = session.client(service, **options)
        except ValueError as exc:  # botocore's plain ValueError for an unusable endpoint URL
            raise InvalidRequest(f"{service}: {exc}") from exc
    return guard_endpoint(made) if online else made
