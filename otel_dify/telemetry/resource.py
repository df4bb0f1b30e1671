"""The OpenTelemetry resource: which process exported the metrics, and which Dify it watched."""

from __future__ import annotations

import logging
import uuid
from urllib.parse import urlsplit

from opentelemetry.sdk.resources import (
    SERVICE_INSTANCE_ID,
    SERVICE_NAME,
    SERVICE_VERSION,
    OTELResourceDetector,
    Resource,
)

from otel_dify import __version__

logger = logging.getLogger(__name__)

DEFAULT_SERVICE_NAME = "otel-dify"

# Semantic-convention keys of the observed server. The SDK exports no
# constants for them, and the semconv package is not a dependency.
SERVER_ADDRESS = "server.address"
SERVER_PORT = "server.port"

_DEFAULT_PORTS = {"http": 80, "https": 443}


def build_resource(dify_base_url: str | None = None) -> Resource:
    """Build the resource that every exported metric carries.

    Defaults:

    - ``service.name`` = ``otel-dify``;
    - ``service.version`` = the installed otel-dify version;
    - ``service.instance.id`` = a random UUID, new on every call, so one per
      process when the process calls this once;
    - ``server.address`` and ``server.port`` = host and port of
      ``dify_base_url`` (the Dify being watched), when given. The port is the
      scheme's default when the URL has none. Metrics of two Dify
      installations thus stay apart even when both exporters share a
      ``service.name``.

    ``OTEL_RESOURCE_ATTRIBUTES`` and ``OTEL_SERVICE_NAME``, read from
    ``os.environ`` by the SDK's resource detector, override every default, and
    ``OTEL_SERVICE_NAME`` wins over a ``service.name`` inside
    ``OTEL_RESOURCE_ATTRIBUTES``. The SDK adds its ``telemetry.sdk.*``
    attributes and those of any detector listed in
    ``OTEL_EXPERIMENTAL_RESOURCE_DETECTORS``.
    """
    defaults: dict[str, str | int] = {
        SERVICE_NAME: DEFAULT_SERVICE_NAME,
        SERVICE_VERSION: __version__,
        SERVICE_INSTANCE_ID: str(uuid.uuid4()),
    }
    if dify_base_url:
        defaults.update(_server_attributes(dify_base_url))

    # Resource.create() lets explicit attributes win over the environment,
    # which is the specification's rule for attributes a user passes in code.
    # Ours are only defaults, so the environment is merged on top once more.
    resource = Resource.create(defaults)
    return resource.merge(OTELResourceDetector().detect())


def _server_attributes(base_url: str) -> dict[str, str | int]:
    parts = urlsplit(base_url)
    if not parts.hostname:
        # The URL is not logged because it may carry a user name and password.
        logger.warning("Dify base URL has no host, so server.address is not set")
        return {}

    attributes: dict[str, str | int] = {SERVER_ADDRESS: parts.hostname}
    try:
        port = parts.port
    except ValueError:
        # The configuration validates the URL; a bad port here only loses the attribute.
        port = None
    if port is None:
        port = _DEFAULT_PORTS.get(parts.scheme.lower())
    if port is not None:
        attributes[SERVER_PORT] = port
    return attributes
