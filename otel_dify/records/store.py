"""The state file of record-level collection: atomic saves, and a fresh start from a damaged file.

The file is ``records-state.json`` in OTEL_DIFY_STATE_DIR. A save writes a
temporary file in the same directory, flushes and fsyncs it, and renames it
over the old file with :func:`os.replace`. It then fsyncs the directory. A
crash at any moment therefore leaves either the old or the new complete file.

One process at a time may use a directory: :meth:`StateStore.load` takes an
exclusive ``flock`` on ``records-state.lock`` there and keeps it until
:meth:`StateStore.close` or the process ends. Two processes that saved the
same file would each overwrite the other's cursors and count runs twice.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import time
from pathlib import Path
from typing import Any, Callable

from otel_dify.config.errors import ConfigError, Problem
from otel_dify.records.state import RecordState, StateFormatError

logger = logging.getLogger(__name__)

STATE_FILE_NAME = "records-state.json"
LOCK_FILE_NAME = "records-state.lock"
STATE_DIR_VARIABLE = "OTEL_DIFY_STATE_DIR"


class StateDirectoryInUseError(ConfigError):
    """Error raised when another process, or another store in this one, holds the state directory's lock."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        super().__init__(
            [
                Problem(
                    STATE_DIR_VARIABLE,
                    f"the state directory {directory} is in use by another otel-dify process;"
                    " stop that process or give each process its own directory",
                )
            ]
        )


class StateStore:
    """Loads and saves one :class:`RecordState` in ``directory``.

    ``wall_clock`` returns Unix seconds; it names the file a damaged state is
    moved to (``records-state.json.corrupt-<unix time>``).
    """

    def __init__(self, directory: Path, *, wall_clock: Callable[[], float] = time.time) -> None:
        self.directory = directory
        self.path = directory / STATE_FILE_NAME
        self._wall_clock = wall_clock
        self._lock_descriptor: int | None = None

    def load(self, *, seen_bound: int, backlog_bound: int) -> RecordState:
        """Return the saved state, or an empty one when there is none or it cannot be used.

        A file that cannot be read, is not JSON or has the wrong layout is
        logged at ERROR and moved aside, and collection starts from now as
        without a state directory. Never raises for the file's content; the
        directory is created when missing.

        Raises:
            StateDirectoryInUseError: another process holds the directory's lock.
        """
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            logger.error(
                "cannot create the state directory; record state will not be kept",
                extra={"state_dir": str(self.directory), "error": error.strerror or type(error).__name__},
            )
            return RecordState(seen_bound=seen_bound, backlog_bound=backlog_bound)

        self._lock()

        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            logger.info("no record state file yet; counting starts now", extra={"state_file": str(self.path)})
            return RecordState(seen_bound=seen_bound, backlog_bound=backlog_bound)
        except (OSError, UnicodeDecodeError) as error:
            return self._start_fresh(_describe(error), seen_bound, backlog_bound)

        try:
            document: Any = json.loads(text)
            state = RecordState.from_json(document, seen_bound=seen_bound, backlog_bound=backlog_bound)
        except (ValueError, StateFormatError) as error:
            return self._start_fresh(str(error)[:200], seen_bound, backlog_bound)

        logger.info(
            "record state loaded",
            extra={
                "state_file": str(self.path),
                "cursors": len(state.cursors),
                "backlog": len(state.backlog),
                "started_at": state.started_at,
            },
        )
        return state

    def save_document(self, document: dict[str, Any]) -> None:
        """Write ``document`` (from :meth:`RecordState.to_json`) atomically.

        Raises OSError when the directory is not writable or the disk is
        full; the previous file then stays as it was.
        """
        temporary = self.path.with_name(f"{self.path.name}.tmp-{os.getpid()}")
        payload = json.dumps(document, separators=(",", ":"), sort_keys=False)
        try:
            with open(temporary, "w", encoding="utf-8") as handle:
                handle.write(payload)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, self.path)
        except OSError:
            temporary.unlink(missing_ok=True)
            raise
        _fsync_directory(self.directory)

    def close(self) -> None:
        """Release the directory's lock. A second call does nothing."""
        if self._lock_descriptor is None:
            return
        os.close(self._lock_descriptor)
        self._lock_descriptor = None

    def _lock(self) -> None:
        if self._lock_descriptor is not None:
            return
        lock_path = self.directory / LOCK_FILE_NAME
        try:
            descriptor = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as error:
            # NOTE: without a lock file (a read-only directory) two processes
            # are not kept apart; the save fails and is logged anyway.
            logger.error(
                "cannot create the state directory's lock file",
                extra={"lock_file": str(lock_path), "error": error.strerror or type(error).__name__},
            )
            return
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(descriptor)
            raise StateDirectoryInUseError(self.directory) from None
        self._lock_descriptor = descriptor

    def _start_fresh(self, reason: str, seen_bound: int, backlog_bound: int) -> RecordState:
        aside = self.path.with_name(f"{self.path.name}.corrupt-{int(self._wall_clock())}")
        try:
            os.replace(self.path, aside)
            moved_to: str | None = str(aside)
        except OSError as error:
            moved_to = None
            logger.error(
                "cannot move the unusable record state file aside",
                extra={"state_file": str(self.path), "error": error.strerror or type(error).__name__},
            )
        logger.error(
            "record state file is unusable; counting starts again from now",
            extra={"state_file": str(self.path), "moved_to": moved_to, "reason": reason},
        )
        return RecordState(seen_bound=seen_bound, backlog_bound=backlog_bound)


def _describe(error: Exception) -> str:
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    if isinstance(error, UnicodeDecodeError):
        return "not valid UTF-8"
    return type(error).__name__


def _fsync_directory(directory: Path) -> None:
    """Make the rename durable. Some file systems refuse to open a directory; the rename still happened."""
    try:
        descriptor = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)
