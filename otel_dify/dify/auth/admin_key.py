"""Password-less console access with Dify's ``ADMIN_API_KEY``."""

from __future__ import annotations

from otel_dify.dify.auth.credentials import AdminKeyCredentials
from otel_dify.dify.auth.session import Authorization
from otel_dify.dify.errors import AuthenticationError
from otel_dify.dify.models import LoginGeneration

WORKSPACE_HEADER = "X-WORKSPACE-ID"


class AdminKeyAuthenticator:
    """Sends ``Authorization: Bearer <ADMIN_API_KEY>`` and ``X-WORKSPACE-ID`` on every request.

    There is no login, no cookie and no CSRF header, and nothing to renew:
    a 401 means the key or the workspace id is wrong, or the server does not
    accept admin keys.
    """

    generation: LoginGeneration | None = LoginGeneration.ADMIN_KEY

    #: A 401 is final: there is no session to renew.
    can_reauthorize = False

    def __init__(self, credentials: AdminKeyCredentials) -> None:
        self._credentials = credentials

    async def login(self) -> None:
        """Do nothing: the admin key needs no login."""

    async def authorize(self) -> Authorization:
        """Return the admin key headers."""
        return Authorization(
            headers={
                "Authorization": f"Bearer {self._credentials.api_key.get_secret_value()}",
                WORKSPACE_HEADER: self._credentials.workspace_id,
            },
            serial=0,
        )

    async def reauthorize(self, stale: Authorization) -> Authorization:
        """Raise AuthenticationError: a rejected admin key does not improve by retrying."""
        raise AuthenticationError(
            f"Dify rejected the admin API key for workspace {self._credentials.workspace_id}; "
            "check the key, the workspace id and ADMIN_API_KEY_ENABLE=true on the server "
            "(Dify 1.9.2 to 1.10.x cannot use the admin key)"
        )

    def forget(self) -> None:
        """Do nothing: there is no session to drop."""
