"""Rate limits per user, with the ``limits`` library (moving windows in memory, per API process).

The seed's limits are the defaults: 100 requests per second for the API (``MI_API_RATE``) and 1 export per
second (``MI_API_EXPORT_RATE``), in the ``limits`` notation (``"100/second"``, ``"10/minute"``,
``"1000 per hour"``). A moving window counts every request of the last window, so the burst is the whole
allowance at once (100 requests in the same instant) and never more than that in any window. Over the
limit the caller gets 429 with ``Retry-After`` (seconds until a request of the window expires).
"""

from __future__ import annotations

import os
import time

from limits import RateLimitItem, parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

from marketintel.api.problems import too_many

DEFAULT_RATE = "100/second"
DEFAULT_EXPORT_RATE = "1/second"


class Limiter:
    """The API's two limits (reads, exports), each per user.

    Parameters
    ----------
    rate, export_rate : str, optional
        Default ``MI_API_RATE`` / ``MI_API_EXPORT_RATE``, else the seed's 100/second and 1/second.
    """

    def __init__(self, rate: str | None = None, export_rate: str | None = None) -> None:
        self.storage = MemoryStorage()
        self.strategy = MovingWindowRateLimiter(self.storage)
        self.rate: RateLimitItem = parse(rate or os.environ.get("MI_API_RATE") or DEFAULT_RATE)
        self.export_rate: RateLimitItem = parse(
            export_rate or os.environ.get("MI_API_EXPORT_RATE") or DEFAULT_EXPORT_RATE
        )

    def check(self, user: str, export: bool = False) -> None:
        """Count one request of ``user``.

        Raises
        ------
        Problem
            429 with ``Retry-After`` over the limit.
        """
        item = self.export_rate if export else self.rate
        if self.strategy.hit(item, "export" if export else "api", user):
            return
        reset, _ = self.strategy.get_window_stats(item, "export" if export else "api", user)
        what = "exports" if export else "requests"
        raise too_many(
            f"{user} is over the {what} limit of {item}; retry after the stated delay",
            retry_after_s=reset - time.time(),
            limit=str(item),
        )
