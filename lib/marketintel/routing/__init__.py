"""Source routing: which source's data to serve for each logical series, and why.

- :mod:`.series`: the declared map of logical series to candidate sources with their priority (data).
- :mod:`.trust`: the trust score of a source (freshness, completeness, agreement, reliability).
- :mod:`.breaker`: one circuit breaker per source (pybreaker, with an injectable clock and an error rate).
- :mod:`.router`: :class:`~marketintel.routing.router.Router` holds the breakers and decides per interval:
  priority, failover (open / stale / disagrees / missing), blending by trust, synthetic fallback.

Front ends call :mod:`marketintel.services.routing` (``read_series``, ``routing_state``, ``series_names``).
"""

from __future__ import annotations

from marketintel.routing.series import SERIES, Candidate, LogicalSeries, get_series

__all__ = ["SERIES", "Candidate", "LogicalSeries", "get_series"]
