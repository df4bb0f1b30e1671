"""A record of every subprocess output file and every secret the end-to-end tests used, for the secret scan."""

from __future__ import annotations

import base64
import re
import threading
from dataclasses import dataclass
from pathlib import Path

# A JWT's header is base64url JSON starting with '{"', which always encodes to "eyJ".
JWT_PATTERN = re.compile(r"eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")
# The simulator's refresh tokens are 64 random bytes in hex.
HEX_TOKEN_PATTERN = re.compile(r"(?<![0-9a-fA-F])[0-9a-fA-F]{128}(?![0-9a-fA-F])")

# Shorter values would match ordinary words in the logs.
MIN_SECRET_LENGTH = 6


@dataclass(frozen=True)
class Leak:
    """One secret, or one token-shaped string, found in one output file."""

    path: Path
    label: str
    excerpt: str


class OutputLedger:
    """Output files and secrets collected over a test session. Thread-safe.

    :meth:`add_secret` also records the Base64 form of each value, because
    Dify 1.11.2 and later receive the login password Base64-encoded.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._outputs: list[Path] = []
        self._secrets: dict[str, str] = {}

    def add_output(self, path: Path) -> None:
        with self._lock:
            self._outputs.append(path)

    def add_secret(self, value: str | None, label: str) -> None:
        """Remember ``value`` under ``label``; None and values shorter than 6 characters are ignored."""
        if value is None or len(value) < MIN_SECRET_LENGTH:
            return
        encoded = base64.b64encode(value.encode()).decode()
        with self._lock:
            self._secrets.setdefault(value, label)
            self._secrets.setdefault(encoded, f"{label} (Base64)")

    @property
    def outputs(self) -> list[Path]:
        with self._lock:
            return list(self._outputs)

    @property
    def secret_labels(self) -> set[str]:
        """Labels of the recorded secrets, for example ``access token``."""
        with self._lock:
            return set(self._secrets.values())

    def scan(self) -> list[Leak]:
        """Return every registered secret and every JWT- or refresh-token-shaped string in the output files.

        A file that no longer exists is skipped: pytest may have removed the
        temporary directory of an old test.
        """
        with self._lock:
            outputs = list(self._outputs)
            secrets = dict(self._secrets)

        leaks: list[Leak] = []
        for path in outputs:
            try:
                text = path.read_text(errors="replace")
            except FileNotFoundError:
                continue
            for value, label in secrets.items():
                position = text.find(value)
                if position >= 0:
                    leaks.append(Leak(path, label, _excerpt(text, position, len(value))))
            for pattern, label in ((JWT_PATTERN, "JWT-shaped string"), (HEX_TOKEN_PATTERN, "128-hex token")):
                for match in pattern.finditer(text):
                    leaks.append(Leak(path, label, _excerpt(text, match.start(), len(match.group()))))
        return leaks


def _excerpt(text: str, start: int, length: int) -> str:
    # The secret itself is replaced, so that a failing test does not print it either.
    before = text[max(0, start - 60) : start]
    after = text[start + length : start + length + 60]
    return f"{before}<{length} characters>{after}".replace("\n", "\\n")
