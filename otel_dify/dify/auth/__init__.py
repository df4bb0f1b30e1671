"""Authentication to Dify's console API: e-mail and password sessions, or the admin API key."""

from otel_dify.dify.auth.admin_key import AdminKeyAuthenticator
from otel_dify.dify.auth.backoff import MIN_AUTH_BACKOFF_S, LoginBackoff
from otel_dify.dify.auth.console import ConsoleAuthenticator
from otel_dify.dify.auth.credentials import AdminKeyCredentials, ConsoleCredentials, PasswordEncoding
from otel_dify.dify.auth.session import REFRESH_MARGIN_S, Authorization

__all__ = [
    "MIN_AUTH_BACKOFF_S",
    "REFRESH_MARGIN_S",
    "AdminKeyAuthenticator",
    "AdminKeyCredentials",
    "Authorization",
    "ConsoleAuthenticator",
    "ConsoleCredentials",
    "LoginBackoff",
    "PasswordEncoding",
]
