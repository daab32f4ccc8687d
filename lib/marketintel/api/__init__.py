"""The platform's HTTP API and download center: FastAPI behind JupyterHub at ``/services/api/``.

Programs reach the platform's data without a browser: ``GET /services/api/v1/...`` with a Hub API token
(``Authorization: Bearer <token>``; ``mi hub token NAME`` makes one), or a browser with the Hub's OAuth
login. Every read runs in the store as the caller (``execute_as``), so the caller's entitlements and the
audit trail apply; exports need the caller's export right.

Modules
-------
:mod:`~marketintel.api.app`       the application: routes, content negotiation, errors, rate limits
:mod:`~marketintel.api.auth`      who is calling: Hub tokens and the Hub's OAuth cookie
:mod:`~marketintel.api.formats`   JSON, CSV, Parquet and Arrow IPC, streamed from Arrow record batches
:mod:`~marketintel.api.problems`  errors as ``application/problem+json`` (RFC 9457)
:mod:`~marketintel.api.exports`   export jobs, signed links (HMAC-SHA256), clean-up
:mod:`~marketintel.api.stream`    the WebSocket price stream, with backpressure
:mod:`~marketintel.api.serve`     ``python -m marketintel.api.serve``: uvicorn, as the Hub starts it
"""

from __future__ import annotations

#: the Hub-managed service's name: the API is served at ``/services/api/``
API_SERVICE = "api"
#: the version prefix of every data path
VERSION = "v1"
