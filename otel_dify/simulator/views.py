"""JSON bodies of the account, workspace and app endpoints, shaped like Dify 1.15.0's.

Fields the simulator has no data for carry the values a fresh Dify install
shows (empty tags, no access mode, default site settings).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from otel_dify.dify.models import AppMode
from otel_dify.simulator.dataset import Dataset
from otel_dify.simulator.records import Account, App, Workspace

#: ``permission_keys`` Dify 1.15.0 lists for a workspace owner.
OWNER_PERMISSION_KEYS = (
    "app.acl.preview",
    "app.acl.view_layout",
    "app.acl.test_and_run",
    "app.acl.edit",
    "app.acl.import_export_dsl",
    "app.acl.delete",
    "app.acl.release_and_version",
    "app.acl.monitor",
    "app.acl.access_config",
    "app.acl.tracing_config",
    "app.acl.log_and_annotation",
)
_MODEL_CONFIG_MODES = frozenset({AppMode.CHAT, AppMode.COMPLETION, AppMode.AGENT_CHAT})
_DEFAULT_MODEL = {"provider": "openai", "name": "gpt-4o", "mode": "chat", "completion_params": {}}


def unix_seconds(value: datetime | None) -> int | None:
    """Return Dify's ``TimestampField``: whole Unix seconds, or None."""
    return None if value is None else int(value.timestamp())


def account_profile(account: Account) -> dict[str, Any]:
    """Return the body of ``GET /console/api/account/profile``."""
    return {
        "avatar": None,
        "id": account.id,
        "name": account.name,
        "email": account.email,
        "is_password_set": True,
        "interface_language": account.interface_language,
        "interface_theme": "light",
        "timezone": account.timezone,
        "last_login_at": unix_seconds(account.last_login_at),
        "last_login_ip": "127.0.0.1" if account.last_login_at else None,
        "created_at": unix_seconds(account.created_at),
        "avatar_url": None,
    }


def current_workspace(workspace: Workspace, role: str) -> dict[str, Any]:
    """Return the body of ``/console/api/workspaces/current``."""
    return {
        "id": workspace.id,
        "name": workspace.name,
        "plan": "basic",
        "status": "normal",
        "created_at": unix_seconds(workspace.created_at),
        "role": role,
        "in_trial": None,
        "trial_end_reason": None,
        "custom_config": None,
        "trial_credits": None,
        "trial_credits_used": None,
        "next_credit_reset_date": None,
    }


def workspace_list(dataset: Dataset, account: Account, current_id: str) -> dict[str, Any]:
    """Return the body of ``GET /console/api/workspaces``.

    NOTE: shape read from Dify's source; a real 1.15.0 server was not asked.
    """
    items = []
    for membership in dataset.memberships[account.id]:
        workspace = dataset.workspaces[membership.workspace_id]
        items.append(
            {
                "id": workspace.id,
                "name": workspace.name,
                "plan": "basic",
                "status": "normal",
                "created_at": unix_seconds(workspace.created_at),
                "current": workspace.id == current_id,
            }
        )
    return {"workspaces": items}


def _model_config_summary(app: App) -> dict[str, Any] | None:
    if app.mode not in _MODEL_CONFIG_MODES:
        return None
    return {
        "model": dict(_DEFAULT_MODEL),
        "pre_prompt": "{{query}}" if app.mode is AppMode.COMPLETION else None,
        "created_by": app.created_by,
        "created_at": unix_seconds(app.created_at),
        "updated_by": app.created_by,
        "updated_at": unix_seconds(app.created_at),
    }


def _workflow_summary(app: App) -> dict[str, Any] | None:
    if app.workflow_id is None:
        return None
    return {
        "id": app.workflow_id,
        "created_by": app.created_by,
        "created_at": unix_seconds(app.updated_at),
        "updated_by": None,
        "updated_at": unix_seconds(app.updated_at),
    }


