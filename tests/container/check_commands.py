"""Run commands in the otel-dify image and check what they report, with no network.

container-structure-test's tar driver cannot run commands, so this script
does it with podman: every container runs with ``--network none``, a
read-only root filesystem and all capabilities dropped, as in production.

Checks:
- ``otel-dify --version`` prints the version of the image's label;
- ``/bin/sh`` cannot be started (no shell in the image);
- the venv's python runs as uid/gid 65532 on /usr/bin/python3.11, imports
  otel_dify and every extension module the exporter loads, finds no pip,
  setuptools or wheel, may write /tmp and nothing else;
- importing every otel_dify module loads each module from a .pyc file, so
  Python never compiles, or tries to write, bytecode at run time.

Usage: ``python tests/container/check_commands.py IMAGE``. Exit code 0 when
every check passes, 1 otherwise (each failure is printed).
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field

VENV_PYTHON = "/opt/otel-dify/bin/python"
COMMAND_TIMEOUT_S = 120
NONROOT_ID = 65532
VERSION_LABEL = "org.opencontainers.image.version"

# Extension modules of the exporter's dependencies; each needs shared
# libraries that the runtime image must provide.
EXTENSION_MODULES = (
    "grpc._cython.cygrpc",
    "pydantic_core._pydantic_core",
    "aiohttp._http_parser",
    "aiohttp._http_writer",
    "yarl._quoting_c",
    "multidict._multidict",
    "frozenlist._frozenlist",
    "propcache._helpers_c",
    "google._upb._message",
)

# Printed as JSON by the venv's python inside the container.
FACTS_SCRIPT = """
import importlib, importlib.util, json, os, stat, sys, tempfile
extension_modules = sys.argv[1].split(",")
facts = {
    "uid": os.getuid(),
    "gid": os.getgid(),
    "prefix": sys.prefix,
    "executable": os.path.realpath(sys.executable),
    "version": list(sys.version_info[:2]),
    "tmp_mode": oct(stat.S_IMODE(os.stat("/tmp").st_mode)),
    "missing_build_tools": [name for name in ("pip", "setuptools", "wheel") if importlib.util.find_spec(name) is None],
}
import otel_dify
facts["otel_dify"] = otel_dify.__file__
facts["extension_errors"] = {}
for name in extension_modules:
    try:
        importlib.import_module(name)
    except ImportError as error:
        facts["extension_errors"][name] = str(error)
with tempfile.NamedTemporaryFile(dir="/tmp") as scratch:
    facts["tmp_writable"] = os.path.exists(scratch.name)
try:
    open("/opt/otel-dify/probe", "w").close()
    facts["root_writable"] = True
except OSError:
    facts["root_writable"] = False
print(json.dumps(facts))
"""

# Imports every otel_dify module except __main__ scripts; run with -v, whose
# "code object from PATH" lines show where each module's code came from.
IMPORT_ALL_SCRIPT = """
import importlib, pkgutil, otel_dify
for module in pkgutil.walk_packages(otel_dify.__path__, "otel_dify."):
    if not module.name.endswith(".__main__"):
        importlib.import_module(module.name)
