"""Tests of returning freed heap memory to the operating system."""

from __future__ import annotations

import ctypes
import platform

import pytest

from otel_dify.runtime import memory

GLIBC = platform.libc_ver()[0] == "glibc"


@pytest.fixture
def fresh_lookup(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the next call look malloc_trim up again, and restore the cached lookup afterwards."""
    monkeypatch.setattr(memory, "_malloc_trim", None)


@pytest.mark.skipif(not GLIBC, reason="malloc_trim exists in glibc only")
def test_release_after_large_free(fresh_lookup: None) -> None:
    # Blocks above pymalloc's 512-byte limit and below glibc's mmap
    # threshold come from the malloc heap, so freeing them leaves free pages.
    blocks = [bytes(2000) for _ in range(20_000)]
    del blocks

    assert memory.release_free_memory() is True


@pytest.mark.skipif(not GLIBC, reason="malloc_trim exists in glibc only")
def test_release_finds_glibc_trim(fresh_lookup: None) -> None:
    memory.release_free_memory()

    assert callable(memory._malloc_trim)


def test_release_without_trim_function(fresh_lookup: None, monkeypatch: pytest.MonkeyPatch) -> None:
    def missing_library(name: object) -> object:
        raise OSError("no such library")

    monkeypatch.setattr(ctypes, "CDLL", missing_library)

    first = memory.release_free_memory()
    second = memory.release_free_memory()

    assert first is False
    assert second is False
    assert memory._malloc_trim is False
