"""Configuration errors that name the environment variable at fault."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable


@dataclass(frozen=True)
class Problem:
    """One invalid setting: the environment variable and what is wrong with it.

    ``message`` never contains a secret value.
    """

    variable: str
    message: str

    def __str__(self) -> str:
        return f"{self.variable}: {self.message}"


class ConfigError(Exception):
    """Every problem found in the configuration, raised together so the user fixes all at once.

    ``str()`` renders one line per problem, for example
    ``OTEL_DIFY_POLL_INTERVAL: invalid duration 'abc' (examples: 60, 60s, 5m)``.
    """

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems: list[Problem] = list(problems)
        super().__init__(str(self))

    def __str__(self) -> str:
        return "\n".join(str(problem) for problem in self.problems)
