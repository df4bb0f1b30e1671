from pathlib import Path

import pytest

from bench.procstats import anonymous_rss_bytes, rss_bytes, status_bytes
from bench.sizes import apps_per_mode

STATUS_TEXT = """Name:\tpython
VmPeak:\t  200000 kB
VmRSS:\t   51234 kB
RssAnon:\t   40000 kB
RssFile:\t   11234 kB
"""


def test_apps_per_mode_even_split():
    assert apps_per_mode(5) == 1
    assert apps_per_mode(1000) == 200


@pytest.mark.parametrize("apps", [0, 3, 12, -5])
def test_apps_per_mode_rejects_uneven(apps):
    with pytest.raises(ValueError, match="multiple of 5"):
        apps_per_mode(apps)


def test_status_fields_in_bytes(tmp_path: Path):
    status = tmp_path / "status"
    status.write_text(STATUS_TEXT)

    assert rss_bytes(status) == 51234 * 1024
    assert anonymous_rss_bytes(status) == 40000 * 1024


def test_status_missing_field(tmp_path: Path):
    status = tmp_path / "status"
    status.write_text("Name:\tpython\n")

    with pytest.raises(RuntimeError, match="VmRSS"):
        status_bytes("VmRSS", status)


def test_rss_of_this_process():
    assert rss_bytes() > 1_000_000
