from otel_dify.cli import entry_point

entry_point()
