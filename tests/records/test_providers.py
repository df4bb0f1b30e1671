"""Dify provider ids to gen_ai.provider.name."""

import pytest

from otel_dify.records.providers import UNKNOWN_PROVIDER, provider_name


@pytest.mark.parametrize(
    ("provider_id", "expected"),
    [
        ("langgenius/openai/openai", "openai"),
        ("openai", "openai"),
        ("langgenius/anthropic/anthropic", "anthropic"),
        ("langgenius/azure_openai/azure_openai", "azure.ai.openai"),
        ("langgenius/bedrock/bedrock", "aws.bedrock"),
        ("langgenius/gemini/google", "google"),
        ("langgenius/gemini/gemini", "gcp.gemini"),
        ("langgenius/vertex_ai/vertex_ai", "gcp.vertex_ai"),
        ("langgenius/mistralai/mistralai", "mistral_ai"),
        ("langgenius/deepseek/deepseek", "deepseek"),
        ("someorg/ollama/Ollama", "ollama"),
        ("tongyi", "tongyi"),
        ("  langgenius/openai/openai  ", "openai"),
    ],
)
def test_provider_name_table(provider_id: str, expected: str) -> None:
    assert provider_name(provider_id) == expected


@pytest.mark.parametrize("provider_id", [None, "", "   ", "/"])
def test_provider_name_unknown(provider_id: str | None) -> None:
    assert provider_name(provider_id) == UNKNOWN_PROVIDER
