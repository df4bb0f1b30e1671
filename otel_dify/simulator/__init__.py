"""A built-in stand-in for a Dify server, for tests and ``otel-dify demo``.

It imitates the console API of Dify 0.9.1, 1.9.1, 1.9.2 or 1.15.0 (login,
session cookies and CSRF, apps, statistics) over deterministic generated
data, with a controllable clock and ground-truth totals for assertions.
"""

from otel_dify.simulator.auth import AuthSettings, SessionTokens
from otel_dify.simulator.clock import SimClock
from otel_dify.simulator.dataset import Dataset
from otel_dify.simulator.generator import DEFAULT_ADMIN_EMAIL, DEFAULT_ADMIN_PASSWORD
from otel_dify.simulator.profiles import PROFILES, VersionProfile, get_profile
from otel_dify.simulator.records import Account, App, Conversation, EndUser, Message, Workspace, WorkflowRun
from otel_dify.simulator.server import DEFAULT_START, DifySimulator, RequestLogEntry, run_simulator
from otel_dify.simulator.truth import GroundTruth

__all__ = [
    "DEFAULT_ADMIN_EMAIL",
    "DEFAULT_ADMIN_PASSWORD",
    "DEFAULT_START",
    "PROFILES",
    "Account",
    "App",
    "AuthSettings",
    "Conversation",
    "Dataset",
    "DifySimulator",
    "EndUser",
    "GroundTruth",
    "Message",
    "RequestLogEntry",
    "SessionTokens",
    "SimClock",
    "VersionProfile",
    "Workspace",
    "WorkflowRun",
    "get_profile",
    "run_simulator",
]
