"""otel-dify: polls Dify's HTTP APIs and pushes usage as OpenTelemetry metrics."""

__version__ = "0.1.0"
