"""Static checks of the Dockerfile and .dockerignore that need no container engine."""

from __future__ import annotations

import configparser
import re
from pathlib import Path

import otel_dify

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = (ROOT / "Dockerfile").read_text()
DOCKERIGNORE_LINES = [
    line.strip()
    for line in (ROOT / ".dockerignore").read_text().splitlines()
    if line.strip() and not line.startswith("#")
]


def arg_default(name: str) -> str:
    match = re.search(rf"^ARG {name}=(.*)$", DOCKERFILE, re.MULTILINE)
    assert match is not None, f"ARG {name} with a default not found in the Dockerfile"
    return match.group(1).strip('"')


def test_version_label_matches_package() -> None:
    assert arg_default("VERSION") == otel_dify.__version__


def test_base_image_defaults_are_public() -> None:
    assert arg_default("BUILD_IMAGE") == "debian:12-slim"
    assert arg_default("RUNTIME_IMAGE") == "gcr.io/distroless/python3-debian12:nonroot"


def test_dockerignore_excludes_by_default() -> None:
    assert DOCKERIGNORE_LINES[0] == "*"


def test_dockerignore_keeps_packaging_inputs() -> None:
    setup = configparser.ConfigParser()
    setup.read(ROOT / "setup.cfg")
    long_description = setup["metadata"]["long_description"].removeprefix("file:").strip()
    kept_paths = {line.removeprefix("!").rstrip("/") for line in DOCKERIGNORE_LINES if line.startswith("!")}

    for path in ("pyproject.toml", "setup.cfg", "setup.py", long_description, "otel_dify"):
        assert path in kept_paths, f"{path} is read by the build but left out of the context"


def test_copy_sources_are_in_context() -> None:
    kept_paths = {line.removeprefix("!").rstrip("/") for line in DOCKERIGNORE_LINES if line.startswith("!")}
    copied = set()
    for line in re.findall(r"^COPY (?!--from)(.+)$", DOCKERFILE, re.MULTILINE):
        copied.update(line.split()[:-1])

    assert copied
    assert copied <= kept_paths


def test_entrypoint_is_exec_form() -> None:
    assert 'ENTRYPOINT ["/opt/otel-dify/bin/otel-dify"]' in DOCKERFILE
    assert 'CMD ["run"]' in DOCKERFILE
    assert "USER 65532:65532" in DOCKERFILE
