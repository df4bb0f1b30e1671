import pytest

from bench.soak import SoakReport, parse_options, render_text


def test_summary_totals_episodes():
    report = SoakReport(episodes={"5xx burst": 3, "html page": 2})

    assert report.as_dict()["episodes_total"] == 5


def test_summary_exporter_hours():
    report = SoakReport(exporter_s=3000 * 60.0 + 2 * 60.0)

    assert report.as_dict()["exporter_hours"] == 50.03


def test_summary_text_lists_totals():
    report = SoakReport(polls=500, episodes={"csrf rejection": 1}, exporter_s=7200.0)
    lines = render_text(report).splitlines()

    assert "episodes_total: 1" in lines
    assert "exporter_hours: 2.0" in lines


def test_soak_help_shows_defaults(capsys, monkeypatch):
    # Wide enough that argparse wraps no help text inside a default.
    monkeypatch.setenv("COLUMNS", "200")
    with pytest.raises(SystemExit):
        parse_options(["--help"])
    help_text = capsys.readouterr().out

    assert "(default: 3000)" in help_text
    assert "(default: 60.0)" in help_text
    assert "(default: 0.08)" in help_text
    assert "(default: 0.02)" in help_text
    assert "(default: 100)" in help_text
