"""The client options, checked when a manager is made, without importing botocore.

The adapter builds its boto3 client at the first call that needs it: importing botocore and
building a client cost more than a whole offline start, and most starts call nothing. So
that a wrong configuration still fails where it is written, before any seat is taken, the
mistakes the arguments, the environment and the AWS config files tell are refused here with
the errors building the client raises: no Region, a Region or an endpoint botocore refuses,
an unknown profile, a retry mode or attempt count it does not know. Only what is certain is
refused; what cannot be told here (a config file this parser cannot read, quoted profile
names) is left to botocore, whose errors then come at the first call, before its request.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from .._errors import InvalidRequest, NoCredentials

__all__ = ["check_client_options"]

_RETRY_MODES = ("legacy", "standard", "adaptive")
_REGION = re.compile(r"(?![0-9]+$)(?!-)[a-zA-Z0-9-]{,63}(?<!-)")
"""botocore's ``validate_region_name``: a host label (not all digits, no end hyphen)."""
_NOT_IN_A_HOST = re.compile(r"[^A-Za-z0-9.\-:%_\[\]]")
"""Characters no host botocore accepts can hold (it also refuses more, left to it)."""
_NO_REGION = ("AWS configuration: You must specify a region. (pass region_name or "
              "--region)")


def check_client_options(service: str, *, client: Any = None, session: Any = None,
                         region_name: str | None = None, profile_name: str | None = None,
                         endpoint_url: str | None = None, retry_mode: str = "standard",
                         max_attempts: int = 5) -> None:
    """Refuse the options building the client would refuse, as far as they can be told here.

    Takes the options of ``make_client()`` (an unknown one is a
    ``TypeError``, as there); with a ready ``client`` the others are unused, as there.

    Args:
        service: ``license-manager`` or ``kms``, for the messages.
        client: A ready client: nothing else is checked.
        session: A boto3 session; its Region then stands in for the files'.
        region_name: The Region.
        profile_name: A named profile.
        endpoint_url: Another endpoint.
        retry_mode: botocore's retry mode.
        max_attempts: Attempts per call.

    Raises:
        InvalidRequest: No Region, or a Region, endpoint, retry mode or attempt count that
            botocore refuses.
        NoCredentials: The profile does not exist.
    """
    if client is not None:
        return
    if retry_mode not in _RETRY_MODES:
        raise InvalidRequest(f"retry_mode must be one of {', '.join(_RETRY_MODES)}, "
                             f"not {retry_mode!r}")
    if type(max_attempts) is not int or max_attempts < 1:
        raise InvalidRequest(f"max_attempts must be a whole number of at least 1, not "
                             f"{max_attempts!r}")
    if endpoint_url is not None:
        _check_endpoint(service, endpoint_url)
    if session is not None:  # its profile is read already; its Region stands in for the files'
        if region_name is None:
            try:
                region_name = session.region_name
            except Exception:  # botocore's own error, translated, comes at the first call
                return
        _check_region(service, region_name)
        return
    _check_profile_and_region(service, profile_name, region_name)


def _check_profile_and_region(service: str, profile_name: str | None,
                              region_name: str | None) -> None:
    """The profile named (argument or environment) exists, and a Region is configured."""
    profiles = _profiles()
    if profiles is None:  # a file this parser cannot read: botocore will say
        return
    profile = profile_name or os.environ.get("AWS_DEFAULT_PROFILE") or os.environ.get(
        "AWS_PROFILE")
    if profile is not None and profile not in profiles:
        raise NoCredentials(f"AWS credentials: The config profile ({profile}) could not be "
                            f"found")
    if region_name is None:
        region_name = os.environ.get("AWS_DEFAULT_REGION")
    if region_name is None and "AWS_REGION" in os.environ:
        return  # not read by this botocore; a later one may: never refuse what it accepts
    if region_name is None:
        region_name = profiles.get(profile or "default", {}).get("region")
    _check_region(service, region_name)


def _check_region(service: str, region_name: str | None) -> None:
    if region_name is None:
        raise InvalidRequest(_NO_REGION)
    if _REGION.fullmatch(region_name) is None:
        raise InvalidRequest(f"{service}: Provided region_name {region_name!r} doesn't match "
                             f"a supported format.")


def _check_endpoint(service: str, endpoint_url: str) -> None:
    try:
        host = urlsplit(endpoint_url).hostname if isinstance(endpoint_url, str) else None
    except ValueError:
        host = None
    if not host or len(host) > 255 or _NOT_IN_A_HOST.search(host) or any(
            c in endpoint_url for c in "\t\n\r"):
        raise InvalidRequest(f"{service}: Invalid endpoint: {endpoint_url}")


def _profiles() -> dict[str, Mapping[str, str]] | None:
    """The profiles of the AWS config and credentials files, botocore's way; ``None`` when
    a file cannot be read by this parser (botocore then decides)."""
    profiles: dict[str, Mapping[str, str]] = {}
    for variable, default, named in (("AWS_CONFIG_FILE", "~/.aws/config", True),
                                     ("AWS_SHARED_CREDENTIALS_FILE", "~/.aws/credentials",
                                      False)):
        path = os.path.expanduser(os.path.expandvars(os.environ.get(variable, default)))
        if not os.path.isfile(path):
            continue
        sections = _sections(path)
        if sections is None:
            return None
        for section, values in sections.items():
            name = _profile_name(section) if named else section
            if name is not None:
                profiles[name] = {**profiles.get(name, {}), **values}
    return profiles


def _profile_name(section: str) -> str | None:
    """``default`` or ``profile NAME`` name a profile in the config file; others do not."""
    if section == "default":
        return section
    words = section.split()
    return words[1] if section.startswith("profile") and len(words) == 2 else None


def _sections(path: str) -> dict[str, dict[str, str]] | None:
    import configparser

    parser = configparser.RawConfigParser()
    try:
        parser.read([path])
    except (configparser.Error, OSError, UnicodeDecodeError):
        return None
    if any(c in s for s in parser.sections() for c in "\"'\\"):
        return None  # botocore splits names like a shell: quotes are not second-guessed here
    return {s: dict(parser.items(s)) for s in parser.sections()}
