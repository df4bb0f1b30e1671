"""Model provider ids of Dify mapped to ``gen_ai.provider.name`` of the OpenTelemetry GenAI convention.

Dify 1.0.0 and later store plugin provider ids such as
``langgenius/openai/openai``; 0.x and some old rows store the plain name
``openai``. The convention lists well-known values for the big providers and
asks for a lower-case name for the rest, so an unknown provider keeps the last
segment of its id.
"""

from __future__ import annotations

#: The provider name the exporter reports when Dify names no provider.
UNKNOWN_PROVIDER = "unknown"

# Last segment of a Dify provider id -> well-known gen_ai.provider.name value.
_WELL_KNOWN: dict[str, str] = {
    "openai": "openai",
    "anthropic": "anthropic",
    "azure_openai": "azure.ai.openai",
    "bedrock": "aws.bedrock",
    "gemini": "gcp.gemini",
    "vertex_ai": "gcp.vertex_ai",
    "mistralai": "mistral_ai",
    "cohere": "cohere",
    "deepseek": "deepseek",
    "groq": "groq",
    "perplexity": "perplexity",
}


def provider_name(provider_id: str | None) -> str:
    """Return the ``gen_ai.provider.name`` for a Dify provider id.

    ``langgenius/openai/openai`` and ``openai`` both give ``openai``;
    ``langgenius/azure_openai/azure_openai`` gives ``azure.ai.openai``; an
    unlisted id gives its last path segment in lower case; None or an empty
    id gives ``unknown``.
    """
    if not provider_id or not provider_id.strip():
        return UNKNOWN_PROVIDER

    segment = provider_id.strip().rstrip("/").rsplit("/", 1)[-1].lower()
    if not segment:
        return UNKNOWN_PROVIDER
    return _WELL_KNOWN.get(segment, segment)
