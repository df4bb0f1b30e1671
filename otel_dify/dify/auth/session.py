"""A console session's tokens and cookies, read from login and refresh responses.

Three Dify generations hand out the session differently:

* 0.9.1 and older: ``{"result": "success", "data": "<JWT>"}``, sent back as
  ``Authorization: Bearer``. There is no refresh token.
* 0.9.2 to 1.9.1: ``data`` contains ``access_token`` and ``refresh_token``,
  and the access token goes in ``Authorization: Bearer``.
* 1.9.2 and later: the body is only ``{"result": "success"}`` and the tokens
  arrive as ``access_token``, ``refresh_token`` and ``csrf_token`` cookies
  (possibly ``__Host-`` prefixed). Every console request sends the cookies
  back and copies the CSRF cookie into ``X-CSRF-Token``, GET included.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Mapping

import jwt

from otel_dify.dify.cookies import CookieStore, SetCookie
from otel_dify.dify.errors import InvalidResponseError
from otel_dify.dify.models import LoginGeneration

logger = logging.getLogger(__name__)

#: Refresh the session when less than this many seconds of the access token remain.
REFRESH_MARGIN_S = 60.0

ACCESS_COOKIE_SUFFIX = "access_token"
REFRESH_COOKIE_SUFFIX = "refresh_token"
CSRF_COOKIE_SUFFIX = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"


@dataclass(frozen=True)
class Authorization:
    """The headers that authenticate one request, and the serial of the session they came from.

    A client compares ``serial`` after a 401 to tell whether another request
    already renewed the session.
    """

    headers: Mapping[str, str] = field(repr=False)
    serial: int


@dataclass
class ConsoleSession:
    """The credentials of one console login, as the server last sent them.

    ``renew_at`` is the client clock reading (monotonic seconds) from which the
    session is refreshed before use, or None when the lifetime is unknown and
    only a 401 triggers renewal.
    """

    generation: LoginGeneration
    cookies: CookieStore
    bearer_token: str | None = field(default=None, repr=False)
    refresh_token: str | None = field(default=None, repr=False)
    renew_at: float | None = None

    @property
    def can_refresh(self) -> bool:
        """Whether ``POST /console/api/refresh-token`` can renew this session."""
        if self.generation is LoginGeneration.TOKEN_PAIR:
            return self.refresh_token is not None
        if self.generation is LoginGeneration.COOKIE_CSRF:
            return self.cookies.find_by_suffix(REFRESH_COOKIE_SUFFIX) is not None
        return False

    def renewal_due(self, now: float) -> bool:
        """Return whether the access token expires within the refresh margin at clock reading ``now``."""
        return self.renew_at is not None and now >= self.renew_at

    def request_headers(self) -> dict[str, str]:
        """Return the headers that authenticate a console request with this session."""
        if self.generation is not LoginGeneration.COOKIE_CSRF:
            return {"Authorization": f"Bearer {self.bearer_token}"}

        headers: dict[str, str] = {}
        cookie_header = self.cookies.header_value()
        if cookie_header is not None:
            headers["Cookie"] = cookie_header
        csrf = self.cookies.find_by_suffix(CSRF_COOKIE_SUFFIX)
        if csrf is not None:
            headers[CSRF_HEADER] = csrf[1]
        return headers

    def refresh_request(self) -> tuple[dict[str, str], dict[str, str] | None]:
        """Return the headers and JSON body of a refresh request.

        Cookie sessions send only the refresh cookie and no body; token-pair
        sessions send ``{"refresh_token": ...}``.
        """
        if self.generation is LoginGeneration.COOKIE_CSRF:
            refresh = self.cookies.find_by_suffix(REFRESH_COOKIE_SUFFIX)
            if refresh is None:
                raise ValueError("this session has no refresh cookie")
            return {"Cookie": f"{refresh[0]}={refresh[1]}"}, None

        if self.generation is LoginGeneration.TOKEN_PAIR and self.refresh_token is not None:
            return {}, {"refresh_token": self.refresh_token}
        raise ValueError(f"a {self.generation.value} session cannot be refreshed")


def session_from_login(
    body: Mapping[str, Any],
    set_cookies: tuple[SetCookie, ...],
    *,
    now: float,
    wall_now: float,
    endpoint: str,
) -> ConsoleSession:
    """Build the session from a successful login response and detect the login generation.

    ``now`` is the client clock reading and ``wall_now`` the Unix time, both
    in seconds; the second converts a JWT ``exp`` into a lifetime.

    Raises:
        InvalidResponseError: the response contains neither tokens nor an access cookie.
    """
    data = body.get("data")

    if isinstance(data, str) and data:
        return ConsoleSession(
            generation=LoginGeneration.BODY_TOKEN,
            cookies=CookieStore(),
            bearer_token=data,
            renew_at=_renew_at(now, _jwt_lifetime_s(data, wall_now)),
        )

    if isinstance(data, dict):
        access_token = data.get("access_token")
        refresh_token = data.get("refresh_token")
        if not isinstance(access_token, str) or not access_token:
            raise InvalidResponseError(
                "The login response has a data object without an access_token", endpoint=endpoint
            )
        return ConsoleSession(
            generation=LoginGeneration.TOKEN_PAIR,
            cookies=CookieStore(),
            bearer_token=access_token,
            refresh_token=refresh_token if isinstance(refresh_token, str) and refresh_token else None,
            renew_at=_renew_at(now, _jwt_lifetime_s(access_token, wall_now)),
        )

    cookies = CookieStore()
    cookies.update(set_cookies)
    if cookies.find_by_suffix(ACCESS_COOKIE_SUFFIX) is None:
        raise InvalidResponseError(
            "The login succeeded but the response has neither tokens in its body nor an "
            "access_token cookie",
            endpoint=endpoint,
        )
    if cookies.find_by_suffix(CSRF_COOKIE_SUFFIX) is None:
        logger.warning(
            "The login response set no csrf_token cookie; console requests will fail the CSRF check",
            extra={"endpoint": endpoint, "cookie_names": cookies.names()},
        )

    return ConsoleSession(
        generation=LoginGeneration.COOKIE_CSRF,
        cookies=cookies,
        renew_at=_renew_at(now, _cookie_lifetime_s(cookies, set_cookies, wall_now)),
    )


def apply_refresh(
    session: ConsoleSession,
    body: Mapping[str, Any],
    set_cookies: tuple[SetCookie, ...],
    *,
    now: float,
    wall_now: float,
) -> bool:
    """Update ``session`` from a successful refresh response; return False if it carries no new tokens."""
    if session.generation is LoginGeneration.COOKIE_CSRF:
        if not any(cookie.name.endswith(ACCESS_COOKIE_SUFFIX) for cookie in set_cookies):
            return False
        session.cookies.update(set_cookies)
        session.renew_at = _renew_at(now, _cookie_lifetime_s(session.cookies, set_cookies, wall_now))
        return True

    data = body.get("data")
    if not isinstance(data, dict):
        return False
    access_token = data.get("access_token")
    refresh_token = data.get("refresh_token")
    if not isinstance(access_token, str) or not access_token:
        return False

    session.bearer_token = access_token
    # The refresh token rotates on every use; keep the old one only if none came back.
    if isinstance(refresh_token, str) and refresh_token:
        session.refresh_token = refresh_token
    session.renew_at = _renew_at(now, _jwt_lifetime_s(access_token, wall_now))
    return True


def _renew_at(now: float, lifetime_s: float | None) -> float | None:
    """Return when to renew a token that lives ``lifetime_s`` seconds from ``now``.

    Renewal starts :data:`REFRESH_MARGIN_S` before expiry, but never before
    half the lifetime, so that a server with very short tokens does not get a
    refresh before every request.
    """
    if lifetime_s is None:
        return None
    return now + max(lifetime_s - REFRESH_MARGIN_S, lifetime_s / 2)


def _cookie_lifetime_s(
    cookies: CookieStore, set_cookies: tuple[SetCookie, ...], wall_now: float
) -> float | None:
    """Return the lifetime of the access and CSRF cookies just received, whichever is shorter.

    ``Max-Age`` is relative, so it is preferred over the JWT ``exp``, which
    depends on the clocks of both hosts agreeing.
    """
    lifetimes: list[float] = []
    for suffix in (ACCESS_COOKIE_SUFFIX, CSRF_COOKIE_SUFFIX):
        received = [cookie for cookie in set_cookies if cookie.name.endswith(suffix)]
        if not received:
            continue
        cookie = received[-1]
        if cookie.max_age_s is not None and cookie.max_age_s > 0:
            lifetimes.append(float(cookie.max_age_s))
            continue
        stored = cookies.find_by_suffix(suffix)
        lifetime_s = _jwt_lifetime_s(stored[1], wall_now) if stored is not None else None
        if lifetime_s is not None:
            lifetimes.append(lifetime_s)

    return min(lifetimes) if lifetimes else None


def _jwt_lifetime_s(token: str, wall_now: float) -> float | None:
    """Return seconds until the JWT's ``exp`` claim, read without verifying the signature.

    Returns None when the token is not a JWT, when it has no numeric ``exp``,
    or when it has already expired by this host's clock, which means the
    clocks disagree because the server just issued it. A 401 then triggers
    renewal instead.
    """
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        logger.debug("The access token is not a readable JWT; renewing only on 401")
        return None

    exp = claims.get("exp")
    if not isinstance(exp, (int, float)):
        return None

    lifetime_s = float(exp) - wall_now
    if lifetime_s <= 0:
        logger.warning(
            "A fresh Dify access token has already expired by this host's clock; check the "
            "clocks of both hosts",
            extra={"seconds_past_exp": round(-lifetime_s, 1)},
        )
        return None
    return lifetime_s
