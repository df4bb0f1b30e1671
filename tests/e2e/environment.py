"""Environment variables for an ``otel-dify`` subprocess that polls an E2ESimulator."""

from __future__ import annotations

from otel_dify.simulator import DifySimulator
from tests.e2e.processes import base_environment
from tests.otlp_sink import OtlpSink
from tests.rotel import RotelAgent, free_port

GRPC = "grpc"
HTTP_PROTOBUF = "http/protobuf"


def exporter_environment(
    simulator: DifySimulator,
    base_url: str,
    *,
    admin_api_key: str | None = None,
    password: str | None = None,
    **variables: str,
) -> dict[str, str]:
    """Return a complete environment that points ``otel-dify`` at ``base_url``.

    Logs in with the simulator's admin e-mail and ``password`` (default: the
    admin's real one), or with ``admin_api_key`` and the admin's workspace.
    Polls every second from the start, exports every 0.5 s, serves health on
    a free port, gives up a failing OTLP export after 2 s, and allows 3 s
    for the shutdown. ``variables``
    (full names, for example ``OTEL_DIFY_POLL_INTERVAL="2"``) override all of
    that.
    """
    environment = base_environment(
        OTEL_DIFY_BASE_URL=base_url,
        OTEL_DIFY_POLL_INTERVAL="1",
        OTEL_DIFY_INITIAL_DELAY="0",
        OTEL_DIFY_HEALTH_PORT=str(free_port()),
        OTEL_METRIC_EXPORT_INTERVAL="500",
        OTEL_EXPORTER_OTLP_TIMEOUT="2",
        OTEL_DIFY_SHUTDOWN_TIMEOUT="3",
    )
    if admin_api_key is not None:
        workspace = simulator.dataset.current_workspace(simulator.admin.id)
        environment |= {"OTEL_DIFY_ADMIN_API_KEY": admin_api_key, "OTEL_DIFY_WORKSPACE_IDS": workspace.id}
    else:
        environment |= {
            "OTEL_DIFY_EMAIL": simulator.admin.email,
            "OTEL_DIFY_PASSWORD": simulator.admin_password if password is None else password,
        }
    environment |= variables
    return environment


def otlp_environment(collector: RotelAgent, protocol: str) -> dict[str, str]:
    """Return the OTEL_EXPORTER_OTLP_* variables that send metrics to ``collector`` over ``protocol``."""
    if protocol == GRPC:
        return {"OTEL_EXPORTER_OTLP_PROTOCOL": GRPC, "OTEL_EXPORTER_OTLP_ENDPOINT": collector.grpc_endpoint}
    if protocol == HTTP_PROTOBUF:
        return {"OTEL_EXPORTER_OTLP_PROTOCOL": HTTP_PROTOBUF, "OTEL_EXPORTER_OTLP_ENDPOINT": collector.http_endpoint}
    raise ValueError(f"unknown OTLP protocol {protocol!r}; expected {GRPC} or {HTTP_PROTOBUF}")


def sink_environment(sink: OtlpSink) -> dict[str, str]:
    """Return the OTEL_EXPORTER_OTLP_* variables that send metrics over gRPC straight to ``sink``, with no collector."""
    return {"OTEL_EXPORTER_OTLP_PROTOCOL": GRPC, "OTEL_EXPORTER_OTLP_ENDPOINT": sink.endpoint}