"""

CODE_OBJECT_LINE = re.compile(r"^# code object from '?([^']+?)'?$", re.MULTILINE)


@dataclass
class Report:
    """Failures collected over all checks."""

    failures: list[str] = field(default_factory=list)

    def expect(self, condition: bool, message: str, detail: str = "") -> None:
        """Print ``message`` with its outcome; record it as a failure unless ``condition`` holds.

        ``detail`` (for example a command's stderr) is printed on failure only.
        """
        if condition:
            print(f"check_commands: ok   {message}")
            return
        print(f"check_commands: FAIL {message}" + (f"\n{detail}" if detail else ""))
        self.failures.append(message)


def podman_run(
    image: str, arguments: Sequence[str], *, entrypoint: str | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run one container from ``image`` without a network and return its result."""
    # fmt: off
    command = [
        "podman", "run", "--rm",
        "--network", "none",
        "--read-only",
        "--cap-drop", "ALL",
        "--security-opt", "no-new-privileges",
        "--no-healthcheck",
    ]
    # fmt: on
    if entrypoint is not None:
        command += ["--entrypoint", entrypoint]
    for name, value in (env or {}).items():
        command += ["--env", f"{name}={value}"]
    command += [image, *arguments]
    return subprocess.run(command, capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S, check=False)


def image_label(image: str, label: str) -> str:
    """Return one label of a local image, or '' when it is not set."""
    result = subprocess.run(
        ["podman", "image", "inspect", "--format", "{{json .Labels}}", image],
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT_S,
        check=True,
    )
    return (json.loads(result.stdout) or {}).get(label, "")


def check_version(image: str, report: Report) -> None:
    result = podman_run(image, ["--version"])
    expected = f"otel-dify {image_label(image, VERSION_LABEL)}"
    report.expect(result.returncode == 0, f"--version exits 0 (got {result.returncode})", result.stderr[-2000:])
    report.expect(result.stdout.strip() == expected, f"--version prints {expected!r} (got {result.stdout.strip()!r})")


def check_no_shell(image: str, report: Report) -> None:
    result = podman_run(image, ["-c", "true"], entrypoint="/bin/sh")
    report.expect(result.returncode != 0, f"/bin/sh cannot start (exit code {result.returncode})")


def check_facts(image: str, report: Report) -> None:
    result = podman_run(image, ["-c", FACTS_SCRIPT, ",".join(EXTENSION_MODULES)], entrypoint=VENV_PYTHON)
    report.expect(result.returncode == 0, f"venv python runs (exit code {result.returncode})", result.stderr[-2000:])
    if result.returncode != 0:
        return

    facts = json.loads(result.stdout)
    report.expect(facts["uid"] == NONROOT_ID, f"uid is {NONROOT_ID} (got {facts['uid']})")
    report.expect(facts["gid"] == NONROOT_ID, f"gid is {NONROOT_ID} (got {facts['gid']})")
    report.expect(facts["prefix"] == "/opt/otel-dify", f"sys.prefix is the venv (got {facts['prefix']})")
    report.expect(
        facts["executable"] == "/usr/bin/python3.11", f"interpreter is /usr/bin/python3.11 (got {facts['executable']})"
    )
    report.expect(facts["version"] == [3, 11], f"Python 3.11 (got {facts['version']})")
    report.expect(
        facts["otel_dify"].startswith("/opt/otel-dify/lib/python3.11/site-packages/otel_dify/"),
        f"otel_dify imports from the venv (got {facts['otel_dify']})",
    )
    report.expect(not facts["extension_errors"], f"extension modules import (errors: {facts['extension_errors']})")
    report.expect(
        facts["missing_build_tools"] == ["pip", "setuptools", "wheel"],
        f"pip, setuptools and wheel are absent (absent: {facts['missing_build_tools']})",
    )
    report.expect(facts["tmp_mode"] == "0o1777", f"/tmp has mode 1777 (got {facts['tmp_mode']})")
    report.expect(facts["tmp_writable"], "/tmp is writable on a read-only root")
    report.expect(not facts["root_writable"], "/opt/otel-dify is not writable")


def check_bytecode(image: str, report: Report) -> None:
    result = podman_run(image, ["-v", "-c", IMPORT_ALL_SCRIPT], entrypoint=VENV_PYTHON)
    report.expect(
        result.returncode == 0, f"every otel_dify module imports (exit code {result.returncode})", result.stderr[-2000:]
    )

    loaded_from = CODE_OBJECT_LINE.findall(result.stderr)
    from_source = [path for path in loaded_from if not path.endswith(".pyc")]
    report.expect(len(loaded_from) > 100, f"python -v listed the modules' code objects ({len(loaded_from)} found)")
    report.expect(
        not from_source, f"every module loads from a .pyc ({len(from_source)} compiled from source: {from_source[:5]})"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("image", help="local image, for example localhost/otel-dify:ci")
    args = parser.parse_args(argv)

    report = Report()
    check_version(args.image, report)
    check_no_shell(args.image, report)
    check_facts(args.image, report)
    check_bytecode(args.image, report)

    if report.failures:
        print(f"check_commands: {len(report.failures)} check(s) failed", file=sys.stderr)
        return 1
    print("check_commands: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
