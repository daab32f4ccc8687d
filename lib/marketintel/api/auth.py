"""Who is calling: a Hub API token (``Authorization: Bearer``) or the Hub's OAuth login (a browser).

The API is a Hub-managed service; the Hub gives it ``JUPYTERHUB_*`` in its environment and
:class:`jupyterhub.services.auth.HubOAuth` (JupyterHub's own client) identifies tokens with the Hub and
exchanges OAuth codes. A token must carry the scope ``access:services!service=api`` (the Hub grants it
to the platform's groups, :mod:`marketintel.hub.access`); tokens a user makes on the Hub's token page or
with ``mi hub token NAME`` inherit it.

Identities are cached for :data:`CACHE_S` seconds. While the Hub is down (restarting) a token identified
within that time keeps working; any other gets 503 with ``Retry-After`` (the API cannot tell a good token
from a bad one without the Hub). A token revoked on the Hub stops working within the same time.

A trusted Hub service (the dashboards, ``MI_API_TRUSTED_SERVICES``) may act for a user with its own token
and the header ``X-MI-Act-For: <user>``: the dashboards' "download this view" starts exports this way, as
the user, with the user's entitlement.

A browser without a token is sent through the Hub's OAuth login (``/oauth_callback`` stores the token in
an HttpOnly cookie scoped to the API's path).
"""

from __future__ import annotations

import logging
import os
import secrets
from dataclasses import dataclass, field
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import Depends, Request
from fastapi.responses import RedirectResponse
from starlette.requests import HTTPConnection

from marketintel.api.problems import Problem, forbidden, unauthorized, unavailable

log = logging.getLogger(__name__)

#: how long the Hub's answer about a token is reused [s]
CACHE_S = int(os.environ.get("MI_API_AUTH_CACHE_S", "60"))
#: the cookie that holds a browser's OAuth token (path: the API's prefix)
COOKIE = "mi-api-token"
STATE_COOKIE = "mi-api-oauth-state"
#: the header a trusted service (the dashboards) names the user it acts for with
ACT_FOR_HEADER = "x-mi-act-for"
#: Hub services that may act for users (comma-separated ``MI_API_TRUSTED_SERVICES``; default the dashboards)
TRUSTED_SERVICES = frozenset(
    s.strip() for s in os.environ.get("MI_API_TRUSTED_SERVICES", "dashboards").split(",") if s.strip()
)


@dataclass(frozen=True)
class Caller:
    """The identity of a request.

    Attributes
    ----------
    name : str
        The hub user's name (the store user the reads run as).
    groups : tuple of str
        Their hub groups.
    admin : bool
        Whether the hub calls them admin.
    kind : str
        ``"user"`` or ``"service"`` (a service's own token).
    """

    name: str
    groups: tuple[str, ...] = ()
    admin: bool = False
    kind: str = "user"
    scopes: frozenset[str] = field(default_factory=frozenset)
    #: the trusted service that made the request for this user (None: the user themself)
    via: str | None = None


def bearer(request: HTTPConnection) -> str | None:
    """Return the request's token: ``Authorization: Bearer|token X``, else the OAuth cookie, else None."""
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() in ("bearer", "token") and value.strip():
        return value.strip()
    return request.cookies.get(COOKIE) or None


class HubIdentity:
    """Identify callers with the Hub (``HubOAuth`` from the service's ``JUPYTERHUB_*`` environment)."""

    def __init__(self) -> None:
        from jupyterhub.services.auth import HubOAuth

        self.hub: Any = HubOAuth(cache_max_age=CACHE_S)
        self.prefix = os.environ.get("JUPYTERHUB_SERVICE_PREFIX", "/services/api/")

    async def caller(self, request: HTTPConnection) -> Caller:
        """Return the caller of ``request``.

        Raises
        ------
        Problem
            401 without a token or with one the Hub does not know; 403 when the token does not give access to
            the API; 503 when the Hub cannot be reached to check an unknown token.
        """
        token = bearer(request)
        if token is None:
            raise unauthorized(
                "no token: send 'Authorization: Bearer <token>' with a Hub API token "
                "(make one on the Hub's token page or with `mi hub token NAME`)"
            )
        from tornado.web import HTTPError

        try:
            model = await self.hub.user_for_token(token, sync=False)
        except HTTPError as exc:
            log.warning("the hub could not identify a token: %s", exc)
            raise unavailable("Hub", "the hub cannot be reached to check the token; retry shortly") from None
        if not model:
            raise unauthorized("the token is not valid (unknown, expired or revoked); make a new one")
        scopes = frozenset(model.get("scopes", ()))
        if not self.hub.check_scopes(self.hub.access_scopes, model):
            raise forbidden(
                f"the token of {model.get('name')!r} does not give access to the API "
                f"(needs one of {sorted(self.hub.access_scopes)}); ask an admin to add you to a group with it"
            )
        kind = str(model.get("kind", "user"))
        acting = request.headers.get(ACT_FOR_HEADER)
        if acting:
            # a trusted service (the dashboards) acts for the user it names: reads run as that user and the
            # audit trail says which service asked; anyone else's header is refused, not ignored
            if kind != "service" or model.get("name") not in TRUSTED_SERVICES:
                raise forbidden(f"only the services {sorted(TRUSTED_SERVICES)} may act for a user")
            return Caller(name=acting, kind="user", scopes=scopes, via=str(model["name"]))
        return Caller(
            name=str(model["name"]),
            groups=tuple(model.get("groups") or ()),
            admin=bool(model.get("admin")),
            kind=kind,
            scopes=scopes,
        )

    def login_redirect(self, next_url: str) -> RedirectResponse:
        """Send a browser through the Hub's OAuth login, coming back to ``next_url``."""
        state = secrets.token_urlsafe(16)
        query = urlencode(
            {
                "client_id": self.hub.oauth_client_id,
                "redirect_uri": self.hub.oauth_redirect_uri,
                "response_type": "code",
                "state": state,
            }
        )
        response = RedirectResponse(f"{self.hub.oauth_authorization_url}?{query}", status_code=302)
        response.set_cookie(
            STATE_COOKIE, f"{state}|{next_url}", max_age=600, path=self.prefix, httponly=True, samesite="lax"
        )
        return response

    async def oauth_callback(self, request: Request) -> RedirectResponse:
        """Finish an OAuth login: check the state, exchange the code for a token, set the cookie."""
        code = request.query_params.get("code")
        state = request.query_params.get("state", "")
        saved, _, next_url = request.cookies.get(STATE_COOKIE, "").partition("|")
        if not code or not state or not secrets.compare_digest(saved, state):
            raise Problem(
                400, "Bad request", "OAuth state mismatch or no code; start again at the API's docs"
            )
        from tornado.web import HTTPError

        try:
            token = await self.hub.token_for_code(code, sync=False)
        except HTTPError as exc:
            raise unavailable("Hub", f"the hub did not exchange the login code: {exc}") from None
        target = next_url if next_url.startswith(self.prefix) else self.prefix + "docs"
        response = RedirectResponse(target, status_code=302)
        response.set_cookie(COOKIE, token, path=self.prefix, httponly=True, samesite="lax")
        response.delete_cookie(STATE_COOKIE, path=self.prefix)
        return response


async def current_caller(request: Request) -> Caller:
    """Return the caller (``app.state.identity``), counted against their limit (``app.state.limiter``)."""
    who: Caller = await request.app.state.identity.caller(request)
    request.app.state.limiter.check(who.name)
    return who


#: a route parameter that is the identified, rate-counted caller
Who = Annotated[Caller, Depends(current_caller)]
