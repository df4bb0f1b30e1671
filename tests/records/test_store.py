"""The state file: atomic saves, loading, and a damaged file moved aside."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import pytest

from otel_dify.records.state import RecordState
from otel_dify.records.store import STATE_FILE_NAME, StateDirectoryInUseError, StateStore


def saved_state() -> RecordState:
    state = RecordState(started_at=1_000)
    cursor = state.cursor("app-1", "workflow_logs")
    cursor.watermark = 1_200
    cursor.seen.add("run-1", 1_190)
    state.totals.add("dify.workflow.runs", "app-1", {"dify.workflow.run.status": "failed"}, 2)
    return state


def test_save_load_round_trip(tmp_path: Path) -> None:
    store = StateStore(tmp_path)
    store.save_document(saved_state().to_json())

    loaded = store.load(seen_bound=100, backlog_bound=10)

    assert loaded.to_json() == saved_state().to_json()


def test_save_leaves_no_temporary_file(tmp_path: Path) -> None:
    store = StateStore(tmp_path)
    store.save_document(saved_state().to_json())
    store.save_document(saved_state().to_json())

    assert sorted(path.name for path in tmp_path.iterdir()) == [STATE_FILE_NAME]


def test_failed_save_keeps_previous_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = StateStore(tmp_path)
    store.save_document(saved_state().to_json())
    before = (tmp_path / STATE_FILE_NAME).read_bytes()

    def failing_fsync(descriptor: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", failing_fsync)
    newer = saved_state()
    newer.totals.add("dify.workflow.runs", "app-1", {"dify.workflow.run.status": "failed"}, 5)
    with pytest.raises(OSError):
        store.save_document(newer.to_json())

    assert (tmp_path / STATE_FILE_NAME).read_bytes() == before
    assert sorted(path.name for path in tmp_path.iterdir()) == [STATE_FILE_NAME]


def test_save_replaces_atomically(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = StateStore(tmp_path)
    replaced: list[tuple[str, str]] = []
    original_replace = os.replace

    def recording_replace(source: str | os.PathLike[str], target: str | os.PathLike[str]) -> None:
        # The complete new file exists under another name before it takes the state file's name.
        assert json.loads(Path(source).read_text(encoding="utf-8"))["version"] == 1
        replaced.append((Path(source).name, Path(target).name))
        original_replace(source, target)

    monkeypatch.setattr(os, "replace", recording_replace)
    store.save_document(saved_state().to_json())

    assert len(replaced) == 1
    assert replaced[0][1] == STATE_FILE_NAME
    assert replaced[0][0] != STATE_FILE_NAME


def test_missing_file_starts_empty(tmp_path: Path) -> None:
    state = StateStore(tmp_path / "new").load(seen_bound=100, backlog_bound=10)

    assert state.started_at is None
    assert (tmp_path / "new").is_dir()


@pytest.mark.parametrize(
    "content",
    [b"{not json", b'{"version": 99}', b"\xff\xfe\x00", b'{"version": 1, "cursors": []}'],
)
def test_corrupt_file_moved_aside(tmp_path: Path, content: bytes, caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / STATE_FILE_NAME).write_bytes(content)
    store = StateStore(tmp_path, wall_clock=lambda: 1_796_411_337.5)

    with caplog.at_level(logging.ERROR):
        state = store.load(seen_bound=100, backlog_bound=10)

    assert state.started_at is None
    aside = tmp_path / f"{STATE_FILE_NAME}.corrupt-1796411337"
    assert aside.read_bytes() == content
    assert not (tmp_path / STATE_FILE_NAME).exists()
    assert any("unusable" in record.getMessage() for record in caplog.records)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files regardless of their mode")
def test_unreadable_file_moved_aside(tmp_path: Path) -> None:
    path = tmp_path / STATE_FILE_NAME
    path.write_text(json.dumps(saved_state().to_json()), encoding="utf-8")
    path.chmod(0)

    state = StateStore(tmp_path, wall_clock=lambda: 5.0).load(seen_bound=100, backlog_bound=10)

    assert state.started_at is None
    assert (tmp_path / f"{STATE_FILE_NAME}.corrupt-5").exists()


def test_lock_rejects_second_store(tmp_path: Path) -> None:
    first = StateStore(tmp_path)
    first.load(seen_bound=100, backlog_bound=10)

    with pytest.raises(StateDirectoryInUseError) as raised:
        StateStore(tmp_path).load(seen_bound=100, backlog_bound=10)

    assert [problem.variable for problem in raised.value.problems] == ["OTEL_DIFY_STATE_DIR"]
    assert str(tmp_path) in str(raised.value)
    first.close()


def test_close_releases_lock(tmp_path: Path) -> None:
    first = StateStore(tmp_path)
    first.load(seen_bound=100, backlog_bound=10)
    first.close()
    first.close()

    second = StateStore(tmp_path)
    state = second.load(seen_bound=100, backlog_bound=10)

    assert state.started_at is None
    second.close()


def test_load_twice_keeps_own_lock(tmp_path: Path) -> None:
    store = StateStore(tmp_path)
    store.load(seen_bound=100, backlog_bound=10)

    store.load(seen_bound=100, backlog_bound=10)

    with pytest.raises(StateDirectoryInUseError):
        StateStore(tmp_path).load(seen_bound=100, backlog_bound=10)
    store.close()