def app_list_item(app: App, author_name: str) -> dict[str, Any]:
    """Return one item of ``GET /console/api/apps``."""
    return {
        "id": app.id,
        "name": app.name,
        "max_active_requests": None,
        "description": f"Simulated {app.mode.value} app",
        "mode": app.mode.value,
        "icon_type": "emoji",
        "icon": app.icon,
        "icon_background": "#FFEAD5",
        "model_config": _model_config_summary(app),
        "workflow": _workflow_summary(app),
        "use_icon_as_answer_icon": False,
        "created_by": app.created_by,
        "created_at": unix_seconds(app.created_at),
        "updated_by": app.created_by,
        "updated_at": unix_seconds(app.updated_at),
        "tags": [],
        "access_mode": None,
        "create_user_name": None,
        "author_name": author_name,
        "has_draft_trigger": False,
        "permission_keys": list(OWNER_PERMISSION_KEYS),
        "bound_agent_id": None,
        "app_id": None,
        "is_starred": False,
        "maintainer": app.created_by,
        "icon_url": None,
    }


def _full_model_config(app: App) -> dict[str, Any] | None:
    if app.mode not in _MODEL_CONFIG_MODES:
        return None
    agent_enabled = app.mode is AppMode.AGENT_CHAT
    return {
        "opening_statement": None,
        "suggested_questions": [],
        "suggested_questions_after_answer": {"enabled": False},
        "speech_to_text": {"enabled": False},
        "text_to_speech": {"enabled": False},
        "retriever_resource": {"enabled": True},
        "annotation_reply": {"enabled": False},
        "more_like_this": {"enabled": False},
        "sensitive_word_avoidance": {"enabled": False, "type": "", "config": {}},
        "external_data_tools": [],
        "model": dict(_DEFAULT_MODEL),
        "user_input_form": [],
        "dataset_query_variable": None,
        "pre_prompt": "{{query}}" if app.mode is AppMode.COMPLETION else None,
        "agent_mode": {"enabled": agent_enabled, "strategy": "function_call" if agent_enabled else None, "tools": [], "prompt": None},
        "prompt_type": "simple",
        "chat_prompt_config": {},
        "completion_prompt_config": {},
        "dataset_configs": {"retrieval_model": "multiple"},
        "file_upload": {
            "image": {
                "enabled": False,
                "number_limits": 3,
                "detail": "high",
                "transfer_methods": ["remote_url", "local_file"],
            }
        },
        "created_by": app.created_by,
        "created_at": unix_seconds(app.created_at),
        "updated_by": app.created_by,
        "updated_at": unix_seconds(app.created_at),
    }


def _site(app: App) -> dict[str, Any]:
    return {
        "access_token": app.site_code,
        "code": app.site_code,
        "title": app.name,
        "icon_type": "emoji",
        "icon": app.icon,
        "icon_background": "#FFEAD5",
        "description": None,
        "default_language": "en-US",
        "chat_color_theme": None,
        "chat_color_theme_inverted": False,
        "customize_domain": None,
        "copyright": None,
        "privacy_policy": None,
        "input_placeholder": None,
        "custom_disclaimer": "",
        "customize_token_strategy": "not_allow",
        "prompt_public": False,
        "app_base_url": "http://127.0.0.1:3000",
        "show_workflow_steps": True,
        "use_icon_as_answer_icon": False,
        "created_by": app.created_by,
        "created_at": unix_seconds(app.created_at),
        "updated_by": app.created_by,
        "updated_at": unix_seconds(app.created_at),
        "icon_url": None,
    }


def app_detail(app: App, api_base_url: str) -> dict[str, Any]:
    """Return the body of ``GET /console/api/apps/<id>``."""
    return {
        "id": app.id,
        "name": app.name,
        "description": f"Simulated {app.mode.value} app",
        "mode": app.mode.value,
        "icon": app.icon,
        "icon_background": "#FFEAD5",
        "enable_site": True,
        "enable_api": True,
        "model_config": _full_model_config(app),
        "workflow": _workflow_summary(app),
        "tracing": None,
        "use_icon_as_answer_icon": False,
        "created_by": app.created_by,
        "created_at": unix_seconds(app.created_at),
        "updated_by": app.created_by,
        "updated_at": unix_seconds(app.updated_at),
        "access_mode": None,
        "tags": [],
        "permission_keys": list(OWNER_PERMISSION_KEYS),
        "maintainer": app.created_by,
        "icon_type": "emoji",
        "api_base_url": api_base_url,
        "max_active_requests": None,
        "deleted_tools": [],
        "site": _site(app),
        "bound_agent_id": None,
        "app_id": None,
        "icon_url": None,
    }
