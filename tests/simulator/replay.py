"""Replay captured Dify 1.15.0 requests against the simulator and compare the responses.

Each capture in tests/fixtures/dify-1.15/ contains a request (method, path,
query, auth mode, body) and the real server's response. Replaying swaps the
capture's app, workspace and account ids for the simulator's ids of the same
mode and recreates the auth mode with the simulator's tokens. The comparison
covers status, content type, JSON keys and value types, Set-Cookie
attributes, JWT claim names, and error codes and messages.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import jwt

from otel_dify.dify.models import AppMode
from otel_dify.simulator import DifySimulator, SessionTokens
from otel_dify.simulator.auth import Principal
from otel_dify.simulator.tokens import TokenSigner
from tests.simulator.support import Reply, b64, session_headers

CAPTURES = Path(__file__).parent.parent / "fixtures" / "dify-1.15"

CAPTURE_APPS = {
    "68167749-6ab4-41cf-8a4a-ac508633d245": AppMode.CHAT,
    "f01f20d2-96a8-4baf-ba89-0220b035f666": AppMode.COMPLETION,
    "99fe748f-f867-4550-8d64-87e400747df4": AppMode.AGENT_CHAT,
    "ee54285a-768e-4d97-ad79-f6f2635ff3d8": AppMode.ADVANCED_CHAT,
    "b00662bb-7c42-4914-8671-17ba410b0001": AppMode.WORKFLOW,
}
CAPTURE_WORKSPACE = "f01b64e3-cae1-412a-a041-581d0431e3a4"
CAPTURE_ACCOUNT = "1016a55c-9ac9-4e68-ae09-e3d70e4d9ff1"
REDACTED_PASSWORD = "<redacted fake password>"


#: Captures of record-level endpoints (workflow logs and runs, conversations, messages,
#: service API) start with 5, 6 or 7; test_records_fidelity.py replays them with
#: run, conversation and message ids mapped too.
RECORD_CAPTURE_PREFIXES = ("5", "6", "7")


def capture_names() -> list[str]:
    """Return the names of the stored console captures that this replay maps, sorted."""
    return sorted(path.stem for path in CAPTURES.glob("*.json") if not path.stem.startswith(RECORD_CAPTURE_PREFIXES))


def load_capture(name: str) -> dict[str, Any]:
    with (CAPTURES / f"{name}.json").open(encoding="utf-8") as handle:
        return json.load(handle)


def id_map(sim: DifySimulator) -> dict[str, str]:
    """Map the capture's ids to the simulator's ids of the same role."""
    ids = {capture_id: sim.app_of_mode(mode).id for capture_id, mode in CAPTURE_APPS.items()}
    ids[CAPTURE_WORKSPACE] = sim.dataset.current_workspace(sim.admin.id).id
    ids[CAPTURE_ACCOUNT] = sim.admin.id
    return ids


def translate(text: str, ids: dict[str, str]) -> str:
    for old, new in ids.items():
        text = text.replace(old, new)
    return text


def timezone_for(name: str) -> str:
    """Return the account timezone the capture was taken under."""
    if name.startswith("92_"):
        return "UTC"
    if name.startswith("93_"):
        return "Asia/Tokyo"
    return "America/New_York"


def add_probe_traffic(sim: DifySimulator) -> None:
    """Add the records the capture windows found, so those windows are not empty here either.

    The real server had a chat probe message at 15:00:00 UTC (100 + 50
    tokens) and chat messages between 12:30 and 14:30 UTC. It also had a
    completion message in the 30 minutes and a workflow run in the two hours
    before 19:28 UTC.
    """
    day = datetime(2026, 12, 4, tzinfo=timezone.utc)
    chat = sim.app_of_mode(AppMode.CHAT).id
    sim.dataset.add_message(chat, day.replace(hour=15), message_tokens=100, answer_tokens=50)
    sim.dataset.add_message(chat, day.replace(hour=13))
    sim.dataset.add_message(sim.app_of_mode(AppMode.COMPLETION).id, day.replace(hour=19, minute=10))
    sim.dataset.add_workflow_run(sim.app_of_mode(AppMode.WORKFLOW).id, day.replace(hour=18))


@dataclass
class ReplayRequest:
    method: str
    path: str
    params: dict[str, str]
    headers: dict[str, str] = field(default_factory=dict)
    json_body: Any = None


def _refresh_scenario(sim: DifySimulator, name: str) -> str:
    """Recreate the refresh-token history behind a capture and return the token it sent."""
    account = sim.admin
    if name == "12_refresh_token_reuse_old":
        old = sim.issue_session()
        sim.auth.refresh(cookies={"refresh_token": old.refresh_token or ""}, payload=None)
        return old.refresh_token or ""
    if name.startswith("98_"):
        # Session A logs in, session B logs in, A refreshes (A2), B logs out:
        # the logout deletes A2, the most recently issued token.
        session_a = sim.issue_session()
        session_b = sim.issue_session()
        rotated = sim.auth.refresh(cookies={"refresh_token": session_a.refresh_token or ""}, payload=None)
        latest_a2 = next(
            cookie.split(";")[0].partition("=")[2] for cookie in rotated.set_cookies if cookie.startswith("refresh_token=")
        )
        principal = Principal(account, sim.dataset.current_workspace(account.id), "cookie")
        sim.auth.logout(principal)
        return latest_a2 if name == "98_A2_refresh_after_B_logout" else session_b.refresh_token or ""
    return sim.issue_session().refresh_token or ""


def _tokens_for(sim: DifySimulator, name: str) -> SessionTokens:
    tokens = sim.issue_session()
    now_s = int(sim.clock.timestamp())
    if name == "99_expired_access_token":
        expired = sim.auth.signer.issue_access_token(sim.admin.id, expires_at_s=now_s - 60)
        return SessionTokens(expired, tokens.refresh_token, tokens.csrf_token)
    if name == "99_expired_csrf_token":
        expired_csrf = sim.auth.signer.issue_csrf_token(sim.admin.id, expires_at_s=now_s - 60)
        return SessionTokens(tokens.access_token, tokens.refresh_token, expired_csrf)
    if name == "99_wrong_signature_token":
        foreign = TokenSigner("another-secret-key-" * 3).issue_access_token(sim.admin.id, expires_at_s=now_s + 600)
        return SessionTokens(foreign, tokens.refresh_token, tokens.csrf_token)
    return tokens


def build_request(sim: DifySimulator, name: str, capture: dict[str, Any], admin_key: str) -> ReplayRequest:
    """Return the simulator version of a captured request."""
    ids = id_map(sim)
    request = capture["request"]
    plan = ReplayRequest(
        method=request["method"],
        path=translate(request["path"], ids),
        params={key: translate(value, ids) for key, value in request["query"].items()},
        json_body=request["json_body"],
    )

    if isinstance(plan.json_body, dict) and plan.json_body.get("password") == REDACTED_PASSWORD:
        body = dict(plan.json_body)
        if "plain" in name:
            body["password"] = sim.admin_password
        elif "wrong" in name:
            body["password"] = b64("not-the-password")
        else:
            body["password"] = b64(sim.admin_password)
        plan.json_body = body

    mode = request["auth_mode"]
    captured_headers = {header[0]: header[1] for header in request["headers"]}
    if mode in ("cookie", "bearer", "bearer-nocsrf", "bearer-csrfheader-only", "cookie-nocsrf"):
        plan.headers.update(session_headers(_tokens_for(sim, name), mode=mode))
    elif mode == "refresh":
        plan.headers["Cookie"] = f"refresh_token={_refresh_scenario(sim, name)}"
    elif mode == "raw":
        plan.headers["Authorization"] = "Bearer garbage12"
    elif mode.startswith("apikey:") and mode != "apikey:admin":
        plan.headers["Authorization"] = "Bearer app-" + "x" * 24
    elif mode == "apikey:admin":
        plan.headers["Authorization"] = f"Bearer {admin_key}"
        if "X-WORKSPACE-ID" in captured_headers:
            plan.headers["X-WORKSPACE-ID"] = translate(captured_headers["X-WORKSPACE-ID"], ids)
    return plan


# -- comparison --------------------------------------------------------------


def type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "str"
    if isinstance(value, list):
        return "list"
    return "dict"


@dataclass
class Schema:
    """Types seen at one position of the expected JSON, merged over list items."""

    types: set[str] = field(default_factory=set)
    keys: dict[str, Schema] | None = None
    items: Schema | None = None
    non_empty_list: bool = False


def schema_of(value: Any, schema: Schema | None = None) -> Schema:
    schema = schema or Schema()
    schema.types.add(type_name(value))
    if isinstance(value, dict):
        if schema.keys is None:
            schema.keys = {}
        for key, item in value.items():
            schema.keys[key] = schema_of(item, schema.keys.get(key))
    elif isinstance(value, list):
        if value:
            schema.non_empty_list = True
        for item in value:
            schema.items = schema_of(item, schema.items)
    return schema


def shape_mismatches(schema: Schema, actual: Any, where: str = "body") -> list[str]:
    """Return every place where ``actual`` differs in keys or types from the expected schema."""
    problems: list[str] = []
    kind = type_name(actual)
    if kind not in schema.types:
        return [f"{where}: type {kind}, expected {sorted(schema.types)}"]

    if isinstance(actual, dict) and schema.keys is not None:
        expected_keys, actual_keys = set(schema.keys), set(actual)
        if expected_keys != actual_keys:
            problems.append(
                f"{where}: keys missing {sorted(expected_keys - actual_keys)}, extra {sorted(actual_keys - expected_keys)}"
            )
        for key in expected_keys & actual_keys:
            problems.extend(shape_mismatches(schema.keys[key], actual[key], f"{where}.{key}"))
    elif isinstance(actual, list):
        if schema.non_empty_list and not actual:
            problems.append(f"{where}: empty list, the capture has items")
        if schema.items is not None:
            for index, item in enumerate(actual):
                problems.extend(shape_mismatches(schema.items, item, f"{where}[{index}]"))
    return problems


def header_value(headers: list[list[Any]], name: str) -> str | None:
    for header in headers:
        if header[0].lower() == name.lower():
            return header[1]
    return None


def cookie_mismatches(capture: dict[str, Any], reply: Reply) -> list[str]:
    """Compare Set-Cookie names, order, attributes and JWT claim names."""
    expected = capture["response"]["set_cookies"]
    actual_headers = reply.headers.getall("Set-Cookie", [])
    problems: list[str] = []
    if len(expected) != len(actual_headers):
        return [f"Set-Cookie count {len(actual_headers)}, expected {len(expected)}"]

    for want, header in zip(expected, actual_headers):
        name, _, rest = header.partition("=")
        value, *attributes = [part.strip() for part in rest.split(";")]
        if name != want["name"]:
            problems.append(f"cookie {name}, expected {want['name']}")
            continue
        parsed: dict[str, Any] = {}
        for attribute in attributes:
            key, sep, attr_value = attribute.partition("=")
            parsed[key] = attr_value if sep else True
        if list(parsed) != list(want["attributes"]):
            problems.append(f"cookie {name} attributes {list(parsed)}, expected {list(want['attributes'])}")
        for key in ("Max-Age", "HttpOnly", "Path", "SameSite"):
            if parsed.get(key) != want["attributes"].get(key):
                problems.append(f"cookie {name} {key}={parsed.get(key)!r}, expected {want['attributes'].get(key)!r}")

        want_value = want["value"]
        if isinstance(want_value, dict) and "jwt_claims" in want_value:
            claims = jwt.decode(value, options={"verify_signature": False})
            if set(claims) != set(want_value["jwt_claims"]):
                problems.append(f"cookie {name} claims {sorted(claims)}, expected {sorted(want_value['jwt_claims'])}")
        elif isinstance(want_value, dict) and "length" in want_value and len(value) != want_value["length"]:
            problems.append(f"cookie {name} length {len(value)}, expected {want_value['length']}")
        elif want_value == "" and value != "":
            problems.append(f"cookie {name} should be cleared")
    return problems


def response_mismatches(capture: dict[str, Any], reply: Reply, ids: dict[str, str]) -> list[str]:
    """Return every difference between the captured response and the simulator's reply."""
    response = capture["response"]
    problems: list[str] = []
    if reply.status != response["status"]:
        problems.append(f"status {reply.status}, expected {response['status']}")

    headers = response["headers"]
    expected_type = header_value(headers, "Content-Type")
    if expected_type is not None and reply.content_type != expected_type:
        problems.append(f"content type {reply.content_type!r}, expected {expected_type!r}")
    if headers:
        # Some setup captures recorded no headers at all; only compare where they did.
        for name in ("X-Version", "WWW-Authenticate"):
            if (header_value(headers, name) is None) != (name not in reply.headers):
                problems.append(f"header {name} presence differs")

    body = response["body"]
    if response["body_kind"] == "json":
        problems.extend(shape_mismatches(schema_of(body), reply.body))
        if isinstance(body, dict) and isinstance(reply.body, dict) and response["status"] >= 400:
            for key in ("code", "message", "result", "params", "status"):
                if key in body and translate(str(body[key]), ids) != str(reply.body.get(key)):
                    problems.append(f"{key} {reply.body.get(key)!r}, expected {translate(str(body[key]), ids)!r}")
    elif reply.text != body:
        problems.append(f"body {reply.text[:120]!r}, expected {str(body)[:120]!r}")

    problems.extend(cookie_mismatches(capture, reply))
    return problems


