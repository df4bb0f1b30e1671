"""The READMEs stay in step with the configuration they document."""

from pathlib import Path

from otel_dify.config import configuration_variables, render_configuration_markdown

ROOT = Path(__file__).resolve().parent.parent


def table_rows(markdown: str) -> list[str]:
    return [line for line in markdown.splitlines() if line.startswith("| `OTEL_DIFY_")]


def test_readme_table_is_generated_one():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    expected = table_rows(render_configuration_markdown())
    assert expected, "the generated configuration table is empty"
    assert table_rows(readme) == expected, (
        "README.md's configuration table differs from the settings; "
        "copy the rows of `python -m otel_dify.config` into it"
    )


def test_japanese_readme_lists_every_variable():
    readme_ja = (ROOT / "README.ja.md").read_text(encoding="utf-8")
    missing = [name for name in configuration_variables() if f"`{name}`" not in readme_ja]
    assert missing == []


def test_readmes_link_each_other():
    assert "README.ja.md" in (ROOT / "README.md").read_text(encoding="utf-8")
    assert "README.md" in (ROOT / "README.ja.md").read_text(encoding="utf-8")
