"""Version profiles: which Dify release the simulator imitates.

Each flag names the release that introduced the behaviour, as read from
Dify's source at its release tags and, for 1.15.0, as observed on a real
server. A profile only switches behaviour that a metrics client can notice.
"""

from __future__ import annotations

from dataclasses import dataclass

from otel_dify.dify.models import LoginGeneration


@dataclass(frozen=True)
class VersionProfile:
    """Behaviour switches for one Dify release.

    ``version`` is the full release string sent in the ``X-Version`` header.
    """

    name: str
    version: str
    #: Session hand-out of ``POST /console/api/login``.
    login_generation: LoginGeneration
    #: The login ``password`` field must be Base64 of the UTF-8 password (1.11.2+).
    base64_password: bool
    #: ``POST /console/api/refresh-token`` exists (0.9.2+).
    has_refresh_token: bool
    #: ``ADMIN_API_KEY`` with ``X-WORKSPACE-ID`` is accepted without a CSRF token (1.11.0+).
    #: NOTE: Dify 1.9.1 and older accepted the key too; the simulator models it for 1.15 only.
    admin_api_key: bool
    #: HTTP method of ``/console/api/logout``: GET up to 1.9.1, POST from 1.9.2.
    logout_method: str
    #: Message statistics leave out ``invoke_from='debugger'`` messages (1.9.0+).
    exclude_debugger_from_stats: bool
    #: Statistics reject ``start`` later than ``end`` with 400 (1.10.0+).
    validate_start_before_end: bool
    #: An empty query parameter counts as absent (1.11.0+); before, it is a 400.
    empty_param_is_absent: bool
    #: HTTP method of ``/console/api/workspaces/current``: GET up to 1.10.0, POST from 1.10.1.
    workspaces_current_method: str
    #: Parameter errors use Pydantic's message text (1.11.0+); before, flask-restful reqparse.
    pydantic_errors: bool
    #: Access-token lifetime is fixed at 30 days (0.9.1 and older).
    thirty_day_access_token: bool

    @property
    def uses_csrf(self) -> bool:
        """True when console requests need the CSRF cookie and header (1.9.2+)."""
        return self.login_generation is LoginGeneration.COOKIE_CSRF


PROFILES: dict[str, VersionProfile] = {
    "0.9.1": VersionProfile(
        name="0.9.1",
        version="0.9.1",
        login_generation=LoginGeneration.BODY_TOKEN,
        base64_password=False,
        has_refresh_token=False,
        admin_api_key=False,
        logout_method="GET",
        exclude_debugger_from_stats=False,
        validate_start_before_end=False,
        empty_param_is_absent=False,
        workspaces_current_method="GET",
        pydantic_errors=False,
        thirty_day_access_token=True,
    ),
    "1.9.1": VersionProfile(
        name="1.9.1",
        version="1.9.1",
        login_generation=LoginGeneration.TOKEN_PAIR,
        base64_password=False,
        has_refresh_token=True,
        admin_api_key=False,
        logout_method="GET",
        exclude_debugger_from_stats=True,
        validate_start_before_end=False,
        empty_param_is_absent=False,
        workspaces_current_method="GET",
        pydantic_errors=False,
        thirty_day_access_token=False,
    ),
    "1.9.2": VersionProfile(
        name="1.9.2",
        version="1.9.2",
        login_generation=LoginGeneration.COOKIE_CSRF,
        base64_password=False,
        has_refresh_token=True,
        # NOTE: 1.9.2 to 1.10.x accepted the admin key but still ran the CSRF
        # check, so the key was unusable. The simulator leaves it off here.
        admin_api_key=False,
        logout_method="POST",
        exclude_debugger_from_stats=True,
        validate_start_before_end=False,
        empty_param_is_absent=False,
        workspaces_current_method="GET",
        pydantic_errors=False,
        thirty_day_access_token=False,
    ),
    "1.15": VersionProfile(
        name="1.15",
        version="1.15.0",
        login_generation=LoginGeneration.COOKIE_CSRF,
        base64_password=True,
        has_refresh_token=True,
        admin_api_key=True,
        logout_method="POST",
        exclude_debugger_from_stats=True,
        validate_start_before_end=True,
        empty_param_is_absent=True,
        workspaces_current_method="POST",
        pydantic_errors=True,
        thirty_day_access_token=False,
    ),
}


def get_profile(name: str) -> VersionProfile:
    """Return the profile called ``name`` (``0.9.1``, ``1.9.1``, ``1.9.2`` or ``1.15``).

    The full version string (``1.15.0``) is accepted too. Raises ``ValueError``
    for any other name.
    """
    for profile in PROFILES.values():
        if name in (profile.name, profile.version):
            return profile
    known = ", ".join(PROFILES)
    raise ValueError(f"unknown Dify version profile {name!r}; choose one of {known}")
