"""Selection of the apps to report, from the include and exclude settings."""

from __future__ import annotations

from dataclasses import dataclass, field
from fnmatch import fnmatchcase

from otel_dify.dify.models import App


@dataclass(frozen=True)
class AppFilter:
    """Include and exclude rules for apps.

    An app is reported when it passes every include rule that is set (ids,
    name globs, modes) and matches no exclude rule. Name globs use
    :func:`fnmatch.fnmatchcase` on lower-cased names, so they ignore case.
    Exclude rules win over include rules.
    """

    include_ids: frozenset[str] = field(default_factory=frozenset)
    exclude_ids: frozenset[str] = field(default_factory=frozenset)
    include_names: tuple[str, ...] = ()
    exclude_names: tuple[str, ...] = ()
    modes: frozenset[str] = field(default_factory=frozenset)

    def accepts(self, app: App) -> bool:
        name = app.name.lower()

        if app.id in self.exclude_ids:
            return False
        if any(fnmatchcase(name, pattern.lower()) for pattern in self.exclude_names):
            return False

        if self.include_ids and app.id not in self.include_ids:
            return False
        if self.include_names and not any(fnmatchcase(name, pattern.lower()) for pattern in self.include_names):
            return False
        if self.modes and app.mode not in self.modes:
            return False
        return True
