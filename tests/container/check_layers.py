"""Scan every layer of a saved image for secrets that must not be in it, and report its sizes.

Input is a ``podman save --format docker-archive`` (or ``docker save``)
tarball: ``manifest.json``, the image config and one tar per layer. The scan
reads every regular file of every layer, including files that a later layer
deletes, because those still ship with the image.

Usage::

    python tests/container/check_layers.py IMAGE.tar \\
        --forbid-file /etc/ssl/certs/ca-certificates.crt \\
        --forbid-certs /usr/local/share/ca-certificates/proxy.crt \\
        --forbid-path run/secrets/ca --report-sizes

Exit code 0 when nothing forbidden was found, 1 when something was (each
finding is printed with its layer and path), 2 for unreadable input.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import hashlib
import json
import re
import sys
import tarfile
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO

PEM_CERTIFICATE = re.compile(rb"-----BEGIN CERTIFICATE-----\s+([A-Za-z0-9+/=\s]+?)-----END CERTIFICATE-----")
SITE_PACKAGES_MARKER = "site-packages"


@dataclass(frozen=True)
class Finding:
    """One forbidden thing found in a layer."""

    layer: str
    path: str
    reason: str

    def __str__(self) -> str:
        return f"{self.layer}: /{self.path}: {self.reason}"


@dataclass
class Forbidden:
    """What no layer may contain.

    ``file_digests`` maps the SHA-256 of a whole file to a label, ``certificates``
    maps a certificate's DER bytes to a label, ``paths`` lists paths relative
    to the root (``run/secrets/ca``) that must not exist in any layer.
    """

    file_digests: dict[str, str] = field(default_factory=dict)
    certificates: dict[bytes, str] = field(default_factory=dict)
    paths: set[str] = field(default_factory=set)

    def add_file(self, path: Path) -> None:
        """Forbid any file whose content equals ``path``'s content."""
        self.file_digests[hashlib.sha256(path.read_bytes()).hexdigest()] = f"same content as {path}"

    def add_certificates(self, path: Path) -> int:
        """Forbid every PEM certificate in ``path``, in PEM or DER form; return how many were read.

        Raises ValueError when ``path`` contains no PEM certificate, because a
        check that forbids nothing would pass silently.
        """
        certificates = pem_certificates(path.read_bytes())
        if not certificates:
            raise ValueError(f"{path} contains no PEM certificate")
        for index, der in enumerate(certificates):
            self.certificates[der] = f"certificate {index + 1} of {path}"
        return len(certificates)


def pem_certificates(data: bytes) -> list[bytes]:
    """Return the DER bytes of every PEM certificate in ``data``; skip malformed blocks."""
    certificates = []
    for match in PEM_CERTIFICATE.finditer(data):
        try:
            certificates.append(base64.b64decode(b"".join(match.group(1).split()), validate=True))
        except (binascii.Error, ValueError):
            continue
    return certificates


def image_manifest(archive: tarfile.TarFile) -> dict:
    """Return the manifest entry of the single image in a docker-archive.

    Its ``Config`` is the config JSON's name, ``Layers`` the layer tars'
    names, bottom first. Raises ValueError when the archive has no
    manifest.json or more than one image.
    """
    try:
        manifest_member = archive.extractfile("manifest.json")
    except KeyError:
        raise ValueError("manifest.json not found: not a docker-archive (save with --format docker-archive)") from None
    if manifest_member is None:
        raise ValueError("manifest.json is not a regular file")

    manifest = json.load(manifest_member)
    if len(manifest) != 1:
        raise ValueError(f"expected one image in the archive, found {len(manifest)}")
    return manifest[0]


def scan_file(layer: str, path: str, content: bytes, forbidden: Forbidden) -> Iterator[Finding]:
    """Yield a Finding for each forbidden thing in one file's ``content``."""
    digest = hashlib.sha256(content).hexdigest()
    if digest in forbidden.file_digests:
        yield Finding(layer, path, forbidden.file_digests[digest])

    # DER bytes catch a certificate in any binary file; the PEM pass catches
    # one whose base64 lines are wrapped differently from the original.
    for der, label in forbidden.certificates.items():
        if der in content:
            yield Finding(layer, path, f"{label} in DER form")
    if b"BEGIN CERTIFICATE" in content:
        for der in pem_certificates(content):
            if der in forbidden.certificates:
                yield Finding(layer, path, f"{forbidden.certificates[der]} in PEM form")


def scan_config(name: str, data: bytes, forbidden: Forbidden) -> Iterator[Finding]:
    """Yield the findings of the image config, raw and with its JSON strings decoded.

    JSON escapes a certificate's line breaks as ``\\n``, so the PEM pass
    needs the decoded strings.
    """
    yield from scan_file("config", name, data, forbidden)
    strings = "\n".join(json_strings(json.loads(data))).encode()
    yield from scan_file("config", f"{name} (decoded strings)", strings, forbidden)


