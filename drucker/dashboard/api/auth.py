"""Who calls the API: the owner of the bearer token sent."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

import drucker.dashboard.accounts as accounts
from drucker.dashboard.errors import Refused
from drucker.dashboard.web import Viewer, state

_bearer = HTTPBearer(auto_error=False, description="a dashboard API token")


async def api_user(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Viewer:
    """The token's owner. :raises Refused: (401) without a token or with an unknown one."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Refused("send an API token: Authorization: Bearer <token>", 401)
    with state(request).db.session() as session:
        user = accounts.user_of_token(session, credentials.credentials)
        if user is None:
            raise Refused("unknown API token", 401)
        return Viewer.of(user)


User = Annotated[Viewer, Depends(api_user)]
