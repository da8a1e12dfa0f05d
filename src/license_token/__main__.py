"""``python -m license_token``: the CLI."""

import sys

from .cli import main

sys.exit(main())
