"""Resource figures of the current process, read from the kernel."""

from __future__ import annotations

import time
from pathlib import Path

STATUS_PATH = Path("/proc/self/status")


def status_bytes(field: str, status_path: Path = STATUS_PATH) -> int:
    """Return one memory field of ``/proc/PID/status``, such as ``VmRSS``, in bytes.

    Raises RuntimeError when the file has no such line (not Linux, or an old kernel).
    """
    prefix = f"{field}:"
    for line in status_path.read_text().splitlines():
        if line.startswith(prefix):
            # The kernel prints the value in kB (kibibytes): "VmRSS:   51234 kB".
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"{status_path} has no {field} line; the benchmark needs Linux")


def rss_bytes(status_path: Path = STATUS_PATH) -> int:
    """Return the resident set size (``VmRSS``) in bytes: private memory plus the mapped files in RAM."""
    return status_bytes("VmRSS", status_path)


def anonymous_rss_bytes(status_path: Path = STATUS_PATH) -> int:
    """Return the private part of the resident memory (``RssAnon``, the heap and stacks) in bytes."""
    return status_bytes("RssAnon", status_path)


def cpu_seconds() -> float:
    """Return the CPU time (user + system) of the whole process, all threads included, in seconds."""
    return time.process_time()
