"""Print the configuration reference: ``python -m otel_dify.config > docs/configuration.md``."""

from otel_dify.config.docs import render_configuration_markdown

print(render_configuration_markdown(), end="")
