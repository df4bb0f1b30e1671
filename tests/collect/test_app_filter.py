import pytest

from otel_dify.collect.app_filter import AppFilter
from otel_dify.dify.models import App

SUPPORT = App(id="a1", name="Support Bot", mode="chat")
INVOICE = App(id="a2", name="Invoice Extractor", mode="workflow")


@pytest.mark.parametrize(
    ("rules", "app", "expected"),
    [
        (AppFilter(), SUPPORT, True),
        (AppFilter(include_ids=frozenset({"a2"})), SUPPORT, False),
        (AppFilter(include_ids=frozenset({"a1"})), SUPPORT, True),
        (AppFilter(exclude_ids=frozenset({"a1"})), SUPPORT, False),
        (AppFilter(include_names=("support*",)), SUPPORT, True),
        (AppFilter(include_names=("support*",)), INVOICE, False),
        (AppFilter(exclude_names=("*EXTRACTOR",)), INVOICE, False),
        (AppFilter(modes=frozenset({"workflow"})), SUPPORT, False),
        (AppFilter(modes=frozenset({"workflow"})), INVOICE, True),
        (AppFilter(include_ids=frozenset({"a1"}), exclude_names=("support*",)), SUPPORT, False),
    ],
)
def test_filter_rules(rules, app, expected):
    assert rules.accepts(app) is expected
