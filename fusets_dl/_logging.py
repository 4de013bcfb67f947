"""Logger of the package; the library logs, it never prints."""

from __future__ import annotations

import logging

logger = logging.getLogger("fusets_dl")
logger.addHandler(logging.NullHandler())
