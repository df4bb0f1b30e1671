"""Access to the captured Dify 1.15.0 responses in tests/fixtures/dify-1.15/."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

CAPTURES = Path(__file__).parent / "fixtures" / "dify-1.15"


def capture(name: str) -> dict[str, Any]:
    """Return one capture (request and response) by its file name without ``.json``."""
    with (CAPTURES / f"{name}.json").open(encoding="utf-8") as handle:
        return json.load(handle)


def captured_rows(name: str) -> list[dict[str, Any]]:
    """Return the ``data`` rows of a captured statistics response."""
    return capture(name)["response"]["body"]["data"]
