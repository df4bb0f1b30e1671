"""A description of the machine and software a benchmark ran on."""

from __future__ import annotations

import os
import platform
from importlib import metadata
from pathlib import Path

#: Distributions whose versions change the figures.
PACKAGES = (
    "otel-dify",
    "aiohttp",
    "opentelemetry-sdk",
    "opentelemetry-exporter-otlp-proto-http",
    "opentelemetry-exporter-otlp-proto-grpc",
    "grpcio",
    "protobuf",
    "requests",
    "pydantic",
    "pydantic-settings",
)


def cpu_model(cpuinfo: Path = Path("/proc/cpuinfo")) -> str:
    """Return the first ``model name`` of ``/proc/cpuinfo``, or ``unknown`` where there is none."""
    try:
        text = cpuinfo.read_text()
    except OSError:
        return "unknown"
    for line in text.splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown"


def memory_total_gb(meminfo: Path = Path("/proc/meminfo")) -> float | None:
    """Return ``MemTotal`` in GB (10^9 bytes), or None where it cannot be read."""
    try:
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024 / 1e9
    except OSError:
        return None
    return None


def package_versions() -> dict[str, str]:
    """Return the installed version of each of :data:`PACKAGES`; ``not installed`` for a missing one."""
    versions: dict[str, str] = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def load_average() -> tuple[float, float, float]:
    """Return the 1-, 5- and 15-minute load averages: runnable processes, all users' included."""
    return os.getloadavg()


def describe_machine() -> dict[str, object]:
    """Return the CPU, memory, operating system, Python and package versions as a JSON-ready dict."""
    return {
        "cpus": os.cpu_count(),
        "cpu_model": cpu_model(),
        "memory_gb": memory_total_gb(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "packages": package_versions(),
    }


def machine_lines(machine: dict[str, object]) -> list[str]:
    """Return the description as lines for the report's header."""
    memory = machine["memory_gb"]
    memory_text = f"{memory:.1f} GB" if isinstance(memory, float) else "unknown"
    packages = machine["packages"]
    assert isinstance(packages, dict)
    return [
        f"machine: {machine['cpus']} CPUs, {machine['cpu_model']}, {memory_text} RAM, Linux {machine['kernel']}",
        f"python: {machine['python']}",
        "packages: " + ", ".join(f"{name} {version}" for name, version in packages.items()),
    ]
