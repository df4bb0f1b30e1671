from pathlib import Path

import pytest

from bench.machine import cpu_model, describe_machine, machine_lines, memory_total_gb, package_versions


def test_cpu_model_first_entry(tmp_path: Path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nmodel name\t: Example CPU 9000\n\nprocessor\t: 1\nmodel name\t: Other\n")

    assert cpu_model(cpuinfo) == "Example CPU 9000"


def test_cpu_model_missing_file(tmp_path: Path):
    assert cpu_model(tmp_path / "absent") == "unknown"


def test_memory_total_in_gb(tmp_path: Path):
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal:        1000000 kB\nMemFree:  10 kB\n")

    assert memory_total_gb(meminfo) == pytest.approx(1.024)


def test_package_versions_installed():
    versions = package_versions()

    assert versions["aiohttp"][0].isdigit()
    assert versions["opentelemetry-sdk"][0].isdigit()


def test_machine_lines_three():
    lines = machine_lines(describe_machine())

    assert len(lines) == 3
    assert lines[0].startswith("machine: ")
    assert lines[1].startswith("python: 3.")
    assert "aiohttp" in lines[2]
