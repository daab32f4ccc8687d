"""Run the API with uvicorn: ``python -m marketintel.api.serve`` (the Hub starts it as the service ``api``).

It listens where the Hub's service URL says (``JUPYTERHUB_SERVICE_URL``, e.g. ``http://127.0.0.1:8020``),
else on ``MI_API_PORT`` (default 8020) on loopback. The proxy forwards ``/services/api/`` to it unchanged,
so the application's root path is the service prefix.
"""

from __future__ import annotations

import logging
import os
from urllib.parse import urlparse

#: the API's default port on loopback
DEFAULT_PORT = 8020


def main() -> None:
    """Serve the API until stopped."""
    import uvicorn

    from marketintel.api.app import create_app

    logging.basicConfig(
        level=os.environ.get("MI_API_LOG_LEVEL", "INFO"),
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )
    url = urlparse(
        os.environ.get(
            "JUPYTERHUB_SERVICE_URL", f"http://127.0.0.1:{os.environ.get('MI_API_PORT', DEFAULT_PORT)}"
        )
    )
    app = create_app()  # its routes carry the service prefix: the proxy does not strip /services/api
    uvicorn.run(
        app,
        host=url.hostname or "127.0.0.1",
        port=url.port or DEFAULT_PORT,
        log_level=os.environ.get("MI_API_LOG_LEVEL", "info").lower(),
        access_log=os.environ.get("MI_API_ACCESS_LOG", "0") == "1",
        timeout_graceful_shutdown=5,
        ws_ping_interval=20,
    )


if __name__ == "__main__":
    main()
