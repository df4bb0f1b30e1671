"""Return the heap memory that a poll freed to the operating system.

A poll of many apps allocates its requests, responses and parsed rows at
once and frees them when it ends, and an export does the same with the
encoded data points. glibc's allocator keeps the freed pages for later use,
so the resident memory stays near the peak of the last poll or export.
``malloc_trim(0)`` hands them back. The poller calls it after each poll and
the telemetry pipeline after each export.

Measured in-process against ``bench.sim_server --apps 1000``, each poll
followed by an OTLP/HTTP export to a loopback sink (CPython 3.11.7, glibc,
2 shared CPUs). After 20 polls the resident memory was 84.6 to 88.2 MB in
four runs with both calls, and 93.4 to 102.6 MB in five runs without them.
One call took 1.5 to 1.8 ms of CPU time, and the change of the process CPU
time was within the run-to-run noise. The peak during a poll stays the same.
"""

from __future__ import annotations

import ctypes
import logging
from typing import Callable

logger = logging.getLogger(__name__)

# The loaded malloc_trim, False when the C library has none, None before the first call.
_malloc_trim: Callable[[int], int] | bool | None = None


def _load_malloc_trim() -> Callable[[int], int] | bool:
    # NOTE: only glibc has malloc_trim. With musl (Alpine) or on macOS the
    # lookup fails, and release_free_memory() does nothing.
    try:
        process_symbols = ctypes.CDLL(None)
        trim = process_symbols.malloc_trim
    except (OSError, AttributeError):
        logger.debug("the C library has no malloc_trim; freed heap memory stays with the process")
        return False

    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim


def release_free_memory() -> bool:
    """Ask the C library to return freed heap pages to the operating system.

    Returns True when it returned some, and False when it had none to
    return or has no ``malloc_trim`` (any C library but glibc). The lookup
    of ``malloc_trim`` runs once, so later calls without it cost one check.
    """
    global _malloc_trim
    if _malloc_trim is None:
        _malloc_trim = _load_malloc_trim()
    if _malloc_trim is False:
        return False

    assert callable(_malloc_trim)
    # Pad 0: keep no free memory at the top of the heap beyond the minimum.
    return bool(_malloc_trim(0))
