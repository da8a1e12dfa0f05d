"""What a start answers: every start imports it, renewing or not."""

from __future__ import annotations

from datetime import timedelta

import attrs

from .._errors import LicenseTokenError
from .._log import token_repr
from .._verify import VerifiedLicense

__all__ = ["StartupResult"]


@attrs.frozen(kw_only=True)
class StartupResult:
    """The license to run on, and what the start did online.

    Attributes:
        license: the verified license to run on.
        renewed: whether a checkout was fetched and stored.
        renewal_error: why renewal failed (the stored license is used meanwhile), if it did.
        checked_in: the consumption tokens checked in (or found already free) this start.
    """

    license: VerifiedLicense
    renewed: bool = False
    renewal_error: LicenseTokenError | None = None
    checked_in: tuple[str, ...] = attrs.field(default=(), repr=token_repr)

    @property
    def renewal_failed(self) -> bool:
        """Whether a renewal was attempted and failed (``renewal_error`` says why)."""
        return self.renewal_error is not None

    @property
    def clock_behind(self) -> timedelta | None:
        """How slow this machine's clock is, at least, when the license proves it, else ``None``.

        See ``clock_behind``: tell the user to set it.
        """
        return self.license.clock_behind