def json_strings(value: object) -> Iterator[str]:
    """Yield every string (keys and values) inside a decoded JSON value."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from json_strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from json_strings(item)


def scan_layer(layer: str, stream: IO[bytes], forbidden: Forbidden, sizes: dict[str, int]) -> Iterator[Finding]:
    """Yield the findings of one layer tar and add its file sizes to ``sizes`` by area."""
    with tarfile.open(fileobj=stream, mode="r|*") as layer_tar:
        for member in layer_tar:
            path = member.name.removeprefix("./").lstrip("/")
            if path in forbidden.paths or path.rstrip("/") in forbidden.paths:
                yield Finding(layer, path, "forbidden path")
            if not member.isfile():
                continue

            sizes[size_area(path)] += member.size
            file_object = layer_tar.extractfile(member)
            if file_object is not None:
                yield from scan_file(layer, path, file_object.read(), forbidden)


def size_area(path: str) -> str:
    """Return the group a file's size is reported under.

    Files of a Python distribution group under its top-level directory in
    site-packages; other files under their first three path components.
    """
    parts = PurePosixPath(path).parts
    if SITE_PACKAGES_MARKER in parts:
        index = parts.index(SITE_PACKAGES_MARKER)
        return "/" + "/".join(parts[: index + 2])
    return "/" + "/".join(parts[:3])


def scan_archive(archive_path: Path, forbidden: Forbidden) -> tuple[list[Finding], dict[str, int]]:
    """Scan the image config and every layer of a docker-archive.

    The config contains the labels, the environment and the history that
    ``podman history`` shows (each step's command line and build arguments).
    Returns the findings and the bytes per size area.
    """
    findings: list[Finding] = []
    sizes: dict[str, int] = defaultdict(int)
    with tarfile.open(archive_path) as archive:
        manifest = image_manifest(archive)
        config = archive.extractfile(manifest["Config"])
        if config is None:
            raise ValueError(f"config {manifest['Config']} is not a regular file in the archive")
        findings.extend(scan_config(manifest["Config"], config.read(), forbidden))

        for layer in manifest["Layers"]:
            stream = archive.extractfile(layer)
            if stream is None:
                raise ValueError(f"layer {layer} is not a regular file in the archive")
            findings.extend(scan_layer(layer, stream, forbidden, sizes))
    return findings, dict(sizes)


def format_sizes(sizes: dict[str, int], limit: int) -> Iterable[str]:
    """Yield report lines for the ``limit`` largest size areas, then the total, in MB (10^6 bytes)."""
    for area, size in sorted(sizes.items(), key=lambda item: item[1], reverse=True)[:limit]:
        yield f"{size / 1e6:8.1f} MB  {area}"
    yield f"{sum(sizes.values()) / 1e6:8.1f} MB  total of all layers"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("archive", type=Path, help="docker-archive tarball of the image")
    parser.add_argument(
        "--forbid-file", type=Path, action="append", default=[], help="no layer may hold a file with this content"
    )
    parser.add_argument(
        "--forbid-certs",
        type=Path,
        action="append",
        default=[],
        help="no layer may hold any PEM certificate of this file",
    )
    parser.add_argument(
        "--forbid-path", action="append", default=[], help="path, relative to /, that no layer may hold"
    )
    parser.add_argument("--report-sizes", action="store_true", help="print the largest areas of the image by size")
    parser.add_argument("--top", type=int, default=20, help="areas to list with --report-sizes (default 20)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    forbidden = Forbidden(paths={path.strip("/") for path in args.forbid_path})
    try:
        for path in args.forbid_file:
            forbidden.add_file(path)
        for path in args.forbid_certs:
            count = forbidden.add_certificates(path)
            print(f"check_layers: forbidding {count} certificate(s) of {path}")
        findings, sizes = scan_archive(args.archive, forbidden)
    except (OSError, ValueError, tarfile.TarError, json.JSONDecodeError, KeyError) as error:
        print(f"check_layers: cannot scan {args.archive}: {error}", file=sys.stderr)
        return 2

    if args.report_sizes:
        for line in format_sizes(sizes, args.top):
            print(line)
    for finding in findings:
        print(f"check_layers: FORBIDDEN {finding}", file=sys.stderr)
    if findings:
        return 1
    print(
        f"check_layers: no forbidden file, certificate or path in {args.archive.name} "
        f"({len(forbidden.file_digests)} file(s), {len(forbidden.certificates)} certificate(s), "
        f"{len(forbidden.paths)} path(s) checked)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
