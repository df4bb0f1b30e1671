"""Typed views of the Dify objects the exporter reads."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class AppMode(str, enum.Enum):
    """App modes as Dify's console reports them in the apps list."""

    CHAT = "chat"
    COMPLETION = "completion"
    AGENT_CHAT = "agent-chat"
    ADVANCED_CHAT = "advanced-chat"
    WORKFLOW = "workflow"


class LoginGeneration(str, enum.Enum):
    """Session style of a console login, by Dify release (README.md, "Dify versions").

    ``BODY_TOKEN``: Dify 0.9.1 and older, one JWT string in the JSON body.
    ``TOKEN_PAIR``: 0.9.2 to 1.9.1, access and refresh tokens in the JSON body.
    ``COOKIE_CSRF``: 1.9.2 and later, tokens only in Set-Cookie, and every
    console request must echo the CSRF cookie in an ``X-CSRF-Token`` header.
    ``ADMIN_KEY``: no login; ``ADMIN_API_KEY`` plus ``X-WORKSPACE-ID``.
    """

    BODY_TOKEN = "body-token"
    TOKEN_PAIR = "token-pair"
    COOKIE_CSRF = "cookie-csrf"
    ADMIN_KEY = "admin-key"


@dataclass(frozen=True)
class App:
    """One app of a workspace, from ``GET /console/api/apps``."""

    id: str
    name: str
    mode: str


@dataclass(frozen=True)
class Workspace:
    """The workspace (Dify's "tenant") whose apps a client reads."""

    id: str
    name: str


@dataclass(frozen=True)
class Profile:
    """The parts of ``GET /console/api/account/profile`` the exporter uses.

    ``timezone`` is an IANA zone name. Dify interprets statistics ``start`` and
    ``end`` and buckets daily rows in this zone.
    """

    account_id: str
    timezone: str
